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
//!
//! # The fault model
//!
//! Every upstream failure is classified once, here ([`upstream`] for the AWS
//! SDK; [`crate::db`] for Postgres), into one of these answers:
//!
//! | failure | answer | what happens to the cached session or connection |
//! |---|---|---|
//! | AWS throttling (`Throttling`, `SlowDown`, HTTP 429) | 503 `throttled`, `Retry-After` | kept |
//! | AWS 5xx, connection failure, time-out | 503 `upstream_unavailable`, `Retry-After` | kept |
//! | S3 refuses the credentials (`ExpiredToken`, `InvalidAccessKeyId`, `SignatureDoesNotMatch`, `RequestTimeTooSkewed`, ...) | 503 `credentials_rejected`, `Retry-After` | session evicted |
//! | STS `AccessDenied` under role-per-tenant | 403 `tenant_not_onboarded` | failure remembered briefly |
//! | STS `AccessDenied` on a shared role | 500 `misconfigured` (alarm) | failure remembered briefly |
//! | S3 `AccessDenied` | 404 `not_found` (like a missing key) | kept |
//! | Postgres refuses the login (28000, 28P01) | 403 `access_denied` | connection dropped |
//! | the tenant's `tenant_metadata` row is not `active` (TA001) | 403 `tenant_suspended` | kept |
//! | the tenant has no `tenant_metadata` row (TA002) | 403 `tenant_not_onboarded` | kept |
//! | S3 passes on a KMS refusal of the tenant's key (`KMS.DisabledException`, `KMS.KMSInvalidStateException`, `KMS.NotFoundException`) | 403 `key_unavailable` | kept |
//! | KMS throttles S3's call (`ThrottlingException`) | 503 `throttled`, `Retry-After` | kept |
//! | Postgres unreachable, closed, restarting (57P*), statement time-out (57014) | 503 `upstream_unavailable`, `Retry-After` | connection dropped |
//! | the request's deadline passes | 504 `deadline_exceeded`, `Retry-After` | an interrupted connection is dropped |
//!
//! The SDK retries throttling and transient failures with its standard
//! retry strategy; every attempt is bounded by the request's deadline.
//! Postgres statements are retried once on a fresh connection only when
//! they are reads.

use http::StatusCode;
#[cfg(feature = "lambda-http")]
use http::header;
#[cfg(feature = "lambda-http")]
use lambda_http::{Body, Response};
#[cfg(feature = "lambda-http")]
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
#[derive(Debug, Clone, thiserror::Error)]
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
    /// A user's own area was asked for, but the verified identity names no
    /// valid user (no `sub`, or one that is not a user id).
    #[error("the verified identity names no user")]
    UserUnknown,
    /// Under Lambda's tenant isolation mode, the invocation's tenant id (the
    /// execution environment's tenant) is not the caller's verified tenant,
    /// or is missing.
    #[error("this execution environment does not serve the caller's tenant")]
    TenantMismatch,
    /// The tenant is over its own limits in this container: too many of its
    /// requests in flight, its rate ([`crate::limits`]), or its share of the
    /// session calls in flight
    /// ([`MAX_SESSION_CALLS_PER_TENANT`](crate::credentials::MAX_SESSION_CALLS_PER_TENANT)).
    /// Refused before any AWS call.
    #[error("the tenant's requests are over its limits: {detail}")]
    RateLimited {
        /// Seconds until a retry can be admitted.
        retry_after: u32,
        /// Which limit.
        detail: String,
    },
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
    /// A conditional write's precondition (`If-Match`, `If-None-Match`)
    /// does not hold: another writer changed the resource first.
    #[error("the resource changed: the request's precondition does not hold")]
    PreconditionFailed,
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
    /// STS refused to assume the tenant's own role: under role-per-tenant,
    /// the tenant has no role (not onboarded, or offboarded).
    #[error("this tenant is not onboarded")]
    TenantNotOnboarded {
        /// Detail for the log, never for the response body.
        detail: String,
    },
    /// The tenant's `tenant_metadata` row is not `active` (suspended or
    /// disabled): the database refuses its records (row-level security).
    #[error("this tenant is suspended")]
    TenantSuspended {
        /// Detail for the log, never for the response body.
        detail: String,
    },
    /// The tenant's KMS key cannot be used: disabled, pending deletion or
    /// gone (an offboarded tenant, or an operator's action). Its objects
    /// can be neither read nor written until the key is enabled again.
    #[error("this tenant's encryption key is not available")]
    KeyUnavailable {
        /// Detail for the log, never for the response body.
        detail: String,
    },
    /// The deployment is wrong (the execution role may not assume the
    /// shared tenant role, a function lacks its session scope): a 5xx to
    /// alarm on, not the client's fault.
    #[error("the service is misconfigured")]
    Misconfigured {
        /// Detail for the log, never for the response body.
        detail: String,
    },
    /// An AWS service throttled the request; retry after a pause.
    #[error("upstream service is throttling requests")]
    Throttled {
        /// Which upstream: `sts`, `s3`.
        service: &'static str,
        /// Detail for the log, never for the response body.
        detail: String,
    },
    /// An AWS service refused the tenant session's credentials (expired,
    /// unknown, or signed with a skewed clock). The session is evicted, so a
    /// retry gets a new one.
    #[error("upstream service refused the session credentials")]
    CredentialsRejected {
        /// Which upstream: `s3`.
        service: &'static str,
        /// Detail for the log, never for the response body.
        detail: String,
    },
    /// The request could not finish before its deadline (the Lambda
    /// invocation's, less a margin): answered before Lambda ends it.
    #[error("the request could not be completed in time")]
    DeadlineExceeded,
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

