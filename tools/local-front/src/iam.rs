//! IAM enforcement before moto: what moto cannot do.
//!
//! moto verifies SigV4 signatures and evaluates role policies with literal
//! resources, but ignores session policies, session tags, conditions and
//! the sessions' expiration. The front records every `AssumeRole` (the
//! request's role, session policy and tags; the answer's access key and
//! expiration) and, for each S3 request signed by such a session, decides
//! as IAM would with the one local evaluator ([`local_iam`]) over the
//! role's policies *as deployed* (from the seed's registry): an expired
//! session gets `ExpiredToken`, a request the policies (role ∩ session
//! policy, with principal tags and `s3:prefix`) do not allow gets
//! `AccessDenied`, both exactly as S3 answers them. Everything else passes
//! to moto unchanged, and moto still checks the signature.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::SystemTime;

use local_iam::{RegistryFile, Verdict, unix};

use crate::request::Form;

pub use local_iam::SessionRecord;

/// The text of the first `<tag>...</tag>` in `xml`.
pub(crate) fn element<'a>(xml: &'a str, tag: &str) -> Option<&'a str> {
    let start = xml.find(&format!("<{tag}>"))? + tag.len() + 2;
    let end = xml[start..].find(&format!("</{tag}>"))? + start;
    Some(&xml[start..end])
}

/// The record of one `AssumeRole`: its form-encoded request and the XML of
/// its successful answer.
pub fn record(request: &Form, answer: &str) -> Option<SessionRecord> {
    use aws_smithy_types::date_time::{DateTime, Format};
    let expiration = DateTime::from_str(element(answer, "Expiration")?, Format::DateTime).ok()?;
    let tags: BTreeMap<String, String> = crate::sts::session_tags(request).into_iter().collect();
    Some(SessionRecord {
        access_key_id: element(answer, "AccessKeyId")?.to_owned(),
        secret_access_key: element(answer, "SecretAccessKey")?.to_owned(),
        session_token: element(answer, "SessionToken")?.to_owned(),
        arn: element(element(answer, "AssumedRoleUser")?, "Arn")?.to_owned(),
        role_arn: request.get("RoleArn")?.clone(),
        policy: request.get("Policy").cloned(),
        tags,
        expiration: u64::try_from(expiration.secs()).ok()?,
    })
}

/// Why the front answers instead of moto.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The session's credentials have expired.
    Expired,
    /// IAM would not allow it.
    Denied(Verdict),
    /// S3 would not allow it, with the message S3 gives: the principal,
    /// the action, the resource and the kind of policy that decided
    /// ([`s3_denial`]).
    S3Denied(String),
    /// KMS would not let S3 use the object's key.
    Kms(crate::kms::KmsRefusal),
    /// An injected KMS fault (a rule for `kms`), answered as S3 passes it on.
    KmsFault(crate::faults::HttpFault),
    /// The service's own refusal of a malformed call: (status, code,
    /// message).
    Invalid(u16, &'static str, String),
}

/// The sessions seen and the deployed roles: decides S3 requests.
#[derive(Debug, Default)]
pub struct Enforcer {
    sessions: Mutex<HashMap<String, SessionRecord>>,
    registry: RegistryFile,
}

impl Enforcer {
    /// Enforce with the deployed roles in the registry file at `path`
    /// (re-read when a session's role is not in it yet: tenants are added
    /// while the front runs); without one, sessions are only recorded.
    pub fn new(registry_path: Option<PathBuf>) -> Self {
        Enforcer {
            sessions: Mutex::default(),
            registry: RegistryFile::new(registry_path),
        }
    }

    /// Remember a session.
    pub fn remember(&self, record: SessionRecord) {
        self.sessions
            .lock()
            .expect("sessions lock poisoned")
            .insert(record.access_key_id.clone(), record);
    }

    /// The session of `access_key_id`, if the front saw it made.
    pub fn session(&self, access_key_id: &str) -> Option<SessionRecord> {
        self.sessions
            .lock()
            .expect("sessions lock poisoned")
            .get(access_key_id)
            .cloned()
    }

