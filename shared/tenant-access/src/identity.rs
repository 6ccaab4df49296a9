//! The tenant behind a request, taken only from what API Gateway verified.
//!
//! The tenant is read from the request context that API Gateway fills in after
//! its authorizer accepted the caller: JWT authorizer claims (HTTP API v2),
//! Lambda-authorizer context (v2 and REST v1), or Cognito/JWT claims under
//! `claims` (REST v1). It is never read from the path, query, body or a
//! header, which the caller controls.

use std::fmt;

#[cfg(feature = "lambda-http")]
use lambda_http::request::RequestContext;
#[cfg(feature = "lambda-http")]
use lambda_http::{Request, RequestExt};
use serde_json::Value;

use crate::Error;

/// The claim naming the user: the token's subject, whichever authorizer
/// verified it (the tenant authorizer passes it on as `sub` too).
pub const USER_CLAIM: &str = "sub";

/// The longest tenant identifier the alphabet rule accepts. The functions
/// accept only ids whose derived names fit too (see
/// [`AccessConfig::max_tenant_len`](crate::config::AccessConfig::max_tenant_len)).
pub const MAX_TENANT_ID_LEN: usize = tenant_id::ABSOLUTE_MAX_LEN;

/// A validated tenant identifier.
///
/// Only lowercase ASCII letters, digits, `_` and `-`, 1 to 63 characters,
/// starting with a letter or digit (the `tenant-id` crate's rule, which the
/// onboarding tooling uses too). Such a value is safe as an S3 key segment,
/// in an IAM role name, as a session-tag value and in a Postgres role name.
///
/// # Example
///
/// ```
/// use tenant_access::TenantId;
///
/// let tenant: TenantId = "tenant1".parse().unwrap();
/// assert_eq!(tenant.as_str(), "tenant1");
/// assert!("../tenant2".parse::<TenantId>().is_err());
/// assert!("Tenant1".parse::<TenantId>().is_err());
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TenantId(String);

pub use tenant_id::InvalidTenantId;

impl TenantId {
    /// The identifier as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for TenantId {
    type Err = InvalidTenantId;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        tenant_id::check(s, MAX_TENANT_ID_LEN)?;
        Ok(TenantId(s.to_owned()))
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TenantId({})", self.0)
    }
}

/// The longest user id accepted: IAM's session-tag values are 256
/// characters; a user id is also a path segment of the user's S3 area and
/// part of a DynamoDB partition key, so it is kept well inside both.
pub const MAX_USER_ID_LEN: usize = 128;

/// A validated user id: the verified token's `sub`, naming one user of a
/// tenant (its private area, [`Caller::user`]).
///
/// 1 to 128 characters of ASCII letters, digits and `-_.@+=:`, and never
/// `.` or `..`: safe as an S3 path segment, in a DynamoDB key after the
/// tenant, and as an STS session-tag value. A Cognito `sub` (a UUID) always
/// is one.
///
/// ```
/// use tenant_access::identity::UserId;
///
/// let user: UserId = "3f1c2a9e-5b7d-4c1e-9f00-123456789abc".parse().unwrap();
/// assert_eq!(user.as_str().len(), 36);
/// assert!("../other".parse::<UserId>().is_err());
/// assert!("a/b".parse::<UserId>().is_err());
/// assert!("..".parse::<UserId>().is_err());
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UserId(String);

/// Why a string is not a [`UserId`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a user id is 1 to 128 characters of A-Z, a-z, 0-9 and -_.@+=:, and not . or ..")]
pub struct InvalidUserId;

impl UserId {
    /// The identifier as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for UserId {
    type Err = InvalidUserId;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let alphabet = s
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.@+=:".contains(&b));
        if s.is_empty() || s.len() > MAX_USER_ID_LEN || !alphabet || s == "." || s == ".." {
            return Err(InvalidUserId);
        }
        Ok(UserId(s.to_owned()))
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "UserId({})", self.0)
    }
}

