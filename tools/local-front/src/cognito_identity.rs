//! The local identity pool: what Cognito does for `GetId` and
//! `GetCredentialsForIdentity`, which moto answers with fixed fake
//! credentials whatever the token.
//!
//! For a pool the registry holds (its provider, app clients, authenticated
//! role and attributes for access control), the front:
//! - verifies the `Logins` token with the one JWT verifier ([`crate::jwt`]):
//!   an RS256 signature by the user pool's JWKS, `iss` equal to the pool's
//!   provider, `token_use` `id`, `aud` one of the pool's app clients, `exp`;
//! - maps claims to principal tags by the pool's mapping, refusing a claim
//!   value STS would refuse as a tag value (then no credentials are issued,
//!   as on AWS);
//! - obtains real credentials of the authenticated role from moto (signed
//!   `AssumeRole` as the local stand-in for the Cognito service), and
//!   records the session with its tags, so S3, DynamoDB and the database
//!   token verifier decide its requests with the one evaluator.
//!
//! Refusals are answered as Cognito answers them: `NotAuthorizedException`
//! for a token it does not accept, `ResourceNotFoundException` for an
//! unknown pool or identity, `InvalidParameterException` for bad input.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value, json};

use crate::faults::{Service, json_error};
use crate::iam::{Enforcer, SessionRecord};
use crate::jwt::{Authorizer, JwtVerifier};
use crate::server::{Answer, service_answer};

/// The identities the local pools have issued, and one verifier per pool.
#[derive(Debug, Default)]
pub struct Identities {
    verifiers: Mutex<HashMap<String, Arc<JwtVerifier>>>,
    /// Identity id to (pool id, `sub`).
    ids: Mutex<HashMap<String, (String, String)>>,
    /// `GetCredentialsForIdentity` calls answered with credentials.
    issued: AtomicU64,
    /// Seconds added to the clock tokens are checked with.
    skew: std::sync::atomic::AtomicI64,
}

impl Identities {
    /// Check tokens as if the clock were `seconds` ahead.
    pub fn skew_clock(&self, seconds: i64) {
        self.skew.store(seconds, Ordering::Relaxed);
        for verifier in self
            .verifiers
            .lock()
            .expect("verifiers lock poisoned")
            .values()
        {
            verifier.skew_clock(seconds);
        }
    }

    /// How many credentials the local pools have issued.
    pub fn issued(&self) -> u64 {
        self.issued.load(Ordering::Relaxed)
    }
}

/// A Cognito error answer.
fn refuse(code: &str, message: &str) -> Answer {
    service_answer(
        400,
        json_error(code, message),
        Some(Service::CognitoIdentity),
    )
}

fn ok(body: Value) -> Answer {
    service_answer(200, body.to_string(), Some(Service::CognitoIdentity))
}

/// Whether STS accepts `value` as a session tag value: at most 256
/// characters of letters, spaces, digits and `_.:/=+-@`.
///
/// ```
/// use local_front::cognito_identity::valid_tag_value;
/// assert!(valid_tag_value("tenant1"));
/// assert!(!valid_tag_value("*"));
/// assert!(!valid_tag_value(&"a".repeat(257)));
/// ```
pub fn valid_tag_value(value: &str) -> bool {
    value.chars().count() <= 256
        && value.chars().all(|c| {
            c.is_alphabetic()
                || (c.is_whitespace() && !c.is_control())
                || c.is_numeric()
                || "_.:/=+-@".contains(c)
        })
}

/// A stable identity id for a user of a pool: `<region>:<uuid-shaped hex>`.
fn identity_id(pool_id: &str, sub: &str) -> String {
    let region = pool_id.split(':').next().unwrap_or("us-east-1");
    // FNV-1a, twice with different seeds: an identifier, not a secret.
    let hash = |seed: u64| {
        format!("{pool_id}/{sub}").bytes().fold(seed, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
        })
    };
    let (a, b) = (hash(0xcbf2_9ce4_8422_2325), hash(0x8422_2325_cbf2_9ce4));
    format!(
        "{region}:{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xffff,
        b >> 48,
        b & 0xffff_ffff_ffff
    )
}

/// Serve one identity-pool call (`X-Amz-Target` `target`, JSON `body`).
/// What the identity pool uses of the front: its session records and
/// registry, the pool's own state, and moto.
pub(crate) struct Front<'a> {
    pub(crate) enforcer: &'a Enforcer,
    pub(crate) identity: &'a Identities,
    pub(crate) upstream: std::net::SocketAddr,
}

pub(crate) async fn serve(shared: &Front<'_>, target: &str, body: &[u8]) -> Answer {
    let Ok(Value::Object(input)) = serde_json::from_slice::<Value>(body) else {
        return refuse("InvalidParameterException", "the body is not a JSON object");
    };
    match target.trim_start_matches("AWSCognitoIdentityService.") {
        "GetId" => get_id(shared, &input).await,
        "GetCredentialsForIdentity" => credentials(shared, &input).await,
        other => refuse(
            "InvalidParameterException",
            &format!("{other} is not served by the local identity pool"),
        ),
    }
}

