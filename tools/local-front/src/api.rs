//! The local API Gateway: one HTTP endpoint before the functions that
//! routes by template.yaml's `HttpApi` routes and authorizes every request
//! the way the HttpApi JWT authorizer does, then invokes the function
//! through `cargo lambda watch` with the HTTP API v2 event API Gateway
//! would send.
//!
//! The authorizer checks the `Authorization` header's JWT: an RS256
//! signature by a key of the issuer's JWKS, `iss`, the audience (`aud` of an
//! ID token, `client_id` of an access token), `token_use`, `exp` and `nbf`.
//! A request that fails any of it gets 401 `{"message":"Unauthorized"}` and
//! no function runs; a path or method with no route gets 404
//! `{"message":"Not Found"}`, as API Gateway answers.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{Map, Value, json};
use tokio::net::TcpListener;

pub use crate::jwt::Authorizer;
use crate::jwt::{JwtVerifier, Unauthorized};
use crate::server::Answer;

/// One `HttpApi` route: method, path template (`/files/{key+}`), and the
/// function (the watcher's name for it, the template's `Binary`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// `GET`, `POST`, ...
    pub method: String,
    /// The path template, as in the template.
    pub path: String,
    /// The function serving it.
    pub function: String,
}

impl Route {
    /// The path parameters if `path` (percent-encoded, as sent) matches.
    fn matches(&self, path: &str) -> Option<Map<String, Value>> {
        let decode = |s: &str| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .into_owned()
        };
        let mut params = Map::new();
        let mut rest = path.strip_prefix('/')?;
        let template: Vec<&str> = self.path.trim_start_matches('/').split('/').collect();
        for (i, part) in template.iter().enumerate() {
            if let Some(name) = part.strip_prefix('{').and_then(|p| p.strip_suffix("+}")) {
                if rest.is_empty() || i != template.len() - 1 {
                    return None;
                }
                params.insert(name.to_owned(), decode(rest).into());
                return Some(params);
            }
            let (segment, tail) = rest.split_once('/').unwrap_or((rest, ""));
            let last = i == template.len() - 1;
            if last != (tail.is_empty() && !rest.ends_with('/')) {
                return None;
            }
            match part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
                Some(name) if !segment.is_empty() => {
                    params.insert(name.to_owned(), decode(segment).into());
                }
                Some(_) => return None,
                None if *part == segment => {}
                None => return None,
            }
            rest = tail;
        }
        Some(params)
    }
}

/// Every `HttpApi` route of a SAM template, with its function's binary.
///
/// ```
/// let yaml = r#"
/// Resources:
///   F:
///     Type: AWS::Serverless::Function
///     Metadata: { BuildProperties: { Binary: s3-fetch } }
///     Properties:
///       Events:
///         GetFile:
///           Type: HttpApi
///           Properties: { ApiId: !Ref Api, Method: GET, Path: "/files/{key+}" }
/// "#;
/// let routes = local_front::api::routes_from_template(yaml).unwrap();
/// assert_eq!(routes[0].function, "s3-fetch");
/// assert_eq!(routes[0].path, "/files/{key+}");
/// ```
pub fn routes_from_template(yaml: &str) -> Result<Vec<Route>, String> {
    let template: serde_norway::Value = serde_norway::from_str(yaml).map_err(|e| e.to_string())?;
    let mut routes = Vec::new();
    let resources = template["Resources"]
        .as_mapping()
        .ok_or("the template has no Resources")?;
    for (_, resource) in resources {
        let Some(binary) = resource["Metadata"]["BuildProperties"]["Binary"].as_str() else {
            continue;
        };
        let Some(events) = resource["Properties"]["Events"].as_mapping() else {
            continue;
        };
        for (_, event) in events {
            if event["Type"].as_str() != Some("HttpApi") {
                continue;
            }
            let props = &event["Properties"];
            let (Some(method), Some(path)) = (props["Method"].as_str(), props["Path"].as_str())
            else {
                return Err(format!("an HttpApi event of {binary} lacks Method or Path"));
            };
            routes.push(Route {
                method: method.to_ascii_uppercase(),
                path: path.to_owned(),
                function: binary.to_owned(),
            });
        }
    }
    Ok(routes)
}