/// Who is calling, as verified by API Gateway, and which request this is.
///
/// # Example
///
/// ```
/// use tenant_access::Caller;
///
/// let event = r#"{
///   "version": "2.0", "routeKey": "GET /tenant", "rawPath": "/tenant", "rawQueryString": "",
///   "headers": {}, "isBase64Encoded": false,
///   "requestContext": {
///     "accountId": "123456789012", "apiId": "api", "domainName": "example.com", "domainPrefix": "api",
///     "requestId": "req-1", "routeKey": "GET /tenant", "stage": "$default", "time": "", "timeEpoch": 0,
///     "http": {"method": "GET", "path": "/tenant", "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "doc"},
///     "authorizer": {"jwt": {"claims": {"custom:tenant_id": "tenant1"}, "scopes": null}}
///   }
/// }"#;
/// let request = lambda_http::request::from_str(event).unwrap();
/// let caller = Caller::from_request(&request, "custom:tenant_id").unwrap();
/// assert_eq!(caller.tenant.as_str(), "tenant1");
/// assert_eq!(caller.request_id, "req-1");
/// assert!(caller.user.is_none()); // the claims carry no `sub`
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The tenant the verified identity belongs to.
    pub tenant: TenantId,
    /// The verified user (the identity's `sub`), when the identity names a
    /// valid one: whose private area `/me` routes serve.
    pub user: Option<UserId>,
    /// The API Gateway request id (or the Lambda invocation id), for logs and
    /// for the STS session name.
    pub request_id: String,
    /// The caller's own ID token, as it arrived in the `Authorization`
    /// header: what the `identity-pool` strategy exchanges for the caller's
    /// credentials. `None` when the request carries none.
    pub token: Option<IdentityToken>,
}

impl Caller {
    #[cfg(feature = "lambda-http")]
    /// Read the caller's tenant from the verified request context.
    ///
    /// Fails with [`Error::Unauthenticated`] when no authorizer identity is
    /// present, [`Error::TenantClaimMissing`] when the identity lacks the
    /// claim, and [`Error::InvalidTenant`] when its value is not a
    /// [`TenantId`]. No AWS call is made.
    pub fn from_request(request: &Request, claim: &str) -> Result<Self, Error> {
        let context = request
            .request_context_ref()
            .ok_or(Error::Unauthenticated)?;
        let value = tenant_claim(context, claim)?;
        let tenant = value.parse().map_err(|_| Error::InvalidTenant)?;
        let user = tenant_claim(context, USER_CLAIM)
            .ok()
            .and_then(|sub| sub.parse().ok());
        let request_id = request_id(request, context);
        let token = IdentityToken::from_request(request);
        Ok(Caller {
            tenant,
            user,
            request_id,
            token,
        })
    }

    /// A caller of `tenant` for request `request_id`, with no token: for
    /// tests, benchmarks and callers that identify tenants themselves.
    ///
    /// ```
    /// let caller = tenant_access::Caller::new("tenant1".parse().unwrap(), "req-1");
    /// assert!(caller.token.is_none());
    /// ```
    pub fn new(tenant: TenantId, request_id: impl Into<String>) -> Self {
        Caller {
            tenant,
            user: None,
            request_id: request_id.into(),
            token: None,
        }
    }

    /// The same caller, as user `user` of its tenant.
    ///
    /// ```
    /// let caller = tenant_access::Caller::new("tenant1".parse().unwrap(), "req-1")
    ///     .with_user("user-a".parse().unwrap());
    /// assert_eq!(caller.user.unwrap().as_str(), "user-a");
    /// ```
    pub fn with_user(mut self, user: UserId) -> Self {
        self.user = Some(user);
        self
    }

    /// The verified user, or [`Error::UserUnknown`] when the identity names
    /// none: a `/me` route has no area to serve then.
    pub fn require_user(&self) -> Result<&UserId, Error> {
        self.user.as_ref().ok_or(Error::UserUnknown)
    }

