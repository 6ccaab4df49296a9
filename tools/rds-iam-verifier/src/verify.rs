//! The checks RDS makes before it lets an IAM-authenticated login in.

use std::time::{Duration, SystemTime};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use aws_sdk_rds::auth_token::{AuthTokenGenerator, Config as TokenConfig};
use aws_smithy_async::time::StaticTimeSource;

use crate::Refusal;
use crate::token::Token;

/// What a valid token must be signed for.
#[derive(Debug, Clone)]
pub struct Expected {
    /// Host name clients reach the server at.
    pub host: String,
    /// Ports clients reach the server at: the server's own, and the local
    /// front's before it (as RDS Proxy has an endpoint of its own).
    pub ports: Vec<u16>,
    /// Region of the (emulated) cluster.
    pub region: String,
    /// Account owning the cluster.
    pub account: String,
    /// The cluster's resource id, as in `rds-db:connect` ARNs.
    pub cluster_resource_id: String,
}

/// Longest validity RDS accepts for a token.
pub const MAX_EXPIRES: Duration = Duration::from_secs(900);
/// How far in the future a signing time may lie (clock skew).
pub const MAX_SKEW: Duration = Duration::from_secs(300);

/// The signing principal behind an access key.
#[derive(Debug, Clone)]
pub struct Principal {
    /// Its ARN, for the log.
    pub arn: String,
    /// The secret access key.
    pub secret_access_key: String,
    /// The session token, for temporary credentials.
    pub session_token: Option<String>,
    /// What IAM evaluates for it: identity policies (a role's as
    /// deployed), the session policy and the principal tags.
    pub access: local_iam::Session,
    /// When temporary credentials expire, if known.
    pub expires_at: Option<SystemTime>,
}

/// Where access keys are looked up.
pub trait CredentialStore {
    /// The principal owning `access_key_id`, if the key exists.
    fn principal(&self, access_key_id: &str) -> Result<Option<Principal>, String>;
}

/// Verify `raw` as the password of `login_user` at time `now`; returns the
/// signing principal's ARN on success.
pub fn verify(
    raw: &str,
    login_user: &str,
    expected: &Expected,
    store: &dyn CredentialStore,
    now: SystemTime,
) -> Result<String, Refusal> {
    let token = Token::parse(raw)?;
    if token.param("DBUser") != Some(login_user) {
        return Err(Refusal::WrongUser);
    }
    if token.host != expected.host || !expected.ports.contains(&token.port) {
        return Err(Refusal::WrongEndpoint {
            host: token.host.clone(),
            port: token.port,
        });
    }
    if token.region != expected.region || token.service != "rds-db" {
        return Err(Refusal::WrongScope {
            region: token.region.clone(),
            service: token.service.clone(),
        });
    }
    if token.expires_in > MAX_EXPIRES {
        return Err(Refusal::Malformed(
            "X-Amz-Expires exceeds 900 seconds".into(),
        ));
    }
    if token.signed_at > now + MAX_SKEW {
        return Err(Refusal::Malformed("signed in the future".into()));
    }
    if now > token.signed_at + token.expires_in {
        return Err(Refusal::Expired);
    }
    let principal = store
        .principal(&token.access_key_id)
        .map_err(Refusal::Store)?
        .ok_or_else(|| Refusal::UnknownKey(token.access_key_id.clone()))?;
    if principal.expires_at.is_some_and(|at| now >= at) {
        return Err(Refusal::CredentialsExpired);
    }
    if token.param("X-Amz-Security-Token") != principal.session_token.as_deref() {
        return Err(Refusal::SessionTokenMismatch);
    }
    let expected_token = resign(&token, login_user, &principal)?;
    let expected_token = Token::parse(&expected_token)
        .map_err(|_| Refusal::Malformed("re-signing failed".into()))?;
    let presented = token.param("X-Amz-Signature").unwrap_or_default();
    let recomputed = expected_token.param("X-Amz-Signature").unwrap_or_default();
    if !constant_time_eq(presented.as_bytes(), recomputed.as_bytes())
        || expected_token.params != token.params
    {
        return Err(Refusal::BadSignature);
    }
    let resource = format!(
        "arn:aws:rds-db:{}:{}:dbuser:{}/{}",
        expected.region, expected.account, expected.cluster_resource_id, login_user
    );
    match principal.access.decide("rds-db:connect", &resource, &[]) {
        local_iam::Verdict::Allow => Ok(principal.arn),
        verdict => Err(Refusal::NotAuthorized {
            principal: principal.arn,
            resource,
            verdict,
        }),
    }
}

/// The token the principal would have produced: aws-sdk-rds's own signer,
/// fed the presented token's host, port, user, region, time and expiry.
fn resign(token: &Token, login_user: &str, principal: &Principal) -> Result<String, Refusal> {
    let fail = |e: String| Refusal::Malformed(format!("cannot re-sign: {e}"));
    let creds = Credentials::new(
        &token.access_key_id,
        &principal.secret_access_key,
        principal.session_token.clone(),
        None,
        "verifier",
    );
    let sdk = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(token.region.clone()))
        .time_source(StaticTimeSource::new(token.signed_at))
        .build();
    let config = TokenConfig::builder()
        .hostname(&token.host)
        .port(u64::from(token.port))
        .username(login_user)
        .credentials(creds)
        .expires_in(token.expires_in.as_secs())
        .build()
        .map_err(|e| fail(e.to_string()))?;
    runtime()
        .block_on(AuthTokenGenerator::new(config).auth_token(&sdk))
        .map(|t| t.as_str().to_owned())
        .map_err(|e| fail(e.to_string()))
}

