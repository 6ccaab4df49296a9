//! Configuration, read once at cold start from the environment.
//!
//! Each function composes the parts it needs ([`AccessConfig`] always, plus
//! [`S3Config`] or [`DbConfig`]) into one typed struct. A missing or invalid
//! value fails start-up with a [`ConfigError`] naming the variable.
//!
//! | variable | meaning | default |
//! |---|---|---|
//! | `TENANT_CLAIM` | authorizer claim holding the tenant id | `custom:tenant_id` |
//! | `TENANT_ISOLATION` | `role-per-tenant`, `session-tags`, `session-policy`, `session-tags+session-policy` or `identity-pool` | `role-per-tenant` |
//! | `TENANT_ROLE_ARN_TEMPLATE` | role to assume per tenant (role-per-tenant); `{tenant}`, `{account}` | `arn:aws:iam::{account}:role/tenant/assumeRole-{tenant}` |
//! | `TENANT_SHARED_ROLE_ARN` | the role every tenant assumes (the shared strategies); `{account}`, and `{scope}` for one role per job (`s3`, `db`, `dynamodb`) | required by them |
//! | `TENANT_TAG_KEY` | session tag carrying the tenant (session-tags) | `TenantID` |
//! | `TENANT_IDENTITY_POOL_ID` | the Cognito identity pool (`<region>:<uuid>`) whose authenticated role tenants get (identity-pool) | required by it |
//! | `TENANT_IDENTITY_PROVIDER` | the pool's provider name, `cognito-idp.<region>.amazonaws.com/<user pool id>`: the `Logins` key, and the tokens' issuer | required by it |
//! | `AWS_ACCOUNT_ID` | fills `{account}` (only needed when the template has it) | none |
//! | `TENANT_SESSION_SECONDS` | AssumeRole duration, 900 to 3600 | `900` |
//! | `TENANT_CACHE_CAPACITY` | tenants whose sessions are kept warm (about 27 KB each with an S3 client, 2.3 KB without) | `4000` |
//! | `LAMBDA_TENANT_ISOLATION` | `per-tenant` when the function is deployed with Lambda's tenant isolation mode (`TenancyConfig: PER_TENANT`): every invocation's tenant id must be the caller's, an execution environment serves one tenant, and the caches hold one tenant (`TENANT_CACHE_CAPACITY` 1, `DB_CONNECTION_CAPACITY` = `DB_CONNECTIONS_PER_TENANT`); `off` otherwise | `off` |
//! | `REQUEST_DEADLINE_MARGIN_MS` | how long before the Lambda deadline a request is answered 504 | `500` |
//! | `REQUEST_TIMEOUT_MS` | a request's budget when there is no Lambda deadline (tests, emulators) | `10000` |
//! | `METRICS_NAMESPACE` | CloudWatch namespace of the per-request EMF lines; `none` turns them off | `TenantAccess` |
//! | `TENANT_BUCKET` | the shared bucket (s3-fetch) | required |
//! | `TENANT_S3_PREFIX_TEMPLATE` | a tenant's home prefix; `{tenant}` | `{tenant}_home` |
//! | `S3_FORCE_PATH_STYLE` | path-style addressing (`true`/`false`) | `false` |
//! | `S3_INLINE_MAX_BYTES` | largest object answered inline; larger ones redirect to a presigned URL | `4194304` (the most that fits Lambda's 6 MB response once base64-encoded) |
//! | `TENANT_KMS_KEY_TEMPLATE` | the tenant's KMS key for SSE-KMS writes; `{tenant}` | `arn:aws:kms:<AWS_REGION>:<AWS_ACCOUNT_ID>:alias/tenant/{tenant}` |
//! | `S3_PRESIGN_SECONDS` | longest life of a presigned URL, 1 to 3600 (never past the session's expiry) | `300` |
//! | `TENANT_TABLE` | the shared DynamoDB table (dynamodb-items); partition key `tenant_id`, sort key `item_id` | required |
//! | `DB_HOST`, `DB_PORT`, `DB_NAME` | the cluster endpoint (aurora-query) | host, name required; port `5432` |
//! | `DB_USER_TEMPLATE` | a tenant's DB login role; `{tenant}` | `{tenant}_dbuser` |
//! | `DB_CA_BUNDLE` | PEM file of CAs the server certificate must chain to | required |
//! | `DB_CONNECT_TIMEOUT_SECONDS` | TCP+TLS+auth timeout | `5` |
//! | `DB_STATEMENT_TIMEOUT_MS` | longest wait for one statement's answer | `5000` |
//! | `DB_CONNECTION_MAX_AGE_SECONDS` | a connection is replaced after this long, so revoking a login takes effect | `900` |
//! | `DB_CONNECTION_CAPACITY` | connections kept open, over all tenants | `20` |
//! | `DB_CONNECTIONS_PER_TENANT` | a tenant's connections in use at once (its concurrent requests beyond wait) | `4` |
//! | `DB_REFUSED_LOGIN_MEMORY_SECONDS` | after the database refuses a tenant's renewed login, its requests are refused this long without calling STS | `60` |
//! | `DB_RESOURCE_ID` | `cluster-...` or `prx-...`, for session policies | required by the session-policy strategies |

use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::time::Duration;

use crate::identity::TenantId;

/// A configuration variable is missing or invalid.
///
/// ```
/// use tenant_access::config::{AccessConfig, ConfigError};
///
/// let err = AccessConfig::from_lookup(|name: &str| match name {
///     "AWS_ACCOUNT_ID" => Some("123456789012".to_owned()),
///     "TENANT_SESSION_SECONDS" => Some("90000".to_owned()),
///     _ => None,
/// }).unwrap_err();
/// assert_eq!(err.variable, "TENANT_SESSION_SECONDS");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid configuration: {variable}: {reason}")]
pub struct ConfigError {
    /// The environment variable at fault.
    pub variable: &'static str,
    /// What is wrong with it.
    pub reason: String,
}

/// Reads variables by name; [`std::env::var`] in production, a map in tests.
pub trait Lookup {
    /// The variable's value, if set.
    fn get(&self, name: &str) -> Option<String>;
}

impl<F: Fn(&str) -> Option<String>> Lookup for F {
    fn get(&self, name: &str) -> Option<String> {
        self(name)
    }
}

/// The process environment.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessEnv;

