//! A request, parsed once into what it asks for: the whole bad-input
//! contract of `/files` and `/me/files` is here, so the handler serves data
//! it can trust.

use lambda_http::http::{HeaderMap, Method, header};
use lambda_http::{Request, RequestExt};
use tenant_access::Error;
use tenant_access::http::{Area, cursor, limit, only_query, query};
use tenant_access::s3::{
    ByteRange, KeyPrefix, ListPosition, ObjectKey, ReadOptions, WriteCondition,
};

/// Objects per listing page when `limit` is absent.
pub const DEFAULT_LIST_LIMIT: usize = 100;
/// The largest `limit` of a listing page (S3's own maximum).
pub const MAX_LIST_LIMIT: usize = 1000;
/// The most one PutObject may carry: S3's limit for a single PUT.
pub const MAX_UPLOAD_BYTES: u64 = 5 * 1024 * 1024 * 1024;

/// What a request to `/files` (or `/me/files`) asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Route {
    /// `GET /files?prefix=&limit=&cursor=`.
    List {
        /// Keys under this relative prefix.
        prefix: KeyPrefix,
        /// Keys per page.
        limit: u16,
        /// The key the previous page ended at.
        after: Option<ListPosition>,
    },
    /// `GET /files/{key+}`.
    Get {
        /// The object.
        key: ObjectKey,
        /// `If-None-Match` and `Range`.
        options: ReadOptions,
    },
    /// `HEAD /files/{key+}`.
    Head {
        /// The object.
        key: ObjectKey,
        /// `If-None-Match` and `Range`.
        options: ReadOptions,
    },
    /// `GET /files/{key+}?download=url`.
    DownloadUrl {
        /// The object.
        key: ObjectKey,
    },
    /// `PUT /files/{key+}`, with the body inline.
    Put {
        /// The object.
        key: ObjectKey,
        /// The bytes, within the inline limit (copied once; retries share
        /// them).
        body: bytes::Bytes,
        /// Its `Content-Type`.
        content_type: Option<String>,
        /// `If-Match` / `If-None-Match: *`.
        condition: WriteCondition,
    },
    /// `PUT /files/{key+}?upload=url&size=N`.
    UploadUrl {
        /// The object.
        key: ObjectKey,
        /// The exact length the URL is signed for.
        size: u64,
        /// `If-Match` / `If-None-Match: *`, signed into the URL.
        condition: WriteCondition,
    },
    /// `DELETE /files/{key+}`.
    Delete {
        /// The object.
        key: ObjectKey,
        /// `If-Match`.
        if_match: Option<String>,
    },
}

impl Route {
    /// Parse `request`, or answer why it cannot be served. A body over
    /// `inline_max_bytes` is refused (413): larger uploads take a URL.
    ///
    /// ```
    /// use lambda_http::{Request, RequestExt};
    /// use s3_fetch::Route;
    ///
    /// let request = Request::default().with_raw_http_path("/files/docs/a.txt");
    /// assert!(matches!(Route::parse(&request, 1024).unwrap(), Route::Get { .. }));
    /// let request = Request::default().with_raw_http_path("/files/../tenant2_home/a.txt");
    /// assert_eq!(Route::parse(&request, 1024).unwrap_err().status().as_u16(), 400);
    /// ```
    pub fn parse(request: &Request, inline_max_bytes: u64) -> Result<Route, Error> {
        let method = request.method();
        match Area::split(request).1.as_slice() {
            ["files"] if method == Method::GET => {
                only_query(request, &["prefix", "limit", "cursor"])?;
                let prefix = KeyPrefix::parse(&query(request, "prefix")?.unwrap_or_default())?;
                let limit = limit(request, DEFAULT_LIST_LIMIT, MAX_LIST_LIMIT)? as u16;
                let after = query(request, "cursor")?
                    .map(|c| ListPosition::parse(&cursor::decode(&c)?))
                    .transpose()?;
                Ok(Route::List {
                    prefix,
                    limit,
                    after,
                })
            }
            ["files"] => Err(Error::MethodNotAllowed { allow: "GET" }),
            ["files", _, ..] => {
                if method == Method::PUT || method == Method::DELETE {
                    let key = ObjectKey::parse(&requested_key(request)?)?;
                    return write(request, key, inline_max_bytes);
                }
                if method != Method::GET && method != Method::HEAD {
                    return Err(Error::MethodNotAllowed {
                        allow: "GET, HEAD, PUT, DELETE",
                    });
                }
                let key = ObjectKey::parse(&requested_key(request)?)?;
                let options = read_options(request.headers())?;
                if method == Method::HEAD {
                    only_query(request, &[])?;
                    return Ok(Route::Head { key, options });
                }
                only_query(request, &["download"])?;
                match query(request, "download")?.as_deref() {
                    None => Ok(Route::Get { key, options }),
                    Some("url") => Ok(Route::DownloadUrl { key }),
                    Some(_) => Err(Error::BadRequest(
                        "`download` accepts only `url`".to_owned(),
                    )),
                }
            }
            _ => Err(Error::NotFound),
        }
    }
}

