//! IAM-authenticated TLS connections to Postgres, one per tenant.
//!
//! A tenant's connection logs in as the tenant's own DB user (rendered from
//! `DB_USER_TEMPLATE`, never taken from the request) with an RDS IAM auth
//! token signed by the tenant's STS session, over TLS that verifies the
//! server certificate against `DB_CA_BUNDLE` and checks the host name. There
//! is no fallback to plain TCP. Row-level security keyed on `current_user`
//! then confines every statement to the tenant's rows.
//!
//! Each tenant has a small pool: up to `DB_CONNECTIONS_PER_TENANT` of its
//! connections in use at once, so a tenant's concurrent requests (under
//! `run_concurrent`) run side by side instead of queueing on one
//! connection; a connection serves one request at a time, so a
//! transaction's state is never shared. Over all tenants at most
//! `DB_CONNECTION_CAPACITY` connections are open: a new one closes the
//! least recently used tenant's idle connection first. A tier can have a
//! budget of its own (`DB_TIER_CONNECTIONS`, with
//! [`TenantDatabase::with_tiers`]): its tenants' connections are counted
//! there, so a crowd of pooled tenants never closes them, nor they the
//! pooled tenants'. Connections are
//! checked before reuse and reopened with a fresh token when the server
//! closed them.
//!
//! On a bad day:
//! - a login (TCP, TLS and IAM authentication together) is bounded by
//!   `DB_CONNECT_TIMEOUT_SECONDS`, and each statement's answer by
//!   `DB_STATEMENT_TIMEOUT_MS`; TCP keepalive and `TCP_USER_TIMEOUT` make a
//!   half-open socket (a failed-over or paused server) fail instead of hang;
//! - a connection whose statement did not complete (time-out, cancelled
//!   request, broken socket) is dropped, never reused: its transaction state
//!   is unknown;
//! - a connection older than `DB_CONNECTION_MAX_AGE_SECONDS` is replaced
//!   before use, so revoking a tenant's login reaches warm containers
//!   within that bound;
//! - only reads ([`TenantDatabase::query`]) are retried on a fresh connection;
//!   writes ([`TenantDatabase::query_once`]) never run twice;
//! - a refused login is remembered ([`TenantDatabase::refused_login`]), so a
//!   refused tenant's clients cost no STS call and no login meanwhile. A
//!   refusal is not taken for a revocation at once when the tenant registry
//!   holds the tenant active ([`TenantDatabase::with_registry`]): after a
//!   failover, or past RDS's 200 new IAM logins per second, logins fail for
//!   reasons that are not the tenant's. Such a refusal is answered 503 with
//!   `Retry-After` (1 s), and the next login is tried after a jittered 0.5
//!   to 1 s (so a client that waits the `Retry-After` finds it tried), the
//!   containers' retries spread and each paced by `DB_LOGINS_PER_SECOND`
//!   below. Only a
//!   refusal that persists for `DB_REFUSED_LOGIN_MEMORY_SECONDS` is the
//!   tenant's (403 `access_denied`), and is then remembered that long;
//! - new logins are paced per container (`DB_LOGINS_PER_SECOND`, a token
//!   bucket): after a failover drops every connection, a login past the
//!   pace waits its turn up to [`MAX_LOGIN_WAIT`], else its request is
//!   answered 503 `throttled` with `Retry-After` with no login, so the
//!   container's tenants come back spread over seconds.

use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_rds::auth_token::{AuthToken, AuthTokenGenerator, Config as TokenConfig};
use lru::LruCache;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Row};
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::Error;
use crate::config::{DbConfig, TenantTemplate};
use crate::credentials::TenantSession;
use crate::identity::TenantId;

mod budget;
mod connection;
mod logins;
mod refusals;
mod sqlstate;
mod tls;

pub use logins::MAX_LOGIN_WAIT;

use budget::Budget;
pub use connection::TenantConnection;
use connection::{Failure, Open, ParamTypes};
use refusals::Refused;
use sqlstate::connect_error;
pub use sqlstate::{TENANT_NOT_ACTIVE, TENANT_WITHOUT_METADATA};
pub use tls::{TlsSetupError, tls_config};