impl Lookup for ProcessEnv {
    fn get(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

fn err(variable: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError {
        variable,
        reason: reason.into(),
    }
}

fn optional(env: &impl Lookup, name: &'static str) -> Option<String> {
    env.get(name)
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

fn required(env: &impl Lookup, name: &'static str) -> Result<String, ConfigError> {
    optional(env, name).ok_or_else(|| err(name, "is required but not set"))
}

fn number<T: std::str::FromStr>(
    env: &impl Lookup,
    name: &'static str,
    default: T,
) -> Result<T, ConfigError> {
    match optional(env, name) {
        None => Ok(default),
        Some(v) => v
            .parse()
            .map_err(|_| err(name, format!("`{v}` is not a valid number"))),
    }
}

/// The default `TENANT_CACHE_CAPACITY`: tenants whose sessions one
/// container keeps. A cached session with the S3 client s3-fetch builds for
/// it costs about 27 KB (`cargo xtask bench`, session memory: 10,000 took
/// the process from 22 to 284 MiB), so 4,000 cost about 105 MiB: under
/// half of the template's 256 MB function, the rest left for requests. (A
/// session alone, as aurora-query keeps it, costs about 2.3 KB.)
pub const DEFAULT_TENANT_CACHE_CAPACITY: usize = 4_000;

fn bounded(
    env: &impl Lookup,
    name: &'static str,
    default: u64,
    range: std::ops::RangeInclusive<u64>,
) -> Result<u64, ConfigError> {
    let value = number(env, name, default)?;
    if range.contains(&value) {
        Ok(value)
    } else {
        Err(err(
            name,
            format!("{value} is outside {}..={}", range.start(), range.end()),
        ))
    }
}

fn flag(env: &impl Lookup, name: &'static str) -> Result<bool, ConfigError> {
    match optional(env, name).as_deref() {
        None | Some("false") | Some("0") => Ok(false),
        Some("true") | Some("1") => Ok(true),
        Some(other) => Err(err(name, format!("`{other}` is not true or false"))),
    }
}

/// A string with a `{tenant}` placeholder, rendered per tenant.
///
/// ```
/// use tenant_access::config::TenantTemplate;
/// use tenant_access::TenantId;
///
/// let t = TenantTemplate::parse("{tenant}_home").unwrap();
/// let tenant: TenantId = "tenant1".parse().unwrap();
/// assert_eq!(t.render(&tenant), "tenant1_home");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantTemplate(String);

impl TenantTemplate {
    /// Accepts a template holding exactly one `{tenant}` and no other braces.
    pub fn parse(template: &str) -> Result<Self, String> {
        if template.matches("{tenant}").count() != 1 {
            return Err(format!(
                "`{template}` must contain `{{tenant}}` exactly once"
            ));
        }
        if template.replace("{tenant}", "").contains(['{', '}']) {
            return Err(format!(
                "`{template}` has a placeholder other than `{{tenant}}`"
            ));
        }
        Ok(TenantTemplate(template.to_owned()))
    }

    /// The template as configured, with `{tenant}` in it.
    pub fn pattern(&self) -> &str {
        &self.0
    }

    /// The template with the tenant filled in.
    pub fn render(&self, tenant: &TenantId) -> String {
        self.0.replace("{tenant}", tenant.as_str())
    }
}

/// Settings a function reads besides [`AccessConfig`].
pub trait FromLookup: Sized {
    /// Read the settings from `env`.
    fn from_lookup(env: impl Lookup) -> Result<Self, ConfigError>;

    /// Check the settings against the access settings (what one strategy
    /// needs and another does not).
    fn check(&self, _access: &AccessConfig) -> Result<(), ConfigError> {
        Ok(())
    }

    /// The longest tenant id whose names built from these settings fit
    /// their limits.
    fn max_tenant_len(&self) -> usize {
        tenant_id::ABSOLUTE_MAX_LEN
    }

    /// Shrink what is sized for many tenants to one: the function runs in
    /// Lambda's tenant isolation mode ([`Tenancy::PerTenant`]).
    fn for_one_tenant(&mut self) {}
}

/// S3's longest key, in bytes (`s3::MAX_S3_KEY_LEN`).
pub(crate) const MAX_S3_KEY_BYTES: usize = 1024;
/// The longest relative key s3-fetch accepts (`s3::MAX_KEY_LEN`).
pub(crate) const MAX_RELATIVE_KEY_BYTES: usize = 900;

impl FromLookup for S3Config {
    fn from_lookup(env: impl Lookup) -> Result<Self, ConfigError> {
        S3Config::from_lookup(env)
    }

    /// `<prefix>/<key>` must fit S3's 1024-byte keys with the longest key.
    fn max_tenant_len(&self) -> usize {
        tenant_id::max_len(&[tenant_id::Template {
            pattern: self.prefix_template.pattern(),
            limit: MAX_S3_KEY_BYTES - 1 - MAX_RELATIVE_KEY_BYTES,
        }])
    }
}

impl FromLookup for DbConfig {
    fn from_lookup(env: impl Lookup) -> Result<Self, ConfigError> {
        DbConfig::from_lookup(env)
    }

    /// The DB user must fit Postgres' 63-byte identifiers.
    fn max_tenant_len(&self) -> usize {
        tenant_id::max_len(&[tenant_id::Template {
            pattern: self.user_template.pattern(),
            limit: tenant_id::POSTGRES_NAME_MAX,
        }])
    }

    /// One tenant's connections are all the capacity needed.
    fn for_one_tenant(&mut self) {
        self.connection_capacity = self.connections_per_tenant;
    }

    fn check(&self, access: &AccessConfig) -> Result<(), ConfigError> {
        if !access.isolation.policy() {
            return Ok(());
        }
        if self.resource_id.is_none() {
            return Err(err(
                "DB_RESOURCE_ID",
                "is required by the session-policy strategies (the cluster-... or prx-... id in rds-db:connect)",
            ));
        }
        if access.account.is_none() {
            return Err(err(
                "AWS_ACCOUNT_ID",
                "is required by the session-policy strategies (the account in rds-db:connect)",
            ));
        }
        Ok(())
    }
}

/// One function's whole configuration: [`AccessConfig`] plus its own part
/// (`S3Config` for s3-fetch, `DbConfig` for aurora-query).
///
/// ```
/// use tenant_access::config::{FunctionConfig, S3Config};
///
/// let env = |name: &str| match name {
///     "AWS_ACCOUNT_ID" => Some("123456789012".to_owned()),
///     "TENANT_BUCKET" => Some("shared-bucket".to_owned()),
///     _ => None,
/// };
/// let config = FunctionConfig::<S3Config>::from_lookup(&env).unwrap();
/// assert_eq!(config.service.bucket, "shared-bucket");
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct FunctionConfig<S> {
    /// Identity and STS settings.
    pub access: AccessConfig,
    /// The function's own settings.
    pub service: S,
}

impl<S: FromLookup> FunctionConfig<S> {
    /// Read from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(&ProcessEnv)
    }

    /// Read from any [`Lookup`].
    pub fn from_lookup(env: &impl Lookup) -> Result<Self, ConfigError> {
        let get = |name: &str| env.get(name);
        let mut access = AccessConfig::from_lookup(get)?;
        let mut service = S::from_lookup(get)?;
        service.check(&access)?;
        if access.tenancy == Tenancy::PerTenant {
            service.for_one_tenant();
        }
        access.max_tenant_len = access.max_tenant_len.min(service.max_tenant_len());
        Ok(FunctionConfig { access, service })
    }
}

/// Whether Lambda gives each tenant execution environments of its own
/// (`LAMBDA_TENANT_ISOLATION`): the function is deployed with
/// `TenancyConfig: TenantIsolationMode: PER_TENANT` and API Gateway passes
/// the caller's tenant as the invocation's tenant id.
///
/// ```
/// use tenant_access::config::{AccessConfig, Tenancy};
///
/// let config = AccessConfig::builder().tenancy(Tenancy::PerTenant).account("123456789012").build().unwrap();
/// // One tenant per execution environment: one tenant's sessions to keep.
/// assert_eq!(config.tenant_cache_capacity.get(), 1);
/// assert_eq!("per-tenant".parse::<Tenancy>(), Ok(Tenancy::PerTenant));
/// assert!("PER_TENANT".parse::<Tenancy>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Tenancy {
    /// Execution environments serve any tenant (`off`, the default); an
    /// invocation that carries a tenant id must still carry the caller's.
    #[default]
    Shared,
    /// Each execution environment serves one tenant (`per-tenant`): every
    /// invocation must carry the caller's tenant as its tenant id, the
    /// environment refuses any tenant but the first it served, and the
    /// caches are sized for one tenant.
    PerTenant,
}

impl Tenancy {
    /// The value `LAMBDA_TENANT_ISOLATION` takes for it.
    pub fn as_str(self) -> &'static str {
        match self {
            Tenancy::Shared => "off",
            Tenancy::PerTenant => "per-tenant",
        }
    }
}

impl std::str::FromStr for Tenancy {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "off" => Ok(Tenancy::Shared),
            "per-tenant" => Ok(Tenancy::PerTenant),
            other => Err(format!("`{other}` is not `off` or `per-tenant`")),
        }
    }
}

/// How a tenant's STS session is confined to the tenant (`TENANT_ISOLATION`).
///
/// ```
/// use tenant_access::config::Isolation;
///
/// let both: Isolation = "session-tags+session-policy".parse().unwrap();
/// assert!(both.tags() && both.policy() && both.shared_role());
/// assert!(!Isolation::RolePerTenant.shared_role());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Isolation {
    /// One role per tenant; its tags drive `${aws:PrincipalTag/...}`.
    RolePerTenant,
    /// One shared role; AssumeRole passes the tenant as a session tag.
    SessionTags,
    /// One shared role, scoped down by an inline session policy per tenant.
    SessionPolicy,
    /// One shared role, with both the session tag and the session policy.
    SessionTagsAndPolicy,
    /// No AssumeRole by the function: the caller's own ID token is
    /// exchanged at a Cognito identity pool for credentials of its
    /// authenticated role, tagged by the pool from the token's claims.
    IdentityPool,
}

