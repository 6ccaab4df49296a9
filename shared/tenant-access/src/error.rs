//! One error type for the whole request path, and its HTTP mapping.
//!
//! Every failure a handler can meet is a variant of [`Error`]. Each variant
//! has a stable machine-readable [`code`](Error::code) and an HTTP
//! [`status`](Error::status); [`Error::to_response`] renders the JSON body
//! `{"error": "<code>", "message": "..."}`.
//!
//! Messages are written for the caller and never carry credentials, tokens,
//! object bodies or upstream error text, which could name another tenant.
//! The upstream detail goes to the log through [`Error::log`] instead.

use lambda_http::http::{StatusCode, header};
use lambda_http::{Body, Response};
use serde::Serialize;

/// Everything that can go wrong while serving a tenant request.
///
/// # Example
///
/// ```
/// use tenant_access::Error;
///
/// let err = Error::NotFound;
/// assert_eq!(err.status().as_u16(), 404);
/// assert_eq!(err.code(), "not_found");
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The request carries no authorizer identity at all.
    #[error("the request carries no verified identity")]
    Unauthenticated,
    /// The verified identity has no tenant claim.
    #[error("the verified identity has no `{claim}` claim")]
    TenantClaimMissing {
        /// Name of the configured tenant claim.
        claim: String,
    },
    /// The tenant claim is present but not a valid tenant identifier.
    #[error("the tenant claim is not a valid tenant identifier")]
    InvalidTenant,
    /// The client sent input that cannot be served (bad key, bad parameter).
    #[error("{0}")]
    BadRequest(String),
    /// The request body is not well-formed JSON.
    #[error("the body is not valid JSON: {0}")]
    InvalidJson(String),
    /// The route exists but not with this method.
    #[error("method not allowed; allowed: {allow}")]
    MethodNotAllowed {
        /// The methods the route accepts, for the `Allow` header.
        allow: &'static str,
    },
    /// Nothing is at this address for this tenant. Also the answer for
    /// another tenant's object or record, so existence never leaks.
    #[error("not found")]
    NotFound,
    /// The request conflicts with the tenant's current state.
    #[error("{0}")]
    Conflict(String),
    /// The request body is larger than the route accepts.
    #[error("the body is larger than {limit} bytes")]
    PayloadTooLarge {
        /// The largest body accepted, in bytes.
        limit: usize,
    },
    /// The body's `Content-Type` is not one the route accepts.
    #[error("the body must be application/json")]
    UnsupportedMediaType,
    /// The `Range` header asks for bytes outside the object.
    #[error("the requested range is not satisfiable")]
    RangeNotSatisfiable,
    /// The body is JSON but does not describe a valid resource.
    #[error("{0}")]
    Validation(String),
    /// AWS or the database refused the tenant session.
    #[error("access denied")]
    AccessDenied {
        /// Detail for the log, never for the response body.
        detail: String,
    },
    /// An upstream service answered with an error.
    #[error("upstream service error")]
    Upstream {
        /// Which upstream: `sts`, `s3`, `db`.
        service: &'static str,
        /// Detail for the log, never for the response body.
        detail: String,
    },
    /// An upstream service could not be reached or timed out.
    #[error("upstream service unavailable")]
    Unavailable {
        /// Which upstream: `sts`, `s3`, `db`.
        service: &'static str,
        /// Detail for the log, never for the response body.
        detail: String,
    },
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
    message: String,
}

