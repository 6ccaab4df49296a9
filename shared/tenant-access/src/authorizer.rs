//! A Lambda `REQUEST` authorizer for API Gateway REST APIs: it verifies the
//! caller's token and answers with the tenant as authorizer context.
//!
//! Lambda's tenant isolation mode routes each invocation by the tenant id
//! API Gateway passes in `X-Amz-Tenant-Id`, which a REST API sets from a
//! mapping expression. A Lambda authorizer's context is mapped as
//! `context.authorizer.<key>`, so this authorizer puts the tenant under
//! [`TENANT_ID_KEY`] (a plain key, which every mapping expression takes),
//! and again under the tenant claim's own name, which is where the
//! functions read it ([`Caller::from_request`](crate::Caller::from_request)).
//!
//! A token is accepted only when it is an RS256 JWT signed by a key of the
//! issuer's key set (JWKS), from the configured issuer, for one of the
//! configured app clients, of a known use (`id` or `access`), and inside its
//! `nbf`..`exp` window, as API Gateway's own JWT and Cognito authorizers
//! check. A token that fails is refused with `Unauthorized` (API Gateway
//! answers 401); a verified token whose tenant claim is missing or is not a
//! tenant id gets a `Deny` policy (403).
//!
//! ```
//! use tenant_access::authorizer::{Authorizer, AuthorizerRequest, KeySet, TokenRules};
//! use std::time::SystemTime;
//!
//! let rules = TokenRules::new("https://issuer.example", ["client-1"]);
//! let authorizer = Authorizer::new(rules, "custom:tenant_id");
//! let keys = KeySet::from_jwks(br#"{"keys":[]}"#).unwrap();
//! let request: AuthorizerRequest = serde_json::from_str(
//!     r#"{"type":"REQUEST","methodArn":"arn:aws:execute-api:us-east-1:123456789012:api/api/GET/files","headers":{}}"#,
//! ).unwrap();
//! // No token: refused before any key is looked at.
//! assert!(authorizer.answer(&request, &keys, SystemTime::now()).is_err());
//! ```

use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::identity::TenantId;

/// The authorizer-context key holding the tenant, for the REST API's
/// mapping `context.authorizer.tenantId` → `X-Amz-Tenant-Id`.
pub const TENANT_ID_KEY: &str = "tenantId";

/// Why a token is refused. Its text is for the log: API Gateway shows the
/// client only `Unauthorized`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Refusal {
    /// The request carries no token.
    #[error("the request carries no token")]
    Missing,
    /// The token is not a JWT.
    #[error("not a JWT: {0}")]
    Malformed(String),
    /// The token is signed with another algorithm than RS256 (or none).
    #[error("signed with {0}, not RS256")]
    Algorithm(String),
    /// The token's header names no key.
    #[error("the token names no key id")]
    NoKeyId,
    /// The token names a key the issuer's key set does not hold.
    #[error("key {0} is not in the issuer's key set")]
    UnknownKey(String),
    /// The signature, the issuer or a required claim is wrong.
    #[error("invalid token: {0}")]
    Invalid(String),
    /// `exp` is past.
    #[error("the token has expired")]
    Expired,
    /// `nbf` is ahead.
    #[error("the token is not valid yet")]
    NotYetValid,
    /// `token_use` is neither `id` nor `access`.
    #[error("token use {0:?}")]
    TokenUse(Option<String>),
    /// The token is for another app client.
    #[error("the token is for another app client")]
    Audience,
}

/// A key set could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the key set is not a JWKS: {0}")]
pub struct JwksError(String);

/// An issuer's RSA signing keys, by key id, read from its JWKS.
///
/// ```
/// use tenant_access::authorizer::KeySet;
///
/// let keys = KeySet::from_jwks(br#"{"keys":[{"kty":"EC","kid":"e"}]}"#).unwrap();
/// assert!(keys.is_empty()); // only RSA keys sign the tokens checked here
/// assert!(KeySet::from_jwks(b"[]").is_err());
/// ```
#[derive(Clone, Default)]
pub struct KeySet {
    keys: HashMap<String, DecodingKey>,
}