/// The pool's verified claims of the one token in `Logins`.
async fn verified(
    shared: &Front<'_>,
    pool_id: &str,
    input: &Map<String, Value>,
) -> Result<(local_iam::IdentityPool, Map<String, Value>), Answer> {
    let pool = shared
        .enforcer
        .registry()
        .identity_pool(pool_id)
        .ok_or_else(|| refuse("ResourceNotFoundException", "IdentityPool not found"))?;
    let token = input
        .get("Logins")
        .and_then(|logins| logins.get(&pool.provider))
        .and_then(Value::as_str)
        .ok_or_else(|| {
            refuse(
                "NotAuthorizedException",
                "Unauthenticated access is not supported for this identity pool.",
            )
        })?;
    let verifier = {
        let mut verifiers = shared
            .identity
            .verifiers
            .lock()
            .expect("verifiers lock poisoned");
        verifiers
            .entry(pool_id.to_owned())
            .or_insert_with(|| {
                let verifier = JwtVerifier::new(Authorizer {
                    issuer: format!("https://{}", pool.provider),
                    audience: pool.client_ids.clone(),
                    jwks_url: pool.jwks_url.clone(),
                });
                verifier.skew_clock(shared.identity.skew.load(Ordering::Relaxed));
                Arc::new(verifier)
            })
            .clone()
    };
    let invalid = || refuse("NotAuthorizedException", "Invalid login token.");
    let claims = verifier.authorize(Some(token)).await.map_err(|why| {
        eprintln!("local-front: identity pool refused a token: {}", why.0);
        invalid()
    })?;
    if claims.get("token_use").and_then(Value::as_str) != Some("id") {
        eprintln!("local-front: identity pool refused a token: not an ID token");
        return Err(invalid());
    }
    Ok((pool, claims))
}

async fn get_id(shared: &Front<'_>, input: &Map<String, Value>) -> Answer {
    let Some(pool_id) = input.get("IdentityPoolId").and_then(Value::as_str) else {
        return refuse("InvalidParameterException", "IdentityPoolId is required");
    };
    let claims = match verified(shared, pool_id, input).await {
        Ok((_, claims)) => claims,
        Err(answer) => return answer,
    };
    let Some(sub) = claims.get("sub").and_then(Value::as_str) else {
        return refuse("NotAuthorizedException", "Invalid login token.");
    };
    let id = identity_id(pool_id, sub);
    shared
        .identity
        .ids
        .lock()
        .expect("ids lock poisoned")
        .insert(id.clone(), (pool_id.to_owned(), sub.to_owned()));
    ok(json!({ "IdentityId": id }))
}

async fn credentials(shared: &Front<'_>, input: &Map<String, Value>) -> Answer {
    let Some(identity_id) = input.get("IdentityId").and_then(Value::as_str) else {
        return refuse("InvalidParameterException", "IdentityId is required");
    };
    let known = shared
        .identity
        .ids
        .lock()
        .expect("ids lock poisoned")
        .get(identity_id)
        .cloned();
    let Some((pool_id, sub)) = known else {
        return refuse("ResourceNotFoundException", "Identity not found");
    };
    let (pool, claims) = match verified(shared, &pool_id, input).await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    if claims.get("sub").and_then(Value::as_str) != Some(sub.as_str()) {
        return refuse("NotAuthorizedException", "Invalid login token.");
    }
    // Attributes for access control: principal tag <- claim.
    let mut tags = BTreeMap::new();
    for (tag, claim) in &pool.principal_tags {
        let Some(value) = claims.get(claim).and_then(Value::as_str) else {
            continue;
        };
        if !valid_tag_value(value) {
            eprintln!("local-front: identity pool: claim {claim} is not a valid tag value");
            return refuse(
                "InvalidParameterException",
                "a mapped claim is not a valid session tag value",
            );
        }
        tags.insert(tag.clone(), value.to_owned());
    }
    // The role's trust policy, as STS decides AssumeRoleWithWebIdentity:
    // the pool's federation, its `aud` and the `amr` of an authenticated
    // identity of this provider.
    if let Some(trust) = shared
        .enforcer
        .registry()
        .role(&pool.role_arn)
        .and_then(|role| role.trust)
    {
        let amr = vec![
            "authenticated".to_owned(),
            pool.provider.clone(),
            format!("{}:CognitoSignIn:{sub}", pool.provider),
        ];
        let verdict = local_iam::trust_decision(
            &trust,
            &pool.role_arn,
            local_iam::Caller::Federated("cognito-identity.amazonaws.com"),
            &["sts:AssumeRoleWithWebIdentity", "sts:TagSession"],
            &[("cognito-identity.amazonaws.com:aud", pool_id.as_str())],
            &[("cognito-identity.amazonaws.com:amr", amr.as_slice())],
        );
        if verdict != local_iam::Verdict::Allow {
            eprintln!("local-front: identity pool: the role's trust policy refuses this pool");
            return refuse(
                "InvalidIdentityPoolConfigurationException",
                "Invalid identity pool configuration. Check assigned IAM roles for this pool.",
            );
        }
    }
    let assumed = match assume(shared, &pool, &sub).await {
        Ok(assumed) => assumed,
        Err(why) => {
            eprintln!("local-front: identity pool: obtaining the role's credentials: {why}");
            return service_answer(
                500,
                json_error("InternalErrorException", "could not obtain credentials"),
                Some(Service::CognitoIdentity),
            );
        }
    };
    let record = SessionRecord {
        policy: None,
        tags,
        role_arn: pool.role_arn.clone(),
        ..assumed
    };
    let expiration = record.expiration;
    let answer = json!({
        "IdentityId": identity_id,
        "Credentials": {
            "AccessKeyId": record.access_key_id,
            "SecretKey": record.secret_access_key,
            "SessionToken": record.session_token,
            "Expiration": expiration,
        }
    });
    shared.enforcer.remember(record);
    shared.identity.issued.fetch_add(1, Ordering::Relaxed);
    ok(answer)
}