/// Postgres' limit on identifier length, in bytes.
const MAX_ROLE_NAME_LEN: usize = 63;

/// An RDS IAM auth token: a bearer credential for the tenant's DB login
/// for 15 minutes. `Debug` shows only that it is one, and there is no
/// `Display`, so formatting it into a log line leaks nothing;
/// [`expose`](Self::expose) hands out the token where it must go (the
/// login).
///
/// ```no_run
/// # async fn run(db: &tenant_access::db::TenantDatabase, session: &tenant_access::TenantSession) -> Result<(), tenant_access::Error> {
/// let token = db.auth_token(session).await?;
/// assert_eq!(format!("{token:?}"), "DbToken(<redacted>)");
/// # Ok(()) }
/// ```
pub struct DbToken(AuthToken);

impl DbToken {
    /// The token itself, to be used as the login password.
    pub fn expose(&self) -> &str {
        self.0.as_str()
    }
}

impl std::fmt::Debug for DbToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DbToken(<redacted>)")
    }
}

/// TCP keepalive: first probe after this much idle time.
const KEEPALIVE_IDLE: Duration = Duration::from_secs(10);
/// TCP keepalive: between probes.
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(5);
/// TCP keepalive: unanswered probes before the socket is dropped.
const KEEPALIVE_RETRIES: u32 = 3;

/// The tenants' database access. Build once at cold start.
///
/// # Example
///
/// ```no_run
/// # async fn run(session: &tenant_access::TenantSession) -> Result<(), tenant_access::Error> {
/// use tenant_access::config::DbConfig;
/// use tenant_access::db::TenantDatabase;
///
/// let db = TenantDatabase::new(&DbConfig::from_env().unwrap()).unwrap();
/// // No WHERE clause: row-level security returns only the session tenant's rows.
/// let rows = db.query(session, "SELECT tenant_id FROM tenant_metadata", &[]).await?;
/// # Ok(()) }
/// ```
pub struct TenantDatabase {
    host: String,
    port: u16,
    database: String,
    user_template: TenantTemplate,
    connect_timeout: Duration,
    statement_timeout: Duration,
    max_age: Duration,
    tls: MakeRustlsConnect,
    per_tenant: NonZeroUsize,
    /// The pooled tenants' connections, `DB_CONNECTION_CAPACITY` in all.
    pooled: Budget,
    /// The tiers with a budget of their own (`DB_TIER_CONNECTIONS`).
    tiers: Vec<(String, Budget)>,
    /// Where a tenant's tier is read from, when there are tiers.
    registry: Option<Arc<crate::registry::TenantRegistry>>,
    /// Tenants whose login was refused: since when, and when to try again.
    refused: Mutex<LruCache<TenantId, Refused>>,
    refused_login_memory: Duration,
    /// Whether each login's tenant was found active in the registry first.
    registry_checked: bool,
    /// The container's turns to log in (`DB_LOGINS_PER_SECOND`).
    logins: Option<logins::LoginBudget>,
    /// Each statement's parameter types, for its first run on a fresh
    /// connection in one round trip.
    param_types: Arc<ParamTypes>,
    /// Logins that waited for their turn, and requests refused one.
    logins_waited: AtomicU64,
    logins_throttled: AtomicU64,
    connects: AtomicU64,
    tokens: AtomicU64,
    reuses: AtomicU64,
}

impl std::fmt::Debug for TenantDatabase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TenantDatabase")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("database", &self.database)
            .finish_non_exhaustive()
    }
}

impl TenantDatabase {
    /// Database access as configured; fails if the CA bundle is unusable.
    pub fn new(config: &DbConfig) -> Result<Self, TlsSetupError> {
        let tls = tls_config(&config.ca_bundle)?;
        Ok(Self::with_tls(config, tls, config.connection_capacity))
    }

