//! The local stack's one IAM evaluator.
//!
//! moto verifies signatures and evaluates role policies only with literal
//! resources: no policy variables, no conditions, no session policies, no
//! session tags. Everything that decides isolation locally (the local
//! front before S3, the RDS token verifier, the offline proof) decides with
//! this crate instead: the role's policies *as deployed* (variables and
//! conditions kept), intersected with the session policy as STS intersects
//! them, with the role's tags and the session's tags as
//! `aws:PrincipalTag/*`, evaluated by iam-rs.
//!
//! ```
//! use local_iam::Session;
//! use serde_json::json;
//!
//! let session = Session {
//!     policies: vec![json!({"Version": "2012-10-17", "Statement": [{
//!         "Effect": "Allow", "Action": "s3:GetObject",
//!         "Resource": "arn:aws:s3:::b/${aws:PrincipalTag/TenantID}_home/*"}]})],
//!     session_policy: None,
//!     boundary: None,
//!     tags: [("TenantID".to_owned(), "t1".to_owned())].into(),
//!     userid: None,
//! };
//! assert!(session.allows("s3:GetObject", "arn:aws:s3:::b/t1_home/x", &[]));
//! assert!(!session.allows("s3:GetObject", "arn:aws:s3:::b/t2_home/x", &[]));
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::collections::BTreeMap;

use iam_rs::{Arn, Context, ContextValue, Decision, IAMPolicy, IAMRequest, Principal, PrincipalId};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A principal as IAM sees it for one request: its identity policies, the
/// session policy it was created with, and its principal tags.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Session {
    /// Identity policies (JSON documents), variables and conditions kept.
    pub policies: Vec<Value>,
    /// The inline session policy, if the session was created with one.
    pub session_policy: Option<Value>,
    /// The role's permissions boundary, if it has one: the most its
    /// identity policies can ever grant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boundary: Option<Value>,
    /// Principal tags: the role's tags, overridden by session tags.
    pub tags: BTreeMap<String, String>,
    /// `aws:userid`: for a role session, `<role id>:<session name>`.
    #[serde(default)]
    pub userid: Option<String>,
}

/// What was decided, with the reason for a denial.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// An identity policy allows it, the session policy (if any) too, and
    /// no statement denies it.
    Allow,
    /// A statement denies it explicitly.
    ExplicitDeny,
    /// No identity policy allows it.
    NotAllowedByIdentity,
    /// The identity allows it but the session policy does not.
    NotAllowedBySession,
    /// The identity allows it but the role's permissions boundary does not.
    NotAllowedByBoundary,
}

impl Session {
    /// Whether `action` on `resource` is allowed, with `context` keys (such
    /// as `s3:prefix`) beside the principal tags.
    pub fn allows(&self, action: &str, resource: &str, context: &[(&str, &str)]) -> bool {
        self.decide(action, resource, context) == Verdict::Allow
    }

    /// [`allows`](Self::allows), with the reason.
    pub fn decide(&self, action: &str, resource: &str, context: &[(&str, &str)]) -> Verdict {
        self.decide_with(action, resource, context, &[])
    }

