//! The faults the HTTP front can inject, and which requests they hit.

use serde::{Deserialize, Serialize};

/// An AWS service, as named in a SigV4 credential scope (the door,
/// [`crate::request`], decides which one a request is for).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Service {
    /// STS.
    Sts,
    /// S3.
    S3,
    /// IAM.
    Iam,
    /// DynamoDB (JSON protocol).
    #[serde(rename = "dynamodb")]
    DynamoDb,
    /// Cognito identity pools (JSON protocol, unsigned calls).
    #[serde(rename = "cognito-identity")]
    CognitoIdentity,
    /// KMS (JSON protocol).
    Kms,
    /// Secrets Manager (JSON protocol): db-admin's master secret.
    #[serde(rename = "secretsmanager")]
    SecretsManager,
    /// Cognito user pools (JSON protocol): sign-in and the JWKS.
    #[serde(rename = "cognito-idp")]
    CognitoIdp,
    /// OpenSearch Service (`es`): the tenant search domain, answered by the
    /// front itself ([`crate::search`]).
    Es,
}

/// What the front does instead of passing a request through.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum HttpFault {
    /// The service's throttling answer: STS `Throttling` (400), S3
    /// `SlowDown` (503).
    Throttle,
    /// `InternalError` (500).
    ServerError,
    /// The credentials have expired: `ExpiredToken` (S3 403, STS 400).
    ExpiredToken,
    /// The caller may not do this: `AccessDenied` (403).
    AccessDenied,
    /// Hold the request this long, then pass it through.
    Delay {
        /// Milliseconds to hold it.
        ms: u64,
    },
    /// Close the connection without an answer.
    Reset,
    /// Pass the request through, then lose the service's answer: the caller
    /// gets `InternalError` (500) for work the service did (a write that
    /// committed), as when a response is lost on its way back; an SDK
    /// retries it.
    LoseAnswer,
    /// For `kms` rules: the key is disabled (`KMS.DisabledException`).
    KeyDisabled,
}

/// Which requests a fault hits, and how often.
///
/// ```
/// use local_front::{HttpFault, HttpRule, Service};
/// let rule = HttpRule::new(HttpFault::Throttle).service(Service::Sts).times(3);
/// let json = serde_json::to_string(&rule).unwrap();
/// assert_eq!(serde_json::from_str::<HttpRule>(&json).unwrap(), rule);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpRule {
    /// The fault.
    pub fault: HttpFault,
    /// Only requests signed for this service; any service when absent.
    #[serde(default)]
    pub service: Option<Service>,
    /// Only requests whose `METHOD path?query` line or body contains this
    /// text (a tenant's prefix, a role name); any request when absent.
    #[serde(default)]
    pub contains: Option<String>,
    /// Hit this many requests, then stop; every matching request when absent.
    #[serde(default)]
    pub times: Option<u32>,
}

impl HttpRule {
    /// A rule that hits every request with `fault`.
    pub fn new(fault: HttpFault) -> Self {
        HttpRule {
            fault,
            service: None,
            contains: None,
            times: None,
        }
    }

    /// Only requests signed for `service`.
    pub fn service(mut self, service: Service) -> Self {
        self.service = Some(service);
        self
    }

    /// Only requests whose request line or body contains `text`.
    pub fn contains(mut self, text: impl Into<String>) -> Self {
        self.contains = Some(text.into());
        self
    }

    /// Only the next `n` matching requests.
    pub fn times(mut self, n: u32) -> Self {
        self.times = Some(n);
        self
    }

    pub(crate) fn matches(&self, service: Option<Service>, line: &str, body: &[u8]) -> bool {
        self.times != Some(0)
            && self.service.is_none_or(|s| Some(s) == service)
            && self.contains.as_deref().is_none_or(|text| {
                line.contains(text) || String::from_utf8_lossy(body).contains(text)
            })
    }
}

/// Whether `service` speaks the JSON protocol (errors as `{"__type"}`).
pub(crate) fn json_protocol(service: Option<Service>) -> bool {
    matches!(
        service,
        Some(
            Service::DynamoDb
                | Service::CognitoIdentity
                | Service::CognitoIdp
                | Service::Kms
                | Service::SecretsManager
        )
    )
}