/// `PUT` and `DELETE` of `key`.
fn write(request: &Request, key: ObjectKey, inline_max_bytes: u64) -> Result<Route, Error> {
    let headers = request.headers();
    let condition = WriteCondition::from_headers(
        text(headers, header::IF_MATCH)?,
        text(headers, header::IF_NONE_MATCH)?,
    )?;
    if request.method() == Method::DELETE {
        only_query(request, &[])?;
        let if_match = match condition {
            WriteCondition::IfNoneMatch => {
                return Err(Error::BadRequest(
                    "`If-None-Match` does not apply to DELETE".to_owned(),
                ));
            }
            WriteCondition::IfMatch(etag) => Some(etag),
            WriteCondition::Any => None,
        };
        return Ok(Route::Delete { key, if_match });
    }
    only_query(request, &["upload", "size"])?;
    let size = query(request, "size")?;
    match query(request, "upload")?.as_deref() {
        None if size.is_some() => Err(Error::BadRequest(
            "`size` goes with `upload=url`".to_owned(),
        )),
        Some("url") => Ok(Route::UploadUrl {
            key,
            size: upload_size(size.as_deref())?,
            condition,
        }),
        Some(_) => Err(Error::BadRequest("`upload` accepts only `url`".to_owned())),
        None => {
            let body: &[u8] = request.body().as_ref();
            if body.len() as u64 > inline_max_bytes {
                return Err(Error::PayloadTooLarge {
                    limit: inline_max_bytes as usize,
                });
            }
            Ok(Route::Put {
                key,
                body: bytes::Bytes::copy_from_slice(body),
                content_type: text(headers, header::CONTENT_TYPE)?.map(str::to_owned),
                condition,
            })
        }
    }
}

/// A header's value as text, if present.
fn text(headers: &HeaderMap, name: header::HeaderName) -> Result<Option<&str>, Error> {
    headers
        .get(&name)
        .map(|v| {
            v.to_str()
                .map_err(|_| Error::BadRequest(format!("the {name} header is not valid")))
        })
        .transpose()
}

/// `size` of an `upload=url` request: the exact length the URL is signed
/// for, 1 to [`MAX_UPLOAD_BYTES`].
fn upload_size(size: Option<&str>) -> Result<u64, Error> {
    let explain = || {
        Error::BadRequest(format!(
            "`upload=url` needs `size`: the upload's length in bytes, 1 to {MAX_UPLOAD_BYTES}; the URL is signed for exactly that length"
        ))
    };
    let size: u64 = size.ok_or_else(explain)?.parse().map_err(|_| explain())?;
    if (1..=MAX_UPLOAD_BYTES).contains(&size) {
        Ok(size)
    } else {
        Err(explain())
    }
}

/// `If-None-Match` and `Range` from the request headers, each at most
/// 1024 bytes.
fn read_options(headers: &HeaderMap) -> Result<ReadOptions, Error> {
    let bounded = |name: header::HeaderName| -> Result<Option<String>, Error> {
        match text(headers, name.clone())? {
            Some(value) if value.len() > 1024 => {
                Err(Error::BadRequest(format!("the {name} header is not valid")))
            }
            value => Ok(value.map(str::to_owned)),
        }
    };
    Ok(ReadOptions {
        if_none_match: bounded(header::IF_NONE_MATCH)?,
        range: bounded(header::RANGE)?
            .map(|r| ByteRange::parse(&r))
            .transpose()?,
    })
}