    /// [`decide`](Self::decide), with multi-valued context keys beside
    /// (`dynamodb:LeadingKeys`, `aws:TagKeys`), for `ForAllValues:` and
    /// `ForAnyValue:` conditions. A key left out is absent, as in a `Scan`
    /// (where `ForAllValues:` holds vacuously, as on AWS).
    pub fn decide_with(
        &self,
        action: &str,
        resource: &str,
        context: &[(&str, &str)],
        lists: &[(&str, &[String])],
    ) -> Verdict {
        let Ok(resource) = Arn::parse(resource) else {
            return Verdict::NotAllowedByIdentity;
        };
        let mut ctx = Context::new();
        for (key, value) in &self.tags {
            ctx.insert(
                format!("aws:PrincipalTag/{key}"),
                ContextValue::String(value.clone()),
            );
        }
        if let Some(userid) = &self.userid {
            ctx.insert(
                "aws:userid".to_owned(),
                ContextValue::String(userid.clone()),
            );
        }
        for (key, value) in context {
            ctx.insert((*key).to_owned(), ContextValue::String((*value).to_owned()));
        }
        for (key, values) in lists {
            ctx.insert((*key).to_owned(), ContextValue::StringList(values.to_vec()));
        }
        let request = IAMRequest::new_with_context(
            Principal::Aws(PrincipalId::String(
                "arn:aws:sts::000000000000:assumed-role/local/session".to_owned(),
            )),
            action,
            resource,
            ctx,
        );
        let decide = |policy: &Value| {
            let mut policy = policy.clone();
            expand_condition_variables(&mut policy, &self.tags);
            match parsed(&policy.to_string()) {
                Some(policy) => {
                    iam_rs::evaluate_policy(&policy, &request).unwrap_or(Decision::Deny)
                }
                // A policy the evaluator cannot read allows nothing.
                None => Decision::NotApplicable,
            }
        };
        let identity: Vec<Decision> = self.policies.iter().map(decide).collect();
        let session = self.session_policy.as_ref().map(decide);
        let boundary = self.boundary.as_ref().map(decide);
        let denies = |d: Option<Decision>| d == Some(Decision::Deny);
        if identity.contains(&Decision::Deny) || denies(session) || denies(boundary) {
            Verdict::ExplicitDeny
        } else if !identity.contains(&Decision::Allow) {
            Verdict::NotAllowedByIdentity
        } else if boundary.is_some_and(|b| b != Decision::Allow) {
            Verdict::NotAllowedByBoundary
        } else if session.is_some_and(|s| s != Decision::Allow) {
            Verdict::NotAllowedBySession
        } else {
            Verdict::Allow
        }
    }
}

/// The policy `text` as the evaluator reads it, parsed once per distinct
/// text (the same few documents decide every request of the local stack):
/// `None` for one it cannot read. The cache is dropped whole when it holds
/// [`PARSED_CAPACITY`] texts.
fn parsed(text: &str) -> Option<std::sync::Arc<IAMPolicy>> {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex, OnceLock};
    type Cache = Mutex<HashMap<String, Option<Arc<IAMPolicy>>>>;
    static CACHE: OnceLock<Cache> = OnceLock::new();
    let cache = CACHE.get_or_init(Mutex::default);
    if let Some(found) = cache.lock().expect("policy cache poisoned").get(text) {
        return found.clone();
    }
    let policy = IAMPolicy::from_json(text).ok().map(Arc::new);
    let mut cache = cache.lock().expect("policy cache poisoned");
    if cache.len() >= PARSED_CAPACITY {
        cache.clear();
    }
    cache.insert(text.to_owned(), policy.clone());
    policy
}

/// Distinct policy texts [`parsed`] keeps.
const PARSED_CAPACITY: usize = 4096;

/// iam-rs 0.8.0 substitutes policy variables in `Resource` but not inside
/// `Condition` values, so `StringLike s3:prefix ${aws:PrincipalTag/x}/*`
/// would never match. They are expanded here, from the same tags, before
/// evaluating (the test `the_evaluator_gap_this_works_around` pins the gap).
pub fn expand_condition_variables(policy: &mut Value, tags: &BTreeMap<String, String>) {
    fn walk(value: &mut Value, tags: &BTreeMap<String, String>) {
        match value {
            Value::String(s) => {
                for (key, tag) in tags {
                    *s = s.replace(&format!("${{aws:PrincipalTag/{key}}}"), tag);
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|i| walk(i, tags)),
            Value::Object(map) => map.values_mut().for_each(|v| walk(v, tags)),
            _ => {}
        }
    }
    let statements = match policy.get_mut("Statement") {
        Some(Value::Array(list)) => list.iter_mut().collect::<Vec<_>>(),
        Some(one @ Value::Object(_)) => vec![one],
        _ => return,
    };
    for statement in statements {
        if let Some(condition) = statement.get_mut("Condition") {
            walk(condition, tags);
        }
    }
}

/// A role as deployed: its policies (variables kept), its tags and its
/// trust policy.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Role {
    /// Inline policies, as the template writes them.
    pub policies: Vec<Value>,
    /// The role's tags.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// The trust policy (`AssumeRolePolicyDocument`), as deployed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trust: Option<Value>,
    /// The permissions boundary (`PermissionsBoundary`'s document), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boundary: Option<Value>,
}