/// One runtime for the process: the signer's future is ready at once (static
/// credentials), so it only needs something to drive it.
fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .build()
            .expect("a tokio runtime")
    })
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOTOCORE: &str =
        include_str!("../../../shared/tenant-access/tests/fixtures/botocore-auth-token.txt");
    const USER: &str = "tenant1_dbuser";

    struct Fixed(Option<Principal>);
    impl CredentialStore for Fixed {
        fn principal(&self, _: &str) -> Result<Option<Principal>, String> {
            Ok(self.0.clone())
        }
    }

    fn expected() -> Expected {
        Expected {
            host: "tenants.cluster-abc123example.us-west-2.rds.amazonaws.com".into(),
            ports: vec![5432],
            region: "us-west-2".into(),
            account: "111122223333".into(),
            cluster_resource_id: "cluster-X".into(),
        }
    }

    fn principal(resource_user: &str) -> Principal {
        Principal {
            arn: "arn:aws:sts::111122223333:assumed-role/assumeRole-tenant1/s".into(),
            secret_access_key: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".into(),
            session_token: Some("IQoJb3JpZ2luX2VjEXAMPLE+/token=".into()),
            access: local_iam::Session {
                policies: vec![serde_json::json!({"Version": "2012-10-17", "Statement": [{
                    "Effect": "Allow", "Action": "rds-db:connect",
                    "Resource": "arn:aws:rds-db:us-west-2:111122223333:dbuser:cluster-X/${aws:PrincipalTag/dbuser}"}]})],
                session_policy: None,
                boundary: None,
                tags: [("dbuser".to_owned(), resource_user.to_owned())].into(),
                userid: None,
            },
            expires_at: None,
        }
    }

    fn at(secs_after_signing: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_323_045 + secs_after_signing)
    }

    #[test]
    fn botocores_token_verifies_and_every_tamper_is_refused() {
        let store = Fixed(Some(principal(USER)));
        let token = BOTOCORE.trim();
        assert!(verify(token, USER, &expected(), &store, at(10)).is_ok());

        assert!(matches!(
            verify(token, "tenant2_dbuser", &expected(), &store, at(10)),
            Err(Refusal::WrongUser)
        ));
        assert!(matches!(
            verify(token, USER, &expected(), &store, at(901)),
            Err(Refusal::Expired)
        ));
        let mut flipped = token.to_owned();
        let last = flipped.pop().unwrap();
        flipped.push(if last == '0' { '1' } else { '0' });
        assert!(matches!(
            verify(&flipped, USER, &expected(), &store, at(10)),
            Err(Refusal::BadSignature)
        ));
        let other_port = Expected {
            ports: vec![5433],
            ..expected()
        };
        assert!(matches!(
            verify(token, USER, &other_port, &store, at(10)),
            Err(Refusal::WrongEndpoint { .. })
        ));
        let mut wrong_secret = principal(USER);
        wrong_secret.secret_access_key.push('x');
        assert!(matches!(
            verify(token, USER, &expected(), &Fixed(Some(wrong_secret)), at(10)),
            Err(Refusal::BadSignature)
        ));
        let mut other_session = principal(USER);
        other_session.session_token = Some("other".into());
        assert!(matches!(
            verify(
                token,
                USER,
                &expected(),
                &Fixed(Some(other_session)),
                at(10)
            ),
            Err(Refusal::SessionTokenMismatch)
        ));
        assert!(matches!(
            verify(token, USER, &expected(), &Fixed(None), at(10)),
            Err(Refusal::UnknownKey(_))
        ));
        let store2 = Fixed(Some(principal("tenant2_dbuser")));
        assert!(matches!(
            verify(token, USER, &expected(), &store2, at(10)),
            Err(Refusal::NotAuthorized { .. })
        ));
        // An s3-fetch session: its function policy names no database.
        let mut scoped = principal(USER);
        scoped.access.session_policy =
            Some(serde_json::json!({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}));
        assert!(matches!(
            verify(token, USER, &expected(), &Fixed(Some(scoped)), at(10)),
            Err(Refusal::NotAuthorized {
                verdict: local_iam::Verdict::NotAllowedBySession,
                ..
            })
        ));
        // Credentials past their expiration, though the token is fresh.
        let mut expired = principal(USER);
        expired.expires_at = Some(at(5));
        assert!(matches!(
            verify(token, USER, &expected(), &Fixed(Some(expired)), at(10)),
            Err(Refusal::CredentialsExpired)
        ));
        assert!(matches!(
            verify("plain-password", USER, &expected(), &store, at(10)),
            Err(Refusal::Malformed(_))
        ));
    }
}
