//! `s3-fetch`: the caller's own files, read and written in its prefix of
//! the shared bucket with the caller's tenant credentials, each object
//! encrypted with the tenant's own KMS key.
//!
//! | route | answer |
//! |---|---|
//! | `GET /files?prefix=&limit=&cursor=` | keys under the tenant's home, one page |
//! | `GET /files/{key+}` | the object (`Range` gives 206, `If-None-Match` 304); over the inline limit, 302 to a presigned URL |
//! | `HEAD /files/{key+}` | the object's headers |
//! | `GET /files/{key+}?download=url` | a presigned URL as JSON, for any size |
//! | `PUT /files/{key+}` | write the body (up to the inline limit), SSE-KMS with the tenant's key; `If-Match` / `If-None-Match: *` make it conditional (412) |
//! | `PUT /files/{key+}?upload=url&size=N` | a presigned PUT URL as JSON for exactly `N` bytes (1 to 5 GiB), bound to the tenant's key and to the request's `If-Match` / `If-None-Match: *`, for a larger body |
//! | `DELETE /files/{key+}` | delete (204); `If-Match` makes it conditional |
//!
//! Keys are relative to the tenant's home prefix, which this crate adds and
//! the client never sees. Another tenant's key answers exactly like a missing
//! one.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

use aws_config::SdkConfig;
use aws_smithy_types::DateTime;
use aws_smithy_types::date_time::Format;
use lambda_http::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use lambda_http::{Body, Request, RequestExt, Response};
use serde::Serialize;
use std::time::{Duration, SystemTime};
use tenant_access::config::{FunctionConfig, S3Config};
use tenant_access::http::{Envelope, cursor, limit, only_query, private, query, segments};
use tenant_access::registry::TenantRegistry;
use tenant_access::s3::{
    ByteRange, Fetched, KeyPrefix, ListPosition, ObjectKey, ObjectMeta, PresignedGet, PresignedPut,
    Read, ReadOptions, TenantBucket, WriteCondition,
};
use tenant_access::session_policy::SessionScope;
use tenant_access::{Caller, Error, TenantSession, TenantSessions, json_response};

/// This function's configuration, read once at cold start.
pub type Config = FunctionConfig<S3Config>;

/// Objects per listing page when `limit` is absent.
pub const DEFAULT_LIST_LIMIT: usize = 100;
/// The largest `limit` of a listing page (S3's own maximum).
pub const MAX_LIST_LIMIT: usize = 1000;

/// What the handler borrows: built once at cold start.
#[derive(Debug)]
pub struct App {
    envelope: Envelope,
    sessions: TenantSessions,
    bucket: TenantBucket,
    presign_ttl: Duration,
}

impl App {
    /// Clients for `config`; `sdk` carries the execution role's credentials.
    pub fn new(config: &Config, sdk: &SdkConfig) -> Self {
        App {
            envelope: Envelope::new(&config.access).with_metrics(&config.access, "s3-fetch"),
            sessions: TenantSessions::new(sdk, &config.access)
                .with_registry(TenantRegistry::new(sdk, &config.access))
                .with_scope(SessionScope::S3 {
                    bucket: config.service.bucket.clone(),
                    prefix_template: config.service.prefix_template.clone(),
                }),
            bucket: TenantBucket::new(&config.service),
            presign_ttl: config.service.presign_ttl,
        }
    }

    /// The tenant sessions, for counting STS calls.
    pub fn sessions(&self) -> &TenantSessions {
        &self.sessions
    }

    async fn route(&self, request: &Request, caller: Caller) -> Result<Response<Body>, Error> {
        match segments(request).as_slice() {
            ["files"] if request.method() == Method::GET => self.list(request, &caller).await,
            ["files"] => Err(Error::MethodNotAllowed { allow: "GET" }),
            ["files", _, ..] => {
                let method = request.method().clone();
                if method == Method::PUT || method == Method::DELETE {
                    let key = ObjectKey::parse(&requested_key(request)?)?;
                    return self.write(request, &caller, &key).await;
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
                    return self.head(&caller, &key, &options).await;
                }
                only_query(request, &["download"])?;
                match query(request, "download")?.as_deref() {
                    None => self.get(&caller, &key, &options).await,
                    Some("url") => self.download_url(&caller, &key).await,
                    Some(_) => Err(Error::BadRequest(
                        "`download` accepts only `url`".to_owned(),
                    )),
                }
            }
            _ => Err(Error::NotFound),
        }
    }