struct Shared {
    routes: Vec<Route>,
    verifier: JwtVerifier,
    watcher: SocketAddr,
    client: Client<HttpConnector, Full<Bytes>>,
    invocations: AtomicU64,
}

/// The local API Gateway, running on the current tokio runtime until
/// dropped.
pub struct ApiFront {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for ApiFront {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiFront")
            .field("addr", &self.addr)
            .field("watcher", &self.shared.watcher)
            .finish_non_exhaustive()
    }
}

impl ApiFront {
    /// Listen on `listen`, serve `routes` through the Lambda invoke API at
    /// `watcher` (`cargo lambda watch`), authorizing with `authorizer`.
    pub async fn start(
        listen: SocketAddr,
        routes: Vec<Route>,
        authorizer: Authorizer,
        watcher: SocketAddr,
    ) -> io::Result<Self> {
        let listener = TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            routes,
            verifier: JwtVerifier::new(authorizer),
            watcher,
            client: crate::server::client(),
            invocations: AtomicU64::new(0),
        });
        let task = crate::server::serve(listener, shared.clone(), handle);
        Ok(ApiFront { addr, shared, task })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// How many function invocations it has made.
    pub fn invocations(&self) -> u64 {
        self.shared.invocations.load(Ordering::Relaxed)
    }

    /// Check tokens as if the clock were `seconds` ahead (expiry tests).
    pub fn skew_clock(&self, seconds: i64) {
        self.shared.verifier.skew_clock(seconds);
    }
}

impl Drop for ApiFront {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn message(status: StatusCode, text: &str) -> Answer {
    let mut response = Response::new(Full::new(Bytes::from(
        json!({ "message": text }).to_string(),
    )));
    *response.status_mut() = status;
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    response
}

async fn handle(
    shared: Arc<Shared>,
    request: Request<Incoming>,
    peer: SocketAddr,
) -> Result<Answer, io::Error> {
    let (parts, body) = request.into_parts();
    let body = body
        .collect()
        .await
        .map_err(|e| io::Error::other(format!("reading the request body: {e}")))?
        .to_bytes();
    let path = parts.uri.path();
    let Some((route, params)) = shared
        .routes
        .iter()
        .filter(|r| r.method == parts.method.as_str())
        .find_map(|r| r.matches(path).map(|p| (r, p)))
    else {
        return Ok(message(StatusCode::NOT_FOUND, "Not Found"));
    };
    let authorization = parts
        .headers
        .get(hyper::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let claims = match shared.verifier.authorize(authorization).await {
        Ok(claims) => claims,
        Err(Unauthorized(why)) => {
            eprintln!("local-api: 401 for {} {path}: {why}", parts.method);
            return Ok(message(StatusCode::UNAUTHORIZED, "Unauthorized"));
        }
    };
    let event = event(route, params, &parts, &body, &claims, peer);
    shared.invocations.fetch_add(1, Ordering::Relaxed);
    invoke(&shared, &route.function, event).await
}

/// The HTTP API v2 event API Gateway sends for this request.
fn event(
    route: &Route,
    params: Map<String, Value>,
    parts: &hyper::http::request::Parts,
    body: &Bytes,
    claims: &Map<String, Value>,
    peer: SocketAddr,
) -> Value {
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(&s.replace('+', " "))
            .decode_utf8_lossy()
            .into_owned()
    };
    let mut headers = Map::new();
    for (name, value) in &parts.headers {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        match headers.get_mut(name.as_str()) {
            Some(Value::String(existing)) => {
                existing.push(',');
                existing.push_str(&value);
            }
            _ => {
                headers.insert(name.as_str().to_owned(), value.into());
            }
        }
    }
    let raw_query = parts.uri.query().unwrap_or_default();
    let mut query = Map::new();
    for pair in raw_query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let (k, v) = (decode(k), decode(v));
        match query.get_mut(&k) {
            Some(Value::String(existing)) => {
                existing.push(',');
                existing.push_str(&v);
            }
            _ => {
                query.insert(k, v.into());
            }
        }
    }
    // API Gateway passes every claim as a string.
    let claims: Map<String, Value> = claims
        .iter()
        .map(|(k, v)| {
            let text = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            (k.clone(), text.into())
        })
        .collect();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let route_key = format!("{} {}", route.method, route.path);
    let (body, base64) = match std::str::from_utf8(body) {
        Ok(text) => (text.to_owned(), false),
        Err(_) => (base64::engine::general_purpose::STANDARD.encode(body), true),
    };
    let mut event = json!({
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": parts.uri.path(),
        "rawQueryString": raw_query,
        "headers": headers,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "local",
            "authorizer": { "jwt": { "claims": claims, "scopes": null } },
            "domainName": headers_host(&parts.headers),
            "domainPrefix": "local",
            "http": {
                "method": parts.method.as_str(),
                "path": parts.uri.path(),
                "protocol": "HTTP/1.1",
                "sourceIp": peer.ip().to_string(),
                "userAgent": parts.headers.get(hyper::header::USER_AGENT)
                    .and_then(|v| v.to_str().ok()).unwrap_or_default(),
            },
            "requestId": format!("local-{}", now.as_nanos()),
            "routeKey": route_key,
            "stage": "$default",
            "timeEpoch": now.as_millis() as u64,
        },
        "isBase64Encoded": base64,
    });
    if !query.is_empty() {
        event["queryStringParameters"] = query.into();
    }
    if !params.is_empty() {
        event["pathParameters"] = params.into();
    }
    if !body.is_empty() {
        event["body"] = body.into();
    }
    event
}

