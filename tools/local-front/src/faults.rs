//! The faults the HTTP front can inject, and which requests they hit.

use serde::{Deserialize, Serialize};

/// An AWS service, as named in a SigV4 credential scope.
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
}

impl Service {
    /// The service a request is signed for: the credential scope of its
    /// `Authorization` header or of its presigned query
    /// (`.../<region>/<service>/aws4_request`).
    ///
    /// ```
    /// use local_front::Service;
    /// let auth = "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/sts/aws4_request, SignedHeaders=host, Signature=0";
    /// assert_eq!(Service::of_request(Some(auth), ""), Some(Service::Sts));
    /// assert_eq!(Service::of_request(None, "X-Amz-Credential=AKID%2F20260101%2Fus-east-1%2Fs3%2Faws4_request"), Some(Service::S3));
    /// ```
    pub fn of_request(authorization: Option<&str>, query: &str) -> Option<Service> {
        Self::of(authorization, query, None)
    }

    /// [`of_request`](Self::of_request), also telling the JSON-protocol
    /// services by their `X-Amz-Target` (the identity pool's calls are
    /// unsigned, so they have no credential scope).
    ///
    /// ```
    /// use local_front::Service;
    /// let target = Some("AWSCognitoIdentityService.GetId");
    /// assert_eq!(Service::of(None, "", target), Some(Service::CognitoIdentity));
    /// let target = Some("secretsmanager.GetSecretValue");
    /// assert_eq!(Service::of(None, "", target), Some(Service::SecretsManager));
    /// ```
    pub fn of(authorization: Option<&str>, query: &str, target: Option<&str>) -> Option<Service> {
        if let Some(target) = target {
            if target.starts_with("AWSCognitoIdentityService.") {
                return Some(Service::CognitoIdentity);
            }
            if target.starts_with("DynamoDB_") {
                return Some(Service::DynamoDb);
            }
            if target.starts_with("TrentService.") {
                return Some(Service::Kms);
            }
            if target.starts_with("secretsmanager.") {
                return Some(Service::SecretsManager);
            }
        }
        let scope = match authorization {
            Some(auth) => auth
                .split("Credential=")
                .nth(1)?
                .split(',')
                .next()?
                .to_owned(),
            None => query
                .split('&')
                .find_map(|pair| pair.strip_prefix("X-Amz-Credential="))?
                .replace("%2F", "/")
                .replace("%2f", "/"),
        };
        match scope.split('/').nth(3)? {
            "sts" => Some(Service::Sts),
            "s3" => Some(Service::S3),
            "iam" => Some(Service::Iam),
            // Signed for Secrets Manager whatever its target says: the
            // front decides every such call (moto routes by this scope).
            "secretsmanager" => Some(Service::SecretsManager),
            _ => None,
        }
    }
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
        Some(Service::DynamoDb | Service::CognitoIdentity | Service::Kms | Service::SecretsManager)
    )
}

/// The answer a service gives for `fault`: (status, body). `None` for
/// faults that are not an answer (delay, reset).
pub(crate) fn answer(fault: &HttpFault, service: Option<Service>) -> Option<(u16, String)> {
    if json_protocol(service) {
        let (status, code, message) = match (fault, service) {
            (HttpFault::Throttle, Some(Service::CognitoIdentity)) => {
                (400, "TooManyRequestsException", "Rate exceeded")
            }
            (HttpFault::Throttle, _) => (400, "ThrottlingException", "Rate exceeded"),
            (HttpFault::ServerError, _) => (500, "InternalServerError", "Internal server error"),
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
        (HttpFault::ServerError, _) => (
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