    /// Check that the caller's token stands behind the verified identity:
    /// it is present and well-formed, its issuer is `issuer`, it has not
    /// expired at `now`, and its `claim` names the same tenant as the
    /// request context. Anything else is [`Error::Unauthenticated`]: the
    /// event's claims have no valid token behind them (an event forged by
    /// someone who may invoke the function directly), so no AWS call is
    /// made for it.
    ///
    /// The token's signature is not checked here: the identity pool checks
    /// it when the token is exchanged, and refuses a forged one.
    pub fn verify_token(
        &self,
        claim: &str,
        issuer: &str,
        now: std::time::SystemTime,
    ) -> Result<&IdentityToken, Error> {
        let token = self.token.as_ref().ok_or(Error::Unauthenticated)?;
        let unix = now
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let same_tenant = token.claim(claim) == Some(self.tenant.as_str());
        let same_issuer = token.issuer() == Some(issuer);
        let fresh = token.expires_at().is_some_and(|exp| exp > unix);
        if same_tenant && same_issuer && fresh {
            Ok(token)
        } else {
            tracing::info!(
                same_tenant,
                same_issuer,
                fresh,
                "the request's token does not stand behind its verified claims"
            );
            Err(Error::Unauthenticated)
        }
    }
}

/// The token of an `Authorization` header value: `Bearer <jwt>` or the bare
/// token, as API Gateway's authorizers take either; `None` for no token or
/// another scheme.
///
/// ```
/// use tenant_access::identity::bearer;
///
/// assert_eq!(bearer("Bearer abc"), Some("abc"));
/// assert_eq!(bearer("bearer  abc "), Some("abc"));
/// assert_eq!(bearer("abc"), Some("abc"));
/// assert_eq!(bearer("Bearer "), None);
/// assert_eq!(bearer("Basic dXNlcjpw"), None);
/// ```
pub fn bearer(authorization: &str) -> Option<&str> {
    let value = authorization.trim();
    if value.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let token = match value.split_once(' ') {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("bearer") => rest.trim(),
        Some(_) => return None,
        None => value,
    };
    (!token.is_empty()).then_some(token)
}

/// A caller's ID token (a JWT), read from the request's `Authorization`
/// header (`Bearer <jwt>` or the bare JWT, as API Gateway's JWT authorizer
/// accepts). Its payload is decoded but its signature is not verified here:
/// API Gateway verified it, and the identity pool verifies it again when it
/// is exchanged. Its `Debug` never shows the token.
///
/// ```
/// use base64::Engine;
/// use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
/// use tenant_access::identity::IdentityToken;
///
/// let payload = B64.encode(r#"{"iss":"https://issuer","sub":"u1","custom:tenant_id":"tenant1","exp":4102444800}"#);
/// let token = IdentityToken::parse(&format!("e30.{payload}.c2ln")).unwrap();
/// assert_eq!(token.claim("custom:tenant_id"), Some("tenant1"));
/// assert_eq!(token.expires_at(), Some(4102444800));
/// assert!(!format!("{token:?}").contains(&payload));
/// assert!(IdentityToken::parse("not a jwt").is_none());
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct IdentityToken {
    raw: std::sync::Arc<str>,
    claims: serde_json::Map<String, Value>,
}

impl IdentityToken {
    #[cfg(feature = "lambda-http")]
    /// The token in `request`'s `Authorization` header, if it holds a
    /// well-formed JWT.
    pub fn from_request(request: &Request) -> Option<Self> {
        let header = request
            .headers()
            .get(lambda_http::http::header::AUTHORIZATION)?
            .to_str()
            .ok()?;
        Self::parse(bearer(header)?)
    }

    /// A well-formed JWT: three base64url parts, the second a JSON object.
    pub fn parse(jwt: &str) -> Option<Self> {
        use base64::Engine;
        use base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let mut parts = jwt.split('.');
        let (Some(_header), Some(payload), Some(_signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return None;
        };
        let bytes = URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
        let claims = match serde_json::from_slice(&bytes).ok()? {
            Value::Object(claims) => claims,
            _ => return None,
        };
        Some(IdentityToken {
            raw: jwt.into(),
            claims,
        })
    }

    /// The token as sent, for the identity pool's `Logins` map.
    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// A string claim of the payload.
    pub fn claim(&self, name: &str) -> Option<&str> {
        self.claims.get(name).and_then(Value::as_str)
    }

    /// The `iss` claim.
    pub fn issuer(&self) -> Option<&str> {
        self.claim("iss")
    }

    /// The `exp` claim, in seconds since the Unix epoch.
    pub fn expires_at(&self) -> Option<u64> {
        self.claims.get("exp").and_then(Value::as_u64)
    }
}

impl fmt::Debug for IdentityToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IdentityToken")
            .field("sub", &self.claim("sub"))
            .field("exp", &self.expires_at())
            .finish_non_exhaustive()
    }
}

