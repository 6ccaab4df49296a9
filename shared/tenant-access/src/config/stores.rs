//! Each store's settings: S3, DynamoDB, the database.

use super::*;

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
        for (_, budget) in &mut self.tier_connections {
            *budget = self.connections_per_tenant;
        }
    }

    fn check(&self, access: &AccessConfig) -> Result<(), ConfigError> {
        super::tiers::need_the_registry(
            "DB_TIER_CONNECTIONS",
            !self.tier_connections.is_empty() && access.registry_table.is_none(),
        )?;
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

impl FromLookup for DynamoDbConfig {
    fn from_lookup(env: impl Lookup) -> Result<Self, ConfigError> {
        DynamoDbConfig::from_lookup(env)
    }
}

/// Settings of the tenant-scoped search store (an OpenSearch domain).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SearchConfig {
    /// The domain's endpoint (`SEARCH_ENDPOINT`): `https://` and a host,
    /// as the domain's `DomainEndpoint` names it; plain `http://` only to
    /// a loopback address.
    pub endpoint: String,
    /// The domain's name (`SEARCH_DOMAIN`), the ARN's `domain/<name>`.
    pub domain: String,
    /// How long one call to the domain may take (`SEARCH_TIMEOUT_SECONDS`,
    /// default 5, 1 to 30).
    pub timeout: Duration,
}

impl SearchConfig {
    /// Read from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(ProcessEnv)
    }

    /// Read from any [`Lookup`].
    ///
    /// ```
    /// use tenant_access::config::SearchConfig;
    ///
    /// let vars = [("SEARCH_ENDPOINT", "https://search-docs.example.com"), ("SEARCH_DOMAIN", "tenant-docs")];
    /// let lookup = |name: &str| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string());
    /// let config = SearchConfig::from_lookup(lookup).unwrap();
    /// assert_eq!(config.domain, "tenant-docs");
    /// let plain = |name: &str| match name {
    ///     "SEARCH_ENDPOINT" => Some("http://search.example.com".to_owned()),
    ///     other => lookup(other),
    /// };
    /// assert!(SearchConfig::from_lookup(plain).unwrap_err().to_string().contains("SEARCH_ENDPOINT"));
    /// ```
    pub fn from_lookup(env: impl Lookup) -> Result<Self, ConfigError> {
        let endpoint = required(&env, "SEARCH_ENDPOINT")?
            .trim_end_matches('/')
            .to_owned();
        let host = endpoint
            .strip_prefix("https://")
            .or_else(|| {
                endpoint
                    .strip_prefix("http://")
                    .filter(|host| loopback(host))
            })
            .ok_or_else(|| {
                err(
                    "SEARCH_ENDPOINT",
                    format!(
                        "`{endpoint}` is not https://<host> (plain http only to a loopback address)"
                    ),
                )
            })?;
        if host.is_empty() || host.contains(['/', '?', '#', '@', ' ']) {
            return Err(err(
                "SEARCH_ENDPOINT",
                format!("`{endpoint}` is not a scheme and a host, with no path"),
            ));
        }
        let domain = required(&env, "SEARCH_DOMAIN")?;
        let valid_domain = (3..=28).contains(&domain.len())
            && domain.starts_with(|c: char| c.is_ascii_lowercase())
            && domain
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if !valid_domain {
            return Err(err(
                "SEARCH_DOMAIN",
                format!(
                    "`{domain}` is not an OpenSearch domain name (3 to 28 of a-z, 0-9 and -, starting with a letter)"
                ),
            ));
        }
        Ok(SearchConfig {
            endpoint,
            domain,
            timeout: Duration::from_secs(bounded(&env, "SEARCH_TIMEOUT_SECONDS", 5, 1..=30)?),
        })
    }
}

/// Whether `host` (with its port, if any) is a loopback address.
fn loopback(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => host.rsplit_once(':').map_or(host, |(name, _)| name),
    };
    name == "localhost"
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