impl Isolation {
    /// Its `TENANT_ISOLATION` value.
    ///
    /// ```
    /// use tenant_access::config::Isolation;
    /// assert_eq!(Isolation::SessionTags.as_str().parse::<Isolation>(), Ok(Isolation::SessionTags));
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Isolation::RolePerTenant => "role-per-tenant",
            Isolation::SessionTags => "session-tags",
            Isolation::SessionPolicy => "session-policy",
            Isolation::SessionTagsAndPolicy => "session-tags+session-policy",
            Isolation::IdentityPool => "identity-pool",
        }
    }

    /// Every strategy's `TENANT_ISOLATION` value.
    pub const NAMES: [&'static str; 5] = [
        "role-per-tenant",
        "session-tags",
        "session-policy",
        "session-tags+session-policy",
        "identity-pool",
    ];

    /// The strategies whose sessions the function obtains with STS
    /// `AssumeRole` (all but `identity-pool`).
    pub const ASSUME_ROLE_NAMES: [&'static str; 4] = [
        "role-per-tenant",
        "session-tags",
        "session-policy",
        "session-tags+session-policy",
    ];

    /// Whether the caller's own token is exchanged at an identity pool.
    pub fn identity_pool(self) -> bool {
        self == Isolation::IdentityPool
    }

    /// Whether AssumeRole passes the tenant session tag.
    pub fn tags(self) -> bool {
        matches!(
            self,
            Isolation::SessionTags | Isolation::SessionTagsAndPolicy
        )
    }

    /// Whether AssumeRole passes an inline session policy.
    pub fn policy(self) -> bool {
        matches!(
            self,
            Isolation::SessionPolicy | Isolation::SessionTagsAndPolicy
        )
    }

    /// Whether all tenants assume one shared role with `AssumeRole`.
    pub fn shared_role(self) -> bool {
        matches!(
            self,
            Isolation::SessionTags | Isolation::SessionPolicy | Isolation::SessionTagsAndPolicy
        )
    }
}

impl std::str::FromStr for Isolation {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "role-per-tenant" => Ok(Isolation::RolePerTenant),
            "session-tags" => Ok(Isolation::SessionTags),
            "session-policy" => Ok(Isolation::SessionPolicy),
            "session-tags+session-policy" => Ok(Isolation::SessionTagsAndPolicy),
            "identity-pool" => Ok(Isolation::IdentityPool),
            other => Err(format!(
                "`{other}` is not role-per-tenant, session-tags, session-policy, session-tags+session-policy or identity-pool"
            )),
        }
    }
}

/// The role a tenant's session assumes, `{account}` already filled in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TenantRole {
    /// One role per tenant (`TENANT_ROLE_ARN_TEMPLATE`).
    PerTenant(TenantTemplate),
    /// One role for all tenants (`TENANT_SHARED_ROLE_ARN`), per job when
    /// the ARN holds `{scope}` (filled with
    /// [`SessionScope::name`](crate::session_policy::SessionScope::name)).
    Shared(String),
    /// The authenticated role of an identity pool, which the pool (not the
    /// function) chooses and assumes for the caller.
    IdentityPool(IdentityPool),
}

/// A Cognito identity pool, as the `identity-pool` strategy uses it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityPool {
    /// `TENANT_IDENTITY_POOL_ID`: `<region>:<uuid>`.
    pub pool_id: String,
    /// `TENANT_IDENTITY_PROVIDER`: `cognito-idp.<region>.amazonaws.com/<user
    /// pool id>`, the key of the `Logins` map.
    pub provider: String,
}

impl IdentityPool {
    /// The issuer (`iss`) of the provider's tokens: `https://<provider>`.
    ///
    /// ```
    /// use tenant_access::config::IdentityPool;
    /// let pool = IdentityPool {
    ///     pool_id: "us-east-1:00000000-0000-0000-0000-000000000000".into(),
    ///     provider: "cognito-idp.us-east-1.amazonaws.com/us-east-1_abc".into(),
    /// };
    /// assert_eq!(pool.issuer(), "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_abc");
    /// ```
    pub fn issuer(&self) -> String {
        format!("https://{}", self.provider)
    }
}

impl TenantRole {
    /// The role ARN for `tenant`, for a function whose job is `scope`
    /// (`s3`, `db`, `dynamodb`; it fills `{scope}` in a shared role's ARN);
    /// for an identity pool, the pool's id (where the session comes from:
    /// the pool picks the role).
    ///
    /// ```
    /// use tenant_access::config::TenantRole;
    /// let shared = TenantRole::Shared("arn:aws:iam::123456789012:role/tenant-access-shared-{scope}".into());
    /// assert_eq!(
    ///     shared.arn(&"tenant1".parse().unwrap(), Some("s3")),
    ///     "arn:aws:iam::123456789012:role/tenant-access-shared-s3"
    /// );
    /// ```
    pub fn arn(&self, tenant: &TenantId, scope: Option<&str>) -> String {
        match self {
            TenantRole::PerTenant(template) => template.render(tenant),
            TenantRole::Shared(arn) => match scope {
                Some(scope) => arn.replace("{scope}", scope),
                None => arn.clone(),
            },
            TenantRole::IdentityPool(pool) => pool.pool_id.clone(),
        }
    }
}

/// Settings every function needs: identity and per-tenant STS sessions.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct AccessConfig {
    /// Authorizer claim that holds the tenant id (`TENANT_CLAIM`).
    pub tenant_claim: String,
    /// The isolation strategy (`TENANT_ISOLATION`).
    pub isolation: Isolation,
    /// The role a tenant's session assumes.
    pub role: TenantRole,
    /// Session tag key carrying the tenant (`TENANT_TAG_KEY`).
    pub tag_key: String,
    /// The account (`AWS_ACCOUNT_ID`), when set.
    pub account: Option<String>,
    /// AssumeRole `DurationSeconds` (`TENANT_SESSION_SECONDS`).
    pub session_duration: Duration,
    /// How many tenants' sessions are cached (`TENANT_CACHE_CAPACITY`; 1
    /// under [`Tenancy::PerTenant`]).
    pub tenant_cache_capacity: NonZeroUsize,
    /// Whether Lambda gives each tenant execution environments of its own
    /// (`LAMBDA_TENANT_ISOLATION`).
    pub tenancy: Tenancy,
    /// A request is answered this long before its Lambda deadline
    /// (`REQUEST_DEADLINE_MARGIN_MS`), so the answer still reaches the client.
    pub deadline_margin: Duration,
    /// A request's budget when the invocation carries no deadline
    /// (`REQUEST_TIMEOUT_MS`).
    pub request_timeout: Duration,
    /// The longest tenant id served: every name built from it (the tenant
    /// role's name within IAM's 64 characters; with [`FunctionConfig`], the
    /// DB user within Postgres' 63 bytes and the S3 prefix within S3's key
    /// length) must fit. Derived from the templates at cold start; a longer
    /// claim is refused (403 `invalid_tenant`) before any AWS call.
    pub max_tenant_len: usize,
    /// Namespace of the per-request EMF metric lines (`METRICS_NAMESPACE`);
    /// `None` when set to `none`.
    pub metrics_namespace: Option<String>,
    /// The tenant registry's DynamoDB table (`TENANT_REGISTRY_TABLE`), whose
    /// item per tenant holds its lifecycle state; `None`: no registry check.
    pub registry_table: Option<String>,
    /// How long a tenant's state is cached (`TENANT_STATE_TTL_MS`, 30 s by
    /// default): how long an offboarding can take to reach a warm function
    /// in code (the platform's own refusals take effect at once).
    pub state_ttl: Duration,
}