    /// Expire every session seen so far (as if their time had run out);
    /// returns how many. Sessions made afterwards are unaffected.
    pub fn expire_all(&self, now: SystemTime) -> usize {
        let mut sessions = self.sessions.lock().expect("sessions lock poisoned");
        for record in sessions.values_mut() {
            record.expiration = record.expiration.min(unix(now));
        }
        sessions.len()
    }

    /// Expire the session of `access_key_id`; whether the front knew it.
    pub fn expire(&self, access_key_id: &str, now: SystemTime) -> bool {
        let mut sessions = self.sessions.lock().expect("sessions lock poisoned");
        match sessions.get_mut(access_key_id) {
            Some(record) => {
                record.expiration = record.expiration.min(unix(now));
                true
            }
            None => false,
        }
    }

    /// Decide an S3 operation ([`crate::s3`]) signed by `access_key_id`
    /// at `now`: `None` passes it to moto (not a recorded session, or a
    /// front without a registry, which moto then decides). A recorded
    /// session whose role the registry no longer holds (an offboarded
    /// tenant's) may do nothing, as a deleted role's sessions on AWS.
    /// Every check of the operation must allow (a copy's read of its
    /// source, each key of a batch delete).
    ///
    /// The bucket's policy as deployed takes part (its `Deny` statements
    /// win), with `s3:x-amz-server-side-encryption` from the request's
    /// `sse` header, so a write without SSE-KMS is refused as the bucket
    /// policy refuses it. The front stands for S3's TLS endpoint, so
    /// `aws:SecureTransport` is true.
    pub fn check_s3(
        &self,
        access_key_id: &str,
        op: &crate::s3::S3Operation,
        path: &str,
        sse: Option<&str>,
        now: SystemTime,
    ) -> Option<Refusal> {
        let record = self.session(access_key_id)?;
        if record.expired_at(now) {
            return Some(Refusal::Expired);
        }
        let Some(mut session) = record.session(&self.registry) else {
            return self
                .registry
                .is_configured()
                .then_some(Refusal::Denied(Verdict::NotAllowedByIdentity));
        };
        let bucket = path
            .trim_start_matches('/')
            .split('/')
            .next()
            .unwrap_or_default();
        if let Some(policy) = self.registry.bucket_policy(bucket) {
            session.policies.push(policy);
        }
        for check in &op.checks {
            let mut context: Vec<(&str, &str)> = vec![("aws:SecureTransport", "true")];
            if let Some(prefix) = check.prefix.as_deref() {
                context.push(("s3:prefix", prefix));
            }
            if let Some(sse) = sse {
                context.push(("s3:x-amz-server-side-encryption", sse));
            }
            match session.decide(check.action, &check.resource, &context) {
                Verdict::Allow => {}
                verdict => {
                    // Which policy denies, decided alone: S3 names it.
                    let denies_alone = |policies: Vec<serde_json::Value>, session_policy| {
                        local_iam::Session {
                            policies,
                            session_policy,
                            ..session.clone()
                        }
                        .decide(check.action, &check.resource, &context)
                            == Verdict::ExplicitDeny
                    };
                    let denied_by = if verdict != Verdict::ExplicitDeny {
                        DeniedBy::Identity
                    } else if self
                        .registry
                        .bucket_policy(bucket)
                        .is_some_and(|policy| denies_alone(vec![policy], None))
                    {
                        DeniedBy::Resource
                    } else if session.session_policy.is_some()
                        && denies_alone(Vec::new(), session.session_policy.clone())
                    {
                        DeniedBy::Session
                    } else {
                        DeniedBy::Identity
                    };
                    return Some(Refusal::S3Denied(s3_denial(
                        &record.arn,
                        check.action,
                        &check.resource,
                        verdict,
                        denied_by,
                    )));
                }
            }
        }
        None
    }

