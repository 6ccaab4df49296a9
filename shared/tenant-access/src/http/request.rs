//! What a request asks for, read from its path, query and body: the helpers
//! each function's `Route::parse` is built from, every one refusing bad
//! input with a clear error.

use lambda_http::{Request, RequestExt};

use crate::Error;

/// Whose data a request is about: the tenant's shared data (`/files`,
/// `/items`), or the calling user's own (`/me/files`, `/me/items`), which
/// the stores keep in the user's area of the tenant and serve on a session
/// IAM confines to it
/// ([`TenantSessions::user_session`](crate::TenantSessions::user_session)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Area {
    /// The tenant's shared data.
    Tenant,
    /// The calling user's own data: the path starts with `/me`.
    User,
}

impl Area {
    /// The area `request`'s path names, and the path's segments after it.
    ///
    /// ```
    /// use lambda_http::{Request, RequestExt};
    /// use tenant_access::http::Area;
    ///
    /// let request = Request::default().with_raw_http_path("/me/items/a-1");
    /// assert_eq!(Area::split(&request), (Area::User, vec!["items", "a-1"]));
    /// let request = Request::default().with_raw_http_path("/items/a-1");
    /// assert_eq!(Area::split(&request), (Area::Tenant, vec!["items", "a-1"]));
    /// ```
    pub fn split(request: &Request) -> (Area, Vec<&str>) {
        let mut path = segments(request);
        if path.first() == Some(&"me") {
            path.remove(0);
            (Area::User, path)
        } else {
            (Area::Tenant, path)
        }
    }

    /// The area `request`'s path names.
    pub fn of(request: &Request) -> Area {
        Area::split(request).0
    }
}

/// The request path's segments, without API Gateway's stage, percent-encoded
/// as received. `/files/a%2Fb` gives `["files", "a%2Fb"]`.
///
/// ```
/// use lambda_http::{Request, RequestExt};
/// let request = Request::default().with_raw_http_path("/records/42");
/// assert_eq!(tenant_access::http::segments(&request), ["records", "42"]);
/// ```
pub fn segments(request: &Request) -> Vec<&str> {
    request
        .raw_http_path()
        .split('/')
        .filter(|s| !s.is_empty())
        .collect()
}

/// One query-string parameter; a parameter given twice is a client error,
/// since which one wins would be ambiguous.
///
/// ```
/// use lambda_http::{Request, RequestExt};
/// use std::collections::HashMap;
///
/// let query = HashMap::from([("limit".to_owned(), "10".to_owned())]);
/// let request = Request::default().with_query_string_parameters(query);
/// assert_eq!(tenant_access::http::query(&request, "limit").unwrap().as_deref(), Some("10"));
/// assert_eq!(tenant_access::http::query(&request, "cursor").unwrap(), None);
/// ```
pub fn query(request: &Request, name: &str) -> Result<Option<String>, Error> {
    let Some(params) = request.query_string_parameters_ref() else {
        return Ok(None);
    };
    match params.all(name).as_deref() {
        None | Some([]) => Ok(None),
        Some([one]) => Ok(Some((*one).to_owned())),
        Some(_) => Err(Error::BadRequest(format!(
            "query parameter `{name}` is given more than once"
        ))),
    }
}

/// The `limit` query parameter: `default` when absent, else 1 to `max`.
pub fn limit(request: &Request, default: usize, max: usize) -> Result<usize, Error> {
    match query(request, "limit")? {
        None => Ok(default),
        Some(value) => value
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=max).contains(n))
            .ok_or_else(|| {
                Error::BadRequest(format!("`limit` must be a whole number from 1 to {max}"))
            }),
    }
}

/// Only these query parameters are accepted; any other is a client error,
/// so a misspelt `prefx=` is not silently ignored.
pub fn only_query(request: &Request, allowed: &[&str]) -> Result<(), Error> {
    let Some(params) = request.query_string_parameters_ref() else {
        return Ok(());
    };
    for (name, _) in params.iter() {
        if !allowed.contains(&name) {
            return Err(Error::BadRequest(format!(
                "unknown query parameter `{name}`; this route accepts: {}",
                if allowed.is_empty() {
                    "none".to_owned()
                } else {
                    allowed.join(", ")
                }
            )));
        }
    }
    Ok(())
}

/// Parse a JSON request body of at most `max_bytes`.
///
/// Refused with 415 unless `Content-Type` is `application/json` (or a
/// `+json` type), with 413 when larger than `max_bytes`, with 400
/// `invalid_json` when not well-formed JSON, and with 422
/// `validation_failed` when well-formed but not a valid `T` (unknown or
/// missing fields, wrong types).
pub fn json_body<T: serde::de::DeserializeOwned>(
    request: &Request,
    max_bytes: usize,
) -> Result<T, Error> {
    let is_json = request
        .headers()
        .get(lambda_http::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|mime| {
            let mime = mime.trim().to_ascii_lowercase();
            mime == "application/json"
                || (mime.starts_with("application/") && mime.ends_with("+json"))
        })
        .unwrap_or(false);
    if !is_json {
        return Err(Error::UnsupportedMediaType);
    }
    let body: &[u8] = request.body().as_ref();
    if body.len() > max_bytes {
        return Err(Error::PayloadTooLarge { limit: max_bytes });
    }
    serde_json::from_slice(body).map_err(|e| {
        use serde_json::error::Category;
        match e.classify() {
            Category::Data => Error::Validation(e.to_string()),
            Category::Syntax | Category::Eof | Category::Io => Error::InvalidJson(e.to_string()),
        }
    })
}

/// Opaque pagination cursors: the position a page ended at, URL-safe
/// base64 so clients treat it as a token rather than something to edit.
/// A decoded cursor is validated again by its user like any other input.
pub mod cursor {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    use crate::Error;

    /// The cursor for a position.
    ///
    /// ```
    /// use tenant_access::http::cursor;
    /// let c = cursor::encode("docs/readme.md");
    /// assert_eq!(cursor::decode(&c).unwrap(), "docs/readme.md");
    /// ```
    pub fn encode(position: &str) -> String {
        URL_SAFE_NO_PAD.encode(position)
    }

    /// The position in a cursor; 400 `bad_request` when it is not one.
    pub fn decode(cursor: &str) -> Result<String, Error> {
        let invalid = || Error::BadRequest("`cursor` is not a cursor this API issued".to_owned());
        let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| invalid())?;
        String::from_utf8(bytes).map_err(|_| invalid())
    }
}
