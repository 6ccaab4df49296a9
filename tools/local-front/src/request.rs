//! The door: every AWS request is classified here once, as the service's
//! endpoint would, before anything else looks at it.
//!
//! - **Who signed it**: the SigV4 signature ([`crate::sigv4`]) in the
//!   header or the query string, never both. Unsigned requests are only
//!   the public ones (the identity pool's and the user pool's sign-in
//!   calls, a pool's JWKS).
//! - **Which service**: the credential scope's, as AWS (and moto) route a
//!   signed request. Never the `X-Amz-Target` header.
//! - **Which operation**, from that service's own protocol: the query
//!   protocol's `Action` (STS, IAM; the query string and the form body
//!   together, and a parameter given in both is refused), the JSON
//!   protocol's `X-Amz-Target`, which must carry the scope's service
//!   prefix, and S3's method, path and sub-resource ([`crate::s3`]).
//!
//! Anything that does not add up is refused with the service's own error,
//! so no service room can be reached by a request the door did not
//! classify.

use std::collections::BTreeMap;

use crate::faults::Service;
use crate::s3::S3Operation;
use crate::sigv4::{AuthError, Signature, Signed};

/// A form-encoded request body (an STS query call), field name to value.
pub type Form = BTreeMap<String, String>;

/// Decode an `application/x-www-form-urlencoded` body.
///
/// ```
/// let form = local_front::request::form(b"Action=AssumeRole&Policy=%7B%22a%22%3A1%7D&Name=a+b");
/// assert_eq!(form["Action"], "AssumeRole");
/// assert_eq!(form["Policy"], r#"{"a":1}"#);
/// assert_eq!(form["Name"], "a b");
/// ```
pub fn form(body: &[u8]) -> Form {
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(&s.replace('+', " "))
            .decode_utf8_lossy()
            .into_owned()
    };
    String::from_utf8_lossy(body)
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (decode(k), decode(v)))
        .collect()
}

/// What the door decided a request is.
#[derive(Debug, Clone)]
pub struct AwsRequest {
    /// The service.
    pub service: Service,
    /// Its signature; `None` for a public, unsigned call.
    pub signature: Option<Signature>,
    /// The operation: the query protocol's `Action`, the JSON protocol's
    /// target after the prefix, or S3's operation name.
    pub operation: String,
    /// The query protocol's parameters (query string and form body).
    pub params: Form,
    /// An S3 request's operation and IAM checks.
    pub s3: Option<S3Operation>,
}

impl AwsRequest {
    /// The signing access key, if signed.
    pub fn signer(&self) -> Option<&str> {
        self.signature.as_ref().map(|s| s.access_key_id.as_str())
    }

    /// The signing region (`us-east-1` for an unsigned call).
    pub fn region(&self) -> &str {
        self.signature
            .as_ref()
            .map_or("us-east-1", |s| s.region.as_str())
    }

    /// The X-Amz-Target a JSON-protocol call is dispatched by.
    pub fn target(&self) -> Option<String> {
        prefix(self.service).map(|p| format!("{p}{}", self.operation))
    }
}

/// A request the door refuses: the service to answer as (`None`: S3's
/// shape, as moto routes an unclassifiable request), and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DoorRefusal {
    /// The service whose error shape the answer takes.
    pub service: Option<Service>,
    /// HTTP status.
    pub status: u16,
    /// The service's error code.
    pub code: &'static str,
    /// The message.
    pub message: String,
}

/// The JSON protocol's target prefix of a service.
fn prefix(service: Service) -> Option<&'static str> {
    match service {
        Service::DynamoDb => Some("DynamoDB_20120810."),
        Service::Kms => Some("TrentService."),
        Service::SecretsManager => Some("secretsmanager."),
        Service::CognitoIdentity => Some("AWSCognitoIdentityService."),
        Service::CognitoIdp => Some("AWSCognitoIdentityProviderService."),
        Service::Sts | Service::S3 | Service::Iam | Service::Es => None,
    }
}

/// The service a credential scope names.
fn scoped(service: &str) -> Option<Service> {
    Some(match service {
        "sts" => Service::Sts,
        "s3" => Service::S3,
        "iam" => Service::Iam,
        "dynamodb" => Service::DynamoDb,
        "kms" => Service::Kms,
        "secretsmanager" => Service::SecretsManager,
        "cognito-identity" => Service::CognitoIdentity,
        "cognito-idp" => Service::CognitoIdp,
        "es" => Service::Es,
        _ => return None,
    })
}