impl std::fmt::Debug for KeySet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.keys.keys()).finish()
    }
}

impl KeySet {
    /// The RSA keys of a JWKS document (`{"keys": [...]}`); keys of other
    /// types, and RSA keys without an id, are skipped.
    pub fn from_jwks(json: &[u8]) -> Result<Self, JwksError> {
        let document: Value = serde_json::from_slice(json).map_err(|e| JwksError(e.to_string()))?;
        let list = document
            .get("keys")
            .and_then(Value::as_array)
            .ok_or_else(|| JwksError("no `keys` array".into()))?;
        let mut keys = HashMap::new();
        for key in list {
            let (Some(id), Some(n), Some(e), Some("RSA")) = (
                key["kid"].as_str(),
                key["n"].as_str(),
                key["e"].as_str(),
                key["kty"].as_str(),
            ) else {
                continue;
            };
            let decoding = DecodingKey::from_rsa_components(n, e)
                .map_err(|e| JwksError(format!("key {id}: {e}")))?;
            keys.insert(id.to_owned(), decoding);
        }
        Ok(KeySet { keys })
    }

    /// Whether the set holds key `id`.
    pub fn contains(&self, id: &str) -> bool {
        self.keys.contains_key(id)
    }

    /// How many keys the set holds.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether the set holds no key.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

/// Whose tokens are accepted: one issuer, and the app clients tokens may be
/// for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRules {
    issuer: String,
    audiences: Vec<String>,
}

impl TokenRules {
    /// Tokens of `issuer` for any of `audiences`.
    pub fn new(
        issuer: impl Into<String>,
        audiences: impl IntoIterator<Item = impl Into<String>>,
    ) -> Self {
        TokenRules {
            issuer: issuer.into(),
            audiences: audiences.into_iter().map(Into::into).collect(),
        }
    }

    /// The issuer whose tokens are accepted.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The verified claims of `token` at `now`, checked against `keys`.
    ///
    /// [`Refusal::UnknownKey`] means the key set may be stale: fetch it
    /// again (at a bounded rate) and retry once.
    pub fn verify(
        &self,
        token: &str,
        keys: &KeySet,
        now: SystemTime,
    ) -> Result<VerifiedToken, Refusal> {
        let header =
            jsonwebtoken::decode_header(token).map_err(|e| Refusal::Malformed(e.to_string()))?;
        if header.alg != Algorithm::RS256 {
            return Err(Refusal::Algorithm(format!("{:?}", header.alg)));
        }
        let kid = header.kid.ok_or(Refusal::NoKeyId)?;
        let key = keys
            .keys
            .get(&kid)
            .ok_or_else(|| Refusal::UnknownKey(kid.clone()))?;
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_issuer(&[&self.issuer]);
        validation.set_required_spec_claims(&["iss", "exp"]);
        // The time window against the caller's clock, the audience by the
        // token's use: both below.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        let claims = jsonwebtoken::decode::<Map<String, Value>>(token, key, &validation)
            .map_err(|e| Refusal::Invalid(e.to_string()))?
            .claims;
        let now = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()) as i64;
        let number = |name: &str| claims.get(name).and_then(Value::as_i64);
        if number("exp").is_none_or(|exp| now >= exp) {
            return Err(Refusal::Expired);
        }
        if number("nbf").is_some_and(|nbf| now < nbf) {
            return Err(Refusal::NotYetValid);
        }
        let audience = match claims.get("token_use").and_then(Value::as_str) {
            Some("id") => claims.get("aud"),
            Some("access") => claims.get("client_id"),
            other => return Err(Refusal::TokenUse(other.map(str::to_owned))),
        };
        let for_us = match audience {
            Some(Value::String(a)) => self.audiences.contains(a),
            Some(Value::Array(list)) => list
                .iter()
                .filter_map(Value::as_str)
                .any(|a| self.audiences.iter().any(|ok| ok == a)),
            _ => false,
        };
        if !for_us {
            return Err(Refusal::Audience);
        }
        Ok(VerifiedToken { claims })
    }
}