impl Error {
    /// The HTTP status this error is answered with.
    ///
    /// ```
    /// use tenant_access::Error;
    /// assert_eq!(Error::Unauthenticated.status().as_u16(), 401);
    /// ```
    pub fn status(&self) -> StatusCode {
        match self {
            Error::Unauthenticated => StatusCode::UNAUTHORIZED,
            Error::TenantClaimMissing { .. } | Error::InvalidTenant => StatusCode::FORBIDDEN,
            Error::BadRequest(_) | Error::InvalidJson(_) => StatusCode::BAD_REQUEST,
            Error::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            Error::NotFound => StatusCode::NOT_FOUND,
            Error::Conflict(_) => StatusCode::CONFLICT,
            Error::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Error::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Error::RangeNotSatisfiable => StatusCode::RANGE_NOT_SATISFIABLE,
            Error::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Error::AccessDenied { .. } => StatusCode::FORBIDDEN,
            Error::Upstream { .. } => StatusCode::BAD_GATEWAY,
            Error::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The stable machine-readable code put in the `error` field.
    ///
    /// ```
    /// use tenant_access::Error;
    /// assert_eq!(Error::InvalidTenant.code(), "invalid_tenant");
    /// ```
    pub fn code(&self) -> &'static str {
        match self {
            Error::Unauthenticated => "unauthenticated",
            Error::TenantClaimMissing { .. } => "tenant_claim_missing",
            Error::InvalidTenant => "invalid_tenant",
            Error::BadRequest(_) => "bad_request",
            Error::InvalidJson(_) => "invalid_json",
            Error::MethodNotAllowed { .. } => "method_not_allowed",
            Error::NotFound => "not_found",
            Error::Conflict(_) => "conflict",
            Error::PayloadTooLarge { .. } => "payload_too_large",
            Error::UnsupportedMediaType => "unsupported_media_type",
            Error::RangeNotSatisfiable => "range_not_satisfiable",
            Error::Validation(_) => "validation_failed",
            Error::AccessDenied { .. } => "access_denied",
            Error::Upstream { .. } => "upstream_error",
            Error::Unavailable { .. } => "upstream_unavailable",
        }
    }

    /// Log the error with its upstream detail at a level matching its cause:
    /// the client's mistakes at `info`, upstream trouble at `error`.
    pub fn log(&self) {
        match self {
            Error::AccessDenied { detail } => {
                tracing::warn!(error.code = self.code(), error.detail = %detail, "request denied")
            }
            Error::Upstream { service, detail } | Error::Unavailable { service, detail } => {
                tracing::error!(error.code = self.code(), upstream = service, error.detail = %detail, "upstream failure")
            }
            _ => {
                tracing::info!(error.code = self.code(), error.message = %self, "request rejected")
            }
        }
    }

    /// Render the error as a JSON HTTP response.
    ///
    /// ```
    /// use tenant_access::Error;
    /// let response = Error::NotFound.to_response();
    /// assert_eq!(response.status().as_u16(), 404);
    /// ```
    pub fn to_response(&self) -> Response<Body> {
        let body = ErrorBody {
            error: self.code(),
            message: self.to_string(),
        };
        let mut response = json_response(self.status(), &body);
        if let Error::MethodNotAllowed { allow } = self {
            response
                .headers_mut()
                .insert(header::ALLOW, header::HeaderValue::from_static(allow));
        }
        response
    }

    /// Every code with its status, in status order: the error contract.
    ///
    /// ```
    /// let codes = tenant_access::Error::CONTRACT;
    /// assert!(codes.contains(&("not_found", 404)));
    /// ```
    pub const CONTRACT: &'static [(&'static str, u16)] = &[
        ("bad_request", 400),
        ("invalid_json", 400),
        ("unauthenticated", 401),
        ("tenant_claim_missing", 403),
        ("invalid_tenant", 403),
        ("access_denied", 403),
        ("not_found", 404),
        ("method_not_allowed", 405),
        ("conflict", 409),
        ("payload_too_large", 413),
        ("unsupported_media_type", 415),
        ("range_not_satisfiable", 416),
        ("validation_failed", 422),
        ("upstream_error", 502),
        ("upstream_unavailable", 503),
    ];
}