/// The answer a service gives for `fault`: (status, body). `None` for
/// faults that are not an answer (delay, reset).
pub(crate) fn answer(fault: &HttpFault, service: Option<Service>) -> Option<(u16, String)> {
    if service == Some(Service::Es) {
        // A domain answers JSON `{"message"}`, and throttles with 429.
        let (status, message) = match fault {
            HttpFault::Throttle => (429, "Too Many Requests"),
            HttpFault::ServerError | HttpFault::LoseAnswer => (500, "Internal Server Error"),
            HttpFault::ExpiredToken => {
                (403, "The security token included in the request is expired")
            }
            HttpFault::AccessDenied | HttpFault::KeyDisabled => (403, "Access Denied"),
            HttpFault::Delay { .. } | HttpFault::Reset => return None,
        };
        return Some((
            status,
            serde_json::json!({ "message": message }).to_string(),
        ));
    }
    if json_protocol(service) {
        let (status, code, message) = match (fault, service) {
            (HttpFault::Throttle, Some(Service::CognitoIdentity)) => {
                (400, "TooManyRequestsException", "Rate exceeded")
            }
            (HttpFault::Throttle, _) => (400, "ThrottlingException", "Rate exceeded"),
            (HttpFault::ServerError | HttpFault::LoseAnswer, _) => {
                (500, "InternalServerError", "Internal server error")
            }
            (HttpFault::ExpiredToken, _) => (
                400,
                "ExpiredTokenException",
                "The security token included in the request is expired",
            ),
            (HttpFault::AccessDenied, _) => (400, "AccessDeniedException", "Access denied"),
            (HttpFault::KeyDisabled, _) => (400, "DisabledException", "The KMS key is disabled"),
            (HttpFault::Delay { .. } | HttpFault::Reset, _) => return None,
        };
        return Some((status, json_error(code, message)));
    }
    let (status, code, message) = match (fault, service) {
        (HttpFault::Throttle, Some(Service::S3)) => {
            (503, "SlowDown", "Please reduce your request rate.")
        }
        (HttpFault::Throttle, _) => (400, "Throttling", "Rate exceeded"),
        (HttpFault::ServerError | HttpFault::LoseAnswer, _) => (
            500,
            "InternalError",
            "We encountered an internal error. Please try again.",
        ),
        (HttpFault::ExpiredToken, Some(Service::S3)) => {
            (403, "ExpiredToken", "The provided token has expired.")
        }
        (HttpFault::ExpiredToken, _) => (
            400,
            "ExpiredToken",
            "The security token included in the request is expired",
        ),
        (HttpFault::AccessDenied, _) => (403, "AccessDenied", "Access Denied"),
        (HttpFault::KeyDisabled, _) => (400, "KMS.DisabledException", "The KMS key is disabled"),
        (HttpFault::Delay { .. } | HttpFault::Reset, _) => return None,
    };
    let body = match service {
        // S3's REST-XML error shape.
        Some(Service::S3) => format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{message}</Message><RequestId>local-front</RequestId></Error>"
        ),
        // The query protocol's (STS, IAM).
        _ => format!(
            "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><Error><Type>{}</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>local-front</RequestId></ErrorResponse>",
            if status >= 500 { "Receiver" } else { "Sender" }
        ),
    };
    Some((status, body))
}

/// A JSON-protocol error body.
pub(crate) fn json_error(code: &str, message: &str) -> String {
    serde_json::json!({"__type": code, "message": message}).to_string()
}

/// S3's REST-XML error body.
pub(crate) fn s3_error(code: &str, message: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{message}</Message><RequestId>local-front</RequestId></Error>"
    )
}

/// How S3 passes on a KMS fault injected at its KMS call: (status, code,
/// message).
pub(crate) fn kms_answer(fault: &HttpFault) -> (u16, &'static str, &'static str) {
    match fault {
        HttpFault::Throttle => (
            503,
            "ThrottlingException",
            "You have exceeded the rate at which you may call KMS. Reduce the frequency of your calls.",
        ),
        HttpFault::KeyDisabled => (400, "KMS.DisabledException", "The KMS key is disabled"),
        HttpFault::AccessDenied => (
            403,
            "AccessDenied",
            "not authorized to perform the KMS call",
        ),
        _ => (
            500,
            "KMS.InternalException",
            "KMS could not be reached. Please try again.",
        ),
    }
}