impl AccessConfig {
    /// Read from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(ProcessEnv)
    }

    /// Read from any [`Lookup`].
    pub fn from_lookup(env: impl Lookup) -> Result<Self, ConfigError> {
        let tenant_claim =
            optional(&env, "TENANT_CLAIM").unwrap_or_else(|| "custom:tenant_id".to_owned());
        let isolation = match optional(&env, "TENANT_ISOLATION") {
            None => Isolation::RolePerTenant,
            Some(v) => v
                .parse()
                .map_err(|reason| err("TENANT_ISOLATION", reason))?,
        };
        let account = optional(&env, "AWS_ACCOUNT_ID");
        if let Some(account) = &account
            && (account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()))
        {
            return Err(err("AWS_ACCOUNT_ID", "must be 12 digits"));
        }
        let fill_account = |variable: &'static str, value: String| {
            if !value.contains("{account}") {
                return Ok(value);
            }
            let account = account.as_deref().ok_or_else(|| {
                err(
                    "AWS_ACCOUNT_ID",
                    format!("is required because {variable} contains {{account}}"),
                )
            })?;
            Ok(value.replace("{account}", account))
        };
        let role = if isolation.identity_pool() {
            TenantRole::IdentityPool(identity_pool(&env)?)
        } else if isolation.shared_role() {
            let arn = required(&env, "TENANT_SHARED_ROLE_ARN").map_err(|_| {
                err(
                    "TENANT_SHARED_ROLE_ARN",
                    "is required by the session-tags and session-policy strategies",
                )
            })?;
            let arn = fill_account("TENANT_SHARED_ROLE_ARN", arn)?;
            let bare = arn.replace("{scope}", "");
            if !arn.starts_with("arn:") || !arn.contains(":role/") || bare.contains(['{', '}']) {
                return Err(err(
                    "TENANT_SHARED_ROLE_ARN",
                    format!("`{arn}` is not an IAM role ARN"),
                ));
            }
            TenantRole::Shared(arn)
        } else {
            TenantRole::PerTenant(role_template(&env, fill_account)?)
        };
        let tag_key = optional(&env, "TENANT_TAG_KEY").unwrap_or_else(|| "TenantID".to_owned());
        let tag_key_ok = (1..=128).contains(&tag_key.len())
            && !tag_key.to_ascii_lowercase().starts_with("aws:")
            && tag_key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || " _.:/=+-@".contains(c));
        if !tag_key_ok {
            return Err(err(
                "TENANT_TAG_KEY",
                format!("`{tag_key}` is not a valid session tag key"),
            ));
        }
        // 900 s is STS's minimum; 3600 s is the cap for role chaining, which is
        // what a Lambda execution role assuming a tenant role is.
        let session_duration =
            Duration::from_secs(bounded(&env, "TENANT_SESSION_SECONDS", 900, 900..=3600)?);
        let tenancy = match optional(&env, "LAMBDA_TENANT_ISOLATION") {
            None => Tenancy::Shared,
            Some(v) => v
                .parse()
                .map_err(|reason| err("LAMBDA_TENANT_ISOLATION", reason))?,
        };
        let mut capacity = bounded(
            &env,
            "TENANT_CACHE_CAPACITY",
            DEFAULT_TENANT_CACHE_CAPACITY as u64,
            1..=100_000,
        )?;
        if tenancy == Tenancy::PerTenant {
            capacity = 1;
        }
        let deadline_margin = Duration::from_millis(bounded(
            &env,
            "REQUEST_DEADLINE_MARGIN_MS",
            500,
            10..=60_000,
        )?);
        let request_timeout =
            Duration::from_millis(bounded(&env, "REQUEST_TIMEOUT_MS", 10_000, 100..=900_000)?);
        let max_tenant_len = match &role {
            // The role name is what follows the last '/' of the ARN.
            TenantRole::PerTenant(template) => tenant_id::max_len(&[tenant_id::Template {
                pattern: template.pattern().rsplit('/').next().unwrap_or_default(),
                limit: tenant_id::IAM_ROLE_NAME_MAX,
            }]),
            TenantRole::Shared(_) | TenantRole::IdentityPool(_) => {
                tenant_id::max_len(&[tenant_id::Template {
                    pattern: "{tenant}",
                    limit: tenant_id::TAG_VALUE_MAX,
                }])
            }
        };
        let metrics_namespace = match optional(&env, "METRICS_NAMESPACE").as_deref() {
            None => Some("TenantAccess".to_owned()),
            Some("none") => None,
            Some(ns) => {
                let valid = ns.len() <= 255
                    && !ns.starts_with(':')
                    && ns
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || " ._-/#:".contains(c));
                if !valid {
                    return Err(err(
                        "METRICS_NAMESPACE",
                        format!("`{ns}` is not a CloudWatch namespace (or `none`)"),
                    ));
                }
                Some(ns.to_owned())
            }
        };
        let registry_table = optional(&env, "TENANT_REGISTRY_TABLE");
        if let Some(table) = &registry_table
            && !valid_table_name(table)
        {
            return Err(err(
                "TENANT_REGISTRY_TABLE",
                format!("`{table}` is not a DynamoDB table name"),
            ));
        }
        let state_ttl =
            Duration::from_millis(bounded(&env, "TENANT_STATE_TTL_MS", 30_000, 0..=300_000)?);
        Ok(AccessConfig {
            registry_table,
            state_ttl,
            metrics_namespace,
            max_tenant_len,
            deadline_margin,
            request_timeout,
            tenant_claim,
            isolation,
            role,
            tag_key,
            account,
            session_duration,
            tenant_cache_capacity: NonZeroUsize::new(capacity as usize)
                .expect("bounded above zero"),
            tenancy,
        })
    }
}

fn identity_pool(env: &impl Lookup) -> Result<IdentityPool, ConfigError> {
    let needed = |name: &'static str| {
        required(env, name).map_err(|_| err(name, "is required by the identity-pool strategy"))
    };
    let pool_id = needed("TENANT_IDENTITY_POOL_ID")?;
    let valid_id = pool_id.split_once(':').is_some_and(|(region, id)| {
        !region.is_empty()
            && region
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !id.is_empty()
            && id.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-')
    });
    if !valid_id {
        return Err(err(
            "TENANT_IDENTITY_POOL_ID",
            format!("`{pool_id}` is not an identity pool id (<region>:<uuid>)"),
        ));
    }
    let provider = needed("TENANT_IDENTITY_PROVIDER")?;
    let valid_provider = !provider.contains("://")
        && provider
            .split_once('/')
            .is_some_and(|(host, pool)| host.contains('.') && !pool.is_empty());
    if !valid_provider {
        return Err(err(
            "TENANT_IDENTITY_PROVIDER",
            format!(
                "`{provider}` is not a provider name (cognito-idp.<region>.amazonaws.com/<user pool id>, no scheme)"
            ),
        ));
    }
    Ok(IdentityPool { pool_id, provider })
}

fn role_template(
    env: &impl Lookup,
    fill_account: impl Fn(&'static str, String) -> Result<String, ConfigError>,
) -> Result<TenantTemplate, ConfigError> {
    let template = fill_account(
        "TENANT_ROLE_ARN_TEMPLATE",
        optional(env, "TENANT_ROLE_ARN_TEMPLATE")
            .unwrap_or_else(|| "arn:aws:iam::{account}:role/tenant/assumeRole-{tenant}".to_owned()),
    )?;
    if !template.starts_with("arn:") || !template.contains(":role/") {
        return Err(err(
            "TENANT_ROLE_ARN_TEMPLATE",
            format!("`{template}` is not an IAM role ARN"),
        ));
    }
    let role_arn_template = TenantTemplate::parse(&template)
        .map_err(|reason| err("TENANT_ROLE_ARN_TEMPLATE", reason))?;
    Ok(role_arn_template)
}

/// Settings of the tenant-scoped S3 access.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct S3Config {
    /// The shared bucket (`TENANT_BUCKET`).
    pub bucket: String,
    /// A tenant's home prefix, without trailing `/` (`TENANT_S3_PREFIX_TEMPLATE`).
    pub prefix_template: TenantTemplate,
    /// Path-style addressing (`S3_FORCE_PATH_STYLE`), for S3-compatible endpoints.
    pub force_path_style: bool,
    /// Largest object answered inline (`S3_INLINE_MAX_BYTES`).
    pub inline_max_bytes: u64,
    /// Longest life of a presigned URL (`S3_PRESIGN_SECONDS`).
    pub presign_ttl: Duration,
    /// The tenant's KMS key, as S3's SSE-KMS key id
    /// (`TENANT_KMS_KEY_TEMPLATE`): by default the alias ARN
    /// `arn:<partition>:kms:<AWS_REGION>:<AWS_ACCOUNT_ID>:alias/tenant/{tenant}`,
    /// or `alias/tenant/{tenant}` when either is unset.
    pub kms_key_template: TenantTemplate,
}

