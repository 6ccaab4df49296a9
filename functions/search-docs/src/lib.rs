//! `search-docs`: the caller's tenant's documents in its own index of the
//! shared OpenSearch domain, indexed, read and searched with the caller's
//! tenant credentials.
//!
//! | route | answer |
//! |---|---|
//! | `GET /docs?q=&limit=&cursor=` | the tenant's documents matching the query string `q` (all of them without one), best first, one page |
//! | `GET /docs/{id}` | one document |
//! | `PUT /docs/{id}` | index the JSON object in the body as that document: 201 when new, 200 when it replaced one |
//! | `DELETE /docs/{id}` | delete the document (204) |
//!
//! No index name is taken from the request: the index is the session's
//! tenant's, `<tenant>.docs` ([`tenant_access::search`]), and the session's
//! policy allows `es:ESHttp*` only on that index's documents and its
//! `_search`. Search has no user areas (`/me/docs` is 404).
//!
//! A request is parsed once into a [`Route`], which holds the whole contract
//! of bad input (400, 404, 405, 413, 415); the handler then serves data it
//! can trust.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

use aws_config::SdkConfig;
use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};
use serde::Serialize;
use tenant_access::config::{FunctionConfig, SearchConfig};
use tenant_access::http::{Area, Envelope, cursor, json_body, limit, only_query, private, query};
use tenant_access::registry::TenantRegistry;
use tenant_access::search::{DocId, Hit, TenantIndex};
use tenant_access::session_policy::SessionScope;
use tenant_access::{Caller, Error, TenantSessions, json_response};

/// This function's configuration, read once at cold start.
pub type Config = FunctionConfig<SearchConfig>;

/// Documents per page when `limit` is absent.
pub const DEFAULT_LIMIT: usize = 20;
/// The largest `limit` of a page.
pub const MAX_LIMIT: usize = 100;
/// How deep pages may go: OpenSearch's default `index.max_result_window`.
pub const MAX_RESULT_WINDOW: u32 = 10_000;
/// The longest query string, in bytes.
pub const MAX_QUERY_BYTES: usize = 512;
/// The largest `PUT /docs/{id}` body, in bytes.
pub const MAX_DOC_BODY_BYTES: usize = 64 * 1024;

/// A request, parsed and validated once.
#[derive(Debug, Clone, PartialEq)]
pub enum Route {
    /// `GET /docs`.
    Search {
        /// The query string; empty matches every document.
        q: String,
        /// Documents per page.
        limit: u16,
        /// Where the page starts.
        from: u32,
    },
    /// `GET /docs/{id}`.
    Get {
        /// The document.
        id: DocId,
    },
    /// `PUT /docs/{id}`.
    Put {
        /// The document.
        id: DocId,
        /// The JSON object to index.
        document: serde_json::Value,
    },
    /// `DELETE /docs/{id}`.
    Delete {
        /// The document.
        id: DocId,
    },
}

