//! db-admin: the tenant database's administration, run inside the VPC so
//! that no bastion is needed. It applies the schema (`db/01_schema.sql`,
//! compiled in) and onboards or offboards tenant logins through the
//! schema's own `onboard_tenant()` and `offboard_tenant()`, the very SQL
//! `db/tenant.sql` and `db/tenant_remove.sql` run through psql. It logs in
//! as the cluster's master user, whose password it reads from the
//! cluster's Secrets Manager secret at each invocation (never kept, never
//! logged), over TLS with the server's certificate and host name verified.
//!
//! `cargo xtask tenant add|remove --aws` and `cargo xtask db migrate --aws`
//! invoke it; `--local` runs [`Admin::run`] itself against the local stack
//! (the local PostgreSQL, the secret in moto), so the tests run the code the
//! function runs.
//!
//! ```
//! let action: db_admin::Action =
//!     serde_json::from_str(r#"{"action": "onboard", "tenants": ["tenant1"]}"#).unwrap();
//! assert_eq!(action.name(), "onboard");
//! ```

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tenant_access::TenantId;
use tenant_access::config::{ConfigError, DbConfig, Lookup, TenantTemplate};
use tokio_postgres_rustls::MakeRustlsConnect;

/// The schema, as `db/01_schema.sql` holds it.
pub const SCHEMA: &str = include_str!("../../../db/01_schema.sql");

/// The function's settings, read once at cold start.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Config {
    /// The cluster's writer endpoint (`DB_HOST`), checked against its certificate.
    pub host: String,
    /// `DB_PORT`.
    pub port: u16,
    /// `DB_NAME`.
    pub database: String,
    /// CAs the server certificate must chain to (`DB_CA_BUNDLE`).
    pub ca_bundle: PathBuf,
    /// Bound on the login (`DB_CONNECT_TIMEOUT_SECONDS`).
    pub connect_timeout: Duration,
    /// A tenant's login role (`DB_USER_TEMPLATE`).
    pub user_template: TenantTemplate,
    /// The secret holding the master user's `username` and `password`
    /// (`DB_ADMIN_SECRET_ID`: its ARN or name).
    pub secret_id: String,
}

impl Config {
    /// Read from any [`Lookup`]: the `DB_*` variables as aurora-query reads
    /// them, and `DB_ADMIN_SECRET_ID`.
    pub fn from_lookup(env: impl Lookup) -> Result<Self, ConfigError> {
        let db = DbConfig::from_lookup(|name: &str| env.get(name))?;
        let secret_id = env
            .get("DB_ADMIN_SECRET_ID")
            .filter(|v| !v.is_empty())
            .ok_or_else(|| ConfigError {
                variable: "DB_ADMIN_SECRET_ID",
                reason: "is required: the cluster's master user secret".to_owned(),
            })?;
        Ok(Config {
            host: db.host,
            port: db.port,
            database: db.database,
            ca_bundle: db.ca_bundle,
            connect_timeout: db.connect_timeout,
            user_template: db.user_template,
            secret_id,
        })
    }

    /// Read from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name: &str| std::env::var(name).ok())
    }
}

/// What to do: the invocation's event.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(tag = "action", rename_all = "kebab-case", deny_unknown_fields)]
#[non_exhaustive]
pub enum Action {
    /// Apply the schema (idempotent). A struct variant, so that an event
    /// with any other field is refused, as for the others.
    Migrate {},
    /// Onboard tenants' logins and metadata rows (idempotent).
    Onboard {
        /// Tenant ids.
        tenants: Vec<String>,
        /// The logins' server-side `statement_timeout`: the functions'
        /// `DB_STATEMENT_TIMEOUT_MS`.
        #[serde(default = "default_statement_timeout_ms")]
        statement_timeout_ms: u32,
    },
    /// Offboard tenants' logins (idempotent); records kept unless `purge`.
    Offboard {
        /// Tenant ids.
        tenants: Vec<String>,
        /// Delete the tenants' records and metadata rows too.
        #[serde(default)]
        purge: bool,
    },
}

fn default_statement_timeout_ms() -> u32 {
    5_000
}

impl Action {
    /// The action's name, as in the event.
    pub fn name(&self) -> &'static str {
        match self {
            Action::Migrate {} => "migrate",
            Action::Onboard { .. } => "onboard",
            Action::Offboard { .. } => "offboard",
        }
    }
}

/// What was done: the invocation's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    /// The action's name.
    pub action: String,
    /// The DB users onboarded or offboarded (none for `migrate`).
    pub db_users: Vec<String>,
}

/// Why an action failed. No variant carries the password.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A tenant id is not one (checked before anything is done).
    #[error("`{0}` is not a tenant id: {1}")]
    InvalidTenant(String, String),
    /// `statement_timeout_ms` is out of the functions' range.
    #[error("statement_timeout_ms {0} is not in 10..=900000")]
    StatementTimeout(u32),
    /// The secret could not be read.
    #[error("reading the master user secret: {0}")]
    Secret(String),
    /// The secret is not `{"username": ..., "password": ...}`.
    #[error("the master user secret holds no username and password")]
    SecretFormat,
    /// The CA bundle could not be loaded.
    #[error(transparent)]
    Tls(#[from] tenant_access::db::TlsSetupError),
    /// Logging in failed.
    #[error("logging in as the master user: {0}")]
    Connect(tokio_postgres::Error),
    /// The tenant id was offboarded before: ids are never reused, so a new
    /// customer never inherits an old one's rows, objects, items or key.
    #[error("tenant id `{0}` was offboarded: a tenant id is never reused (choose a new id)")]
    OffboardedId(String),
    /// A statement failed; what was done before it stays done (every step
    /// is idempotent, so the action can be run again).
    #[error("{step}: {source}")]
    Sql {
        /// What was being done.
        step: String,
        /// The database's error.
        source: tokio_postgres::Error,
    },
}