/// Who asks to assume a role, as a trust policy's `Principal` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caller<'a> {
    /// An IAM identity: a user's or role's ARN (an assumed-role session is
    /// named by its role's ARN).
    Aws(&'a str),
    /// A web-identity federation: `cognito-identity.amazonaws.com`.
    Federated(&'a str),
}

/// What STS asks a role's trust policy for one request: every `action`
/// (`sts:AssumeRole`, and `sts:TagSession` when tags are passed) must be
/// allowed for `caller`, with `context` (`aws:RequestTag/*`, the
/// federation's `aud`) and multi-valued `lists` (`aws:TagKeys`, `amr`).
/// A trust policy's statements name no resource; the role is it.
///
/// ```
/// use local_iam::{Caller, Verdict, trust_decision};
/// use serde_json::json;
/// let trust = json!({"Version": "2012-10-17", "Statement": [{
///     "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:user/exec"},
///     "Action": ["sts:AssumeRole", "sts:TagSession"],
///     "Condition": {"StringEquals": {"aws:RequestTag/Scope": "s3"}}}]});
/// let role = "arn:aws:iam::111122223333:role/r";
/// let tagged = [("aws:RequestTag/Scope", "s3")];
/// let actions = ["sts:AssumeRole", "sts:TagSession"];
/// assert_eq!(trust_decision(&trust, role, Caller::Aws("arn:aws:iam::111122223333:user/exec"), &actions, &tagged, &[]), Verdict::Allow);
/// assert_ne!(trust_decision(&trust, role, Caller::Aws("arn:aws:iam::111122223333:user/other"), &actions, &tagged, &[]), Verdict::Allow);
/// assert_ne!(trust_decision(&trust, role, Caller::Aws("arn:aws:iam::111122223333:user/exec"), &actions[..1], &[], &[]), Verdict::Allow);
/// ```
pub fn trust_decision(
    trust: &Value,
    role_arn: &str,
    caller: Caller<'_>,
    actions: &[&str],
    context: &[(&str, &str)],
    lists: &[(&str, &[String])],
) -> Verdict {
    let Ok(resource) = Arn::parse(role_arn) else {
        return Verdict::NotAllowedByIdentity;
    };
    let mut trust = trust.clone();
    let statements = match trust.get_mut("Statement") {
        Some(Value::Array(list)) => list.iter_mut().collect::<Vec<_>>(),
        Some(one @ Value::Object(_)) => vec![one],
        _ => return Verdict::NotAllowedByIdentity,
    };
    for statement in statements {
        if let Value::Object(map) = statement
            && !map.contains_key("Resource")
            && !map.contains_key("NotResource")
        {
            map.insert("Resource".to_owned(), Value::String(role_arn.to_owned()));
        }
    }
    let Some(policy) = parsed(&trust.to_string()) else {
        return Verdict::NotAllowedByIdentity;
    };
    let mut ctx = Context::new();
    for (key, value) in context {
        ctx.insert((*key).to_owned(), ContextValue::String((*value).to_owned()));
    }
    for (key, values) in lists {
        ctx.insert((*key).to_owned(), ContextValue::StringList(values.to_vec()));
    }
    let principal = match caller {
        Caller::Aws(arn) => Principal::Aws(PrincipalId::String(arn.to_owned())),
        Caller::Federated(name) => Principal::Federated(PrincipalId::String(name.to_owned())),
    };
    for action in actions {
        let request =
            IAMRequest::new_with_context(principal.clone(), *action, resource.clone(), ctx.clone());
        match iam_rs::evaluate_policy(&policy, &request).unwrap_or(Decision::Deny) {
            Decision::Allow => {}
            Decision::Deny => return Verdict::ExplicitDeny,
            Decision::NotApplicable => return Verdict::NotAllowedByIdentity,
        }
    }
    Verdict::Allow
}

/// The deployed roles by ARN: what the local seed writes next to moto
/// (`target/local-stack/iam-roles.json`), because moto keeps only a literal
/// copy it can evaluate. Beside them, what the local front needs to stand
/// in for the services moto does not model: the tables' keys and the
/// identity pools.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Registry {
    /// Role ARN to role.
    pub roles: BTreeMap<String, Role>,
    /// DynamoDB table name to its ARN and partition key.
    #[serde(default)]
    pub tables: BTreeMap<String, Table>,
    /// Identity pool id to the pool as deployed.
    #[serde(default)]
    pub identity_pools: BTreeMap<String, IdentityPool>,
    /// KMS key ARN to the key's tags, aliases and state.
    #[serde(default)]
    pub keys: BTreeMap<String, Key>,
    /// Bucket name to its bucket policy as deployed.
    #[serde(default)]
    pub buckets: BTreeMap<String, Value>,
    /// Identities that sign with long-term keys (the local stand-ins for
    /// execution roles) by access key id: their policies as deployed.
    #[serde(default)]
    pub users: BTreeMap<String, User>,
    /// Secrets Manager secrets: name to ARN.
    #[serde(default)]
    pub secrets: BTreeMap<String, String>,
    /// The OpenSearch domain the local front serves: its ARN
    /// (`arn:aws:es:<region>:<account>:domain/<name>`), to which a request's
    /// path is appended to make the resource IAM evaluates.
    #[serde(default)]
    pub search_domain: Option<String>,
}