impl Route {
    /// Parse `request`, or answer why it cannot be served.
    ///
    /// ```
    /// use lambda_http::{Request, RequestExt};
    /// use search_docs::Route;
    ///
    /// let request = Request::default().with_raw_http_path("/docs/note-1");
    /// assert!(matches!(Route::parse(&request).unwrap(), Route::Get { .. }));
    /// let request = Request::default().with_raw_http_path("/docs/a.b");
    /// assert_eq!(Route::parse(&request).unwrap_err().status().as_u16(), 400);
    /// ```
    pub fn parse(request: &Request) -> Result<Route, Error> {
        let method = request.method();
        let (area, segments) = Area::split(request);
        if area == Area::User {
            return Err(Error::NotFound);
        }
        match segments.as_slice() {
            ["docs"] if method == Method::GET => {
                only_query(request, &["q", "limit", "cursor"])?;
                let q = query(request, "q")?.unwrap_or_default();
                if q.len() > MAX_QUERY_BYTES {
                    return Err(Error::BadRequest(format!(
                        "`q` is longer than {MAX_QUERY_BYTES} bytes"
                    )));
                }
                let limit = limit(request, DEFAULT_LIMIT, MAX_LIMIT)? as u16;
                let invalid =
                    || Error::BadRequest("`cursor` is not a cursor this API issued".to_owned());
                let from = match query(request, "cursor")? {
                    Some(c) => cursor::decode(&c)?
                        .parse::<u32>()
                        .ok()
                        .filter(|from| *from < MAX_RESULT_WINDOW)
                        .ok_or_else(invalid)?,
                    None => 0,
                };
                Ok(Route::Search { q, limit, from })
            }
            ["docs"] => Err(Error::MethodNotAllowed { allow: "GET" }),
            ["docs", id] => {
                only_query(request, &[])?;
                let id = DocId::parse(id)?;
                if method == Method::GET {
                    Ok(Route::Get { id })
                } else if method == Method::PUT {
                    let document: serde_json::Value = json_body(request, MAX_DOC_BODY_BYTES)?;
                    if !document.is_object() {
                        return Err(Error::Validation("a document is a JSON object".to_owned()));
                    }
                    Ok(Route::Put { id, document })
                } else if method == Method::DELETE {
                    Ok(Route::Delete { id })
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

/// What the handler borrows: built once at cold start.
#[derive(Debug)]
pub struct App {
    envelope: Envelope,
    sessions: TenantSessions,
    index: TenantIndex,
}

impl App {
    /// Clients for `config`; `sdk` carries the execution role's credentials
    /// (none are needed under `identity-pool`). Fails only when the system
    /// has no TLS roots for the domain.
    pub fn new(config: &Config, sdk: &SdkConfig) -> Result<Self, Error> {
        let any = || "*".to_owned();
        let sessions = TenantSessions::new(sdk, &config.access)
            .with_registry(TenantRegistry::new(sdk, &config.access))
            .with_scope(SessionScope::Search {
                domain: config.service.domain.clone(),
                region: sdk.region().map_or_else(any, |r| r.to_string()),
                account: config.access.account.clone().unwrap_or_else(any),
            });
        Ok(App {
            envelope: Envelope::new(&config.access)
                .with_metrics(&config.access, "search-docs")
                .with_tiers(sessions.registry_handle()),
            sessions,
            index: TenantIndex::new(&config.service)?,
        })
    }

    /// The tenant sessions, for counting STS and identity-pool calls.
    pub fn sessions(&self) -> &TenantSessions {
        &self.sessions
    }

    /// The domain, for tests that reach it with a tenant's session.
    pub fn index(&self) -> &TenantIndex {
        &self.index
    }

    async fn serve(&self, route: Route, caller: &Caller) -> Result<Response<Body>, Error> {
        let session = self.sessions.session(caller).await?;
        match route {
            Route::Search { q, limit, from } => {
                let page = self.index.search(&session, &q, limit, from).await?;
                let end = from as u64 + page.hits.len() as u64;
                let next = end < page.total && end < MAX_RESULT_WINDOW as u64;
                let body = SearchResponse {
                    total: page.total,
                    hits: page.hits,
                    next_cursor: next.then(|| cursor::encode(&end.to_string())),
                };
                Ok(private(json_response(StatusCode::OK, &body)))
            }
            Route::Get { id } => {
                let document = self.index.get(&session, &id).await?;
                Ok(private(json_response(
                    StatusCode::OK,
                    &Document { id, document },
                )))
            }
            Route::Put { id, document } => {
                let created = self.index.put(&session, &id, &document).await?;
                let status = if created {
                    StatusCode::CREATED
                } else {
                    StatusCode::OK
                };
                Ok(private(json_response(status, &Document { id, document })))
            }
            Route::Delete { id } => {
                self.index.delete(&session, &id).await?;
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
            // A stale session the domain denied is dropped and the request
            // served once more on a new one.
            app.sessions
                .retrying(|| app.serve(route.clone(), &caller))
                .await
        })
        .await)
}

#[derive(Serialize)]
struct SearchResponse {
    total: u64,
    hits: Vec<Hit>,
    next_cursor: Option<String>,
}

#[derive(Serialize)]
struct Document {
    id: DocId,
    document: serde_json::Value,
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

    fn with_query(path: &str, q: &[(&str, &str)]) -> Request {
        request("GET", path).with_query_string_parameters(
            q.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<HashMap<_, _>>(),
        )
    }

    #[test]
    fn routes_parse_once_with_the_whole_bad_input_contract() {
        let status = |r: Request| Route::parse(&r).unwrap_err().status().as_u16();
        assert_eq!(
            Route::parse(&request("GET", "/docs")).unwrap(),
            Route::Search {
                q: String::new(),
                limit: DEFAULT_LIMIT as u16,
                from: 0
            }
        );
        assert_eq!(
            Route::parse(&with_query(
                "/docs",
                &[("q", "fox"), ("cursor", &cursor::encode("40"))]
            ))
            .unwrap(),
            Route::Search {
                q: "fox".into(),
                limit: DEFAULT_LIMIT as u16,
                from: 40
            }
        );
        assert_eq!(status(request("POST", "/docs")), 405);
        assert_eq!(status(request("PATCH", "/docs/a")), 405);
        assert_eq!(status(request("GET", "/docs/a/b")), 404);
        assert_eq!(status(request("GET", "/me/docs")), 404);
        assert_eq!(status(request("GET", "/docs/a%2Fb")), 400);
        assert_eq!(status(request("GET", "/docs/t2.docs")), 400);
        assert_eq!(status(with_query("/docs", &[("index", "t2.docs")])), 400);
        assert_eq!(status(with_query("/docs", &[("limit", "101")])), 400);
        assert_eq!(status(with_query("/docs", &[("cursor", "%%%")])), 400);
        assert_eq!(
            status(with_query("/docs", &[("cursor", &cursor::encode("10000"))])),
            400
        );
        assert_eq!(
            status(with_query(
                "/docs",
                &[("q", &"x".repeat(MAX_QUERY_BYTES + 1))]
            )),
            400
        );
    }

    #[test]
    fn puts_need_a_json_object_within_the_limit() {
        let put = |body: &str, json: bool| {
            let mut r = request("PUT", "/docs/a");
            *r.body_mut() = Body::Text(body.to_owned());
            if json {
                r.headers_mut()
                    .insert("content-type", "application/json".parse().unwrap());
            }
            r
        };
        let status = |r: Request| Route::parse(&r).unwrap_err().status().as_u16();
        assert!(matches!(
            Route::parse(&put(r#"{"t":"x"}"#, true)).unwrap(),
            Route::Put { .. }
        ));
        assert_eq!(status(put("{}", false)), 415);
        assert_eq!(status(put("{", true)), 400);
        assert_eq!(status(put("[1]", true)), 422);
        let big = format!("{{\"t\":\"{}\"}}", "x".repeat(MAX_DOC_BODY_BYTES));
        assert_eq!(status(put(&big, true)), 413);
    }
}