#[cfg(feature = "lambda-http")]
/// Find the claim in whichever authorizer shape the context carries.
fn tenant_claim<'a>(context: &'a RequestContext, claim: &str) -> Result<&'a str, Error> {
    let missing = || Error::TenantClaimMissing {
        claim: claim.to_owned(),
    };
    match context {
        RequestContext::ApiGatewayV2(ctx) => {
            let authorizer = ctx.authorizer.as_ref().ok_or(Error::Unauthenticated)?;
            if let Some(jwt) = &authorizer.jwt {
                return jwt
                    .claims
                    .get(claim)
                    .map(String::as_str)
                    .ok_or_else(missing);
            }
            if authorizer.fields.is_empty() {
                return Err(Error::Unauthenticated);
            }
            // Lambda authorizer (simple or IAM response): context under `lambda`.
            string_field(&authorizer.fields, claim).ok_or_else(missing)
        }
        RequestContext::ApiGatewayV1(ctx) => {
            let fields = &ctx.authorizer.fields;
            if fields.is_empty() {
                return Err(Error::Unauthenticated);
            }
            // Cognito user-pool and JWT authorizers put claims under `claims`;
            // Lambda authorizers put their context at the top level.
            match fields.get("claims") {
                Some(Value::Object(claims)) => claims
                    .get(claim)
                    .and_then(Value::as_str)
                    .ok_or_else(missing),
                _ => string_field(fields, claim).ok_or_else(missing),
            }
        }
        #[allow(unreachable_patterns)]
        _ => Err(Error::Unauthenticated),
    }
}

#[cfg(feature = "lambda-http")]
fn string_field<'a>(
    fields: &'a std::collections::HashMap<String, Value>,
    claim: &str,
) -> Option<&'a str> {
    fields.get(claim).and_then(Value::as_str)
}