/// An identity that signs with a long-term access key (the local stand-in
/// for an execution role): its policies as deployed, and the key's secret,
/// which the local front verifies signatures with. Its `Debug` leaves the
/// secret out.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct User {
    /// Inline policies, as the template writes them.
    pub policies: Vec<Value>,
    /// The identity's tags.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// The access key's secret.
    #[serde(default)]
    pub secret_access_key: String,
    /// The identity's ARN, as trust policies name it.
    #[serde(default)]
    pub arn: String,
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("arn", &self.arn)
            .field("policies", &self.policies)
            .field("tags", &self.tags)
            .finish_non_exhaustive()
    }
}

/// A KMS key as IAM and S3 see it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Key {
    /// The key's tags: `aws:ResourceTag/*` when a policy is evaluated.
    pub tags: BTreeMap<String, String>,
    /// Its aliases, as alias ARNs.
    #[serde(default)]
    pub aliases: Vec<String>,
    /// `Enabled`, `Disabled` or `PendingDeletion`.
    #[serde(default = "enabled")]
    pub state: String,
    /// An AWS-managed key (`aws/s3`): its own key policy lets every
    /// principal of the account use it through the service, whatever their
    /// identity policies allow; only an explicit deny stops them.
    #[serde(default)]
    pub aws_managed: bool,
}

fn enabled() -> String {
    "Enabled".to_owned()
}

impl Registry {
    /// The key `reference` names, with its ARN: a key ARN, an alias ARN,
    /// an alias name (`alias/...`) or a key id.
    ///
    /// ```
    /// use local_iam::{Key, Registry};
    /// let arn = "arn:aws:kms:us-east-1:111122223333:key/k1";
    /// let mut registry = Registry::default();
    /// registry.keys.insert(arn.into(), Key {
    ///     aliases: vec!["arn:aws:kms:us-east-1:111122223333:alias/tenant/t1".into()],
    ///     ..Key::default()
    /// });
    /// for name in [arn, "k1", "alias/tenant/t1", "arn:aws:kms:us-east-1:111122223333:alias/tenant/t1"] {
    ///     assert_eq!(registry.key(name).map(|(a, _)| a), Some(arn.to_owned()), "{name}");
    /// }
    /// assert!(registry.key("alias/tenant/t2").is_none());
    /// ```
    pub fn key(&self, reference: &str) -> Option<(String, Key)> {
        if let Some(key) = self.keys.get(reference) {
            return Some((reference.to_owned(), key.clone()));
        }
        self.keys
            .iter()
            .find(|(arn, key)| {
                arn.as_str() == reference
                    || arn.rsplit('/').next() == Some(reference)
                    || key.aliases.iter().any(|alias| {
                        alias == reference
                            || alias.split_once(":alias/").is_some_and(|(_, name)| {
                                reference.strip_prefix("alias/") == Some(name)
                            })
                    })
            })
            .map(|(arn, key)| (arn.clone(), key.clone()))
    }
}

/// A DynamoDB table as IAM sees it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Table {
    /// The table's ARN.
    pub arn: String,
    /// The partition key attribute, whose values are `dynamodb:LeadingKeys`.
    pub partition_key: String,
}