#[cfg(feature = "lambda-http")]
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
            Error::TenantClaimMissing { .. }
            | Error::InvalidTenant
            | Error::UserUnknown
            | Error::TenantMismatch => StatusCode::FORBIDDEN,
            Error::BadRequest(_) | Error::InvalidJson(_) => StatusCode::BAD_REQUEST,
            Error::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            Error::NotFound => StatusCode::NOT_FOUND,
            Error::Conflict(_) => StatusCode::CONFLICT,
            Error::PreconditionFailed => StatusCode::PRECONDITION_FAILED,
            Error::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Error::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Error::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Error::RangeNotSatisfiable => StatusCode::RANGE_NOT_SATISFIABLE,
            Error::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Error::AccessDenied { .. }
            | Error::TenantNotOnboarded { .. }
            | Error::TenantSuspended { .. }
            | Error::KeyUnavailable { .. } => StatusCode::FORBIDDEN,
            Error::Misconfigured { .. } => StatusCode::INTERNAL_SERVER_ERROR,
            Error::Upstream { .. } => StatusCode::BAD_GATEWAY,
            Error::Unavailable { .. }
            | Error::Throttled { .. }
            | Error::CredentialsRejected { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Error::DeadlineExceeded => StatusCode::GATEWAY_TIMEOUT,
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
            Error::UserUnknown => "user_unknown",
            Error::TenantMismatch => "tenant_mismatch",
            Error::BadRequest(_) => "bad_request",
            Error::InvalidJson(_) => "invalid_json",
            Error::MethodNotAllowed { .. } => "method_not_allowed",
            Error::NotFound => "not_found",
            Error::Conflict(_) => "conflict",
            Error::PreconditionFailed => "precondition_failed",
            Error::PayloadTooLarge { .. } => "payload_too_large",
            Error::RateLimited { .. } => "rate_limited",
            Error::UnsupportedMediaType => "unsupported_media_type",
            Error::RangeNotSatisfiable => "range_not_satisfiable",
            Error::Validation(_) => "validation_failed",
            Error::AccessDenied { .. } => "access_denied",
            Error::TenantNotOnboarded { .. } => "tenant_not_onboarded",
            Error::TenantSuspended { .. } => "tenant_suspended",
            Error::KeyUnavailable { .. } => "key_unavailable",
            Error::Misconfigured { .. } => "misconfigured",
            Error::Throttled { .. } => "throttled",
            Error::CredentialsRejected { .. } => "credentials_rejected",
            Error::DeadlineExceeded => "deadline_exceeded",
            Error::Upstream { .. } => "upstream_error",
            Error::Unavailable { .. } => "upstream_unavailable",
        }
    }

    /// Seconds a client should wait before retrying, for the `Retry-After`
    /// header: set on every transient failure (503 and 504), absent on
    /// answers a retry would not change.
    ///
    /// ```
    /// use tenant_access::Error;
    /// assert_eq!(Error::DeadlineExceeded.retry_after(), Some(1));
    /// assert_eq!(Error::NotFound.retry_after(), None);
    /// ```
    pub fn retry_after(&self) -> Option<u32> {
        match self {
            Error::RateLimited { retry_after, .. } => Some(*retry_after),
            Error::Throttled { .. } => Some(2),
            Error::Unavailable { .. }
            | Error::CredentialsRejected { .. }
            | Error::DeadlineExceeded => Some(1),
            _ => None,
        }
    }

    /// Log the error with its upstream detail at a level matching its cause:
    /// the client's mistakes at `info`, upstream trouble at `error`.
    pub fn log(&self) {
        match self {
            Error::AccessDenied { detail }
            | Error::TenantNotOnboarded { detail }
            | Error::TenantSuspended { detail }
            | Error::KeyUnavailable { detail } => {
                tracing::warn!(error.code = self.code(), error.detail = %detail, "request denied")
            }
            Error::Misconfigured { detail } => {
                tracing::error!(error.code = self.code(), error.detail = %detail, "misconfiguration")
            }
            Error::Upstream { service, detail }
            | Error::Unavailable { service, detail }
            | Error::Throttled { service, detail }
            | Error::CredentialsRejected { service, detail } => {
                tracing::error!(error.code = self.code(), upstream = service, error.detail = %detail, "upstream failure")
            }
            Error::DeadlineExceeded => {
                tracing::error!(error.code = self.code(), "request deadline reached")
            }
            _ => {
                tracing::info!(error.code = self.code(), error.message = %self, "request rejected")
            }
        }
    }

    /// Render the error as a JSON HTTP response.
    #[cfg(feature = "lambda-http")]
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
        if let Some(seconds) = self.retry_after() {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from(seconds));
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
        ("user_unknown", 403),
        ("tenant_mismatch", 403),
        ("access_denied", 403),
        ("tenant_not_onboarded", 403),
        ("tenant_suspended", 403),
        ("key_unavailable", 403),
        ("not_found", 404),
        ("method_not_allowed", 405),
        ("conflict", 409),
        ("precondition_failed", 412),
        ("payload_too_large", 413),
        ("unsupported_media_type", 415),
        ("range_not_satisfiable", 416),
        ("rate_limited", 429),
        ("validation_failed", 422),
        ("misconfigured", 500),
        ("upstream_error", 502),
        ("upstream_unavailable", 503),
        ("throttled", 503),
        ("credentials_rejected", 503),
        ("deadline_exceeded", 504),
    ];
}