/// The claims of a token whose signature, issuer, audience and time window
/// were verified.
#[derive(Debug, Clone, PartialEq)]
pub struct VerifiedToken {
    claims: Map<String, Value>,
}

impl VerifiedToken {
    /// A string claim.
    pub fn claim(&self, name: &str) -> Option<&str> {
        self.claims.get(name).and_then(Value::as_str)
    }

    /// All claims.
    pub fn claims(&self) -> &Map<String, Value> {
        &self.claims
    }

    /// The claims, owned.
    pub fn into_claims(self) -> Map<String, Value> {
        self.claims
    }
}

/// The token of an `Authorization` header value (the one rule, in
/// [`identity`](crate::identity)).
pub use crate::identity::bearer;

/// What API Gateway sends a `REQUEST` authorizer (the parts read here).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthorizerRequest {
    /// The method being called:
    /// `arn:aws:execute-api:<region>:<account>:<api>/<stage>/<verb>/<path>`.
    #[serde(default)]
    pub method_arn: String,
    /// The request's headers (one value each).
    #[serde(default, deserialize_with = "null_as_empty")]
    pub headers: HashMap<String, String>,
}

fn null_as_empty<'de, D>(deserializer: D) -> Result<HashMap<String, String>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    Ok(Option::<HashMap<String, String>>::deserialize(deserializer)?.unwrap_or_default())
}

impl AuthorizerRequest {
    /// The `Authorization` header, whatever its case.
    pub fn authorization(&self) -> Option<&str> {
        self.headers
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case("authorization"))
            .map(|(_, value)| value.as_str())
    }
}

/// An authorizer's answer: an IAM policy for `execute-api:Invoke`, the
/// principal, and the context API Gateway passes on.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthorizerResponse {
    /// The caller (`sub`).
    pub principal_id: String,
    /// What the caller may invoke.
    pub policy_document: PolicyDocument,
    /// String values API Gateway maps as `context.authorizer.<key>`.
    pub context: Map<String, Value>,
    /// The caller's tenant's API key value, when the API takes its keys
    /// from the authorizer (`ApiKeySourceType: AUTHORIZER`): the usage plan
    /// the key belongs to throttles the tenant
    /// ([`Authorizer::with_usage_keys`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage_identifier_key: Option<String>,
}

/// The policy of an [`AuthorizerResponse`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PolicyDocument {
    /// `2012-10-17`.
    #[serde(rename = "Version")]
    pub version: &'static str,
    /// One statement.
    #[serde(rename = "Statement")]
    pub statement: Vec<Statement>,
}

/// One statement of a [`PolicyDocument`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Statement {
    /// `execute-api:Invoke`.
    #[serde(rename = "Action")]
    pub action: &'static str,
    /// `Allow` or `Deny`.
    #[serde(rename = "Effect")]
    pub effect: &'static str,
    /// The methods it covers.
    #[serde(rename = "Resource")]
    pub resource: String,
}

/// Every method of the stage `method_arn` is in:
/// `arn:...:<api>/<stage>/*`. API Gateway caches an authorizer's answer by
/// its identity source (the token), and serves the cached policy for every
/// method the same token calls; a policy naming only the first method would
/// refuse the token's next call to another one.
///
/// ```
/// use tenant_access::authorizer::stage_resource;
///
/// assert_eq!(
///     stage_resource("arn:aws:execute-api:us-east-1:123456789012:a1b2/api/GET/files/x").as_deref(),
///     Some("arn:aws:execute-api:us-east-1:123456789012:a1b2/api/*"),
/// );
/// assert_eq!(stage_resource("arn:aws:s3:::bucket"), None);
/// ```
pub fn stage_resource(method_arn: &str) -> Option<String> {
    let (prefix, path) = method_arn.rsplit_once(':')?;
    if !prefix.contains(":execute-api:") {
        return None;
    }
    let mut parts = path.split('/');
    let (Some(api), Some(stage)) = (parts.next(), parts.next()) else {
        return None;
    };
    if api.is_empty() || stage.is_empty() {
        return None;
    }
    Some(format!("{prefix}:{api}/{stage}/*"))
}

