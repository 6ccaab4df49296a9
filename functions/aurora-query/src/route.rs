//! A request, parsed once into what it asks for: the whole bad-input
//! contract of `/tenant` and `/records` is here, so the handler serves
//! data it can trust.

use lambda_http::Request;
use lambda_http::http::Method;
use serde::Deserialize;
use serde_json::{Map, Value};
use tenant_access::Error;
use tenant_access::http::{cursor, json_body, limit, only_query, query, segments};

/// Records per page when `limit` is absent.
pub const DEFAULT_RECORDS_LIMIT: usize = 20;
/// The largest `limit` of a records page.
pub const MAX_RECORDS_LIMIT: usize = 100;
/// The largest `POST /records` body accepted, in bytes.
pub const MAX_RECORD_BODY_BYTES: usize = 16 * 1024;
/// The longest record name, in characters (the column is `VARCHAR(200)`).
pub const MAX_RECORD_NAME_CHARS: usize = 200;

/// What a request asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Route {
    /// `GET /tenant`.
    Tenant,
    /// `GET /records?limit=&cursor=`.
    List {
        /// Records per page.
        limit: usize,
        /// Where the previous page ended.
        after: Option<Position>,
    },
    /// `GET /records/{id}`.
    Get {
        /// The record.
        id: RecordId,
    },
    /// `POST /records`.
    Create(NewRecord),
    /// `DELETE /records/{id}`.
    Delete {
        /// The record.
        id: RecordId,
    },
}

impl Route {
    /// Parse `request`, or answer why it cannot be served.
    ///
    /// ```
    /// use lambda_http::{Request, RequestExt};
    /// use aurora_query::Route;
    ///
    /// let request = Request::default().with_raw_http_path("/tenant");
    /// assert_eq!(Route::parse(&request).unwrap(), Route::Tenant);
    /// let request = Request::default().with_raw_http_path("/records/42");
    /// assert_eq!(Route::parse(&request).unwrap_err().status().as_u16(), 400);
    /// ```
    pub fn parse(request: &Request) -> Result<Route, Error> {
        let method = request.method();
        match segments(request).as_slice() {
            ["tenant"] if method == Method::GET => {
                only_query(request, &[])?;
                Ok(Route::Tenant)
            }
            ["tenant"] => Err(Error::MethodNotAllowed { allow: "GET" }),
            ["records"] if method == Method::GET => {
                only_query(request, &["limit", "cursor"])?;
                let limit = limit(request, DEFAULT_RECORDS_LIMIT, MAX_RECORDS_LIMIT)?;
                let after = query(request, "cursor")?
                    .map(|c| Position::decode(&c))
                    .transpose()?;
                Ok(Route::List { limit, after })
            }
            ["records"] if method == Method::POST => {
                only_query(request, &[])?;
                Ok(Route::Create(NewRecord::from_request(request)?))
            }
            ["records"] => Err(Error::MethodNotAllowed { allow: "GET, POST" }),
            ["records", id] if method == Method::GET || method == Method::DELETE => {
                only_query(request, &[])?;
                let id = RecordId::parse(id)?;
                if method == Method::GET {
                    Ok(Route::Get { id })
                } else {
                    Ok(Route::Delete { id })
                }
            }
            ["records", _] => Err(Error::MethodNotAllowed {
                allow: "GET, DELETE",
            }),
            _ => Err(Error::NotFound),
        }
    }
}

/// The body of `POST /records`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewRecord {
    /// Unique among the tenant's records.
    pub name: String,
    /// Any JSON object.
    #[serde(default)]
    pub data: Map<String, Value>,
}

impl NewRecord {
    /// The body of `request`, validated.
    pub fn from_request(request: &Request) -> Result<Self, Error> {
        let object: Map<String, Value> = json_body(request, MAX_RECORD_BODY_BYTES)?;
        if object.contains_key("tenant_id") {
            return Err(Error::Validation(
                "`tenant_id` cannot be set: a record belongs to the caller's tenant".to_owned(),
            ));
        }
        let new: NewRecord = serde_json::from_value(Value::Object(object))
            .map_err(|e| Error::Validation(e.to_string()))?;
        let chars = new.name.chars().count();
        if new.name.trim().is_empty() || chars > MAX_RECORD_NAME_CHARS {
            return Err(Error::Validation(format!(
                "`name` must be 1 to {MAX_RECORD_NAME_CHARS} characters and not blank"
            )));
        }
        if new.name.chars().any(char::is_control) {
            return Err(Error::Validation(
                "`name` must not contain control characters".to_owned(),
            ));
        }
        Ok(new)
    }
}

/// A record id from the path: a UUID in canonical form, lowercased.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordId(pub(crate) String);

impl RecordId {
    /// Parse an id from the path.
    pub fn parse(raw: &str) -> Result<Self, Error> {
        let id = raw.to_ascii_lowercase();
        let canonical = id.len() == 36
            && id.bytes().enumerate().all(|(i, b)| match i {
                8 | 13 | 18 | 23 => b == b'-',
                _ => b.is_ascii_hexdigit(),
            });
        if canonical {
            Ok(RecordId(id))
        } else {
            Err(Error::BadRequest(
                "invalid record id: expected a UUID like 123e4567-e89b-42d3-a456-426614174000"
                    .to_owned(),
            ))
        }
    }
}

/// The latest `created_at` a cursor may name, in microseconds since the
/// epoch: 9999-12-31T23:59:59.999999Z. Anything outside `0..=` this is
/// refused before it reaches Postgres, whose interval arithmetic would fail.
const MAX_CURSOR_MICROS: i64 = 253_402_300_799_999_999;

