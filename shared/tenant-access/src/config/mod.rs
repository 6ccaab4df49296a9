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
//! | `AWS_REGION` | the functions' region (set by Lambda): the default KMS key's and the session policies' ARNs | Lambda's |
//! | `TENANT_REGISTRY_TABLE` | the tenant registry's table: each request's tenant must be `active` in it, before any AWS call for it; its item's `tier` picks the tier settings below | none |
//! | `TENANT_STATE_TTL_MS` | how long a tenant's state is cached, 0..=300000 | `30000` |
//! | `TENANT_TIER_ISOLATION` | tiers served under a strategy of their own, `tier=strategy` comma-separated (needs `TENANT_REGISTRY_TABLE`) | none |
//! | `TENANT_CACHE_CAPACITY` | tenants whose sessions are kept warm (about 2.4 KB each, with the tenant's cached registry state) | `10000` |
//! | `LAMBDA_TENANT_ISOLATION` | `per-tenant` when the function is deployed with Lambda's tenant isolation mode (`TenancyConfig: PER_TENANT`): every invocation's tenant id must be the caller's, an execution environment serves one tenant, and the caches hold one tenant (`TENANT_CACHE_CAPACITY` 1, whose own and whose users' sessions are kept, up to 64; `DB_CONNECTION_CAPACITY` = `DB_CONNECTIONS_PER_TENANT`); `off` otherwise | `off` |
//! | `REQUEST_DEADLINE_MARGIN_MS` | how long before the Lambda deadline a request is answered 504 | `500` |
//! | `REQUEST_TIMEOUT_MS` | a request's budget when there is no Lambda deadline (tests, emulators) | `10000` |
//! | `METRICS_NAMESPACE` | CloudWatch namespace of the per-request EMF lines; `none` turns them off | `TenantAccess` |
//! | `TENANT_BUCKET` | the shared bucket (s3-fetch) | required |
//! | `TENANT_S3_PREFIX_TEMPLATE` | a tenant's home prefix; `{tenant}` | `{tenant}_home` |
//! | `S3_FORCE_PATH_STYLE` | path-style addressing (`true`/`false`) | `false` |
//! | `S3_INLINE_MAX_BYTES` | largest object answered inline; larger ones redirect to a presigned URL | `4194304` (the most that fits Lambda's 6 MB response once base64-encoded) |
//! | `TENANT_KMS_KEY_TEMPLATE` | the tenant's KMS key for SSE-KMS writes; `{tenant}` | `arn:aws:kms:<AWS_REGION>:<AWS_ACCOUNT_ID>:alias/tenant/{tenant}` |
//! | `S3_PRESIGN_SECONDS` | longest life of a presigned URL, 1 to 3600 (never past the session's expiry) | `300` |
//! | `SEARCH_ENDPOINT`, `SEARCH_DOMAIN` | the search domain's `https://` endpoint and its name (search-docs) | required |
//! | `SEARCH_TIMEOUT_SECONDS` | how long one call to the search domain may take, 1..=30 | `5` |
//! | `TENANT_TABLE` | the shared DynamoDB table (dynamodb-items); partition key `tenant_id`, sort key `item_id` | required |
//! | `DB_HOST`, `DB_PORT`, `DB_NAME` | the cluster endpoint (aurora-query) | host, name required; port `5432` |
//! | `DB_USER_TEMPLATE` | a tenant's DB login role; `{tenant}` | `{tenant}_dbuser` |
//! | `DB_CA_BUNDLE` | PEM file of CAs the server certificate must chain to | required |
//! | `DB_CONNECT_TIMEOUT_SECONDS` | TCP+TLS+auth timeout | `5` |
//! | `DB_STATEMENT_TIMEOUT_MS` | longest wait for one statement's answer | `5000` |
//! | `DB_CONNECTION_MAX_AGE_SECONDS` | a connection is replaced after this long, so revoking a login takes effect | `900` |
//! | `DB_CONNECTION_CAPACITY` | connections kept open, over all tenants | `20` |
//! | `DB_TIER_CONNECTIONS` | a tier's own connection budget beside `DB_CONNECTION_CAPACITY`, `tier=connections` comma-separated, 1..=10000 each (needs `TENANT_REGISTRY_TABLE`): its tenants take no place of the others' and lose none to them | none |
//! | `DB_CONNECTIONS_PER_TENANT` | a tenant's connections in use at once (its concurrent requests beyond wait) | `4` |
//! | `DB_REFUSED_LOGIN_MEMORY_SECONDS` | how long a refused login must persist to be the tenant's (403), and is then remembered; before, 503 and a jittered retry | `60` |
//! | `DB_LOGINS_PER_SECOND` | new logins per second one container may start, a tenth of them at once (0: no bound); past it a login waits up to a second for its turn, else 503 with `Retry-After` | `100` |
//! | `DB_RESOURCE_ID` | `cluster-...` or `prx-...`, for session policies | required by the session-policy strategies |
//! | `TENANT_MAX_IN_FLIGHT`, `TENANT_REQUESTS_PER_SECOND`, `TENANT_BURST` | a tenant's limits in one container ([`crate::limits`]); 0 is none | `0` |
//! | `TENANT_TIER_LIMITS` | each tier's limits, `tier=in_flight:per_second:burst`, comma-separated (needs `TENANT_REGISTRY_TABLE`) | none |
//! | `TOKEN_ISSUER`, `TOKEN_AUDIENCE` | the tenant authorizer ([`AuthorizerConfig`]): the issuer and app clients whose tokens it accepts | required by it |
//! | `JWKS_URL` | the tenant authorizer: the issuer's signing keys | `<TOKEN_ISSUER>/.well-known/jwks.json` |
//! | `JWKS_REFRESH_SECONDS` | the tenant authorizer: shortest time between two fetches of the keys, 1 to 3600 | `60` |
//! | `USAGE_KEY_PREFIX` | the tenant authorizer: the prefix of each tenant's API key value, `<prefix><tenant>`, answered as `usageIdentifierKey` | none |

use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::time::Duration;

use crate::identity::TenantId;

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

mod access;
mod authorizer;
mod stores;
mod tiers;

pub use access::*;
pub use authorizer::*;
pub use stores::*;

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
/// container keeps. A cached tenant (its session and its registry state)
/// costs about 2.4 KB: a session holds its credentials, while the one S3
/// client and the SDK configuration are shared by every session (`cargo
/// run -p bench --release -- --session-memory 10000`: 2,440 bytes each,
/// the process 12 to 35 MiB). So 10,000 cost about 24 MiB, under a tenth
/// of the template's 256 MB function, the rest left for requests. (When
/// each session carried its own S3 client, one cost about 27 KB and the
/// default had to be 4,000; with its own copy of the SDK configuration,
/// about 4.4 KB.)
pub const DEFAULT_TENANT_CACHE_CAPACITY: usize = 10_000;

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

/// Whether `table` is a DynamoDB table name: 3 to 255 of `A-Za-z0-9_.-`.
fn valid_table_name(table: &str) -> bool {
    (3..=255).contains(&table.len())
        && table
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b))
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

impl<S> FunctionConfig<S> {
    /// A function's configuration from parts built in code.
    pub fn new(access: AccessConfig, service: S) -> Self {
        FunctionConfig { access, service }
    }
}

#[cfg(test)]
mod doc_table;

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// A lookup over `pairs`, for the config modules' tests.
    pub(super) fn env(pairs: &[(&str, &str)]) -> impl Lookup {
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