/// Decides a `REQUEST` authorizer's answer for one request.
#[derive(Debug, Clone)]
pub struct Authorizer {
    rules: TokenRules,
    tenant_claim: String,
    usage_key_prefix: Option<String>,
}

impl Authorizer {
    /// An authorizer accepting `rules`' tokens, reading the tenant from
    /// `tenant_claim`.
    pub fn new(rules: TokenRules, tenant_claim: impl Into<String>) -> Self {
        Authorizer {
            rules,
            tenant_claim: tenant_claim.into(),
            usage_key_prefix: None,
        }
    }

    /// Answer each allowed request with its tenant's API key,
    /// `<prefix><tenant>`, as `usageIdentifierKey`: API Gateway then meters
    /// and throttles the request by the usage plan that key belongs to, the
    /// tenant's tier's. Each tenant has a key of its own (made at
    /// onboarding, deleted at offboarding), and a plan's throttle applies to
    /// each key in it, so one tenant's burst spends its own limit only. The
    /// key is not a secret: a client's own `x-api-key` header is ignored
    /// when the keys come from the authorizer.
    ///
    /// ```
    /// use tenant_access::authorizer::{Authorizer, TokenRules};
    ///
    /// let authorizer = Authorizer::new(TokenRules::new("https://issuer.example", ["c"]), "custom:tenant_id")
    ///     .with_usage_keys("tenant-access-tenant-usage-key-");
    /// assert_eq!(
    ///     authorizer.usage_key(&"acme".parse().unwrap()).as_deref(),
    ///     Some("tenant-access-tenant-usage-key-acme")
    /// );
    /// ```
    pub fn with_usage_keys(mut self, prefix: impl Into<String>) -> Self {
        self.usage_key_prefix = Some(prefix.into());
        self
    }

    /// `tenant`'s API key value, when usage keys are on.
    pub fn usage_key(&self, tenant: &TenantId) -> Option<String> {
        self.usage_key_prefix
            .as_ref()
            .map(|prefix| format!("{prefix}{}", tenant.as_str()))
    }

    /// The token rules.
    pub fn rules(&self) -> &TokenRules {
        &self.rules
    }