/// Serialize `value` as a JSON response with the given status.
///
/// ```
/// use lambda_http::http::StatusCode;
/// let response = tenant_access::json_response(StatusCode::OK, &serde_json::json!({"ok": true}));
/// assert_eq!(response.headers()["content-type"], "application/json");
/// ```
pub fn json_response<T: Serialize + ?Sized>(status: StatusCode, value: &T) -> Response<Body> {
    // Serializing our own response types cannot fail: they hold only strings,
    // numbers and maps with string keys.
    let body = serde_json::to_string(value).expect("response types serialize to JSON");
    let mut response = Response::new(Body::Text(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    response
}

/// Map an AWS SDK error to an [`Error`], keeping the upstream detail for the
/// log only.
///
/// `AccessDenied` answers become [`Error::AccessDenied`] (403); time-outs and
/// connection failures [`Error::Unavailable`] (503); anything else
/// [`Error::Upstream`] (502).
pub fn upstream<E, R>(service: &'static str, err: aws_sdk_sts::error::SdkError<E, R>) -> Error
where
    E: aws_sdk_sts::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    use aws_sdk_sts::error::SdkError;
    let detail = aws_sdk_sts::error::DisplayErrorContext(&err).to_string();
    match &err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) => {
            Error::Unavailable { service, detail }
        }
        SdkError::ServiceError(service_err) => match service_err.err().code() {
            Some("AccessDenied" | "AccessDeniedException") => Error::AccessDenied { detail },
            _ => Error::Upstream { service, detail },
        },
        _ => Error::Upstream { service, detail },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_sts::config::http::HttpResponse;
    use aws_sdk_sts::error::{ErrorMetadata, SdkError};
    use aws_sdk_sts::operation::assume_role::AssumeRoleError;
    use aws_smithy_types::body::SdkBody;

    fn service_error(status: u16, code: &str) -> SdkError<AssumeRoleError, HttpResponse> {
        let err = AssumeRoleError::generic(
            ErrorMetadata::builder()
                .code(code)
                .message("detail with tenant2")
                .build(),
        );
        let raw = HttpResponse::new(status.try_into().unwrap(), SdkBody::empty());
        SdkError::service_error(err, raw)
    }

    fn every_variant() -> Vec<Error> {
        let detail = || "detail".to_owned();
        vec![
            Error::Unauthenticated,
            Error::TenantClaimMissing { claim: "c".into() },
            Error::InvalidTenant,
            Error::BadRequest(detail()),
            Error::InvalidJson(detail()),
            Error::MethodNotAllowed { allow: "GET" },
            Error::NotFound,
            Error::Conflict(detail()),
            Error::PayloadTooLarge { limit: 1 },
            Error::UnsupportedMediaType,
            Error::RangeNotSatisfiable,
            Error::Validation(detail()),
            Error::AccessDenied { detail: detail() },
            Error::Upstream {
                service: "s3",
                detail: detail(),
            },
            Error::Unavailable {
                service: "s3",
                detail: detail(),
            },
        ]
    }

    /// CONTRACT is exactly the (code, status) pairs the variants produce,
    /// and the README's error table lists exactly CONTRACT.
    #[test]
    fn the_contract_covers_every_variant_and_the_readme_lists_it() {
        let mut produced: Vec<(&str, u16)> = every_variant()
            .iter()
            .map(|e| (e.code(), e.status().as_u16()))
            .collect();
        let mut contract = Error::CONTRACT.to_vec();
        produced.sort();
        contract.sort();
        assert_eq!(produced, contract);

        let readme = include_str!("../../../README.md");
        let table = readme
            .split("| status | code | when |")
            .nth(1)
            .expect("README has the error table");
        let mut documented: Vec<(&str, u16)> = table
            .lines()
            .skip(2)
            .take_while(|line| line.starts_with('|'))
            .map(|line| {
                let cells: Vec<&str> = line.split('|').map(str::trim).collect();
                (
                    cells[2].trim_matches('`'),
                    cells[1].parse().expect("status"),
                )
            })
            .collect();
        documented.sort();
        assert_eq!(documented, contract);
    }

    #[test]
    fn method_not_allowed_names_the_allowed_methods() {
        let response = Error::MethodNotAllowed { allow: "GET, HEAD" }.to_response();
        assert_eq!(response.status().as_u16(), 405);
        assert_eq!(response.headers()["allow"], "GET, HEAD");
    }

    #[test]
    fn sts_access_denied_is_403_and_other_failures_are_upstream() {
        let denied = upstream("sts", service_error(403, "AccessDenied"));
        assert_eq!(
            (denied.status().as_u16(), denied.code()),
            (403, "access_denied")
        );
        let throttled = upstream("sts", service_error(400, "Throttling"));
        assert_eq!(
            (throttled.status().as_u16(), throttled.code()),
            (502, "upstream_error")
        );
        let timeout: SdkError<AssumeRoleError, HttpResponse> = SdkError::timeout_error("slow");
        let timeout = upstream("sts", timeout);
        assert_eq!(timeout.status().as_u16(), 503);

        // The README's examples of these three.
        let body = |e: &Error| -> serde_json::Value {
            let Body::Text(text) = e.to_response().body().clone() else {
                panic!("JSON text body")
            };
            serde_json::from_str(&text).unwrap()
        };
        assert_eq!(
            body(&denied),
            serde_json::json!({"error": "access_denied", "message": "access denied"})
        );
        assert_eq!(
            body(&throttled),
            serde_json::json!({"error": "upstream_error", "message": "upstream service error"})
        );
        assert_eq!(
            body(&timeout),
            serde_json::json!({"error": "upstream_unavailable", "message": "upstream service unavailable"})
        );
    }

    #[test]
    fn responses_never_carry_upstream_detail() {
        let err = upstream("sts", service_error(403, "AccessDenied"));
        let response = err.to_response();
        let Body::Text(body) = response.body() else {
            panic!("JSON text body")
        };
        assert!(!body.contains("tenant2"), "{body}");
        let json: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"error": "access_denied", "message": "access denied"})
        );
        assert_eq!(response.headers()["content-type"], "application/json");
    }
}
