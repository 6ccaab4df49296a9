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
//! | `/me/files`, `/me/files/{key+}` | the same, on the calling user's own files |
//!
//! Keys are relative to the tenant's home prefix, which this crate adds and
//! the client never sees. Another tenant's key answers exactly like a missing
//! one. `users/` in the home holds each user's own area, `users/<sub>/`,
//! which only `/me/files` serves, on a session IAM confines to it: the
//! tenant's routes refuse keys there (400) and leave them out of listings.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

use aws_config::SdkConfig;
use aws_smithy_types::DateTime;
use aws_smithy_types::date_time::Format;
use lambda_http::http::{HeaderValue, StatusCode, header};
use lambda_http::{Body, Request, Response};
use serde::Serialize;
use std::time::{Duration, SystemTime};
use tenant_access::config::{FunctionConfig, S3Config};
use tenant_access::http::{Area, Envelope, cursor, private};
use tenant_access::registry::TenantRegistry;
use tenant_access::s3::{
    Fetched, ObjectKey, ObjectMeta, PresignedGet, PresignedPut, Read, ReadOptions, TenantBucket,
};
use tenant_access::session_policy::SessionScope;
use tenant_access::{Caller, Error, TenantSession, TenantSessions, json_response};

mod route;

pub use route::{DEFAULT_LIST_LIMIT, MAX_LIST_LIMIT, MAX_UPLOAD_BYTES, Route};

/// This function's configuration, read once at cold start.
pub type Config = FunctionConfig<S3Config>;

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
        let sessions = TenantSessions::new(sdk, &config.access)
            .with_registry(TenantRegistry::new(sdk, &config.access))
            .with_scope(SessionScope::S3 {
                bucket: config.service.bucket.clone(),
                prefix_template: config.service.prefix_template.clone(),
            });
        App {
            envelope: Envelope::new(&config.access)
                .with_metrics(&config.access, "s3-fetch")
                .with_tiers(sessions.registry_handle()),
            sessions,
            bucket: TenantBucket::new(&config.service),
            presign_ttl: config.service.presign_ttl,
        }
    }

    /// The tenant sessions, for counting STS calls.
    pub fn sessions(&self) -> &TenantSessions {
        &self.sessions
    }

    /// Serve a parsed `route` as `caller`, on its tenant's session (or, in
    /// the user's own `area`, on the user's).
    async fn serve(
        &self,
        area: Area,
        route: &Route,
        caller: &Caller,
    ) -> Result<Response<Body>, Error> {
        let session = match area {
            Area::Tenant => self.sessions.session(caller).await?,
            Area::User => self.sessions.user_session(caller).await?,
        };
        match route {
            Route::List {
                prefix,
                limit,
                after,
            } => {
                let page = self
                    .bucket
                    .list_objects(&session, prefix, *limit, after.as_ref())
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
                            last_modified: o
                                .last_modified
                                .and_then(|t| t.fmt(Format::DateTime).ok()),
                        })
                        .collect(),
                    next_cursor: page.next_after.map(|k| cursor::encode(k.as_str())),
                };
                Ok(private(json_response(StatusCode::OK, &body)))
            }
            Route::Get { key, options } => {
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
                        let mut response =
                            json_response(StatusCode::FOUND, &UrlResponse::new(&presigned));
                        if let Ok(location) = HeaderValue::from_str(&presigned.url) {
                            response.headers_mut().insert(header::LOCATION, location);
                        }
                        Ok(no_store(response))
                    }
                }
            }
            Route::Head { key, options } => {
                match self.bucket.head_object(&session, key, options).await? {
                    Read::NotModified { etag } => Ok(not_modified(etag)),
                    Read::Found(meta) => {
                        let mut response = Response::new(Body::Empty);
                        object_headers(&mut response, &meta);
                        Ok(private(response))
                    }
                }
            }
            Route::DownloadUrl { key } => {
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
            Route::Put {
                key,
                body,
                content_type,
                condition,
            } => {
                let etag = self
                    .bucket
                    .put_object(
                        &session,
                        key,
                        body.clone(),
                        content_type.as_deref(),
                        condition,
                    )
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
            Route::UploadUrl {
                key,
                size,
                condition,
            } => {
                let presigned = self
                    .bucket
                    .presign_put(&session, key, self.presign_ttl, *size, condition)
                    .await?;
                Ok(no_store(json_response(
                    StatusCode::OK,
                    &UploadResponse::new(&presigned),
                )))
            }
            Route::Delete { key, if_match } => {
                self.bucket
                    .delete_object(&session, key, if_match.as_deref())
                    .await?;
                let mut response = Response::new(Body::Empty);
                *response.status_mut() = StatusCode::NO_CONTENT;
                Ok(response)
            }
        }
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

/// Handle one API Gateway request.
pub async fn function_handler(
    app: &App,
    request: Request,
) -> Result<Response<Body>, lambda_http::Error> {
    let request = &request;
    Ok(app
        .envelope
        .serve_measured(request, |caller| async move {
            let route = Route::parse(request, app.bucket.inline_max_bytes())?;
            let area = Area::of(request);
            // A stale session S3 denied is dropped and the request served
            // once more on a new one.
            app.sessions
                .retrying(|| app.serve(area, &route, &caller))
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