/// The calls AWS serves without a signature, by target.
const PUBLIC_TARGETS: [&str; 10] = [
    "AWSCognitoIdentityService.GetId",
    "AWSCognitoIdentityService.GetCredentialsForIdentity",
    "AWSCognitoIdentityService.GetOpenIdToken",
    "AWSCognitoIdentityProviderService.InitiateAuth",
    "AWSCognitoIdentityProviderService.RespondToAuthChallenge",
    "AWSCognitoIdentityProviderService.SignUp",
    "AWSCognitoIdentityProviderService.ConfirmSignUp",
    "AWSCognitoIdentityProviderService.GetUser",
    "AWSCognitoIdentityProviderService.GlobalSignOut",
    "AWSCognitoIdentityProviderService.RevokeToken",
];

/// The refusal of a request signed wrongly, in `service`'s shape.
pub fn auth_refusal(error: &AuthError, service: Option<Service>) -> DoorRefusal {
    let json = crate::faults::json_protocol(service);
    let s3 = service == Some(Service::S3) || service.is_none();
    let (status, code, message): (u16, &'static str, String) = match error {
        AuthError::Conflicting if s3 => (
            400,
            "InvalidArgument",
            "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter or the Authorization header should be specified".into(),
        ),
        AuthError::Conflicting | AuthError::Malformed(_) if json => (
            400,
            "IncompleteSignatureException",
            match error {
                AuthError::Malformed(m) => m.clone(),
                _ => "Only one auth mechanism allowed".into(),
            },
        ),
        AuthError::Malformed(m) if s3 => (400, "AuthorizationQueryParametersError", m.clone()),
        AuthError::Conflicting | AuthError::Malformed(_) => (
            400,
            "IncompleteSignature",
            match error {
                AuthError::Malformed(m) => m.clone(),
                _ => "Only one auth mechanism allowed".into(),
            },
        ),
        AuthError::UnknownKey if s3 => (
            403,
            "InvalidAccessKeyId",
            "The AWS Access Key Id you provided does not exist in our records.".into(),
        ),
        AuthError::UnknownKey | AuthError::BadToken if json => (
            400,
            "UnrecognizedClientException",
            "The security token included in the request is invalid.".into(),
        ),
        AuthError::UnknownKey | AuthError::BadToken if !s3 => (
            403,
            "InvalidClientTokenId",
            "The security token included in the request is invalid.".into(),
        ),
        AuthError::BadToken => (
            400,
            "InvalidToken",
            "The provided token is malformed or otherwise invalid.".into(),
        ),
        AuthError::UnknownKey => unreachable!("answered above for every service"),
        AuthError::Mismatch if json => (
            400,
            "InvalidSignatureException",
            "The request signature we calculated does not match the signature you provided.".into(),
        ),
        AuthError::Mismatch => (
            403,
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided. Check your key and signing method.".into(),
        ),
        AuthError::Skewed if s3 => (
            403,
            "RequestTimeTooSkewed",
            "The difference between the request time and the current time is too large.".into(),
        ),
        AuthError::Skewed if json => (
            400,
            "InvalidSignatureException",
            "Signature expired: the request time is more than 15 minutes from now.".into(),
        ),
        AuthError::Skewed => (
            403,
            "SignatureDoesNotMatch",
            "Signature expired: the request time is more than 15 minutes from now.".into(),
        ),
        AuthError::Expired => (403, "AccessDenied", "Request has expired".into()),
        AuthError::ContentMismatch => (
            400,
            "XAmzContentSHA256Mismatch",
            "The provided 'x-amz-content-sha256' header does not match what was computed.".into(),
        ),
    };
    DoorRefusal {
        service,
        status,
        code,
        message,
    }
}