    /// Decide a KMS API call (`operation`, JSON `body`) signed by
    /// `access_key_id` at `now`: the key named in a form the operation
    /// accepts (an alias only where AWS documents one), and for a recorded
    /// session, the action on that key by its policies as deployed, without
    /// `kms:ViaService` (so the tenant policies, which allow keys only
    /// through S3, allow no direct call). Other signers are left to moto.
    pub fn check_kms_api(
        &self,
        access_key_id: &str,
        operation: &str,
        body: &[u8],
        now: SystemTime,
    ) -> Option<Refusal> {
        let named = crate::kms::named_key(body);
        if let Some(key) = named.as_deref()
            && !crate::kms::accepts_identifier(operation, key)
        {
            return Some(Refusal::Invalid(
                400,
                "NotFoundException",
                format!("Invalid keyId {key}: {operation} takes a key id or key ARN, not an alias"),
            ));
        }
        let record = self.session(access_key_id)?;
        if record.expired_at(now) {
            return Some(Refusal::Expired);
        }
        let Some(session) = record.session(&self.registry) else {
            return Some(Refusal::Denied(Verdict::NotAllowedByIdentity));
        };
        crate::kms::decide_direct(&self.registry, &session, operation, named.as_deref())
            .err()
            .map(Refusal::Denied)
    }

    /// Whether this front authenticates requests: one with a registry
    /// (the stack's own) does; an in-process fault front before it passes
    /// them on for the stack's front to check.
    pub fn authenticates(&self) -> bool {
        self.registry.is_configured()
    }

    /// The ARN a trust policy knows the signer of `access_key_id` by: a
    /// session's role, or a long-term key's identity.
    pub fn caller_arn(&self, access_key_id: &str) -> Option<String> {
        if let Some(record) = self.session(access_key_id) {
            return Some(record.role_arn);
        }
        self.registry
            .user(access_key_id)
            .map(|user| user.arn)
            .filter(|arn| !arn.is_empty())
    }

    /// The secret of `access_key_id`: a session's the front recorded, or
    /// a long-term key's from the registry.
    pub fn secret(&self, access_key_id: &str) -> Option<crate::sigv4::Secret> {
        if let Some(record) = self.session(access_key_id) {
            return Some(crate::sigv4::Secret {
                secret_access_key: record.secret_access_key,
                session_token: Some(record.session_token),
            });
        }
        self.registry
            .user(access_key_id)
            .filter(|user| !user.secret_access_key.is_empty())
            .map(|user| crate::sigv4::Secret {
                secret_access_key: user.secret_access_key,
                session_token: None,
            })
    }
}

/// Which kind of policy holds an explicit deny.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeniedBy {
    /// The bucket policy.
    Resource,
    /// The session's inline policy.
    Session,
    /// The role's own policies.
    Identity,
}

/// S3's `AccessDenied` message for `principal` refused `action` on
/// `resource`, naming the kind of policy that decided, as S3 names it:
/// an explicit deny in a resource-based, session or identity-based policy
/// (`denied_by`), or no identity-based or session policy allowing it.
pub fn s3_denial(
    principal: &str,
    action: &str,
    resource: &str,
    verdict: Verdict,
    denied_by: DeniedBy,
) -> String {
    let why = match (verdict, denied_by) {
        (Verdict::ExplicitDeny, DeniedBy::Resource) => {
            "with an explicit deny in a resource-based policy".to_owned()
        }
        (Verdict::ExplicitDeny, DeniedBy::Session) => {
            "with an explicit deny in a session policy".to_owned()
        }
        (Verdict::ExplicitDeny, DeniedBy::Identity) => {
            "with an explicit deny in an identity-based policy".to_owned()
        }
        (Verdict::NotAllowedBySession, _) => {
            format!("because no session policy allows the {action} action")
        }
        (Verdict::NotAllowedByBoundary, _) => {
            format!("because no permissions boundary allows the {action} action")
        }
        (Verdict::NotAllowedByIdentity | Verdict::Allow, _) => {
            format!("because no identity-based policy allows the {action} action")
        }
    };
    format!(
        "User: {principal} is not authorized to perform: {action} on resource: \"{resource}\" {why}"
    )
}

