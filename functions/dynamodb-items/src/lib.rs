//! `dynamodb-items`: the caller's items in the shared DynamoDB table, read
//! and written with the caller's tenant credentials.
//!
//! | route | answer |
//! |---|---|
//! | `GET /items?limit=&cursor=` | the caller's items in id order, one page |
//! | `GET /items/{id}` | one item, with `ETag: "<version>"` |
//! | `PUT /items/{id}` | create (201) or replace (200) the item from a JSON body; `If-Match: "<version>"` or `If-None-Match: *` make it conditional (412 when it does not hold) |
//! | `DELETE /items/{id}` | delete the item (204); `If-Match` as for PUT |
//! | `/me/items`, `/me/items/{id}` | the same, on the calling user's own items |
//!
//! No key is taken from the request but the item id: the partition key is
//! the session's tenant, or under `/me` the user's own partition of it,
//! `<tenant>#<sub>` ([`tenant_access::dynamodb`]), and the session's policy
//! allows item calls only on that partition (`dynamodb:LeadingKeys`).
//!
//! A request is parsed once into a [`Route`], which holds the whole contract
//! of bad input (400, 404, 405, 413, 415); the handler then serves data it
//! can trust.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

use aws_config::SdkConfig;
use lambda_http::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use lambda_http::{Body, Request, Response};
use serde::Serialize;
use tenant_access::config::{DynamoDbConfig, FunctionConfig};
use tenant_access::dynamodb::{Item, ItemId, Precondition, TenantTable};
use tenant_access::http::{Area, Envelope, cursor, json_body, limit, only_query, private, query};
use tenant_access::registry::TenantRegistry;
use tenant_access::session_policy::SessionScope;
use tenant_access::{Caller, Error, TenantSessions, json_response};

/// This function's configuration, read once at cold start.
pub type Config = FunctionConfig<DynamoDbConfig>;

/// Items per page when `limit` is absent.
pub const DEFAULT_LIMIT: usize = 50;
/// The largest `limit` of a page.
pub const MAX_LIMIT: usize = 500;
/// The largest `PUT /items/{id}` body, in bytes: well inside DynamoDB's
/// 400 KB item.
pub const MAX_ITEM_BODY_BYTES: usize = 64 * 1024;

/// A request, parsed and validated once.
#[derive(Debug, Clone, PartialEq)]
pub enum Route {
    /// `GET /items`.
    List {
        /// Items per page.
        limit: u16,
        /// The id the previous page ended at.
        after: Option<ItemId>,
    },
    /// `GET /items/{id}`.
    Get {
        /// The item.
        id: ItemId,
    },
    /// `PUT /items/{id}`.
    Put {
        /// The item.
        id: ItemId,
        /// The JSON to store.
        data: serde_json::Value,
        /// `If-Match` / `If-None-Match`.
        condition: Precondition,
    },
    /// `DELETE /items/{id}`.
    Delete {
        /// The item.
        id: ItemId,
        /// `If-Match`.
        condition: Precondition,
    },
}

impl Route {
    /// Parse `request`, or answer why it cannot be served.
    ///
    /// ```
    /// use lambda_http::{Request, RequestExt};
    /// use dynamodb_items::Route;
    ///
    /// let request = Request::default().with_raw_http_path("/items/a-1");
    /// assert!(matches!(Route::parse(&request).unwrap(), Route::Get { .. }));
    /// let request = Request::default().with_raw_http_path("/items/a%2Fb");
    /// assert_eq!(Route::parse(&request).unwrap_err().status().as_u16(), 400);
    /// ```
    pub fn parse(request: &Request) -> Result<Route, Error> {
        let method = request.method();
        match Area::split(request).1.as_slice() {
            ["items"] if method == Method::GET => {
                only_query(request, &["limit", "cursor"])?;
                let limit = limit(request, DEFAULT_LIMIT, MAX_LIMIT)? as u16;
                let after = query(request, "cursor")?
                    .map(|c| ItemId::parse(&cursor::decode(&c)?))
                    .transpose()
                    .map_err(|_| {
                        Error::BadRequest("`cursor` is not a cursor this API issued".to_owned())
                    })?;
                Ok(Route::List { limit, after })
            }
            ["items"] => Err(Error::MethodNotAllowed { allow: "GET" }),
            ["items", id] => {
                only_query(request, &[])?;
                let id = ItemId::parse(id)?;
                let headers = request.headers();
                if method == Method::GET {
                    Ok(Route::Get { id })
                } else if method == Method::PUT {
                    let condition = precondition(headers)?;
                    let data = json_body(request, MAX_ITEM_BODY_BYTES)?;
                    Ok(Route::Put {
                        id,
                        data,
                        condition,
                    })
                } else if method == Method::DELETE {
                    let condition = precondition(headers)?;
                    if condition == Precondition::Absent {
                        return Err(Error::BadRequest(
                            "`If-None-Match` does not apply to DELETE".to_owned(),
                        ));
                    }
                    Ok(Route::Delete { id, condition })
                } else {
                    Err(Error::MethodNotAllowed {
                        allow: "GET, PUT, DELETE",
                    })
                }
            }
            _ => Err(Error::NotFound),
        }
    }
}