/// Classify a raw request. Authentication (does the signature verify) is
/// the caller's next step, with the key's secret.
pub fn classify(request: &Signed<'_>) -> Result<AwsRequest, DoorRefusal> {
    let header = |name: &str| {
        request
            .headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    };
    let target = header("x-amz-target");
    let signature = match crate::sigv4::parse(request) {
        Ok(signature) => signature,
        Err(error) => {
            let service = target.and_then(service_of_target).or(Some(Service::S3));
            return Err(auth_refusal(&error, service));
        }
    };
    let Some(signature) = signature else {
        return unsigned(request, target);
    };
    let Some(service) = scoped(&signature.service) else {
        return Err(DoorRefusal {
            service: None,
            status: 403,
            code: "SignatureDoesNotMatch",
            message: format!(
                "Credential should be scoped to correct service: the local stack serves no `{}`",
                signature.service
            ),
        });
    };
    let refuse = |status, code, message: String| {
        Err(DoorRefusal {
            service: Some(service),
            status,
            code,
            message,
        })
    };
    let mut classified = AwsRequest {
        service,
        signature: Some(signature),
        operation: String::new(),
        params: Form::new(),
        s3: None,
    };
    match (service, prefix(service)) {
        (_, Some(prefix)) => {
            if request.method != "POST" {
                return refuse(
                    400,
                    "UnknownOperationException",
                    "the JSON protocol takes POST only".into(),
                );
            }
            // The JSON protocol reads nothing from the query; moto would.
            if !request.query.is_empty() {
                return refuse(
                    400,
                    "UnknownOperationException",
                    "a JSON-protocol call carries no query string".into(),
                );
            }
            match target.and_then(|t| t.strip_prefix(prefix)) {
                Some(op) if !op.is_empty() && op.chars().all(|c| c.is_ascii_alphanumeric()) => {
                    classified.operation = op.to_owned();
                }
                _ => {
                    return refuse(
                        400,
                        "UnknownOperationException",
                        format!(
                            "X-Amz-Target must be {prefix}<Operation> for a request signed for {}",
                            classified
                                .signature
                                .as_ref()
                                .map_or("", |s| s.service.as_str())
                        ),
                    );
                }
            }
        }
        (Service::Sts | Service::Iam, None) => {
            let mut params = Form::new();
            // The body is read as a form whatever its content type says,
            // as moto reads it.
            let body_form = form(request.body);
            let query = crate::sigv4::without_auth_params(request.query);
            for (k, v) in crate::sigv4::form_pairs(&query).chain(body_form) {
                if params.insert(k.clone(), v).is_some() {
                    return refuse(
                        400,
                        "InvalidParameterCombination",
                        format!("the parameter {k} is given twice"),
                    );
                }
            }
            let Some(action) = params.get("Action").filter(|a| !a.is_empty()) else {
                return refuse(
                    400,
                    "MissingAction",
                    "the Action parameter is required".into(),
                );
            };
            if target.is_some() {
                return refuse(
                    400,
                    "InvalidAction",
                    "a query-protocol call carries no X-Amz-Target".into(),
                );
            }
            classified.operation = action.clone();
            classified.params = params;
        }
        (Service::Es, None) => {
            // OpenSearch: the method is the action, the path the resource.
            match crate::search::search_request(request.method, request.path) {
                Ok(search) => {
                    classified.operation = search.action.trim_start_matches("es:").to_owned();
                }
                Err(crate::search::Unreadable(message)) => {
                    return refuse(400, "illegal_argument_exception", message);
                }
            }
        }
        (_, None) => {
            // S3: method, path and sub-resource; X-Amz-Target means nothing.
            let query = crate::sigv4::without_auth_params(request.query);
            let Some(op) = crate::s3::operation(
                request.method,
                request.path,
                &query,
                header("x-amz-copy-source"),
                request.body,
            ) else {
                return refuse(
                    403,
                    "AccessDenied",
                    "the local stack serves no bucket listing (ListBuckets) to sessions".into(),
                );
            };
            classified.operation = op.name.to_owned();
            classified.s3 = Some(op);
        }
    }
    Ok(classified)
}

/// The service a JSON target names (for an unsigned or malformed call).
fn service_of_target(target: &str) -> Option<Service> {
    [
        Service::DynamoDb,
        Service::Kms,
        Service::SecretsManager,
        Service::CognitoIdentity,
        Service::CognitoIdp,
    ]
    .into_iter()
    .find(|s| prefix(*s).is_some_and(|p| target.starts_with(p)))
}

/// An unsigned request: one of AWS's public calls, or refused.
fn unsigned(request: &Signed<'_>, target: Option<&str>) -> Result<AwsRequest, DoorRefusal> {
    if let Some(target) = target
        && PUBLIC_TARGETS.contains(&target)
        && request.method == "POST"
        && request.query.is_empty()
    {
        let service = service_of_target(target).expect("public targets have a service");
        let operation = target.split_once('.').map_or("", |(_, op)| op).to_owned();
        return Ok(AwsRequest {
            service,
            signature: None,
            operation,
            params: Form::new(),
            s3: None,
        });
    }
    // A user pool's signing keys are public, as at cognito-idp.
    if request.method == "GET" && request.path.ends_with("/.well-known/jwks.json") {
        return Ok(AwsRequest {
            service: Service::CognitoIdp,
            signature: None,
            operation: "GetJwks".to_owned(),
            params: Form::new(),
            s3: None,
        });
    }
    let service = target.and_then(service_of_target);
    let (status, code, message) = match service {
        Some(_) => (
            400,
            "MissingAuthenticationTokenException",
            "Request is missing Authentication Token",
        ),
        // An anonymous S3 request: the bucket grants nothing to anyone.
        None => (403, "AccessDenied", "Access Denied"),
    };
    Err(DoorRefusal {
        service: service.or(Some(Service::S3)),
        status,
        code,
        message: message.to_owned(),
    })
}