    async fn list(&self, request: &Request, caller: &Caller) -> Result<Response<Body>, Error> {
        only_query(request, &["prefix", "limit", "cursor"])?;
        let prefix = KeyPrefix::parse(&query(request, "prefix")?.unwrap_or_default())?;
        let limit = limit(request, DEFAULT_LIST_LIMIT, MAX_LIST_LIMIT)?;
        let after = query(request, "cursor")?
            .map(|c| ListPosition::parse(&cursor::decode(&c)?))
            .transpose()?;
        let session = self.sessions.session(caller).await?;
        let page = self
            .bucket
            .list_objects(&session, &prefix, limit as u16, after.as_ref())
            .await?;
        let body = ListResponse {
            prefix: prefix.as_str(),
            items: page
                .objects
                .iter()
                .map(|o| ListItem {
                    key: &o.key,
                    size: o.size,
                    etag: o.etag.as_deref(),
                    last_modified: o.last_modified.and_then(|t| t.fmt(Format::DateTime).ok()),
                })
                .collect(),
            next_cursor: page.next_after.map(|k| cursor::encode(k.as_str())),
        };
        Ok(private(json_response(StatusCode::OK, &body)))
    }

    async fn get(
        &self,
        caller: &Caller,
        key: &ObjectKey,
        options: &ReadOptions,
    ) -> Result<Response<Body>, Error> {
        let session = self.sessions.session(caller).await?;
        match self.bucket.get_object(&session, key, options).await? {
            Read::NotModified { etag } => Ok(not_modified(etag)),
            Read::Found(Fetched::Inline(object)) => {
                let mut response = Response::new(Body::Binary(object.body));
                object_headers(&mut response, &object.meta);
                Ok(private(response))
            }
            Read::Found(Fetched::TooLarge(meta)) => {
                tracing::info!(
                    bytes = meta.content_length,
                    limit = self.bucket.inline_max_bytes(),
                    "object too large to answer inline; redirecting to a presigned URL"
                );
                let presigned = self.presign(&session, key).await?;
                let mut response = json_response(StatusCode::FOUND, &UrlResponse::new(&presigned));
                if let Ok(location) = HeaderValue::from_str(&presigned.url) {
                    response.headers_mut().insert(header::LOCATION, location);
                }
                Ok(no_store(response))
            }
        }
    }

    async fn head(
        &self,
        caller: &Caller,
        key: &ObjectKey,
        options: &ReadOptions,
    ) -> Result<Response<Body>, Error> {
        let session = self.sessions.session(caller).await?;
        match self.bucket.head_object(&session, key, options).await? {
            Read::NotModified { etag } => Ok(not_modified(etag)),
            Read::Found(meta) => {
                let mut response = Response::new(Body::Empty);
                object_headers(&mut response, &meta);
                Ok(private(response))
            }
        }
    }

    async fn download_url(
        &self,
        caller: &Caller,
        key: &ObjectKey,
    ) -> Result<Response<Body>, Error> {
        let session = self.sessions.session(caller).await?;
        // A URL only for an object that exists and the session may read.
        self.bucket
            .head_object(&session, key, &ReadOptions::default())
            .await?;
        let presigned = self.presign(&session, key).await?;
        Ok(no_store(json_response(
            StatusCode::OK,
            &UrlResponse::new(&presigned),
        )))
    }