#[cfg(feature = "lambda-http")]
fn request_id(request: &Request, context: &RequestContext) -> String {
    let from_gateway = match context {
        RequestContext::ApiGatewayV2(ctx) => ctx.request_id.clone(),
        RequestContext::ApiGatewayV1(ctx) => ctx.request_id.clone(),
        #[allow(unreachable_patterns)]
        _ => None,
    };
    from_gateway
        .filter(|id| !id.is_empty())
        .or_else(|| {
            request
                .lambda_context_ref()
                .map(|ctx| ctx.request_id.clone())
        })
        .unwrap_or_else(|| "unknown".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_ids_accept_only_the_safe_alphabet() {
        for good in ["tenant1", "t", "a-b_c", "0abc", &"a".repeat(63)] {
            assert!(
                good.parse::<TenantId>().is_ok(),
                "{good} should be accepted"
            );
        }
        for bad in [
            "",
            "Tenant1",
            "tenant 1",
            "tenant/1",
            "../x",
            ".",
            "-lead",
            "_lead",
            "tenant1\n",
            "tenant%2f",
            "tenant1*",
            "ténant",
            &"a".repeat(64),
            "tenant1\0",
        ] {
            assert!(
                bad.parse::<TenantId>().is_err(),
                "{bad:?} should be refused"
            );
        }
    }

    #[cfg(feature = "lambda-http")]
    fn v2_request(authorizer: Value) -> Request {
        let event = serde_json::json!({
            "version": "2.0", "routeKey": "GET /tenant", "rawPath": "/tenant", "rawQueryString": "",
            "headers": {"x-tenant-id": "tenant2"}, "isBase64Encoded": false,
            "requestContext": {
                "accountId": "123456789012", "apiId": "api", "domainName": "example.com", "domainPrefix": "api",
                "requestId": "req-1", "routeKey": "GET /tenant", "stage": "$default", "time": "", "timeEpoch": 0,
                "http": {"method": "GET", "path": "/tenant", "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "t"},
                "authorizer": authorizer,
            }
        });
        lambda_http::request::from_str(&event.to_string()).unwrap()
    }

    #[cfg(feature = "lambda-http")]
    fn v1_request(authorizer: Value) -> Request {
        let event = serde_json::json!({
            "resource": "/tenant", "path": "/tenant", "httpMethod": "GET",
            "headers": {}, "multiValueHeaders": {}, "queryStringParameters": null,
            "multiValueQueryStringParameters": null, "pathParameters": null, "stageVariables": null,
            "requestContext": {
                "accountId": "123456789012", "resourceId": "r", "stage": "prod", "requestId": "req-v1",
                "identity": {"sourceIp": "127.0.0.1"}, "resourcePath": "/tenant", "httpMethod": "GET",
                "apiId": "api", "path": "/prod/tenant", "authorizer": authorizer
            },
            "body": null, "isBase64Encoded": false
        });
        lambda_http::request::from_str(&event.to_string()).unwrap()
    }

    const CLAIM: &str = "custom:tenant_id";

    #[cfg(feature = "lambda-http")]
    #[test]
    fn v2_jwt_claims_give_the_tenant() {
        let req =
            v2_request(serde_json::json!({"jwt": {"claims": {CLAIM: "tenant1"}, "scopes": null}}));
        let caller = Caller::from_request(&req, CLAIM).unwrap();
        assert_eq!(caller.tenant.as_str(), "tenant1");
        assert_eq!(caller.request_id, "req-1");
    }

    #[cfg(feature = "lambda-http")]
    #[test]
    fn v2_lambda_authorizer_context_gives_the_tenant() {
        let req = v2_request(serde_json::json!({"lambda": {CLAIM: "tenant2"}}));
        assert_eq!(
            Caller::from_request(&req, CLAIM).unwrap().tenant.as_str(),
            "tenant2"
        );
    }

    #[cfg(feature = "lambda-http")]
    #[test]
    fn v1_cognito_claims_and_lambda_context_give_the_tenant() {
        let req = v1_request(serde_json::json!({"claims": {CLAIM: "tenant1"}}));
        let caller = Caller::from_request(&req, CLAIM).unwrap();
        assert_eq!(caller.tenant.as_str(), "tenant1");
        assert_eq!(caller.request_id, "req-v1");
        let req = v1_request(serde_json::json!({"principalId": "u", CLAIM: "tenant2"}));
        assert_eq!(
            Caller::from_request(&req, CLAIM).unwrap().tenant.as_str(),
            "tenant2"
        );
    }

    #[cfg(feature = "lambda-http")]
    #[test]
    fn no_authorizer_is_unauthenticated() {
        let req = v2_request(Value::Null);
        assert!(matches!(
            Caller::from_request(&req, CLAIM),
            Err(Error::Unauthenticated)
        ));
        let req = v1_request(Value::Null);
        assert!(matches!(
            Caller::from_request(&req, CLAIM),
            Err(Error::Unauthenticated)
        ));
        let plain = Request::default();
        assert!(matches!(
            Caller::from_request(&plain, CLAIM),
            Err(Error::Unauthenticated)
        ));
    }

    #[cfg(feature = "lambda-http")]
    #[test]
    fn missing_or_bad_claim_is_forbidden_and_headers_are_ignored() {
        // The header says tenant2; the verified identity has no tenant claim.
        let req = v2_request(serde_json::json!({"jwt": {"claims": {"sub": "u"}, "scopes": null}}));
        let err = Caller::from_request(&req, CLAIM).unwrap_err();
        assert!(matches!(err, Error::TenantClaimMissing { .. }));
        assert_eq!(err.status().as_u16(), 403);
        let req = v2_request(
            serde_json::json!({"jwt": {"claims": {CLAIM: "../tenant2"}, "scopes": null}}),
        );
        assert!(matches!(
            Caller::from_request(&req, CLAIM),
            Err(Error::InvalidTenant)
        ));
        let req = v1_request(serde_json::json!({"claims": {CLAIM: 7}}));
        assert!(matches!(
            Caller::from_request(&req, CLAIM),
            Err(Error::TenantClaimMissing { .. })
        ));
    }

    #[cfg(feature = "lambda-http")]
    #[test]
    fn the_claim_name_is_configurable() {
        let req = v2_request(
            serde_json::json!({"jwt": {"claims": {"tenant": "tenant1", CLAIM: "tenant2"}, "scopes": null}}),
        );
        assert_eq!(
            Caller::from_request(&req, "tenant")
                .unwrap()
                .tenant
                .as_str(),
            "tenant1"
        );
    }
}