    fn with_tls(config: &DbConfig, tls: rustls::ClientConfig, capacity: NonZeroUsize) -> Self {
        TenantDatabase {
            host: config.host.clone(),
            port: config.port,
            database: config.database.clone(),
            user_template: config.user_template.clone(),
            connect_timeout: config.connect_timeout,
            statement_timeout: config.statement_timeout,
            max_age: config.connection_max_age,
            tls: MakeRustlsConnect::new(tls),
            per_tenant: config.connections_per_tenant,
            pooled: Budget::new(capacity),
            tiers: config
                .tier_connections
                .iter()
                .map(|(tier, n)| (tier.clone(), Budget::new(*n)))
                .collect(),
            registry: None,
            refused: Mutex::new(LruCache::new(capacity)),
            refused_login_memory: config.refused_login_memory,
            registry_checked: false,
            logins: logins::LoginBudget::new(config.logins_per_second, std::time::Instant::now()),
            param_types: Arc::default(),
            logins_waited: AtomicU64::new(0),
            logins_throttled: AtomicU64::new(0),
            connects: AtomicU64::new(0),
            tokens: AtomicU64::new(0),
            reuses: AtomicU64::new(0),
        }
    }

    /// The tenant's DB user. Checked to be a valid Postgres role name, so the
    /// token generator (which panics on some characters) only sees safe names.
    pub fn db_user(&self, tenant: &TenantId) -> Result<String, Error> {
        let user = self.user_template.render(tenant);
        let safe = user.len() <= MAX_ROLE_NAME_LEN
            && user
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
        if safe {
            Ok(user)
        } else {
            Err(Error::InvalidTenant)
        }
    }

    /// How many connections are open now, idle or in use (at most
    /// `DB_CONNECTION_CAPACITY` and the tiers' budgets together).
    pub fn open_connections(&self) -> usize {
        self.pooled.open_connections()
            + self
                .tiers
                .iter()
                .map(|(_, budget)| budget.open_connections())
                .sum::<usize>()
    }

    /// How many of `tier`'s connections are open now, in its own budget
    /// (`DB_TIER_CONNECTIONS`); `None` when it has none.
    pub fn open_connections_of(&self, tier: &str) -> Option<usize> {
        self.tiers
            .iter()
            .find(|(name, _)| name == tier)
            .map(|(_, budget)| budget.open_connections())
    }

    /// How many connections have been opened.
    pub fn connections_opened(&self) -> u64 {
        self.connects.load(Ordering::Relaxed)
    }

    /// How many logins waited for their turn under `DB_LOGINS_PER_SECOND`.
    pub fn logins_waited(&self) -> u64 {
        self.logins_waited.load(Ordering::Relaxed)
    }

    /// How many requests were answered 503 because no turn to log in was
    /// to be had within [`MAX_LOGIN_WAIT`].
    pub fn logins_throttled(&self) -> u64 {
        self.logins_throttled.load(Ordering::Relaxed)
    }

    /// How many auth tokens have been generated.
    pub fn tokens_generated(&self) -> u64 {
        self.tokens.load(Ordering::Relaxed)
    }

    /// This pool's totals since cold start, for metrics.
    pub fn counts(&self) -> crate::metrics::Counts {
        crate::metrics::Counts {
            db_connects: self.connections_opened(),
            db_tokens: self.tokens_generated(),
            db_reuses: self.reuses.load(Ordering::Relaxed),
            ..Default::default()
        }
    }

    /// An RDS IAM auth token for the session tenant's DB user, signed with the
    /// session's credentials at the session config's time.
    pub async fn auth_token(&self, session: &TenantSession) -> Result<DbToken, Error> {
        self.token_for(&self.db_user(session.tenant())?, session)
            .await
    }

    async fn token_for(&self, user: &str, session: &TenantSession) -> Result<DbToken, Error> {
        let config = TokenConfig::builder()
            .hostname(&self.host)
            .port(u64::from(self.port))
            .username(user)
            .build()
            .map_err(|e| Error::Upstream {
                service: "db",
                detail: format!("token config: {e}"),
            })?;
        self.tokens.fetch_add(1, Ordering::Relaxed);
        crate::metrics::record(|c| c.db_tokens += 1);
        AuthTokenGenerator::new(config)
            .auth_token(&session.sdk_config())
            .await
            .map(DbToken)
            .map_err(|e| Error::Upstream {
                service: "db",
                detail: format!("signing the auth token failed: {e}"),
            })
    }