fn precondition(headers: &HeaderMap) -> Result<Precondition, Error> {
    let text = |name: header::HeaderName| -> Result<Option<&str>, Error> {
        headers
            .get(&name)
            .map(|v| {
                v.to_str()
                    .map_err(|_| Error::BadRequest(format!("`{name}` is not text")))
            })
            .transpose()
    };
    Precondition::from_headers(text(header::IF_MATCH)?, text(header::IF_NONE_MATCH)?)
}

/// What the handler borrows: built once at cold start.
#[derive(Debug)]
pub struct App {
    envelope: Envelope,
    sessions: TenantSessions,
    table: TenantTable,
}

impl App {
    /// Clients for `config`; `sdk` carries the execution role's credentials
    /// (none are needed under `identity-pool`).
    pub fn new(config: &Config, sdk: &SdkConfig) -> Self {
        let any = || "*".to_owned();
        let sessions = TenantSessions::new(sdk, &config.access)
            .with_registry(TenantRegistry::new(sdk, &config.access))
            .with_scope(SessionScope::Table {
                table: config.service.table.clone(),
                region: sdk.region().map_or_else(any, |r| r.to_string()),
                account: config.access.account.clone().unwrap_or_else(any),
            });
        App {
            envelope: Envelope::new(&config.access)
                .with_metrics(&config.access, "dynamodb-items")
                .with_tiers(sessions.registry_handle()),
            sessions,
            table: TenantTable::new(&config.service),
        }
    }

    /// The tenant sessions, for counting STS and identity-pool calls.
    pub fn sessions(&self) -> &TenantSessions {
        &self.sessions
    }

    /// The table, for tests that reach it with a tenant's session.
    pub fn table(&self) -> &TenantTable {
        &self.table
    }

    async fn serve(
        &self,
        area: Area,
        route: Route,
        caller: &Caller,
    ) -> Result<Response<Body>, Error> {
        let session = match area {
            Area::Tenant => self.sessions.session(caller).await?,
            Area::User => self.sessions.user_session(caller).await?,
        };
        match route {
            Route::List { limit, after } => {
                let page = self.table.list(&session, limit, after.as_ref()).await?;
                let body = ListResponse {
                    next_cursor: page.last.map(|id| cursor::encode(id.as_str())),
                    items: page.items,
                };
                Ok(private(json_response(StatusCode::OK, &body)))
            }
            Route::Get { id } => {
                let item = self.table.get(&session, &id).await?;
                Ok(with_etag(json_response(StatusCode::OK, &item), &item))
            }
            Route::Put {
                id,
                data,
                condition,
            } => {
                let (item, created) = self.table.put(&session, &id, &data, condition).await?;
                let status = if created {
                    StatusCode::CREATED
                } else {
                    StatusCode::OK
                };
                Ok(with_etag(json_response(status, &item), &item))
            }
            Route::Delete { id, condition } => {
                self.table.delete(&session, &id, condition).await?;
                let mut response = Response::new(Body::Empty);
                *response.status_mut() = StatusCode::NO_CONTENT;
                Ok(response)
            }
        }
    }
}