impl Enforcer {
    /// Decide a DynamoDB request (`X-Amz-Target` `target`, JSON `body`)
    /// signed by `access_key_id` at `now`, with `dynamodb:LeadingKeys` from
    /// its keys ([`crate::dynamodb`]). `None` passes it to moto: not a
    /// recorded session.
    pub fn check_dynamodb(
        &self,
        access_key_id: &str,
        target: &str,
        body: &[u8],
        now: SystemTime,
    ) -> Option<Refusal> {
        let record = self.session(access_key_id)?;
        if record.expired_at(now) {
            return Some(Refusal::Expired);
        }
        let denied = Some(Refusal::Denied(Verdict::NotAllowedByIdentity));
        let Some(session) = record.session(&self.registry) else {
            // A front without a registry (a test's own, before the
            // stack's) leaves it to the next hop, as for S3. A session of
            // a role the registry does not hold: moto's copy of such a role
            // allows item calls on any table, so refuse.
            return self
                .registry
                .is_configured()
                .then_some(Refusal::Denied(Verdict::NotAllowedByIdentity));
        };
        let request = match crate::dynamodb::table_request(target, body, |table| {
            self.registry.table(table).map(|t| t.partition_key)
        }) {
            Ok(request) => request,
            Err(_) => return denied,
        };
        let Some(table) = self.registry.table(&request.table) else {
            return denied;
        };
        let lists: Vec<(&str, &[String])> = request
            .leading_keys
            .as_deref()
            .map(|keys| vec![("dynamodb:LeadingKeys", keys)])
            .unwrap_or_default();
        match session.decide_with(&request.action, &table.arn, &[], &lists) {
            Verdict::Allow => None,
            other => Some(Refusal::Denied(other)),
        }
    }

    /// Who signed with `access_key_id`, as IAM evaluates it: a recorded
    /// session (refused once expired), or a long-term identity of the
    /// registry (an execution role's stand-in, db-admin, the operator);
    /// `None` when neither.
    fn principal(
        &self,
        access_key_id: &str,
        now: SystemTime,
    ) -> Result<Option<local_iam::Session>, Refusal> {
        Ok(match self.session(access_key_id) {
            Some(record) if record.expired_at(now) => return Err(Refusal::Expired),
            Some(record) => record.session(&self.registry),
            None => self
                .registry
                .user(access_key_id)
                .map(|user| local_iam::Session {
                    policies: user.policies,
                    session_policy: None,
                    boundary: None,
                    tags: user.tags,
                    userid: None,
                }),
        })
    }

    /// Decide an OpenSearch request signed by `access_key_id` (a recorded
    /// session, or a long-term identity of the registry: the operator who
    /// purges an offboarded tenant's index): `es:<operation>` on the
    /// domain's ARN followed by the request's path ([`crate::search`]).
    /// `None` when allowed. Unlike the services moto answers, nothing
    /// stands behind the front here, so whatever it cannot decide (no
    /// registry, no domain, an unknown key) is refused.
    pub fn check_es(
        &self,
        access_key_id: &str,
        operation: &str,
        path: &str,
        now: SystemTime,
    ) -> Option<Refusal> {
        let denied = Some(Refusal::Denied(Verdict::NotAllowedByIdentity));
        let session = match self.principal(access_key_id, now) {
            Ok(session) => session,
            Err(refusal) => return Some(refusal),
        };
        let (Some(session), Some(domain)) = (session, self.registry.search_domain()) else {
            return denied;
        };
        let resource = format!("{domain}{path}");
        match session.decide_with(&format!("es:{operation}"), &resource, &[], &[]) {
            Verdict::Allow => None,
            other => Some(Refusal::Denied(other)),
        }
    }

