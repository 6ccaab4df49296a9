//! `s3-fetch`: `GET /files/{key+}` returns `<caller's prefix>/<key>` from the
//! shared bucket, read with the caller's tenant-role credentials.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

use aws_config::SdkConfig;
use lambda_http::http::{HeaderValue, Method, StatusCode, header};
use lambda_http::{Body, Request, RequestExt, Response};
use tenant_access::config::{FunctionConfig, S3Config};
use tenant_access::http::serve;
use tenant_access::s3::{ObjectKey, TenantBucket};
use tenant_access::{Error, TenantSessions};

/// This function's configuration, read once at cold start.
pub type Config = FunctionConfig<S3Config>;

/// What the handler borrows: built once at cold start.
#[derive(Debug)]
pub struct App {
    claim: String,
    sessions: TenantSessions,
    bucket: TenantBucket,
}

impl App {
    /// Clients for `config`; `sdk` carries the execution role's credentials.
    pub fn new(config: &Config, sdk: &SdkConfig) -> Self {
        App {
            claim: config.access.tenant_claim.clone(),
            sessions: TenantSessions::new(sdk, &config.access),
            bucket: TenantBucket::new(&config.service),
        }
    }

    /// The tenant sessions, for counting STS calls.
    pub fn sessions(&self) -> &TenantSessions {
        &self.sessions
    }
}

/// Handle one API Gateway request.
pub async fn function_handler(
    app: &App,
    request: Request,
) -> Result<Response<Body>, lambda_http::Error> {
    let request = &request;
    Ok(serve(request, &app.claim, |caller| async move {
        if request.method() != Method::GET {
            return Err(Error::MethodNotAllowed);
        }
        let key = ObjectKey::parse(&requested_key(request)?)?;
        let session = app.sessions.session(&caller).await?;
        let object = app.bucket.get_object(&session, &key).await?;
        let content_type = object
            .content_type
            .as_deref()
            .unwrap_or("application/octet-stream");
        let mut response = Response::new(Body::Binary(object.body));
        *response.status_mut() = StatusCode::OK;
        let headers = response.headers_mut();
        if let Ok(value) = HeaderValue::from_str(content_type) {
            headers.insert(header::CONTENT_TYPE, value);
        }
        if let Some(Ok(value)) = object.etag.as_deref().map(HeaderValue::from_str) {
            headers.insert(header::ETAG, value);
        }
        Ok(response)
    })
    .await)
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