/// A Cognito identity pool as deployed: its one provider, its
/// authenticated role, and its attributes for access control.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct IdentityPool {
    /// The provider name (`cognito-idp.<region>.amazonaws.com/<pool id>`).
    pub provider: String,
    /// The app clients whose ID tokens the pool accepts.
    pub client_ids: Vec<String>,
    /// Where the provider's JWKS is served.
    pub jwks_url: String,
    /// The authenticated role.
    pub role_arn: String,
    /// Principal tag to the token claim it is taken from.
    pub principal_tags: BTreeMap<String, String>,
    /// Locally, the identity that obtains the role's credentials from moto
    /// (the stand-in for the Cognito service principal): its access key.
    pub service_access_key_id: String,
    /// Its secret.
    pub service_secret_access_key: String,
}

impl std::fmt::Debug for IdentityPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdentityPool")
            .field("provider", &self.provider)
            .field("role_arn", &self.role_arn)
            .field("principal_tags", &self.principal_tags)
            .finish_non_exhaustive()
    }
}

impl Registry {
    /// Read a registry file.
    pub fn load(path: &std::path::Path) -> Result<Registry, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// The session of `role_arn` created with `session_policy` and
    /// `session_tags` (which override the role's tags of the same key), or
    /// `None` for a role the registry does not hold.
    pub fn session(
        &self,
        role_arn: &str,
        session_policy: Option<Value>,
        session_tags: &BTreeMap<String, String>,
    ) -> Option<Session> {
        let role = self.roles.get(role_arn)?;
        let mut tags = role.tags.clone();
        tags.extend(session_tags.iter().map(|(k, v)| (k.clone(), v.clone())));
        Some(Session {
            policies: role.policies.clone(),
            session_policy,
            boundary: role.boundary.clone(),
            tags,
            userid: None,
        })
    }
}

/// The registry file the seed writes, re-read when a role is not in it yet
/// (tenants are added while the front and the verifier run).
#[derive(Debug, Default)]
pub struct RegistryFile {
    path: Option<std::path::PathBuf>,
    cached: std::sync::Mutex<Registry>,
    /// The file's modification time when `cached` was read.
    read_at: std::sync::Mutex<Option<std::time::SystemTime>>,
}

impl RegistryFile {
    /// The registry at `path`; without one, no role is known.
    pub fn new(path: Option<std::path::PathBuf>) -> Self {
        let read_at = path.as_deref().and_then(modified);
        let cached = path
            .as_deref()
            .and_then(|p| Registry::load(p).ok())
            .unwrap_or_default();
        RegistryFile {
            path,
            cached: std::sync::Mutex::new(cached),
            read_at: std::sync::Mutex::new(read_at),
        }
    }

    /// [`Registry::session`], re-reading the file once if the cached copy
    /// does not hold the role.
    pub fn session(
        &self,
        role_arn: &str,
        session_policy: Option<Value>,
        session_tags: &BTreeMap<String, String>,
    ) -> Option<Session> {
        self.find(|registry| registry.session(role_arn, session_policy.clone(), session_tags))
    }

    /// The role `arn`, if the registry holds it.
    pub fn role(&self, arn: &str) -> Option<Role> {
        self.find(|registry| registry.roles.get(arn).cloned())
    }

    /// Whether a registry file backs this (a front without one decides
    /// nothing beyond moto).
    pub fn is_configured(&self) -> bool {
        self.path.is_some()
    }

    /// The table called `name`.
    pub fn table(&self, name: &str) -> Option<Table> {
        self.find(|registry| registry.tables.get(name).cloned())
    }

    /// The OpenSearch domain's ARN, if the registry holds one.
    pub fn search_domain(&self) -> Option<String> {
        self.find(|registry| registry.search_domain.clone())
    }

    /// The identity pool `id`.
    pub fn identity_pool(&self, id: &str) -> Option<IdentityPool> {
        self.find(|registry| registry.identity_pools.get(id).cloned())
    }

    /// The KMS key `reference` names ([`Registry::key`]).
    pub fn key(&self, reference: &str) -> Option<(String, Key)> {
        self.find(|registry| registry.key(reference))
    }