/// Where a records page ended: `(created_at, id)` of its last record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Position {
    pub(crate) micros: i64,
    pub(crate) id: RecordId,
}

impl Position {
    /// The cursor a client gets for this position.
    pub fn encode(&self) -> String {
        cursor::encode(&format!("{}:{}", self.micros, self.id.0))
    }

    /// The position a client's cursor names, or 400.
    pub fn decode(raw: &str) -> Result<Self, Error> {
        let invalid = || Error::BadRequest("`cursor` is not valid".to_owned());
        let text = cursor::decode(raw)?;
        let (micros, id) = text.split_once(':').ok_or_else(invalid)?;
        Ok(Position {
            micros: micros
                .parse()
                .ok()
                .filter(|m| (0..=MAX_CURSOR_MICROS).contains(m))
                .ok_or_else(invalid)?,
            id: RecordId::parse(id).map_err(|_| invalid())?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_http::http::{HeaderValue, header};
    use lambda_http::{Body, RequestExt};

    fn request(method: &str, path: &str) -> Request {
        let mut request = Request::default().with_raw_http_path(path);
        *request.method_mut() = method.parse().unwrap();
        request
    }

    #[test]
    fn routes_parse_once_with_the_whole_bad_input_contract() {
        let status = |r: Request| Route::parse(&r).unwrap_err().status().as_u16();
        assert_eq!(status(request("POST", "/tenant")), 405);
        assert_eq!(status(request("PUT", "/records")), 405);
        assert_eq!(status(request("PUT", "/records/x")), 405);
        assert_eq!(status(request("GET", "/records/x")), 400);
        assert_eq!(status(request("GET", "/other")), 404);
        assert_eq!(status(request("POST", "/records")), 415);
        let id = "11111111-1111-4111-8111-111111111111";
        assert_eq!(
            Route::parse(&request("DELETE", &format!("/records/{id}"))).unwrap(),
            Route::Delete {
                id: RecordId::parse(id).unwrap()
            }
        );
        let mut create = request("POST", "/records");
        *create.body_mut() = Body::Text(r#"{"name": "n"}"#.to_owned());
        create.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        assert_eq!(
            Route::parse(&create).unwrap(),
            Route::Create(NewRecord {
                name: "n".to_owned(),
                data: Map::new()
            })
        );
    }

    #[test]
    fn record_ids_are_canonical_uuids() {
        let id = RecordId::parse("11111111-1111-4111-8111-11111111111A").unwrap();
        assert_eq!(id.0, "11111111-1111-4111-8111-11111111111a");
        for bad in [
            "",
            "42",
            "11111111111141118111111111111111",
            "11111111-1111-4111-8111-11111111111g",
            "11111111-1111-4111-8111-1111111111111",
            "../tenant2",
            "11111111-1111-4111-8111-111111111111;drop",
        ] {
            assert_eq!(
                RecordId::parse(bad).unwrap_err().status().as_u16(),
                400,
                "{bad:?}"
            );
        }
    }

    #[test]
    fn cursors_round_trip_and_refuse_tampering() {
        let position = Position {
            micros: 1_767_225_600_000_000,
            id: RecordId("11111111-1111-4111-8111-111111111111".to_owned()),
        };
        assert_eq!(Position::decode(&position.encode()).unwrap(), position);
        for bad in [
            "not base64!",
            &cursor::encode("12:not-a-uuid"),
            &cursor::encode("soon:11111111-1111-4111-8111-111111111111"),
            &cursor::encode("no separator"),
            &cursor::encode("9223372036854775807:11111111-1111-4111-8111-111111111111"),
            &cursor::encode("253402300800000000:11111111-1111-4111-8111-111111111111"),
            &cursor::encode("-1:11111111-1111-4111-8111-111111111111"),
        ] {
            assert_eq!(
                Position::decode(bad).unwrap_err().code(),
                "bad_request",
                "{bad:?}"
            );
        }
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            /// Any cursor text is a valid position in range or a 400;
            /// accepted positions round-trip.
            #[test]
            fn records_cursors_are_bounded(micros in any::<i64>(), id in "[0-9a-f-]{0,40}", junk in any::<String>()) {
                let text = cursor::encode(&format!("{micros}:{id}"));
                match Position::decode(&text) {
                    Ok(position) => {
                        prop_assert!((0..=MAX_CURSOR_MICROS).contains(&position.micros));
                        prop_assert_eq!(Position::decode(&position.encode()).unwrap(), position);
                    }
                    Err(err) => prop_assert_eq!(err.code(), "bad_request"),
                }
                if let Err(err) = Position::decode(&junk) {
                    prop_assert_eq!(err.code(), "bad_request");
                }
            }

            /// Any JSON body is a record or a 4xx, and an accepted record
            /// never carries a tenant.
            #[test]
            fn record_bodies_are_validated(name in any::<String>(), extra in any::<String>(), with_tenant in any::<bool>()) {
                let mut body = serde_json::json!({"name": name});
                if with_tenant {
                    body["tenant_id"] = Value::String(extra.clone());
                } else if !extra.is_empty() {
                    body["data"] = serde_json::json!({ extra: 1 });
                }
                let mut request = Request::new(Body::Text(body.to_string()));
                request.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
                match NewRecord::from_request(&request) {
                    Ok(record) => {
                        prop_assert!(!with_tenant);
                        prop_assert!(!record.name.trim().is_empty());
                        prop_assert!(record.name.chars().count() <= MAX_RECORD_NAME_CHARS);
                    }
                    Err(err) => prop_assert!([400, 413, 415, 422].contains(&err.status().as_u16())),
                }
            }
        }
    }
}