fn headers_host(headers: &hyper::HeaderMap) -> String {
    headers
        .get(hyper::header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("localhost")
        .to_owned()
}

/// Invoke `function` through the watcher and turn its proxy answer into
/// the HTTP answer; a function that fails is API Gateway's 500.
async fn invoke(shared: &Shared, function: &str, event: Value) -> Result<Answer, io::Error> {
    let uri: hyper::Uri = format!(
        "http://{}/2015-03-31/functions/{function}/invocations",
        shared.watcher
    )
    .parse()
    .map_err(io::Error::other)?;
    let request = Request::post(uri)
        .header(hyper::header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(event.to_string())))
        .expect("an invoke request");
    let answer = match shared.client.request(request).await {
        Ok(response) if response.status() == StatusCode::OK => response
            .into_body()
            .collect()
            .await
            .ok()
            .and_then(|b| serde_json::from_slice::<Value>(&b.to_bytes()).ok()),
        Ok(response) => {
            eprintln!("local-api: the watcher answered {}", response.status());
            None
        }
        Err(e) => {
            eprintln!("local-api: the watcher did not answer: {e}");
            None
        }
    };
    let Some(answer) = answer.filter(|a| a["statusCode"].is_u64()) else {
        return Ok(message(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Internal Server Error",
        ));
    };
    let status = answer["statusCode"]
        .as_u64()
        .and_then(|s| StatusCode::from_u16(s as u16).ok())
        .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = answer["body"].as_str().unwrap_or_default();
    let body = if answer["isBase64Encoded"].as_bool() == Some(true) {
        base64::engine::general_purpose::STANDARD
            .decode(body)
            .unwrap_or_default()
    } else {
        body.as_bytes().to_vec()
    };
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    for (name, value) in answer["headers"].as_object().into_iter().flatten() {
        if let (Ok(name), Some(Ok(value))) = (
            hyper::header::HeaderName::try_from(name.as_str()),
            value.as_str().map(hyper::header::HeaderValue::from_str),
        ) {
            response.headers_mut().insert(name, value);
        }
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(path: &str) -> Route {
        Route {
            method: "GET".into(),
            path: path.into(),
            function: "f".into(),
        }
    }

    #[test]
    fn paths_match_templates_like_api_gateway() {
        assert!(route("/files").matches("/files").is_some());
        assert!(route("/files").matches("/files/").is_none());
        assert!(route("/files").matches("/filesx").is_none());
        let p = route("/files/{key+}")
            .matches("/files/docs/a%20b.md")
            .unwrap();
        assert_eq!(p["key"], "docs/a b.md");
        assert!(route("/files/{key+}").matches("/files/").is_none());
        assert!(route("/files/{key+}").matches("/files").is_none());
        let p = route("/records/{id}").matches("/records/42").unwrap();
        assert_eq!(p["id"], "42");
        assert!(route("/records/{id}").matches("/records/42/x").is_none());
        assert!(route("/records/{id}").matches("/records/").is_none());
    }
}