    /// The bucket policy of `bucket`, if the registry holds one.
    pub fn bucket_policy(&self, bucket: &str) -> Option<Value> {
        self.find(|registry| registry.buckets.get(bucket).cloned())
    }

    /// The identity that signs with the long-term key `access_key_id`.
    pub fn user(&self, access_key_id: &str) -> Option<User> {
        self.find(|registry| registry.users.get(access_key_id).cloned())
    }

    /// The ARN of the secret `id` names: its name or its ARN.
    pub fn secret(&self, id: &str) -> Option<String> {
        self.find(|registry| {
            registry
                .secrets
                .iter()
                .find(|(name, arn)| name.as_str() == id || arn.as_str() == id)
                .map(|(_, arn)| arn.clone())
        })
    }

    /// What `look` finds in the cached copy, else in the file read anew.
    /// A file rewritten since it was read (a key disabled, a tenant
    /// offboarded) is read again first.
    fn find<T>(&self, look: impl Fn(&Registry) -> Option<T>) -> Option<T> {
        let changed = self.path.as_deref().and_then(modified)
            != *self.read_at.lock().expect("registry lock poisoned");
        if !changed {
            let found = look(&self.cached.lock().expect("registry lock poisoned"));
            if found.is_some() {
                return found;
            }
        }
        let path = self.path.as_deref()?;
        let stamp = modified(path);
        let fresh = Registry::load(path).ok()?;
        let found = look(&fresh);
        *self.cached.lock().expect("registry lock poisoned") = fresh;
        *self.read_at.lock().expect("registry lock poisoned") = stamp;
        found
    }
}

/// An STS session as the local front records it from its `AssumeRole`, and
/// as the token verifier reads it back. It holds the session's secret, as
/// moto's own `/moto-api/data.json` does: a loopback record of the local
/// stack, so the verifier can check signatures without reading moto's whole
/// state. Its `Debug` leaves the secret and the token out.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionRecord {
    /// The session's access key id.
    pub access_key_id: String,
    /// The session's secret access key.
    pub secret_access_key: String,
    /// The session token.
    pub session_token: String,
    /// The assumed-role ARN of the session.
    pub arn: String,
    /// The role assumed.
    pub role_arn: String,
    /// The inline session policy, if one was passed.
    pub policy: Option<String>,
    /// The session tags passed.
    pub tags: BTreeMap<String, String>,
    /// When the credentials expire, in seconds since the Unix epoch.
    pub expiration: u64,
}

impl std::fmt::Debug for SessionRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionRecord")
            .field("access_key_id", &self.access_key_id)
            .field("arn", &self.arn)
            .field("role_arn", &self.role_arn)
            .field("tags", &self.tags)
            .field("expiration", &self.expiration)
            .finish_non_exhaustive()
    }
}

impl SessionRecord {
    /// Whether the credentials have expired at `now`.
    pub fn expired_at(&self, now: std::time::SystemTime) -> bool {
        unix(now) >= self.expiration
    }

    /// When the credentials expire.
    pub fn expires_at(&self) -> std::time::SystemTime {
        std::time::UNIX_EPOCH + std::time::Duration::from_secs(self.expiration)
    }

    /// The session as IAM evaluates it, from its deployed role; `None` if
    /// the registry does not know the role.
    pub fn session(&self, registry: &RegistryFile) -> Option<Session> {
        let policy = self
            .policy
            .as_deref()
            .map(|p| serde_json::from_str(p).unwrap_or(Value::Null));
        let mut session = registry.session(&self.role_arn, policy, &self.tags)?;
        // `<role id>:<session name>`, as IAM sees a role session; the
        // session name is the assumed-role ARN's last segment.
        session.userid = self
            .arn
            .rsplit_once('/')
            .map(|(_, name)| format!("AROALOCALROLEID:{name}"));
        Some(session)
    }
}