/// Credentials of the pool's authenticated role from moto: `AssumeRole`
/// signed by the stand-in for the Cognito service, at most an hour by the
/// pool's clock, as Cognito's.
async fn assume(
    shared: &Front<'_>,
    pool: &local_iam::IdentityPool,
    sub: &str,
) -> Result<SessionRecord, String> {
    use aws_credential_types::Credentials;
    let config = aws_sdk_sts::Config::builder()
        .behavior_version(aws_sdk_sts::config::BehaviorVersion::latest())
        .region(aws_sdk_sts::config::Region::new("us-east-1"))
        .endpoint_url(format!("http://{}", shared.upstream))
        .http_client(
            aws_smithy_http_client::Builder::new()
                .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
                    aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
                ))
                .build_https(),
        )
        .credentials_provider(Credentials::new(
            &pool.service_access_key_id,
            &pool.service_secret_access_key,
            None,
            None,
            "local-identity-pool",
        ))
        .build();
    let name: String = sub
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || "_+=,.@-".contains(*c))
        .take(64)
        .collect();
    let output = aws_sdk_sts::Client::from_conf(config)
        .assume_role()
        .role_arn(&pool.role_arn)
        .role_session_name(if name.len() >= 2 {
            name
        } else {
            "cognito".into()
        })
        .duration_seconds(3600)
        .send()
        .await
        .map_err(|e| aws_sdk_sts::error::DisplayErrorContext(e).to_string())?;
    let creds = output.credentials().ok_or("no credentials")?;
    // At most an hour by the pool's own clock, which a test may move ahead
    // (`skew_clock`): what it issues then looks as fresh to a function
    // whose clock was moved the same way.
    let now = SystemTime::now();
    let left = SystemTime::try_from(*creds.expiration())
        .ok()
        .and_then(|at| at.duration_since(now).ok())
        .unwrap_or(Duration::ZERO)
        .min(Duration::from_secs(3600));
    let skew = shared.identity.skew.load(Ordering::Relaxed);
    let pool_now = if skew >= 0 {
        now + Duration::from_secs(skew.unsigned_abs())
    } else {
        now - Duration::from_secs(skew.unsigned_abs())
    };
    let expiration = pool_now + left;
    Ok(SessionRecord {
        access_key_id: creds.access_key_id().to_owned(),
        secret_access_key: creds.secret_access_key().to_owned(),
        session_token: creds.session_token().to_owned(),
        arn: output
            .assumed_role_user()
            .map(|u| u.arn().to_owned())
            .unwrap_or_default(),
        role_arn: pool.role_arn.clone(),
        policy: None,
        tags: BTreeMap::new(),
        expiration: expiration
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_ids_are_stable_per_user_and_shaped_like_cognito_s() {
        let a = identity_id("us-east-1:pool", "user-a");
        assert_eq!(a, identity_id("us-east-1:pool", "user-a"));
        assert_ne!(a, identity_id("us-east-1:pool", "user-b"));
        assert!(a.starts_with("us-east-1:"));
        assert_eq!(a.len(), "us-east-1:".len() + 36);
    }

    #[test]
    fn tag_values_follow_sts_rules() {
        for good in ["tenant1", "a b", "x@y.z", "ü", "a:b/c=d+e-f_g"] {
            assert!(valid_tag_value(good), "{good}");
        }
        for bad in ["*", "a?", "a\nb", "{x}", "$"] {
            assert!(!valid_tag_value(bad), "{bad}");
        }
    }
}
