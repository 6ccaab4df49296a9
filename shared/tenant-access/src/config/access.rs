//! What every function needs: who the caller's tenant is and how its
//! session is obtained (the isolation strategies, the tenant role, Lambda's
//! tenant isolation mode), and the request's budget.

use super::*;
use crate::limits::{Limits, TierLimits};

/// Whether Lambda gives each tenant execution environments of its own
/// (`LAMBDA_TENANT_ISOLATION`): the function is deployed with
/// `TenancyConfig: TenantIsolationMode: PER_TENANT` and API Gateway passes
/// the caller's tenant as the invocation's tenant id.
///
/// ```
/// use tenant_access::config::{AccessConfig, Tenancy};
///
/// let config = AccessConfig::builder().tenancy(Tenancy::PerTenant).account("123456789012").build().unwrap();
/// // One tenant per execution environment: one tenant's state to keep (its
/// // session cache keeps the tenant's and its users' sessions).
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
    /// How many tenants' sessions and registry states are cached
    /// (`TENANT_CACHE_CAPACITY`; 1 tenant under [`Tenancy::PerTenant`],
    /// whose session cache keeps that tenant's and its users' sessions, up
    /// to [`PER_TENANT_SESSION_CAPACITY`](crate::credentials::PER_TENANT_SESSION_CAPACITY)).
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
    /// Each tenant's limits in this container, by its tier
    /// ([`crate::limits`]): none unless configured.
    pub limits: TierLimits,
    /// Tiers served under a strategy of their own
    /// (`TENANT_TIER_ISOLATION`, `tier=strategy` comma-separated): each
    /// tier's access settings, read as these are but with its strategy. A
    /// tenant whose registry item names one of these tiers gets its
    /// sessions that way; every other tenant this config's way.
    pub tiers: Vec<(String, AccessConfig)>,
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
        let limits = tenant_limits(&env)?;
        let tiers = match optional(&env, "TENANT_TIER_ISOLATION") {
            Some(text) => tier_isolation(&env as &dyn Lookup, &text)?,
            None => Vec::new(),
        };
        if registry_table.is_none() {
            super::tiers::need_the_registry("TENANT_TIER_ISOLATION", !tiers.is_empty())?;
            super::tiers::need_the_registry(
                "TENANT_TIER_LIMITS",
                optional(&env, "TENANT_TIER_LIMITS").is_some(),
            )?;
        }
        Ok(AccessConfig {
            tiers,
            limits,
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

/// The variables as a tier's strategy sees them: its own
/// `TENANT_ISOLATION`, and no tiers of its own. (A trait object, so reading
/// a tier's settings does not instantiate the reader for ever.)
struct TierLookup<'a> {
    env: &'a dyn Lookup,
    strategy: &'a str,
}

impl Lookup for TierLookup<'_> {
    fn get(&self, name: &str) -> Option<String> {
        match name {
            "TENANT_ISOLATION" => Some(self.strategy.to_owned()),
            "TENANT_TIER_ISOLATION" => None,
            other => self.env.get(other),
        }
    }
}

/// `TENANT_TIER_ISOLATION`: each tier's strategy, its settings read from
/// `env` with that strategy (so a shared-role tier needs
/// `TENANT_SHARED_ROLE_ARN`, an identity-pool tier the pool's variables).
///
/// ```
/// use tenant_access::config::{AccessConfig, Isolation};
///
/// let vars = [
///     ("TENANT_ISOLATION", "session-tags"),
///     ("TENANT_SHARED_ROLE_ARN", "arn:aws:iam::123456789012:role/shared-{scope}"),
///     ("TENANT_TIER_ISOLATION", "premium=role-per-tenant"),
///     ("AWS_ACCOUNT_ID", "123456789012"),
///     // A tenant's tier is its registry item's.
///     ("TENANT_REGISTRY_TABLE", "tenant-registry"),
/// ];
/// let lookup = |name: &str| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string());
/// let config = AccessConfig::from_lookup(lookup).unwrap();
/// assert_eq!(config.tiers[0].0, "premium");
/// assert_eq!(config.tiers[0].1.isolation, Isolation::RolePerTenant);
/// let bad = |name: &str| match name {
///     "TENANT_TIER_ISOLATION" => Some("premium=identity-pool".to_owned()),
///     other => lookup(other),
/// };
/// let err = AccessConfig::from_lookup(bad).unwrap_err().to_string();
/// assert!(err.contains("TENANT_TIER_ISOLATION"), "{err}");
/// ```
fn tier_isolation(
    env: &dyn Lookup,
    text: &str,
) -> Result<Vec<(String, AccessConfig)>, ConfigError> {
    let mut tiers: Vec<(String, AccessConfig)> = Vec::new();
    let entries =
        crate::tier::tier_entries(text, "strategy").map_err(|e| err("TENANT_TIER_ISOLATION", e))?;
    for (tier, strategy) in entries {
        let config = AccessConfig::from_lookup(TierLookup { env, strategy }).map_err(|e| {
            err(
                "TENANT_TIER_ISOLATION",
                format!("the `{tier}` tier's strategy `{strategy}`: {e}"),
            )
        })?;
        tiers.push((tier.to_owned(), config));
    }
    Ok(tiers)
}

/// The per-tenant limits: the defaults (`TENANT_MAX_IN_FLIGHT`,
/// `TENANT_REQUESTS_PER_SECOND`, `TENANT_BURST`; 0 is no limit) and each
/// tier's (`TENANT_TIER_LIMITS`).
fn tenant_limits(env: &impl Lookup) -> Result<TierLimits, ConfigError> {
    let in_flight = bounded(env, "TENANT_MAX_IN_FLIGHT", 0, 0..=100_000)? as u32;
    let per_second = bounded(env, "TENANT_REQUESTS_PER_SECOND", 0, 0..=1_000_000)? as u32;
    // One second's worth when not given.
    let burst = bounded(env, "TENANT_BURST", u64::from(per_second), 0..=1_000_000)? as u32;
    if per_second > 0 && burst == 0 {
        return Err(err(
            "TENANT_BURST",
            "a rate (TENANT_REQUESTS_PER_SECOND) needs a burst of at least 1",
        ));
    }
    let default = Limits::new(in_flight, f64::from(per_second), burst);
    TierLimits::parse(
        &optional(env, "TENANT_TIER_LIMITS").unwrap_or_default(),
        default,
    )
    .map_err(|reason| err("TENANT_TIER_LIMITS", reason))
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