    /// Take a refused login of a tenant the registry holds active for a
    /// failure of the login path first, not a revocation (see the module
    /// docs). Set it when every login's tenant was checked in the registry
    /// (`TenantSessions::with_registry` with a table), as aurora-query does.
    pub fn with_registry(mut self, checked: bool) -> Self {
        self.registry_checked = checked;
        self
    }

    /// Count each tenant's connections in its tier's own budget
    /// (`DB_TIER_CONNECTIONS`), its tier read from `registry` (the tier
    /// its item names, as read for the tenant's session). Without a
    /// registry, every tenant's count in `DB_CONNECTION_CAPACITY`.
    ///
    /// ```no_run
    /// # async fn run(sdk: &aws_config::SdkConfig) {
    /// use tenant_access::config::{AccessConfig, DbConfig};
    /// use tenant_access::db::TenantDatabase;
    /// use tenant_access::TenantSessions;
    /// use tenant_access::registry::TenantRegistry;
    ///
    /// let access = AccessConfig::from_env().unwrap();
    /// let sessions = TenantSessions::new(sdk, &access)
    ///     .with_registry(TenantRegistry::new(sdk, &access));
    /// // DB_TIER_CONNECTIONS=premium=8: premium tenants have 8 of their own.
    /// let db = TenantDatabase::new(&DbConfig::from_env().unwrap())
    ///     .unwrap()
    ///     .with_tiers(sessions.registry_handle());
    /// # }
    /// ```
    pub fn with_tiers(mut self, registry: Option<Arc<crate::registry::TenantRegistry>>) -> Self {
        self.registry = registry;
        self
    }

    /// The budget `tenant`'s connections count in.
    async fn budget(&self, tenant: &TenantId) -> &Budget {
        if let (false, Some(registry)) = (self.tiers.is_empty(), &self.registry)
            && let Some(tier) = registry.tier(tenant).await
            && let Some((_, budget)) = self.tiers.iter().find(|(name, _)| *name == tier)
        {
            return budget;
        }
        &self.pooled
    }

    /// One of the session tenant's connections, held until dropped:
    /// an idle one if it is still usable (open, younger than the maximum
    /// age), else a new login. With `DB_CONNECTIONS_PER_TENANT` already in
    /// use, this waits for one of them.
    pub async fn connection(&self, session: &TenantSession) -> Result<TenantConnection, Error> {
        let budget = self.budget(session.tenant()).await;
        let pool = budget.pool(session.tenant(), self.per_tenant);
        let permit = pool
            .in_use
            .clone()
            .acquire_owned()
            .await
            .expect("a pool's semaphore is never closed");
        let reusable = |open: &Open| {
            !open.busy && !open.client.is_closed() && open.opened.elapsed() < self.max_age
        };
        // The most recently returned first; the stale ones close here, and
        // their places go to whoever waits for one.
        let (idle, stale) = {
            let mut idle = pool.idle();
            let mut stale = 0;
            let found = std::iter::from_fn(|| idle.pop()).find(|open| {
                let ok = reusable(open);
                stale += usize::from(!ok);
                ok
            });
            (found, stale)
        };
        for _ in 0..stale {
            budget.returned.notify_one();
        }
        let open = match idle {
            Some(open) => {
                self.reuses.fetch_add(1, Ordering::Relaxed);
                crate::metrics::record(|c| c.db_reuses += 1);
                open
            }
            None => {
                // The turn first: a login waiting for it holds no place,
                // and closes no other tenant's idle connection for nothing.
                self.turn_to_log_in().await?;
                let place = budget.place().await;
                let client = match self.connect(session).await {
                    Ok(client) => client,
                    Err(e) => {
                        // The place is free again: wake a request waiting
                        // for one.
                        drop(place);
                        budget.returned.notify_one();
                        return Err(e);
                    }
                };
                Open {
                    client,
                    statements: HashMap::new(),
                    ran_once: std::collections::HashSet::new(),
                    opened: std::time::Instant::now(),
                    busy: false,
                    _open: place,
                }
            }
        };
        Ok(TenantConnection {
            open: Some(open),
            pool,
            _permit: permit,
            returned: budget.returned.clone(),
            statement_timeout: self.statement_timeout,
            param_types: self.param_types.clone(),
        })
    }