    /// `PUT` and `DELETE` of `key`.
    async fn write(
        &self,
        request: &Request,
        caller: &Caller,
        key: &ObjectKey,
    ) -> Result<Response<Body>, Error> {
        let headers = request.headers();
        let text = |name: header::HeaderName| -> Result<Option<&str>, Error> {
            headers
                .get(&name)
                .map(|v| {
                    v.to_str()
                        .map_err(|_| Error::BadRequest(format!("the {name} header is not valid")))
                })
                .transpose()
        };
        let condition =
            WriteCondition::from_headers(text(header::IF_MATCH)?, text(header::IF_NONE_MATCH)?)?;
        if request.method() == Method::DELETE {
            only_query(request, &[])?;
            if condition == WriteCondition::IfNoneMatch {
                return Err(Error::BadRequest(
                    "`If-None-Match` does not apply to DELETE".to_owned(),
                ));
            }
            let if_match = match &condition {
                WriteCondition::IfMatch(etag) => Some(etag.as_str()),
                _ => None,
            };
            let session = self.sessions.session(caller).await?;
            self.bucket.delete_object(&session, key, if_match).await?;
            let mut response = Response::new(Body::Empty);
            *response.status_mut() = StatusCode::NO_CONTENT;
            return Ok(response);
        }
        only_query(request, &["upload", "size"])?;
        let size = query(request, "size")?;
        match query(request, "upload")?.as_deref() {
            None if size.is_some() => {
                return Err(Error::BadRequest(
                    "`size` goes with `upload=url`".to_owned(),
                ));
            }
            None => {}
            Some("url") => {
                let size = upload_size(size.as_deref())?;
                let session = self.sessions.session(caller).await?;
                let presigned = self
                    .bucket
                    .presign_put(&session, key, self.presign_ttl, size, &condition)
                    .await?;
                return Ok(no_store(json_response(
                    StatusCode::OK,
                    &UploadResponse::new(&presigned),
                )));
            }
            Some(_) => {
                return Err(Error::BadRequest("`upload` accepts only `url`".to_owned()));
            }
        }
        let body: &[u8] = request.body().as_ref();
        let limit = self.bucket.inline_max_bytes();
        if body.len() as u64 > limit {
            return Err(Error::PayloadTooLarge {
                limit: limit as usize,
            });
        }
        let content_type = text(header::CONTENT_TYPE)?;
        let session = self.sessions.session(caller).await?;
        let etag = self
            .bucket
            .put_object(&session, key, body.to_vec(), content_type, &condition)
            .await?;
        let mut response = json_response(
            StatusCode::OK,
            &Written {
                key: key.as_str(),
                etag: etag.as_deref(),
                size: body.len() as u64,
            },
        );
        set(&mut response, header::ETAG, etag.as_deref());
        Ok(private(response))
    }

    async fn presign(
        &self,
        session: &TenantSession,
        key: &ObjectKey,
    ) -> Result<PresignedGet, Error> {
        self.bucket
            .presign_get(session, key, self.presign_ttl)
            .await
    }
}

/// The most one PutObject may carry: S3's limit for a single PUT.
pub const MAX_UPLOAD_BYTES: u64 = 5 * 1024 * 1024 * 1024;

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

/// Handle one API Gateway request.
pub async fn function_handler(
    app: &App,
    request: Request,
) -> Result<Response<Body>, lambda_http::Error> {
    let request = &request;
    Ok(app
        .envelope
        .serve_measured(request, |caller| async move {
            // A stale session S3 denied is dropped and the request served
            // once more on a new one.
            app.sessions
                .retrying(|| app.route(request, caller.clone()))
                .await
        })
        .await)
}

#[derive(Serialize)]
struct ListResponse<'a> {
    prefix: &'a str,
    items: Vec<ListItem<'a>>,
    next_cursor: Option<String>,
}

#[derive(Serialize)]
struct ListItem<'a> {
    key: &'a str,
    size: u64,
    etag: Option<&'a str>,
    last_modified: Option<String>,
}

#[derive(Serialize)]
struct Written<'a> {
    key: &'a str,
    etag: Option<&'a str>,
    size: u64,
}

#[derive(Serialize)]
struct UploadResponse<'a> {
    url: &'a str,
    method: &'static str,
    headers: std::collections::BTreeMap<&'a str, &'a str>,
    expires_at: String,
    expires_in: u64,
}

impl<'a> UploadResponse<'a> {
    fn new(presigned: &'a PresignedPut) -> Self {
        let expires_in = presigned
            .expires_at
            .duration_since(SystemTime::now())
            .unwrap_or_default();
        UploadResponse {
            url: &presigned.url,
            method: "PUT",
            headers: presigned
                .headers
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect(),
            expires_at: DateTime::from(presigned.expires_at)
                .fmt(Format::DateTime)
                .unwrap_or_default(),
            expires_in: expires_in.as_secs_f64().round() as u64,
        }
    }
}

#[derive(Serialize)]
struct UrlResponse<'a> {
    url: &'a str,
    expires_at: String,
    expires_in: u64,
}

impl<'a> UrlResponse<'a> {
    fn new(presigned: &'a PresignedGet) -> Self {
        let expires_in = presigned
            .expires_at
            .duration_since(SystemTime::now())
            .unwrap_or_default();
        UrlResponse {
            url: &presigned.url,
            expires_at: DateTime::from(presigned.expires_at)
                .fmt(Format::DateTime)
                .unwrap_or_default(),
            expires_in: expires_in.as_secs_f64().round() as u64,
        }
    }
}