/// The Lambda handler: one API Gateway request in, one response out.
/// Errors are answered as JSON; the `Err` case is never used.
pub async fn function_handler(
    app: &App,
    request: Request,
) -> Result<Response<Body>, lambda_http::Error> {
    let request = &request;
    Ok(app
        .envelope
        .serve_measured(request, |caller| async move {
            let route = Route::parse(request)?;
            let area = Area::of(request);
            // A stale session DynamoDB denied is dropped and the request
            // served once more on a new one.
            app.sessions
                .retrying(|| app.serve(area, route.clone(), &caller))
                .await
        })
        .await)
}

#[derive(Serialize)]
struct ListResponse {
    items: Vec<Item>,
    next_cursor: Option<String>,
}

fn with_etag(response: Response<Body>, item: &Item) -> Response<Body> {
    let mut response = private(response);
    if let Ok(etag) = HeaderValue::from_str(&item.etag()) {
        response.headers_mut().insert(header::ETAG, etag);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_http::RequestExt;
    use std::collections::HashMap;

    fn request(method: &str, path: &str) -> Request {
        let mut request = Request::default().with_raw_http_path(path);
        *request.method_mut() = method.parse().unwrap();
        request
    }

    #[test]
    fn routes_parse_once_with_the_whole_bad_input_contract() {
        let status = |r: Request| Route::parse(&r).unwrap_err().status().as_u16();
        assert_eq!(
            Route::parse(&request("GET", "/items")).unwrap(),
            Route::List {
                limit: DEFAULT_LIMIT as u16,
                after: None
            }
        );
        assert_eq!(status(request("POST", "/items")), 405);
        assert_eq!(status(request("PATCH", "/items/a")), 405);
        assert_eq!(status(request("GET", "/items/a/b")), 404);
        assert_eq!(status(request("GET", "/other")), 404);
        assert_eq!(status(request("GET", "/items/a%2Fb")), 400);
        let with_query = |q: &[(&str, &str)]| {
            request("GET", "/items").with_query_string_parameters(
                q.iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect::<HashMap<_, _>>(),
            )
        };
        assert_eq!(status(with_query(&[("limit", "0")])), 400);
        assert_eq!(status(with_query(&[("limit", "501")])), 400);
        assert_eq!(status(with_query(&[("cursor", "%%%")])), 400);
        assert_eq!(status(with_query(&[("tenant", "tenant2")])), 400);
        let page = Route::parse(&with_query(&[
            ("limit", "2"),
            ("cursor", &cursor::encode("b")),
        ]))
        .unwrap();
        assert_eq!(
            page,
            Route::List {
                limit: 2,
                after: Some(ItemId::parse("b").unwrap())
            }
        );
    }

    #[test]
    fn puts_need_a_json_body_within_the_limit_and_valid_preconditions() {
        let put = |body: &str, headers: &[(&'static str, &str)]| {
            let mut r = request("PUT", "/items/a");
            *r.body_mut() = Body::Text(body.to_owned());
            for (k, v) in headers {
                r.headers_mut()
                    .insert(*k, HeaderValue::from_str(v).unwrap());
            }
            r
        };
        let json = ("content-type", "application/json");
        let route =
            Route::parse(&put(r#"{"x":1}"#, &[json, ("if-match", "\"9f86d081\"")])).unwrap();
        assert_eq!(
            route,
            Route::Put {
                id: ItemId::parse("a").unwrap(),
                data: serde_json::json!({"x": 1}),
                condition: Precondition::Tag("9f86d081".to_owned())
            }
        );
        let status = |r: Request| Route::parse(&r).unwrap_err().status().as_u16();
        assert_eq!(status(put("{}", &[])), 415);
        assert_eq!(status(put("{", &[json])), 400);
        let big = format!("\"{}\"", "x".repeat(MAX_ITEM_BODY_BYTES));
        assert_eq!(status(put(&big, &[json])), 413);
        assert_eq!(status(put("{}", &[json, ("if-match", "4")])), 400);
        let mut delete = request("DELETE", "/items/a");
        delete
            .headers_mut()
            .insert("if-none-match", HeaderValue::from_static("*"));
        assert_eq!(status(delete), 400);
    }
}