    /// Decide the KMS call S3 makes for a request signed by
    /// `access_key_id` ([`crate::kms`]): `None` when allowed, or for a
    /// session the front did not record or whose role it does not know.
    pub fn check_kms(
        &self,
        access_key_id: &str,
        key: &str,
        use_: crate::kms::KmsUse,
        region: &str,
    ) -> Option<Refusal> {
        let record = self.session(access_key_id)?;
        // A front without a registry (the fault suite's) leaves it to moto,
        // as for S3 itself; a role the registry no longer holds may do
        // nothing.
        let Some(session) = record.session(&self.registry) else {
            return self
                .registry
                .is_configured()
                .then_some(Refusal::Denied(Verdict::NotAllowedByIdentity));
        };
        crate::kms::decide(&self.registry, &session, key, use_, region)
            .err()
            .map(Refusal::Kms)
    }

    /// Decide a Secrets Manager request (`X-Amz-Target` `target`, JSON
    /// `body`) signed by `access_key_id`: moto evaluates its policies
    /// against the resource `*` only, so its copies allow the action on
    /// every secret and this decides on the secret's ARN, with the signer's
    /// policies as deployed (a recorded session's role, or an identity with
    /// long-term keys). A signer or a secret the registry does not hold, a
    /// target that is not `secretsmanager.<Operation>`, a query string, or a
    /// front without a registry: refused, so the local stack is never more
    /// permissive than AWS.
    pub fn check_secret(
        &self,
        access_key_id: &str,
        target: &str,
        query: &str,
        body: &[u8],
        now: SystemTime,
    ) -> Option<Refusal> {
        let denied = Some(Refusal::Denied(Verdict::NotAllowedByIdentity));
        // moto reads parameters from the query before the body: a request
        // with one could name a secret this check never saw.
        if !self.registry.is_configured() || !query.is_empty() {
            return denied;
        }
        let session = match self.principal(access_key_id, now) {
            Ok(session) => session,
            Err(refusal) => return Some(refusal),
        };
        let Some(session) = session else {
            return denied;
        };
        let Some(operation) = target.strip_prefix("secretsmanager.") else {
            return denied;
        };
        let id = serde_json::from_slice::<serde_json::Value>(body)
            .ok()
            .and_then(|b| {
                b.get("SecretId")
                    .and_then(|v| v.as_str())
                    .map(str::to_owned)
            });
        let Some(arn) = id.as_deref().and_then(|id| self.registry.secret(id)) else {
            return denied;
        };
        match session.decide(&format!("secretsmanager:{operation}"), &arn, &[]) {
            Verdict::Allow => None,
            other => Some(Refusal::Denied(other)),
        }
    }

    /// The registry the enforcer decides with.
    pub fn registry(&self) -> &RegistryFile {
        &self.registry
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assume_role_is_recorded_from_its_request_and_answer() {
        let request = crate::request::form(
            b"Action=AssumeRole&RoleArn=arn%3Aaws%3Aiam%3A%3A1%3Arole%2Fr&Tags.member.1.Key=TenantID&Tags.member.1.Value=t1&Policy=%7B%7D",
        );
        let answer = "<AssumeRoleResponse><AssumeRoleResult><Credentials>\
            <AccessKeyId>ASIAX</AccessKeyId><SecretAccessKey>s</SecretAccessKey>\
            <SessionToken>t</SessionToken><Expiration>2026-11-23T13:00:00.000Z</Expiration>\
            </Credentials><AssumedRoleUser><AssumedRoleId>AROA:s</AssumedRoleId>\
            <Arn>arn:aws:sts::1:assumed-role/r/s</Arn></AssumedRoleUser></AssumeRoleResult></AssumeRoleResponse>";
        let record = record(&request, answer).unwrap();
        assert_eq!(record.access_key_id, "ASIAX");
        assert_eq!(record.role_arn, "arn:aws:iam::1:role/r");
        assert_eq!(record.tags["TenantID"], "t1");
        assert_eq!(record.policy.as_deref(), Some("{}"));
        assert_eq!(record.expiration, 1_795_438_800);
        assert_eq!(record.arn, "arn:aws:sts::1:assumed-role/r/s");
        assert_eq!(
            (
                record.secret_access_key.as_str(),
                record.session_token.as_str()
            ),
            ("s", "t")
        );
        assert!(!format!("{record:?}").contains("secret"));
    }
}