fn modified(path: &std::path::Path) -> Option<std::time::SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// Seconds since the Unix epoch (0 before it).
pub fn unix(t: std::time::SystemTime) -> u64 {
    t.duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn tagged(prefix_condition: &str) -> Session {
        Session {
            policies: vec![json!({"Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::b",
                 "Condition": {"StringLike": {"s3:prefix": prefix_condition}}},
                {"Effect": "Allow", "Action": "rds-db:connect",
                 "Resource": "arn:aws:rds-db:us-east-1:111122223333:dbuser:cluster-A/${aws:PrincipalTag/TenantID}_dbuser"}
            ]})],
            session_policy: None,
            boundary: None,
            tags: [("TenantID".to_owned(), "t1".to_owned())].into(),
            userid: None,
        }
    }

    #[test]
    fn conditions_with_principal_tags_are_evaluated() {
        let s = tagged("${aws:PrincipalTag/TenantID}_home/*");
        let list =
            |prefix: &str| s.allows("s3:ListBucket", "arn:aws:s3:::b", &[("s3:prefix", prefix)]);
        assert!(list("t1_home/"));
        assert!(!list("t2_home/"));
        assert!(!list(""));
        let connect = |user: &str| {
            s.allows(
                "rds-db:connect",
                &format!("arn:aws:rds-db:us-east-1:111122223333:dbuser:cluster-A/{user}"),
                &[],
            )
        };
        assert!(connect("t1_dbuser"));
        assert!(!connect("t2_dbuser"));
    }

    #[test]
    fn the_session_policy_intersects_and_a_deny_wins() {
        let mut s = tagged("*");
        let user = "arn:aws:rds-db:us-east-1:111122223333:dbuser:cluster-A/t1_dbuser";
        s.session_policy = Some(json!({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::b"}]}));
        assert_eq!(
            s.decide("rds-db:connect", user, &[]),
            Verdict::NotAllowedBySession
        );
        assert_eq!(
            s.decide("s3:ListBucket", "arn:aws:s3:::b", &[("s3:prefix", "x/")]),
            Verdict::Allow
        );
        s.policies
            .push(json!({"Version": "2012-10-17", "Statement": [
            {"Effect": "Deny", "Action": "s3:*", "Resource": "*"}]}));
        assert_eq!(
            s.decide("s3:ListBucket", "arn:aws:s3:::b", &[("s3:prefix", "x/")]),
            Verdict::ExplicitDeny
        );
        assert_eq!(
            s.decide("s3:GetObject", "arn:aws:s3:::other/x", &[]),
            Verdict::ExplicitDeny
        );
    }

    #[test]
    fn session_tags_override_role_tags_and_unknown_roles_have_no_session() {
        let registry = Registry {
            roles: [(
                "arn:aws:iam::111122223333:role/r".to_owned(),
                Role {
                    policies: vec![],
                    tags: [("TenantID".to_owned(), "role".to_owned())].into(),
                    trust: None,
                    boundary: None,
                },
            )]
            .into(),
            ..Registry::default()
        };
        let tags = [("TenantID".to_owned(), "session".to_owned())].into();
        let s = registry
            .session("arn:aws:iam::111122223333:role/r", None, &tags)
            .unwrap();
        assert_eq!(s.tags["TenantID"], "session");
        assert!(
            registry
                .session("arn:aws:iam::111122223333:role/x", None, &tags)
                .is_none()
        );
    }

    /// A permissions boundary caps what the identity policies grant: the
    /// request must be allowed by both, and a deny in either wins.
    #[test]
    fn a_boundary_caps_the_identity_policies() {
        let everything = json!({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "*", "Resource": "*"}]});
        let boundary = json!({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "s3:GetObject",
             "Resource": "arn:aws:s3:::b/${aws:PrincipalTag/TenantID}_home/*"},
            {"Effect": "Deny", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/t1_home/secret"}]});
        let s = Session {
            policies: vec![everything],
            session_policy: None,
            boundary: Some(boundary),
            tags: [("TenantID".to_owned(), "t1".to_owned())].into(),
            userid: None,
        };
        assert_eq!(
            s.decide("s3:GetObject", "arn:aws:s3:::b/t1_home/x", &[]),
            Verdict::Allow
        );
        assert_eq!(
            s.decide("s3:GetObject", "arn:aws:s3:::b/t2_home/x", &[]),
            Verdict::NotAllowedByBoundary
        );
        assert_eq!(
            s.decide("s3:PutObject", "arn:aws:s3:::b/t1_home/x", &[]),
            Verdict::NotAllowedByBoundary
        );
        assert_eq!(
            s.decide("s3:GetObject", "arn:aws:s3:::b/t1_home/secret", &[]),
            Verdict::ExplicitDeny
        );
        // The boundary grants nothing by itself.
        let bare = Session {
            policies: vec![],
            ..s.clone()
        };
        assert_eq!(
            bare.decide("s3:GetObject", "arn:aws:s3:::b/t1_home/x", &[]),
            Verdict::NotAllowedByIdentity
        );
    }

    /// `ForAllValues:StringEquals` on `dynamodb:LeadingKeys` holds only when
    /// every key leads with the tenant; the policy allows no Scan at all.
    #[test]
    fn leading_keys_confine_items_to_the_tagged_partition() {
        let s = Session {
            policies: vec![json!({"Version": "2012-10-17", "Statement": [{
                "Effect": "Allow",
                "Action": ["dynamodb:GetItem", "dynamodb:Query"],
                "Resource": "arn:aws:dynamodb:us-east-1:111122223333:table/items",
                "Condition": {"ForAllValues:StringEquals": {
                    "dynamodb:LeadingKeys": ["${aws:PrincipalTag/TenantID}"]}}}]})],
            session_policy: None,
            boundary: None,
            tags: [("TenantID".to_owned(), "t1".to_owned())].into(),
            userid: None,
        };
        let table = "arn:aws:dynamodb:us-east-1:111122223333:table/items";
        let get = |keys: &[&str]| {
            let keys: Vec<String> = keys.iter().map(|k| (*k).to_owned()).collect();
            s.decide_with(
                "dynamodb:GetItem",
                table,
                &[],
                &[("dynamodb:LeadingKeys", &keys)],
            )
        };
        assert_eq!(get(&["t1"]), Verdict::Allow);
        assert_eq!(get(&["t2"]), Verdict::NotAllowedByIdentity);
        assert_eq!(get(&["t1", "t2"]), Verdict::NotAllowedByIdentity);
        assert_eq!(
            s.decide_with("dynamodb:Scan", table, &[], &[]),
            Verdict::NotAllowedByIdentity
        );
    }

    /// The evaluator's behaviour on the cases relied on, pinned: it
    /// substitutes principal tags in `Resource`, and (the gap) not in
    /// `Condition` values, which is why `expand_condition_variables` exists.
    #[test]
    fn the_evaluator_gap_this_works_around() {
        let policy = |condition_prefix: &str| {
            IAMPolicy::from_json(
                &json!({
                    "Version": "2012-10-17",
                    "Statement": [{
                        "Effect": "Allow",
                        "Action": "s3:ListBucket",
                        "Resource": "arn:aws:s3:::b",
                        "Condition": {"StringLike": {"s3:prefix": condition_prefix}}
                    }, {
                        "Effect": "Allow",
                        "Action": "s3:GetObject",
                        "Resource": "arn:aws:s3:::b/${aws:PrincipalTag/home}/*"
                    }]
                })
                .to_string(),
            )
            .unwrap()
        };
        let request = |action: &str, resource: &str| {
            let context = Context::new()
                .with_string("aws:PrincipalTag/home", "t1_home")
                .with_string("s3:prefix", "t1_home/");
            IAMRequest::new_with_context(
                Principal::Aws(PrincipalId::String(
                    "arn:aws:iam::111122223333:role/r".to_owned(),
                )),
                action,
                Arn::parse(resource).unwrap(),
                context,
            )
        };
        let decide = |p: &IAMPolicy, r: &IAMRequest| iam_rs::evaluate_policy(p, r).unwrap();
        // Resource variables: substituted.
        let get = request("s3:GetObject", "arn:aws:s3:::b/t1_home/x");
        assert_eq!(decide(&policy("x"), &get), Decision::Allow);
        assert_eq!(
            decide(
                &policy("x"),
                &request("s3:GetObject", "arn:aws:s3:::b/t2_home/x")
            ),
            Decision::NotApplicable
        );
        // Condition variables: not substituted, so the right tenant is
        // refused...
        let list = request("s3:ListBucket", "arn:aws:s3:::b");
        assert_eq!(
            decide(&policy("${aws:PrincipalTag/home}/*"), &list),
            Decision::NotApplicable
        );
        // ...until expanded, as expand_condition_variables does.
        assert_eq!(decide(&policy("t1_home/*"), &list), Decision::Allow);
    }
}