    /// The answer for `request` at `now`: `Err` when its token is refused
    /// (the function answers `Unauthorized`, API Gateway 401); an `Allow`
    /// for the whole stage, with the tenant in the context, when the token
    /// is good and names a tenant; a `Deny` (403) when it is good but names
    /// no valid tenant.
    pub fn answer(
        &self,
        request: &AuthorizerRequest,
        keys: &KeySet,
        now: SystemTime,
    ) -> Result<AuthorizerResponse, Refusal> {
        let token = request
            .authorization()
            .and_then(bearer)
            .ok_or(Refusal::Missing)?;
        let verified = self.rules.verify(token, keys, now)?;
        let principal = verified.claim("sub").unwrap_or("unknown").to_owned();
        let tenant = verified
            .claim(&self.tenant_claim)
            .and_then(|t| t.parse::<TenantId>().ok());
        let resource =
            stage_resource(&request.method_arn).unwrap_or_else(|| request.method_arn.clone());
        let mut context = Map::new();
        let mut usage_identifier_key = None;
        let effect = match tenant {
            Some(tenant) => {
                context.insert(TENANT_ID_KEY.into(), tenant.as_str().into());
                context.insert(self.tenant_claim.clone(), tenant.as_str().into());
                context.insert("sub".into(), principal.clone().into());
                usage_identifier_key = self.usage_key(&tenant);
                "Allow"
            }
            None => {
                tracing::info!("a verified token names no valid tenant");
                "Deny"
            }
        };
        Ok(AuthorizerResponse {
            principal_id: principal,
            policy_document: PolicyDocument {
                version: "2012-10-17",
                statement: vec![Statement {
                    action: "execute-api:Invoke",
                    effect,
                    resource,
                }],
            },
            context,
            usage_identifier_key,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
    use jsonwebtoken::{EncodingKey, Header};
    use serde_json::json;
    use std::time::Duration;

    /// A 2048-bit RSA key made for these tests (PKCS#1 DER); it signs
    /// nothing but the tokens below.
    const TEST_KEY_DER: &str = include_str!("../tests/data/authorizer-test-key.der.b64");
    /// Its modulus, base64url, as a JWKS carries it.
    const TEST_KEY_N: &str = include_str!("../tests/data/authorizer-test-key.n.b64");

    const ISSUER: &str = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Pool";
    const CLIENT: &str = "client-1";
    const ARN: &str = "arn:aws:execute-api:us-east-1:123456789012:a1b2/api/GET/files/x";

    fn now() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_800_000_000)
    }

    fn keys() -> KeySet {
        let jwks = json!({"keys": [{"kty": "RSA", "kid": "k1", "alg": "RS256", "use": "sig",
            "n": TEST_KEY_N.trim(), "e": "AQAB"}]});
        KeySet::from_jwks(jwks.to_string().as_bytes()).unwrap()
    }

    fn sign_with(kid: &str, claims: &Value) -> String {
        let der = STANDARD.decode(TEST_KEY_DER.trim()).unwrap();
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(kid.into());
        jsonwebtoken::encode(&header, claims, &EncodingKey::from_rsa_der(&der)).unwrap()
    }

    fn claims() -> Value {
        json!({"iss": ISSUER, "aud": CLIENT, "token_use": "id", "sub": "user-1",
            "custom:tenant_id": "tenant1", "exp": 1_800_000_600, "iat": 1_799_999_000})
    }

    fn with(change: impl FnOnce(&mut Map<String, Value>)) -> String {
        let mut c = claims();
        change(c.as_object_mut().unwrap());
        sign_with("k1", &c)
    }

    fn request(token: &str) -> AuthorizerRequest {
        serde_json::from_value(json!({"type": "REQUEST", "methodArn": ARN,
            "headers": {"authorization": format!("Bearer {token}")}}))
        .unwrap()
    }

    fn authorizer() -> Authorizer {
        Authorizer::new(TokenRules::new(ISSUER, [CLIENT]), "custom:tenant_id")
    }

    fn answer(token: &str) -> Result<AuthorizerResponse, Refusal> {
        authorizer().answer(&request(token), &keys(), now())
    }

    #[test]
    fn a_good_token_allows_the_stage_with_the_tenant_in_the_context() {
        let answer = answer(&sign_with("k1", &claims())).unwrap();
        assert_eq!(answer.principal_id, "user-1");
        let statement = &answer.policy_document.statement[0];
        assert_eq!(statement.effect, "Allow");
        assert_eq!(
            statement.resource,
            "arn:aws:execute-api:us-east-1:123456789012:a1b2/api/*"
        );
        assert_eq!(answer.context[TENANT_ID_KEY], "tenant1");
        assert_eq!(answer.context["custom:tenant_id"], "tenant1");
        // The wire shape API Gateway reads.
        let wire = serde_json::to_value(&answer).unwrap();
        assert_eq!(
            wire["policyDocument"]["Statement"][0]["Action"],
            "execute-api:Invoke"
        );
        assert_eq!(wire["principalId"], "user-1");
    }

    #[test]
    fn an_access_token_is_for_its_client_id() {
        let access = with(|c| {
            c.insert("token_use".into(), "access".into());
            c.remove("aud");
            c.insert("client_id".into(), CLIENT.into());
        });
        assert!(answer(&access).is_ok());
        let other = with(|c| {
            c.insert("token_use".into(), "access".into());
            c.insert("client_id".into(), "other".into());
        });
        assert_eq!(answer(&other).unwrap_err(), Refusal::Audience);
    }

    #[test]
    fn every_forgery_is_refused() {
        let good = sign_with("k1", &claims());
        // Another tenant's claim with the signature kept.
        let (head, rest) = good.split_once('.').unwrap();
        let signature = rest.split_once('.').unwrap().1;
        let mut forged = claims();
        forged["custom:tenant_id"] = "tenant2".into();
        let payload = URL_SAFE_NO_PAD.encode(forged.to_string());
        assert!(matches!(
            answer(&format!("{head}.{payload}.{signature}")),
            Err(Refusal::Invalid(_))
        ));
        // Unsigned (`alg: none`), and HMAC with the public key as secret.
        let none = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","kid":"k1"}"#);
        assert!(matches!(
            answer(&format!("{none}.{payload}.")),
            Err(Refusal::Malformed(_) | Refusal::Algorithm(_))
        ));
        let mut hs = Header::new(Algorithm::HS256);
        hs.kid = Some("k1".into());
        let hmac = jsonwebtoken::encode(
            &hs,
            &claims(),
            &EncodingKey::from_secret(TEST_KEY_N.as_bytes()),
        )
        .unwrap();
        assert_eq!(
            answer(&hmac).unwrap_err(),
            Refusal::Algorithm("HS256".into())
        );
        assert_eq!(
            answer(&sign_with("k9", &claims())).unwrap_err(),
            Refusal::UnknownKey("k9".into())
        );
        assert!(matches!(answer("not a token"), Err(Refusal::Malformed(_))));
    }

    #[test]
    fn the_issuer_audience_use_and_time_window_are_checked() {
        let other_issuer = with(|c| {
            c.insert(
                "iss".into(),
                "https://cognito-idp.us-east-1.amazonaws.com/other".into(),
            );
        });
        assert!(matches!(answer(&other_issuer), Err(Refusal::Invalid(_))));
        let other_client = with(|c| {
            c.insert("aud".into(), "other".into());
        });
        assert_eq!(answer(&other_client).unwrap_err(), Refusal::Audience);
        let no_use = with(|c| {
            c.remove("token_use");
        });
        assert_eq!(answer(&no_use).unwrap_err(), Refusal::TokenUse(None));
        let expired = with(|c| {
            c.insert("exp".into(), 1_800_000_000.into());
        });
        assert_eq!(answer(&expired).unwrap_err(), Refusal::Expired);
        let early = with(|c| {
            c.insert("nbf".into(), 1_800_000_001.into());
        });
        assert_eq!(answer(&early).unwrap_err(), Refusal::NotYetValid);
        let no_exp = with(|c| {
            c.remove("exp");
        });
        assert!(matches!(answer(&no_exp), Err(Refusal::Invalid(_))));
    }

    #[test]
    fn a_good_token_without_a_valid_tenant_is_denied() {
        for change in [
            Box::new(|c: &mut Map<String, Value>| {
                c.remove("custom:tenant_id");
            }) as Box<dyn FnOnce(&mut Map<String, Value>)>,
            Box::new(|c| {
                c.insert("custom:tenant_id".into(), "../tenant2".into());
            }),
            Box::new(|c| {
                c.insert("custom:tenant_id".into(), 7.into());
            }),
        ] {
            let answer = answer(&with(change)).unwrap();
            assert_eq!(answer.policy_document.statement[0].effect, "Deny");
            assert!(answer.context.is_empty());
        }
    }

    #[test]
    fn no_token_is_refused_whatever_the_header_case() {
        let mut request = request("x");
        request.headers.clear();
        assert_eq!(
            authorizer().answer(&request, &keys(), now()).unwrap_err(),
            Refusal::Missing
        );
        let token = sign_with("k1", &claims());
        request.headers.insert("AUTHORIZATION".into(), token);
        assert!(authorizer().answer(&request, &keys(), now()).is_ok());
        let null_headers: AuthorizerRequest =
            serde_json::from_value(json!({"methodArn": ARN, "headers": null})).unwrap();
        assert!(null_headers.headers.is_empty());
    }
}