/// The key below `/files/`: the `{key+}` path parameter API Gateway decoded,
/// or, where no route matched (local emulators), the raw path decoded once.
fn requested_key(request: &Request) -> Result<String, Error> {
    if let Some(key) = request.path_parameters_ref().and_then(|p| p.first("key")) {
        return Ok(key.to_owned());
    }
    let path = request.raw_http_path();
    let raw = path
        .strip_prefix("/files/")
        .or_else(|| path.strip_prefix("/me/files/"))
        .ok_or(Error::NotFound)?;
    percent_encoding::percent_decode_str(raw)
        .decode_utf8()
        .map(|key| key.into_owned())
        .map_err(|_| Error::BadRequest("invalid object key: it is not valid UTF-8".to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_http::Body;
    use lambda_http::http::HeaderValue;
    use proptest::prelude::*;
    use std::collections::HashMap;

    fn request(method: &str, path: &str, query: &[(&str, &str)]) -> Request {
        let mut request = Request::default()
            .with_raw_http_path(path)
            .with_query_string_parameters(
                query
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect::<HashMap<_, _>>(),
            );
        *request.method_mut() = method.parse().unwrap();
        request
    }

    #[test]
    fn routes_parse_once_with_the_whole_bad_input_contract() {
        let status = |r: Request| Route::parse(&r, 10).unwrap_err().status().as_u16();
        assert_eq!(
            Route::parse(&request("GET", "/files", &[("limit", "5")]), 10).unwrap(),
            Route::List {
                prefix: KeyPrefix::default(),
                limit: 5,
                after: None
            }
        );
        assert_eq!(status(request("POST", "/files", &[])), 405);
        assert_eq!(status(request("PATCH", "/files/a", &[])), 405);
        assert_eq!(status(request("GET", "/other", &[])), 404);
        assert_eq!(status(request("GET", "/files/a/../b", &[])), 400);
        assert_eq!(status(request("GET", "/files", &[("limit", "1001")])), 400);
        assert_eq!(status(request("GET", "/files/a", &[("tenant", "t2")])), 400);
        assert_eq!(
            status(request("GET", "/files/a", &[("download", "x")])),
            400
        );
        assert_eq!(
            status(request("HEAD", "/files/a", &[("download", "url")])),
            400
        );
        assert_eq!(
            Route::parse(&request("GET", "/files/a", &[("download", "url")]), 10).unwrap(),
            Route::DownloadUrl {
                key: ObjectKey::parse("a").unwrap()
            }
        );
    }

    #[test]
    fn writes_carry_their_condition_size_and_body_within_the_limit() {
        let put = |body: &str, query: &[(&str, &str)], headers: &[(&'static str, &str)]| {
            let mut r = request("PUT", "/files/a", query);
            *r.body_mut() = Body::Text(body.to_owned());
            for (k, v) in headers {
                r.headers_mut()
                    .insert(*k, HeaderValue::from_str(v).unwrap());
            }
            r
        };
        assert_eq!(
            Route::parse(&put("hello", &[], &[("if-none-match", "*")]), 10).unwrap(),
            Route::Put {
                key: ObjectKey::parse("a").unwrap(),
                body: bytes::Bytes::from_static(b"hello"),
                content_type: None,
                condition: WriteCondition::IfNoneMatch
            }
        );
        assert_eq!(
            Route::parse(
                &put(
                    "",
                    &[("upload", "url"), ("size", "11")],
                    &[("if-match", "\"e\"")]
                ),
                10
            )
            .unwrap(),
            Route::UploadUrl {
                key: ObjectKey::parse("a").unwrap(),
                size: 11,
                condition: WriteCondition::IfMatch("\"e\"".to_owned())
            }
        );
        let status = |r: Request| Route::parse(&r, 10).unwrap_err().status().as_u16();
        assert_eq!(status(put("more than ten", &[], &[])), 413);
        assert_eq!(status(put("", &[("size", "3")], &[])), 400);
        assert_eq!(status(put("", &[("upload", "url")], &[])), 400);
        assert_eq!(
            status(put("", &[("upload", "url"), ("size", "0")], &[])),
            400
        );
        assert_eq!(status(put("", &[], &[("if-none-match", "\"e\"")])), 400);
        let mut delete = request("DELETE", "/files/a", &[]);
        delete
            .headers_mut()
            .insert("if-none-match", HeaderValue::from_static("*"));
        assert_eq!(status(delete), 400);
    }

    proptest! {
        /// Any `If-None-Match` and `Range` header values are read options or
        /// a 400, never a panic.
        #[test]
        fn conditional_headers_are_read_or_refused(etag in any::<Vec<u8>>(), range in any::<Vec<u8>>()) {
            let mut headers = HeaderMap::new();
            if let Ok(value) = HeaderValue::from_bytes(&etag) {
                headers.insert(header::IF_NONE_MATCH, value);
            }
            if let Ok(value) = HeaderValue::from_bytes(&range) {
                headers.insert(header::RANGE, value);
            }
            match read_options(&headers) {
                Ok(options) => {
                    if let Some(etag) = options.if_none_match {
                        prop_assert!(etag.len() <= 1024);
                    }
                }
                Err(err) => prop_assert_eq!(err.status().as_u16(), 400),
            }
        }
    }
}