    /// Wait for this container's turn to log in (`DB_LOGINS_PER_SECOND`), or
    /// answer 503 when none is to be had within [`MAX_LOGIN_WAIT`].
    async fn turn_to_log_in(&self) -> Result<(), Error> {
        let Some(budget) = &self.logins else {
            return Ok(());
        };
        match budget.reserve(std::time::Instant::now()) {
            Ok(wait) if wait.is_zero() => Ok(()),
            Ok(wait) => {
                self.logins_waited.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(wait).await;
                Ok(())
            }
            Err(wait) => {
                self.logins_throttled.fetch_add(1, Ordering::Relaxed);
                Err(Error::Throttled {
                    service: "db",
                    detail: format!(
                        "this container's new logins per second are spent; the next turn is {} ms away",
                        wait.as_millis()
                    ),
                })
            }
        }
    }

    #[tracing::instrument(name = "postgres.connect", skip_all, fields(db.system = "postgresql", otel.kind = "client"))]
    async fn connect(&self, session: &TenantSession) -> Result<Client, Error> {
        let user = self.db_user(session.tenant())?;
        let token = self.token_for(&user, session).await?;
        let mut config = tokio_postgres::Config::new();
        config
            .host(&self.host)
            .port(self.port)
            .dbname(&self.database)
            .user(&user)
            .password(token.expose())
            .ssl_mode(tokio_postgres::config::SslMode::Require)
            .connect_timeout(self.connect_timeout)
            .keepalives(true)
            .keepalives_idle(KEEPALIVE_IDLE)
            .keepalives_interval(KEEPALIVE_INTERVAL)
            .keepalives_retries(KEEPALIVE_RETRIES)
            .tcp_user_timeout(self.statement_timeout.max(Duration::from_secs(1)))
            .application_name("tenant-access");
        self.connects.fetch_add(1, Ordering::Relaxed);
        crate::metrics::record(|c| c.db_connects += 1);
        let started = std::time::Instant::now();
        // connect_timeout above bounds only the TCP connect; this bounds the
        // whole login, TLS handshake and IAM authentication included.
        let login =
            tokio::time::timeout(self.connect_timeout, config.connect(self.tls.clone())).await;
        let spent = started.elapsed().as_micros() as u64;
        crate::metrics::record(|c| c.db_time_us += spent);
        let (client, connection) = login
            .map_err(|_| Error::Unavailable {
                service: "db",
                detail: format!("login did not finish within {:?}", self.connect_timeout),
            })?
            .map_err(connect_error)
            .map_err(|e| {
                // The database refused the session's token: the session
                // may have expired or been revoked early, so it is not
                // served again (the caller may retry once with a new
                // one), and the refusal is remembered.
                if matches!(e, Error::AccessDenied { .. }) {
                    session.invalidate();
                    self.record_refusal(session.tenant(), std::time::Instant::now())
                } else {
                    e
                }
            })?;
        self.refused
            .lock()
            .expect("refusal memory lock poisoned")
            .pop(session.tenant());
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::warn!(error.detail = %e, "database connection ended with an error");
            }
        });
        Ok(client)
    }

    /// Run a read-only `statement` on the session tenant's connection and
    /// return the rows. If the connection turns out closed, it is reopened
    /// with a fresh token and the statement tried once more: safe because
    /// it changes nothing. Use [`query_once`](Self::query_once) for writes.
    pub async fn query(
        &self,
        session: &TenantSession,
        statement: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, Error> {
        let mut conn = self.connection(session).await?;
        match conn.attempt(statement, params).await {
            Err(Failure::Postgres(e)) if e.is_closed() => {
                tracing::info!("database connection was closed; reconnecting for a read");
                drop(conn);
                let mut conn = self.connection(session).await?;
                conn.run(statement, params).await
            }
            other => other.map_err(Failure::into_error),
        }
    }

    /// Run a `statement` that changes data, exactly once: if the connection
    /// fails while it runs, the answer is 503 and the statement is not
    /// replayed, since it may have committed.
    pub async fn query_once(
        &self,
        session: &TenantSession,
        statement: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, Error> {
        self.connection(session).await?.run(statement, params).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_config::{BehaviorVersion, Region, SdkConfig};
    use aws_credential_types::Credentials;
    use aws_smithy_async::time::StaticTimeSource;
    use std::collections::BTreeSet;
    use std::time::{Duration, SystemTime};

    fn database(host: &str, port: &str, user_template: &str) -> TenantDatabase {
        let config = DbConfig::from_lookup(|name: &str| match name {
            "DB_HOST" => Some(host.to_owned()),
            "DB_PORT" => Some(port.to_owned()),
            "DB_NAME" => Some("saas".to_owned()),
            "DB_CA_BUNDLE" => Some("/unused".to_owned()),
            "DB_USER_TEMPLATE" => Some(user_template.to_owned()),
            _ => None,
        })
        .unwrap();
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth();
        TenantDatabase::with_tls(&config, tls, NonZeroUsize::new(2).unwrap())
    }

    /// Split a token into (host and path, sorted query pairs).
    fn parts(token: &str) -> (String, BTreeSet<String>) {
        let (base, query) = token.split_once('?').expect("token has a query");
        (
            base.to_owned(),
            query.split('&').map(str::to_owned).collect(),
        )
    }

    /// The token equals botocore's `generate_db_auth_token` for the same
    /// inputs (fixture and how to regenerate it: tests/fixtures/).
    #[tokio::test]
    async fn token_matches_botocore() {
        let signed_at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_323_045); // 2026-01-02T03:04:05Z
        let base = SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-west-2"))
            .time_source(StaticTimeSource::new(signed_at))
            .build();
        let creds = Credentials::new(
            "ASIAEXAMPLEPINNED01",
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            Some("IQoJb3JpZ2luX2VjEXAMPLE+/token=".to_owned()),
            None,
            "test",
        );
        let session = TenantSession::new("tenant1".parse().unwrap(), creds, &base);
        let db = database(
            "tenants.cluster-abc123example.us-west-2.rds.amazonaws.com",
            "5432",
            "{tenant}_dbuser",
        );
        let ours = db.auth_token(&session).await.unwrap();
        let botocore = include_str!("../../tests/fixtures/botocore-auth-token.txt").trim();

        let (our_base, our_query) = parts(ours.expose());
        let (boto_base, boto_query) = parts(botocore);
        assert_eq!(our_base, boto_base, "host, port and path");
        assert_eq!(
            our_query, boto_query,
            "query parameters, signature included"
        );
        assert!(our_query.contains("DBUser=tenant1_dbuser"));
        assert_eq!(db.tokens_generated(), 1);
    }

    #[test]
    fn db_users_come_from_the_tenant_and_must_be_valid_role_names() {
        let db = database("h", "5432", "{tenant}_dbuser");
        assert_eq!(
            db.db_user(&"tenant1".parse().unwrap()).unwrap(),
            "tenant1_dbuser"
        );
        // 63-character tenant ids overflow Postgres' 63-byte role names.
        let long: TenantId = "a".repeat(63).parse().unwrap();
        assert!(matches!(db.db_user(&long), Err(Error::InvalidTenant)));
        let odd = database("h", "5432", "Tenant.{tenant}");
        assert!(matches!(
            odd.db_user(&"t1".parse().unwrap()),
            Err(Error::InvalidTenant)
        ));
    }
}