/// Serialize `value` as a JSON response with the given status.
#[cfg(feature = "lambda-http")]
///
/// ```
/// use http::StatusCode;
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

mod upstream;

pub use upstream::upstream;

#[cfg(test)]
mod tests {
    use super::upstream::tests::service_error;
    use super::*;

    fn every_variant() -> Vec<Error> {
        let detail = || "detail".to_owned();
        vec![
            Error::Unauthenticated,
            Error::TenantClaimMissing { claim: "c".into() },
            Error::InvalidTenant,
            Error::UserUnknown,
            Error::TenantMismatch,
            Error::BadRequest(detail()),
            Error::InvalidJson(detail()),
            Error::MethodNotAllowed { allow: "GET" },
            Error::NotFound,
            Error::Conflict(detail()),
            Error::PreconditionFailed,
            Error::PayloadTooLarge { limit: 1 },
            Error::UnsupportedMediaType,
            Error::RangeNotSatisfiable,
            Error::RateLimited {
                retry_after: 1,
                detail: detail(),
            },
            Error::Validation(detail()),
            Error::AccessDenied { detail: detail() },
            Error::TenantNotOnboarded { detail: detail() },
            Error::TenantSuspended { detail: detail() },
            Error::KeyUnavailable { detail: detail() },
            Error::Misconfigured { detail: detail() },
            Error::Throttled {
                service: "sts",
                detail: detail(),
            },
            Error::CredentialsRejected {
                service: "s3",
                detail: detail(),
            },
            Error::DeadlineExceeded,
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
    /// and the error table of docs/api.md lists exactly CONTRACT.
    #[test]
    fn the_contract_covers_every_variant_and_the_docs_list_it() {
        let mut produced: Vec<(&str, u16)> = every_variant()
            .iter()
            .map(|e| (e.code(), e.status().as_u16()))
            .collect();
        let mut contract = Error::CONTRACT.to_vec();
        produced.sort();
        contract.sort();
        assert_eq!(produced, contract);

        let api_doc = include_str!("../../../../docs/api.md");
        let table = api_doc
            .split("| status | code | when |")
            .nth(1)
            .expect("docs/api.md has the error table");
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

    #[cfg(feature = "lambda-http")]
    #[test]
    fn method_not_allowed_names_the_allowed_methods() {
        let response = Error::MethodNotAllowed { allow: "GET, HEAD" }.to_response();
        assert_eq!(response.status().as_u16(), 405);
        assert_eq!(response.headers()["allow"], "GET, HEAD");
    }

    /// The examples in docs/api.md of the errors the fixtures cannot
    /// produce: each `(unit test: <code>)` line is exactly what the variant
    /// answers, and every code outside the fixtures' reach has one.
    #[cfg(feature = "lambda-http")]
    #[test]
    fn documented_examples_of_upstream_failures() {
        let api_doc = include_str!("../../../../docs/api.md");
        let mut documented = Vec::new();
        for line in api_doc.lines() {
            let Some(rest) = line.strip_prefix("(unit test: ") else {
                continue;
            };
            let (code, example) = rest.split_once(')').expect("(unit test: code)");
            let err = every_variant()
                .into_iter()
                .find(|e| e.code() == code)
                .unwrap_or_else(|| panic!("docs/api.md names an unknown code {code}"));
            let Body::Text(body) = err.to_response().body().clone() else {
                panic!("JSON text body")
            };
            assert_eq!(
                example.trim(),
                format!("{} {body}", err.status().as_u16()),
                "docs/api.md example of {code}"
            );
            documented.push(code.to_owned());
        }
        for code in [
            "access_denied",
            "tenant_not_onboarded",
            "misconfigured",
            "upstream_error",
            "upstream_unavailable",
            "throttled",
            "credentials_rejected",
            "deadline_exceeded",
        ] {
            assert!(
                documented.iter().any(|d| d == code),
                "no docs/api.md example of {code}"
            );
        }
    }

    #[cfg(feature = "lambda-http")]
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