/// `If-None-Match` and `Range` from the request headers.
fn read_options(headers: &HeaderMap) -> Result<ReadOptions, Error> {
    let text = |name: header::HeaderName| -> Result<Option<String>, Error> {
        match headers.get(&name) {
            None => Ok(None),
            Some(value) => value
                .to_str()
                .ok()
                .filter(|v| v.len() <= 1024)
                .map(|v| Some(v.to_owned()))
                .ok_or_else(|| Error::BadRequest(format!("the {name} header is not valid"))),
        }
    };
    Ok(ReadOptions {
        if_none_match: text(header::IF_NONE_MATCH)?,
        range: text(header::RANGE)?
            .map(|r| ByteRange::parse(&r))
            .transpose()?,
    })
}

fn set(response: &mut Response<Body>, name: header::HeaderName, value: Option<&str>) {
    if let Some(Ok(value)) = value.map(HeaderValue::from_str) {
        response.headers_mut().insert(name, value);
    }
}

fn object_headers(response: &mut Response<Body>, meta: &ObjectMeta) {
    *response.status_mut() = if meta.content_range.is_some() {
        StatusCode::PARTIAL_CONTENT
    } else {
        StatusCode::OK
    };
    let content_type = meta
        .content_type
        .as_deref()
        .unwrap_or("application/octet-stream");
    set(response, header::CONTENT_TYPE, Some(content_type));
    // The type is the tenant's own (it wrote it): a browser must not sniff
    // another, and must not render what could run script in this origin.
    set(response, header::X_CONTENT_TYPE_OPTIONS, Some("nosniff"));
    if renders_active_content(content_type) {
        set(response, header::CONTENT_DISPOSITION, Some("attachment"));
    }
    set(
        response,
        header::CONTENT_LENGTH,
        Some(&meta.content_length.to_string()),
    );
    set(response, header::ETAG, meta.etag.as_deref());
    let modified = meta
        .last_modified
        .and_then(|t| t.fmt(Format::HttpDate).ok());
    set(response, header::LAST_MODIFIED, modified.as_deref());
    set(
        response,
        header::CONTENT_RANGE,
        meta.content_range.as_deref(),
    );
    set(response, header::ACCEPT_RANGES, Some("bytes"));
}

/// Whether a browser shown `content_type` inline could run script or
/// markup in the API's origin: HTML, XHTML, SVG, XML and JavaScript, which
/// are served as attachments.
///
/// ```
/// # use s3_fetch::renders_active_content;
/// assert!(renders_active_content("text/html; charset=utf-8"));
/// assert!(renders_active_content("IMAGE/SVG+XML"));
/// assert!(!renders_active_content("text/plain"));
/// assert!(!renders_active_content("application/json"));
/// ```
pub fn renders_active_content(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    matches!(
        essence.as_str(),
        "text/html"
            | "application/xhtml+xml"
            | "image/svg+xml"
            | "text/xml"
            | "application/xml"
            | "text/javascript"
            | "application/javascript"
            | "text/xsl"
    ) || essence.ends_with("+xml")
}

fn not_modified(etag: Option<String>) -> Response<Body> {
    let mut response = Response::new(Body::Empty);
    *response.status_mut() = StatusCode::NOT_MODIFIED;
    set(&mut response, header::ETAG, etag.as_deref());
    private(response)
}

/// Presigned URLs are credentials for a short while: not to be stored.
fn no_store(mut response: Response<Body>) -> Response<Body> {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The key below `/files/`: the `{key+}` path parameter API Gateway decoded,
/// or, where no route matched (local emulators), the raw path decoded once.
fn requested_key(request: &Request) -> Result<String, Error> {
    if let Some(key) = request.path_parameters_ref().and_then(|p| p.first("key")) {
        return Ok(key.to_owned());
    }
    let path = request.raw_http_path();
    let raw = path.strip_prefix("/files/").ok_or(Error::NotFound)?;
    percent_encoding::percent_decode_str(raw)
        .decode_utf8()
        .map(|key| key.into_owned())
        .map_err(|_| Error::BadRequest("invalid object key: it is not valid UTF-8".to_owned()))
}

#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

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