/// Lambda's response payload limit is 6 MB; base64 turns 3 bytes into 4, and
/// the JSON envelope and headers need room too. 4 MiB encodes to 5.3 MiB.
pub const MAX_INLINE_BYTES: u64 = 4 * 1024 * 1024;

impl S3Config {
    /// Read from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(ProcessEnv)
    }

    /// Read from any [`Lookup`].
    pub fn from_lookup(env: impl Lookup) -> Result<Self, ConfigError> {
        let bucket = required(&env, "TENANT_BUCKET")?;
        let valid_bucket = (3..=63).contains(&bucket.len())
            && bucket
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
        if !valid_bucket {
            return Err(err(
                "TENANT_BUCKET",
                format!("`{bucket}` is not a valid bucket name"),
            ));
        }
        let prefix = optional(&env, "TENANT_S3_PREFIX_TEMPLATE")
            .unwrap_or_else(|| "{tenant}_home".to_owned());
        if prefix.starts_with('/') || prefix.ends_with('/') || prefix.contains("//") {
            return Err(err(
                "TENANT_S3_PREFIX_TEMPLATE",
                "must not start or end with '/' or hold an empty segment",
            ));
        }
        let prefix_template = TenantTemplate::parse(&prefix)
            .map_err(|reason| err("TENANT_S3_PREFIX_TEMPLATE", reason))?;
        Ok(S3Config {
            bucket,
            prefix_template,
            force_path_style: flag(&env, "S3_FORCE_PATH_STYLE")?,
            inline_max_bytes: bounded(
                &env,
                "S3_INLINE_MAX_BYTES",
                MAX_INLINE_BYTES,
                1..=MAX_INLINE_BYTES,
            )?,
            presign_ttl: Duration::from_secs(bounded(&env, "S3_PRESIGN_SECONDS", 300, 1..=3600)?),
            kms_key_template: kms_key_template(&env)?,
        })
    }
}

/// Settings of the tenant-scoped DynamoDB access.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct DynamoDbConfig {
    /// The shared table (`TENANT_TABLE`): partition key `tenant_id`, sort
    /// key `item_id`, both strings.
    pub table: String,
}

impl DynamoDbConfig {
    /// Read from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(ProcessEnv)
    }

    /// Read from any [`Lookup`].
    pub fn from_lookup(env: impl Lookup) -> Result<Self, ConfigError> {
        let table = required(&env, "TENANT_TABLE")?;
        if !valid_table_name(&table) {
            return Err(err(
                "TENANT_TABLE",
                format!("`{table}` is not a DynamoDB table name"),
            ));
        }
        Ok(DynamoDbConfig { table })
    }
}

/// Whether `table` is a DynamoDB table name: 3 to 255 of `A-Za-z0-9_.-`.
fn valid_table_name(table: &str) -> bool {
    (3..=255).contains(&table.len())
        && table
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b))
}

impl FromLookup for DynamoDbConfig {
    fn from_lookup(env: impl Lookup) -> Result<Self, ConfigError> {
        DynamoDbConfig::from_lookup(env)
    }
}

fn kms_key_template(env: &impl Lookup) -> Result<TenantTemplate, ConfigError> {
    let template = match optional(env, "TENANT_KMS_KEY_TEMPLATE") {
        Some(template) => template,
        None => match (optional(env, "AWS_REGION"), optional(env, "AWS_ACCOUNT_ID")) {
            (Some(region), Some(account)) => format!(
                "arn:{}:kms:{region}:{account}:alias/tenant/{{tenant}}",
                crate::session_policy::partition(&region)
            ),
            _ => "alias/tenant/{tenant}".to_owned(),
        },
    };
    let valid = template.starts_with("alias/") || template.starts_with("arn:");
    if !valid {
        return Err(err(
            "TENANT_KMS_KEY_TEMPLATE",
            format!("`{template}` is not a KMS alias (alias/...) or ARN"),
        ));
    }
    TenantTemplate::parse(&template).map_err(|reason| err("TENANT_KMS_KEY_TEMPLATE", reason))
}

/// Settings of the IAM-authenticated TLS Postgres access.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct DbConfig {
    /// Cluster endpoint host name, checked against the server certificate (`DB_HOST`).
    pub host: String,
    /// Port (`DB_PORT`).
    pub port: u16,
    /// Database name (`DB_NAME`).
    pub database: String,
    /// A tenant's login role (`DB_USER_TEMPLATE`).
    pub user_template: TenantTemplate,
    /// CA bundle the server certificate must chain to (`DB_CA_BUNDLE`).
    pub ca_bundle: PathBuf,
    /// Bound on a whole login: TCP, TLS and IAM authentication
    /// (`DB_CONNECT_TIMEOUT_SECONDS`).
    pub connect_timeout: Duration,
    /// Bound on one statement's answer (`DB_STATEMENT_TIMEOUT_MS`); past it
    /// the connection is dropped, since its state is unknown.
    pub statement_timeout: Duration,
    /// A connection older than this is closed and replaced before use
    /// (`DB_CONNECTION_MAX_AGE_SECONDS`), so a revoked login stops working
    /// within this bound.
    pub connection_max_age: Duration,
    /// How many connections are kept open, over all tenants
    /// (`DB_CONNECTION_CAPACITY`).
    pub connection_capacity: NonZeroUsize,
    /// How many of a tenant's connections may be in use at once
    /// (`DB_CONNECTIONS_PER_TENANT`): a tenant's concurrent requests run in
    /// parallel up to this, and wait beyond it.
    pub connections_per_tenant: NonZeroUsize,
    /// How long a tenant whose renewed login the database refused is
    /// refused at once, with no STS call (`DB_REFUSED_LOGIN_MEMORY_SECONDS`).
    pub refused_login_memory: Duration,
    /// The cluster's or proxy's resource id, `cluster-...` or `prx-...`
    /// (`DB_RESOURCE_ID`); needed for session policies.
    pub resource_id: Option<String>,
}

impl DbConfig {
    /// Read from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(ProcessEnv)
    }

    /// Read from any [`Lookup`].
    pub fn from_lookup(env: impl Lookup) -> Result<Self, ConfigError> {
        let host = required(&env, "DB_HOST")?;
        let port = number(&env, "DB_PORT", 5432u16)?;
        if port == 0 {
            return Err(err("DB_PORT", "must not be 0"));
        }
        let database = required(&env, "DB_NAME")?;
        let user =
            optional(&env, "DB_USER_TEMPLATE").unwrap_or_else(|| "{tenant}_dbuser".to_owned());
        let user_template =
            TenantTemplate::parse(&user).map_err(|reason| err("DB_USER_TEMPLATE", reason))?;
        let ca_bundle = PathBuf::from(required(&env, "DB_CA_BUNDLE")?);
        let connect_timeout =
            Duration::from_secs(bounded(&env, "DB_CONNECT_TIMEOUT_SECONDS", 5, 1..=60)?);
        let statement_timeout = Duration::from_millis(bounded(
            &env,
            "DB_STATEMENT_TIMEOUT_MS",
            5_000,
            10..=900_000,
        )?);
        // An RDS auth token lives 15 minutes; a connection is not kept longer
        // by default, so revocation reaches warm containers within that.
        let connection_max_age = Duration::from_secs(bounded(
            &env,
            "DB_CONNECTION_MAX_AGE_SECONDS",
            900,
            1..=86_400,
        )?);
        let capacity = bounded(&env, "DB_CONNECTION_CAPACITY", 20, 1..=10_000)?;
        let per_tenant = bounded(&env, "DB_CONNECTIONS_PER_TENANT", 4, 1..=64)?;
        let refused_login_memory = Duration::from_secs(bounded(
            &env,
            "DB_REFUSED_LOGIN_MEMORY_SECONDS",
            60,
            0..=3_600,
        )?);
        let resource_id = optional(&env, "DB_RESOURCE_ID");
        if let Some(id) = &resource_id {
            let body = id
                .strip_prefix("cluster-")
                .or_else(|| id.strip_prefix("prx-"))
                .unwrap_or_default();
            if body.is_empty() || !body.bytes().all(|b| b.is_ascii_alphanumeric()) {
                return Err(err(
                    "DB_RESOURCE_ID",
                    format!("`{id}` is not a cluster-... or prx-... resource id"),
                ));
            }
        }
        Ok(DbConfig {
            resource_id,
            host,
            port,
            database,
            user_template,
            ca_bundle,
            connect_timeout,
            statement_timeout,
            connection_max_age,
            connection_capacity: NonZeroUsize::new(capacity as usize).expect("bounded above zero"),
            connections_per_tenant: NonZeroUsize::new(per_tenant as usize)
                .expect("bounded above zero"),
            refused_login_memory,
        })
    }
}