/// The SQLSTATE `onboard_tenant()` raises for an id offboarded before.
const OFFBOARDED_ID: &str = "TA003";

#[derive(Deserialize)]
struct MasterSecret {
    username: String,
    password: String,
}

/// Runs [`Action`]s against one cluster.
#[derive(Debug, Clone)]
pub struct Admin {
    config: Config,
    secrets: aws_sdk_secretsmanager::Client,
}

impl Admin {
    /// An admin for `config`, reading the secret with `sdk`'s credentials.
    pub fn new(config: Config, sdk: &aws_config::SdkConfig) -> Self {
        Admin {
            config,
            secrets: aws_sdk_secretsmanager::Client::new(sdk),
        }
    }

    /// Check `action`, log in, and run it.
    pub async fn run(&self, action: &Action) -> Result<Outcome, Error> {
        let users = self.db_users(action)?;
        let client = self.connect().await?;
        match action {
            Action::Migrate {} => client
                .batch_execute(SCHEMA)
                .await
                .map_err(|source| sql("applying db/01_schema.sql", source))?,
            Action::Onboard {
                statement_timeout_ms,
                ..
            } => {
                let ms = i32::try_from(*statement_timeout_ms).unwrap_or(i32::MAX);
                for user in &users {
                    client
                        .execute("SELECT onboard_tenant($1::text, $2::integer)", &[user, &ms])
                        .await
                        .map_err(|source| {
                            if source.code().map(|c| c.code()) == Some(OFFBOARDED_ID) {
                                Error::OffboardedId(user.clone())
                            } else {
                                sql(&format!("onboarding {user}"), source)
                            }
                        })?;
                    tracing::info!(db_user = %user, "onboarded");
                }
            }
            Action::Offboard { purge, .. } => {
                for user in &users {
                    client
                        .execute(
                            "SELECT offboard_tenant($1::text, $2::boolean)",
                            &[user, purge],
                        )
                        .await
                        .map_err(|source| sql(&format!("offboarding {user}"), source))?;
                    tracing::info!(db_user = %user, purge, "offboarded");
                }
            }
        }
        Ok(Outcome {
            action: action.name().to_owned(),
            db_users: users,
        })
    }

    /// The DB users `action` names, every tenant id checked first.
    fn db_users(&self, action: &Action) -> Result<Vec<String>, Error> {
        let tenants = match action {
            Action::Migrate {} => return Ok(Vec::new()),
            Action::Onboard {
                tenants,
                statement_timeout_ms,
            } => {
                if !(10..=900_000).contains(statement_timeout_ms) {
                    return Err(Error::StatementTimeout(*statement_timeout_ms));
                }
                tenants
            }
            Action::Offboard { tenants, .. } => tenants,
        };
        let max = tenant_id::max_len(&[
            tenant_id::DEFAULT_TEMPLATES[0],
            tenant_id::Template {
                pattern: self.config.user_template.pattern(),
                limit: tenant_id::POSTGRES_NAME_MAX,
            },
        ]);
        tenants
            .iter()
            .map(|id| {
                tenant_id::check(id, max)
                    .map_err(|e| Error::InvalidTenant(id.clone(), e.to_string()))?;
                let tenant: TenantId = id
                    .parse()
                    .map_err(|_| Error::InvalidTenant(id.clone(), "invalid".to_owned()))?;
                Ok(self.config.user_template.render(&tenant))
            })
            .collect()
    }

    async fn connect(&self) -> Result<tokio_postgres::Client, Error> {
        let secret = self
            .secrets
            .get_secret_value()
            .secret_id(&self.config.secret_id)
            .send()
            .await
            .map_err(|e| {
                Error::Secret(aws_sdk_secretsmanager::error::DisplayErrorContext(e).to_string())
            })?;
        let master: MasterSecret = secret
            .secret_string()
            .and_then(|s| serde_json::from_str(s).ok())
            .ok_or(Error::SecretFormat)?;
        let tls = MakeRustlsConnect::new(tenant_access::db::tls_config(&self.config.ca_bundle)?);
        let (client, connection) = tokio_postgres::Config::new()
            .host(&self.config.host)
            .port(self.config.port)
            .dbname(&self.config.database)
            .user(&master.username)
            .password(master.password)
            .ssl_mode(tokio_postgres::config::SslMode::Require)
            .connect_timeout(self.config.connect_timeout)
            .application_name("db-admin")
            .connect(tls)
            .await
            .map_err(Error::Connect)?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::warn!(error = %e, "admin connection closed");
            }
        });
        Ok(client)
    }
}

fn sql(step: &str, source: tokio_postgres::Error) -> Error {
    Error::Sql {
        step: step.to_owned(),
        source,
    }
}
