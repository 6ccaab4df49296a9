//! The AWS half of the fault model: what an AWS SDK error means for the
//! caller.

use super::Error;

/// AWS error codes that mean "slow down".
const THROTTLING_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottled",
    "RequestThrottledException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "SlowDown",
    "PriorRequestNotComplete",
    "ProvisionedThroughputExceededException",
];

/// AWS error codes that mean the request's credentials were refused: the
/// session is unusable (expired, unknown, or its clock is off), not denied.
const CREDENTIAL_CODES: &[&str] = &[
    "ExpiredToken",
    "ExpiredTokenException",
    "InvalidToken",
    "InvalidAccessKeyId",
    "InvalidClientTokenId",
    "UnrecognizedClientException",
    "InvalidSignatureException",
    "SignatureDoesNotMatch",
    "RequestTimeTooSkewed",
    "RequestExpired",
];

/// Map an AWS SDK error to an [`Error`], keeping the upstream detail for the
/// log only: the AWS half of the fault model (module docs).
///
/// `AccessDenied` becomes [`Error::AccessDenied`] (callers that know better,
/// such as STS under role-per-tenant, refine it); throttling
/// [`Error::Throttled`]; refused credentials [`Error::CredentialsRejected`];
/// 5xx answers, time-outs and connection failures [`Error::Unavailable`];
/// anything else [`Error::Upstream`] (502).
pub fn upstream<E>(
    service: &'static str,
    err: aws_sdk_sts::error::SdkError<E, aws_sdk_sts::config::http::HttpResponse>,
) -> Error
where
    E: aws_sdk_sts::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    use aws_sdk_sts::error::SdkError;
    let detail = aws_sdk_sts::error::DisplayErrorContext(&err).to_string();
    let http = err.raw_response().map(|r| r.status().as_u16());
    match &err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) => {
            Error::Unavailable { service, detail }
        }
        SdkError::ServiceError(service_err) => match service_err.err().code() {
            Some("AccessDenied" | "AccessDeniedException") => Error::AccessDenied { detail },
            Some(c) if THROTTLING_CODES.contains(&c) => Error::Throttled { service, detail },
            Some(c) if CREDENTIAL_CODES.contains(&c) => {
                Error::CredentialsRejected { service, detail }
            }
            _ if http == Some(429) => Error::Throttled { service, detail },
            _ if http.is_some_and(|s| s >= 500) => Error::Unavailable { service, detail },
            _ => Error::Upstream { service, detail },
        },
        SdkError::ResponseError(_) if http.is_some_and(|s| s >= 500) => {
            Error::Unavailable { service, detail }
        }
        _ => Error::Upstream { service, detail },
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use aws_sdk_sts::config::http::HttpResponse;
    use aws_sdk_sts::error::{ErrorMetadata, SdkError};
    use aws_sdk_sts::operation::assume_role::AssumeRoleError;
    use aws_smithy_types::body::SdkBody;

    pub(in crate::error) fn service_error(
        status: u16,
        code: &str,
    ) -> SdkError<AssumeRoleError, HttpResponse> {
        let err = AssumeRoleError::generic(
            ErrorMetadata::builder()
                .code(code)
                .message("detail with tenant2")
                .build(),
        );
        let raw = HttpResponse::new(status.try_into().unwrap(), SdkBody::empty());
        SdkError::service_error(err, raw)
    }

    /// The AWS half of the fault model: each class of SDK failure maps to
    /// its documented status and code, and transient ones carry Retry-After.
    #[cfg(feature = "lambda-http")]
    #[test]
    fn aws_failures_map_to_the_fault_model() {
        let cases: [(SdkError<AssumeRoleError, HttpResponse>, u16, &str); 12] = [
            (service_error(403, "AccessDenied"), 403, "access_denied"),
            (service_error(400, "Throttling"), 503, "throttled"),
            (service_error(503, "SlowDown"), 503, "throttled"),
            (service_error(429, "Whatever"), 503, "throttled"),
            (
                service_error(400, "ExpiredToken"),
                503,
                "credentials_rejected",
            ),
            (
                service_error(403, "SignatureDoesNotMatch"),
                503,
                "credentials_rejected",
            ),
            (
                service_error(403, "RequestTimeTooSkewed"),
                503,
                "credentials_rejected",
            ),
            (
                service_error(403, "InvalidAccessKeyId"),
                503,
                "credentials_rejected",
            ),
            (
                service_error(500, "InternalError"),
                503,
                "upstream_unavailable",
            ),
            (
                service_error(400, "RegionDisabledException"),
                502,
                "upstream_error",
            ),
            (SdkError::timeout_error("slow"), 503, "upstream_unavailable"),
            (
                SdkError::response_error(
                    "unparseable",
                    HttpResponse::new(500.try_into().unwrap(), SdkBody::from("<html>")),
                ),
                503,
                "upstream_unavailable",
            ),
        ];
        for (err, status, code) in cases {
            let shown = format!("{err:?}");
            let mapped = upstream("sts", err);
            assert_eq!(
                (mapped.status().as_u16(), mapped.code()),
                (status, code),
                "{shown}"
            );
            let response = mapped.to_response();
            assert_eq!(
                response.headers().contains_key("retry-after"),
                status == 503,
                "{shown}"
            );
        }
        let deadline = Error::DeadlineExceeded.to_response();
        assert_eq!(deadline.status().as_u16(), 504);
        assert_eq!(deadline.headers()["retry-after"], "1");
        assert_eq!(
            Error::Throttled {
                service: "sts",
                detail: String::new()
            }
            .to_response()
            .headers()["retry-after"],
            "2"
        );
    }
}