/// Setters of a configuration builder: each stores its value as the
/// variable the environment would carry, so `build` validates exactly as
/// `from_lookup` does (one set of rules, however the values arrive).
macro_rules! setters {
    ($($(#[$doc:meta])* $name:ident($var:literal, $ty:ty, $render:expr);)*) => {
        $(
            $(#[$doc])*
            pub fn $name(mut self, value: $ty) -> Self {
                let render: fn($ty) -> String = $render;
                self.vars.insert($var, render(value));
                self
            }
        )*
    };
}

/// Builds an [`AccessConfig`] in code rather than from the environment,
/// with the same defaults and checks.
///
/// ```
/// use tenant_access::config::{AccessConfig, Isolation};
/// let config = AccessConfig::builder()
///     .isolation(Isolation::SessionTags)
///     .shared_role_arn("arn:aws:iam::123456789012:role/app-shared-{scope}")
///     .build()
///     .unwrap();
/// assert_eq!(config.isolation, Isolation::SessionTags);
/// // A bad value fails naming the variable it stands for.
/// let err = AccessConfig::builder().isolation(Isolation::SessionTags).build().unwrap_err();
/// assert_eq!(err.variable, "TENANT_SHARED_ROLE_ARN");
/// ```
#[derive(Debug, Clone, Default)]
pub struct AccessConfigBuilder {
    vars: std::collections::BTreeMap<&'static str, String>,
}

impl AccessConfig {
    /// A builder starting from the defaults.
    pub fn builder() -> AccessConfigBuilder {
        AccessConfigBuilder::default()
    }
}

impl AccessConfigBuilder {
    setters! {
        /// `TENANT_CLAIM`.
        tenant_claim("TENANT_CLAIM", &str, str::to_owned);
        /// `TENANT_ISOLATION`.
        isolation("TENANT_ISOLATION", Isolation, |i| i.as_str().to_owned());
        /// `TENANT_ROLE_ARN_TEMPLATE` (role-per-tenant).
        role_arn_template("TENANT_ROLE_ARN_TEMPLATE", &str, str::to_owned);
        /// `TENANT_SHARED_ROLE_ARN` (the shared strategies).
        shared_role_arn("TENANT_SHARED_ROLE_ARN", &str, str::to_owned);
        /// `TENANT_TAG_KEY`.
        tag_key("TENANT_TAG_KEY", &str, str::to_owned);
        /// `TENANT_IDENTITY_POOL_ID` (identity-pool).
        identity_pool_id("TENANT_IDENTITY_POOL_ID", &str, str::to_owned);
        /// `TENANT_IDENTITY_PROVIDER` (identity-pool).
        identity_provider("TENANT_IDENTITY_PROVIDER", &str, str::to_owned);
        /// `AWS_ACCOUNT_ID`.
        account("AWS_ACCOUNT_ID", &str, str::to_owned);
        /// `AWS_REGION`.
        region("AWS_REGION", &str, str::to_owned);
        /// `TENANT_SESSION_SECONDS`.
        session_duration("TENANT_SESSION_SECONDS", Duration, |d| d.as_secs().to_string());
        /// `TENANT_CACHE_CAPACITY`.
        tenant_cache_capacity("TENANT_CACHE_CAPACITY", usize, |n| n.to_string());
        /// `LAMBDA_TENANT_ISOLATION`.
        tenancy("LAMBDA_TENANT_ISOLATION", Tenancy, |t| t.as_str().to_owned());
        /// `REQUEST_DEADLINE_MARGIN_MS`.
        deadline_margin("REQUEST_DEADLINE_MARGIN_MS", Duration, |d| d.as_millis().to_string());
        /// `REQUEST_TIMEOUT_MS`.
        request_timeout("REQUEST_TIMEOUT_MS", Duration, |d| d.as_millis().to_string());
        /// `METRICS_NAMESPACE` (`none` turns the metrics off).
        metrics_namespace("METRICS_NAMESPACE", &str, str::to_owned);
    }

    /// The configuration, checked as [`AccessConfig::from_lookup`] checks it.
    pub fn build(self) -> Result<AccessConfig, ConfigError> {
        AccessConfig::from_lookup(|name: &str| self.vars.get(name).cloned())
    }
}

/// Builds an [`S3Config`] in code, with the same defaults and checks as
/// [`S3Config::from_lookup`].
///
/// ```
/// let s3 = tenant_access::config::S3Config::builder("tenant-data")
///     .force_path_style(true)
///     .build()
///     .unwrap();
/// assert_eq!(s3.bucket, "tenant-data");
/// ```
#[derive(Debug, Clone, Default)]
pub struct S3ConfigBuilder {
    vars: std::collections::BTreeMap<&'static str, String>,
}

impl S3Config {
    /// A builder for `bucket` (`TENANT_BUCKET`), starting from the defaults.
    pub fn builder(bucket: &str) -> S3ConfigBuilder {
        S3ConfigBuilder::default().bucket(bucket)
    }
}

impl S3ConfigBuilder {
    setters! {
        /// `TENANT_BUCKET`.
        bucket("TENANT_BUCKET", &str, str::to_owned);
        /// `TENANT_S3_PREFIX_TEMPLATE`.
        prefix_template("TENANT_S3_PREFIX_TEMPLATE", &TenantTemplate, |t| t.pattern().to_owned());
        /// `TENANT_KMS_KEY_TEMPLATE`.
        kms_key_template("TENANT_KMS_KEY_TEMPLATE", &TenantTemplate, |t| t.pattern().to_owned());
        /// `S3_FORCE_PATH_STYLE`.
        force_path_style("S3_FORCE_PATH_STYLE", bool, |b| b.to_string());
        /// `S3_INLINE_MAX_BYTES`.
        inline_max_bytes("S3_INLINE_MAX_BYTES", u64, |n| n.to_string());
        /// `S3_PRESIGN_SECONDS`.
        presign_ttl("S3_PRESIGN_SECONDS", Duration, |d| d.as_secs().to_string());
        /// `AWS_REGION`, for the default key template.
        region("AWS_REGION", &str, str::to_owned);
        /// `AWS_ACCOUNT_ID`, for the default key template.
        account("AWS_ACCOUNT_ID", &str, str::to_owned);
    }

    /// The configuration, checked as [`S3Config::from_lookup`] checks it.
    pub fn build(self) -> Result<S3Config, ConfigError> {
        S3Config::from_lookup(|name: &str| self.vars.get(name).cloned())
    }
}

/// Builds a [`DbConfig`] in code, with the same defaults and checks as
/// [`DbConfig::from_lookup`].
///
/// ```
/// use std::time::Duration;
/// let db = tenant_access::config::DbConfig::builder("db.example.com", "saas", "/opt/rds-ca-bundle.pem")
///     .statement_timeout(Duration::from_millis(2500))
///     .build()
///     .unwrap();
/// assert_eq!(db.statement_timeout, Duration::from_millis(2500));
/// ```
#[derive(Debug, Clone, Default)]
pub struct DbConfigBuilder {
    vars: std::collections::BTreeMap<&'static str, String>,
}

impl DbConfig {
    /// A builder for the cluster at `host` (`DB_HOST`), database `name`
    /// (`DB_NAME`), trusting the CAs in `ca_bundle` (`DB_CA_BUNDLE`),
    /// starting from the defaults.
    pub fn builder(host: &str, name: &str, ca_bundle: &str) -> DbConfigBuilder {
        let mut builder = DbConfigBuilder::default();
        builder.vars.insert("DB_HOST", host.to_owned());
        builder.vars.insert("DB_NAME", name.to_owned());
        builder.vars.insert("DB_CA_BUNDLE", ca_bundle.to_owned());
        builder
    }
}

impl DbConfigBuilder {
    setters! {
        /// `DB_PORT`.
        port("DB_PORT", u16, |p| p.to_string());
        /// `DB_USER_TEMPLATE`.
        user_template("DB_USER_TEMPLATE", &TenantTemplate, |t| t.pattern().to_owned());
        /// `DB_CONNECT_TIMEOUT_SECONDS`.
        connect_timeout("DB_CONNECT_TIMEOUT_SECONDS", Duration, |d| d.as_secs().to_string());
        /// `DB_STATEMENT_TIMEOUT_MS`.
        statement_timeout("DB_STATEMENT_TIMEOUT_MS", Duration, |d| d.as_millis().to_string());
        /// `DB_CONNECTION_MAX_AGE_SECONDS`.
        connection_max_age("DB_CONNECTION_MAX_AGE_SECONDS", Duration, |d| d.as_secs().to_string());
        /// `DB_CONNECTION_CAPACITY`.
        connection_capacity("DB_CONNECTION_CAPACITY", usize, |n| n.to_string());
        /// `DB_CONNECTIONS_PER_TENANT`.
        connections_per_tenant("DB_CONNECTIONS_PER_TENANT", usize, |n| n.to_string());
        /// `DB_REFUSED_LOGIN_MEMORY_SECONDS`.
        refused_login_memory("DB_REFUSED_LOGIN_MEMORY_SECONDS", Duration, |d| d.as_secs().to_string());
        /// `DB_RESOURCE_ID`.
        resource_id("DB_RESOURCE_ID", &str, str::to_owned);
    }

    /// The configuration, checked as [`DbConfig::from_lookup`] checks it.
    pub fn build(self) -> Result<DbConfig, ConfigError> {
        DbConfig::from_lookup(|name: &str| self.vars.get(name).cloned())
    }
}

impl DynamoDbConfig {
    /// The configuration for `table` (`TENANT_TABLE`), checked as
    /// [`DynamoDbConfig::from_lookup`] checks it.
    ///
    /// ```
    /// let items = tenant_access::config::DynamoDbConfig::new("tenant-items").unwrap();
    /// assert_eq!(items.table, "tenant-items");
    /// ```
    pub fn new(table: &str) -> Result<Self, ConfigError> {
        DynamoDbConfig::from_lookup(|name: &str| (name == "TENANT_TABLE").then(|| table.to_owned()))
    }
}

impl<S> FunctionConfig<S> {
    /// A function's configuration from parts built in code.
    pub fn new(access: AccessConfig, service: S) -> Self {
        FunctionConfig { access, service }
    }
}

#[cfg(test)]
mod tests {
    /// The variables this module reads, from its own source (the code
    /// before the tests): every `"NAME"` literal in capitals.
    fn variables_read() -> std::collections::BTreeSet<String> {
        let source = include_str!("config.rs");
        let code = &source[..source.find("#[cfg(test)]").unwrap()];
        code.lines()
            .filter(|l| !l.trim_start().starts_with("//"))
            .flat_map(|l| l.split('"').skip(1).step_by(2))
            .filter(|s| {
                s.len() > 2
                    && s.bytes().next().is_some_and(|b| b.is_ascii_uppercase())
                    && s.bytes()
                        .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
            })
            .map(str::to_owned)
            .collect()
    }

    /// The configuration table of docs/configuration.md: (variables of a
    /// row, its default cell).
    fn documented() -> Vec<(Vec<String>, String)> {
        let doc = include_str!("../../../docs/configuration.md");
        doc.lines()
            .filter(|l| l.starts_with("| `"))
            .map(|l| {
                let cells: Vec<&str> = l.split(" | ").collect();
                let names = cells[0]
                    .trim_start_matches("| ")
                    .split(", ")
                    .map(|n| n.trim_matches('`').to_owned())
                    .collect();
                (
                    names,
                    cells.last().unwrap().trim_end_matches(" |").to_owned(),
                )
            })
            .collect()
    }

    /// The table lists exactly the variables this module reads, and every
    /// numeric default it gives is the one the code applies.
    #[test]
    fn the_configuration_table_matches_the_code() {
        let listed: std::collections::BTreeSet<String> = documented()
            .into_iter()
            .flat_map(|(names, _)| names)
            .collect();
        assert_eq!(listed, variables_read());
        // `bounded(&env, "NAME", DEFAULT, ...)` and `number(&env, "NAME", DEFAULT)`.
        let source = include_str!("config.rs");
        let code = &source[..source.find("#[cfg(test)]").unwrap()];
        let flat: String = code.split_whitespace().collect::<Vec<_>>().join(" ");
        let mut checked = 0;
        for (names, default) in documented() {
            for name in names {
                let call = format!("&env, \"{name}\", ");
                let Some(at) = flat.find(&call) else { continue };
                let value = flat[at + call.len()..]
                    .split([',', ')'])
                    .next()
                    .unwrap()
                    .trim()
                    .trim_end_matches("u16")
                    .replace('_', "");
                let Ok(value) = value.parse::<u64>() else {
                    continue;
                };
                assert!(
                    default.contains(&format!("`{value}`")),
                    "{name}: the code's default is {value}, the table says {default}"
                );
                checked += 1;
            }
        }
        assert!(checked >= 10, "only {checked} defaults checked");
    }

    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Lookup {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name: &str| map.get(name).cloned()
    }

    #[test]
    fn defaults_follow_the_reference_design() {
        let c = AccessConfig::from_lookup(env(&[("AWS_ACCOUNT_ID", "123456789012")])).unwrap();
        let tenant: TenantId = "tenant1".parse().unwrap();
        assert_eq!(
            c.role.arn(&tenant, None),
            "arn:aws:iam::123456789012:role/tenant/assumeRole-tenant1"
        );
        assert_eq!(c.tenant_claim, "custom:tenant_id");
        assert_eq!(c.session_duration, Duration::from_secs(900));
        // assumeRole-<id> within IAM's 64 characters.
        assert_eq!(c.max_tenant_len, 53);
    }

    #[test]
    fn the_longest_tenant_id_fits_every_derived_name() {
        let base = [
            ("AWS_ACCOUNT_ID", "123456789012"),
            ("TENANT_BUCKET", "b-1"),
            ("DB_HOST", "h"),
            ("DB_NAME", "d"),
            ("DB_CA_BUNDLE", "/ca.pem"),
        ];
        let with = |extra: &[(&'static str, &'static str)]| {
            let mut vars = base.to_vec();
            vars.extend_from_slice(extra);
            vars
        };
        let db = FunctionConfig::<DbConfig>::from_lookup(&env(&with(&[]))).unwrap();
        assert_eq!(db.access.max_tenant_len, 53, "the role name binds first");
        let db = FunctionConfig::<DbConfig>::from_lookup(&env(&with(&[
            (
                "TENANT_ROLE_ARN_TEMPLATE",
                "arn:aws:iam::{account}:role/tenant/{tenant}",
            ),
            ("DB_USER_TEMPLATE", "{tenant}_database_login_role"),
        ])))
        .unwrap();
        assert_eq!(db.access.max_tenant_len, 63 - 20, "then the DB user");
        let shared = FunctionConfig::<S3Config>::from_lookup(&env(&with(&[
            ("TENANT_ISOLATION", "session-tags"),
            (
                "TENANT_SHARED_ROLE_ARN",
                "arn:aws:iam::{account}:role/shared",
            ),
        ])))
        .unwrap();
        assert_eq!(shared.access.max_tenant_len, 63, "only the alphabet rule");
    }

    #[test]
    fn errors_name_the_variable() {
        let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
            (vec![], "AWS_ACCOUNT_ID"),
            (vec![("AWS_ACCOUNT_ID", "12")], "AWS_ACCOUNT_ID"),
            (
                vec![("TENANT_ROLE_ARN_TEMPLATE", "arn:aws:iam::1:role/fixed")],
                "TENANT_ROLE_ARN_TEMPLATE",
            ),
            (
                vec![("TENANT_ROLE_ARN_TEMPLATE", "not-an-arn-{tenant}")],
                "TENANT_ROLE_ARN_TEMPLATE",
            ),
            (
                vec![
                    ("AWS_ACCOUNT_ID", "123456789012"),
                    ("TENANT_SESSION_SECONDS", "3601"),
                ],
                "TENANT_SESSION_SECONDS",
            ),
            (
                vec![
                    ("AWS_ACCOUNT_ID", "123456789012"),
                    ("TENANT_SESSION_SECONDS", "soon"),
                ],
                "TENANT_SESSION_SECONDS",
            ),
            (
                vec![
                    ("AWS_ACCOUNT_ID", "123456789012"),
                    ("TENANT_CACHE_CAPACITY", "0"),
                ],
                "TENANT_CACHE_CAPACITY",
            ),
            (
                vec![
                    ("AWS_ACCOUNT_ID", "123456789012"),
                    ("REQUEST_DEADLINE_MARGIN_MS", "0"),
                ],
                "REQUEST_DEADLINE_MARGIN_MS",
            ),
            (
                vec![
                    ("AWS_ACCOUNT_ID", "123456789012"),
                    ("REQUEST_TIMEOUT_MS", "-1"),
                ],
                "REQUEST_TIMEOUT_MS",
            ),
            (
                vec![
                    ("AWS_ACCOUNT_ID", "123456789012"),
                    ("METRICS_NAMESPACE", "bad{namespace}"),
                ],
                "METRICS_NAMESPACE",
            ),
        ];
        for (vars, variable) in cases {
            let e = AccessConfig::from_lookup(env(&vars)).unwrap_err();
            assert_eq!(e.variable, variable, "{vars:?}");
            assert!(e.to_string().contains(variable));
        }
        assert_eq!(
            S3Config::from_lookup(env(&[])).unwrap_err().variable,
            "TENANT_BUCKET"
        );
        assert_eq!(
            S3Config::from_lookup(env(&[("TENANT_BUCKET", "Bad_Bucket")]))
                .unwrap_err()
                .variable,
            "TENANT_BUCKET"
        );
        let e = S3Config::from_lookup(env(&[
            ("TENANT_BUCKET", "b-1"),
            ("S3_FORCE_PATH_STYLE", "yes"),
        ]))
        .unwrap_err();
        assert_eq!(e.variable, "S3_FORCE_PATH_STYLE");
        let e = S3Config::from_lookup(env(&[
            ("TENANT_BUCKET", "b-1"),
            ("TENANT_S3_PREFIX_TEMPLATE", "/{tenant}"),
        ]))
        .unwrap_err();
        assert_eq!(e.variable, "TENANT_S3_PREFIX_TEMPLATE");
        for (name, value) in [
            ("S3_INLINE_MAX_BYTES", "0"),
            ("S3_INLINE_MAX_BYTES", "4194305"),
            ("S3_PRESIGN_SECONDS", "3601"),
        ] {
            let e =
                S3Config::from_lookup(env(&[("TENANT_BUCKET", "b-1"), (name, value)])).unwrap_err();
            assert_eq!(e.variable, name);
        }
        let db = [
            ("DB_HOST", "h"),
            ("DB_NAME", "d"),
            ("DB_CA_BUNDLE", "/ca.pem"),
        ];
        assert!(DbConfig::from_lookup(env(&db)).is_ok());
        let e = DbConfig::from_lookup(env(&[("DB_HOST", "h"), ("DB_NAME", "d")])).unwrap_err();
        assert_eq!(e.variable, "DB_CA_BUNDLE");
        for (name, value) in [
            ("DB_PORT", "70000"),
            ("DB_STATEMENT_TIMEOUT_MS", "0"),
            ("DB_CONNECTION_MAX_AGE_SECONDS", "0"),
            ("DB_CONNECTION_MAX_AGE_SECONDS", "forever"),
        ] {
            let e = DbConfig::from_lookup(env(&[db[0], db[1], db[2], (name, value)])).unwrap_err();
            assert_eq!(e.variable, name);
        }
        let defaults = DbConfig::from_lookup(env(&db)).unwrap();
        assert_eq!(defaults.connection_max_age, Duration::from_secs(900));
        assert_eq!(defaults.statement_timeout, Duration::from_secs(5));
        let e = DbConfig::from_lookup(env(&[
            db[0],
            db[1],
            db[2],
            ("DB_USER_TEMPLATE", "{tenant}_{x}"),
        ]))
        .unwrap_err();
        assert_eq!(e.variable, "DB_USER_TEMPLATE");
    }

    #[test]
    fn every_strategy_name_parses_and_only_those() {
        let parsed: Vec<Isolation> = Isolation::NAMES
            .iter()
            .map(|n| n.parse().unwrap())
            .collect();
        assert_eq!(
            parsed,
            [
                Isolation::RolePerTenant,
                Isolation::SessionTags,
                Isolation::SessionPolicy,
                Isolation::SessionTagsAndPolicy,
                Isolation::IdentityPool
            ]
        );
        assert!("session-tags+".parse::<Isolation>().is_err());
        let shared = AccessConfig::from_lookup(env(&[
            ("TENANT_ISOLATION", "session-tags"),
            (
                "TENANT_SHARED_ROLE_ARN",
                "arn:aws:iam::{account}:role/shared",
            ),
            ("AWS_ACCOUNT_ID", "123456789012"),
        ]))
        .unwrap();
        assert_eq!(
            shared.role.arn(&"tenant9".parse().unwrap(), None),
            "arn:aws:iam::123456789012:role/shared",
            "every tenant assumes the one role"
        );
    }

    #[test]
    fn the_identity_pool_strategy_needs_its_pool_and_provider() {
        let pool = [
            ("TENANT_ISOLATION", "identity-pool"),
            (
                "TENANT_IDENTITY_POOL_ID",
                "us-east-1:0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0",
            ),
            (
                "TENANT_IDENTITY_PROVIDER",
                "cognito-idp.us-east-1.amazonaws.com/us-east-1_abc",
            ),
        ];
        let c = AccessConfig::from_lookup(env(&pool)).unwrap();
        assert!(c.isolation.identity_pool() && !c.isolation.shared_role());
        let TenantRole::IdentityPool(p) = &c.role else {
            panic!("{:?}", c.role)
        };
        assert_eq!(
            p.issuer(),
            "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_abc"
        );
        assert_eq!(c.max_tenant_len, 63, "only the alphabet rule binds");
        for (drop, variable) in [
            (1, "TENANT_IDENTITY_POOL_ID"),
            (2, "TENANT_IDENTITY_PROVIDER"),
        ] {
            let vars: Vec<_> = pool
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != drop)
                .map(|(_, v)| *v)
                .collect();
            assert_eq!(
                AccessConfig::from_lookup(env(&vars)).unwrap_err().variable,
                variable
            );
        }
        for (variable, bad) in [
            ("TENANT_IDENTITY_POOL_ID", "not-a-pool"),
            ("TENANT_IDENTITY_POOL_ID", "us-east-1:zz"),
            (
                "TENANT_IDENTITY_PROVIDER",
                "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_abc",
            ),
            ("TENANT_IDENTITY_PROVIDER", "cognito-idp"),
        ] {
            let mut vars = pool.to_vec();
            vars.push((variable, bad));
            vars.retain(|(k, v)| *k != variable || *v == bad);
            assert_eq!(
                AccessConfig::from_lookup(env(&vars)).unwrap_err().variable,
                variable,
                "{bad}"
            );
        }
    }

    #[test]
    fn templates_need_exactly_one_tenant_placeholder() {
        assert!(TenantTemplate::parse("fixed").is_err());
        assert!(TenantTemplate::parse("{tenant}{tenant}").is_err());
        assert!(TenantTemplate::parse("{tenant}-{other}").is_err());
        assert!(TenantTemplate::parse("home/{tenant}").is_ok());
    }
}