impl FromLookup for SearchConfig {
    fn from_lookup(env: impl Lookup) -> Result<Self, ConfigError> {
        SearchConfig::from_lookup(env)
    }
}

fn kms_key_template(env: &impl Lookup) -> Result<TenantTemplate, ConfigError> {
    let template = match optional(env, "TENANT_KMS_KEY_TEMPLATE") {
        Some(template) => template,
        None => match (optional(env, "AWS_REGION"), optional(env, "AWS_ACCOUNT_ID")) {
            (Some(region), Some(account)) => format!(
                "arn:{}:kms:{region}:{account}:alias/tenant/{{tenant}}",
                crate::aws::partition(&region)
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
    /// Tiers with a connection budget of their own
    /// (`DB_TIER_CONNECTIONS`, `tier=connections` comma-separated): a
    /// tenant whose registry item names one of these tiers has its
    /// connections counted against its tier's budget, not
    /// [`connection_capacity`](Self::connection_capacity), so the pooled
    /// tenants never close its idle connections nor it theirs. Open
    /// connections are at most the sum of all budgets.
    pub tier_connections: Vec<(String, NonZeroUsize)>,
    /// How many of a tenant's connections may be in use at once
    /// (`DB_CONNECTIONS_PER_TENANT`): a tenant's concurrent requests run in
    /// parallel up to this, and wait beyond it.
    pub connections_per_tenant: NonZeroUsize,
    /// How long a tenant whose renewed login the database refused is
    /// refused at once, with no STS call (`DB_REFUSED_LOGIN_MEMORY_SECONDS`).
    pub refused_login_memory: Duration,
    /// New logins per second this container may start, a tenth of them at
    /// once (`DB_LOGINS_PER_SECOND`; 0: no bound). A login past it waits for its
    /// turn up to a second, else is answered 503 with `Retry-After`, so
    /// after a failover a container's tenants log in again spread over
    /// seconds, not all in one (RDS takes 200 new IAM logins per second per
    /// cluster, over every container).
    pub logins_per_second: u32,
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
        let tier_connections = tier_connections(&env)?;
        let refused_login_memory = Duration::from_secs(bounded(
            &env,
            "DB_REFUSED_LOGIN_MEMORY_SECONDS",
            60,
            0..=3_600,
        )?);
        let logins_per_second = bounded(&env, "DB_LOGINS_PER_SECOND", 100, 0..=10_000)? as u32;
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
            tier_connections,
            refused_login_memory,
            logins_per_second,
        })
    }
}

/// `DB_TIER_CONNECTIONS`: each tier's own connection budget, 1 to 10,000.
fn tier_connections(env: &impl Lookup) -> Result<Vec<(String, NonZeroUsize)>, ConfigError> {
    const VAR: &str = "DB_TIER_CONNECTIONS";
    let text = optional(env, VAR).unwrap_or_default();
    crate::tier::tier_entries(&text, "connections")
        .map_err(|e| err(VAR, e))?
        .into_iter()
        .map(|(tier, n)| {
            n.parse::<usize>()
                .ok()
                .filter(|n| (1..=10_000).contains(n))
                .and_then(NonZeroUsize::new)
                .map(|n| (tier.to_owned(), n))
                .ok_or_else(|| {
                    err(
                        VAR,
                        format!("the `{tier}` tier's `{n}` is not 1 to 10000 connections"),
                    )
                })
        })
        .collect()
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
        /// `DB_TIER_CONNECTIONS`, e.g. `premium=8`.
        tier_connections("DB_TIER_CONNECTIONS", &str, str::to_owned);
        /// `DB_REFUSED_LOGIN_MEMORY_SECONDS`.
        refused_login_memory("DB_REFUSED_LOGIN_MEMORY_SECONDS", Duration, |d| d.as_secs().to_string());
        /// `DB_LOGINS_PER_SECOND`.
        logins_per_second("DB_LOGINS_PER_SECOND", u32, |n| n.to_string());
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
