//! IAM-authenticated TLS connections to Postgres, one per tenant.
//!
//! A tenant's connection logs in as the tenant's own DB user (rendered from
//! `DB_USER_TEMPLATE`, never taken from the request) with an RDS IAM auth
//! token signed by the tenant's STS session, over TLS that verifies the
//! server certificate against `DB_CA_BUNDLE` and checks the host name. There
//! is no fallback to plain TCP. Row-level security keyed on `current_user`
//! then confines every statement to the tenant's rows.
//!
//! Connections are kept per tenant in an LRU map bounded by
//! `DB_CONNECTION_CAPACITY`, checked before reuse, and reopened with a fresh
//! token when the server closed them.

use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::ops::Deref;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_rds::auth_token::{AuthToken, AuthTokenGenerator, Config as TokenConfig};
use lru::LruCache;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use tokio::sync::OwnedMutexGuard;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Row, Statement};
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::Error;
use crate::config::{DbConfig, TenantTemplate};
use crate::credentials::TenantSession;
use crate::identity::TenantId;

/// Postgres' limit on identifier length, in bytes.
const MAX_ROLE_NAME_LEN: usize = 63;

/// The CA bundle could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    /// The file could not be read or holds no PEM certificate.
    #[error("DB_CA_BUNDLE {path}: {reason}")]
    Bundle {
        /// The bundle path.
        path: String,
        /// What went wrong.
        reason: String,
    },
}

/// A rustls client configuration that trusts only the CAs in the PEM file at
/// `path` and verifies host names.
///
/// ```no_run
/// let tls = tenant_access::db::tls_config("/opt/rds/global-bundle.pem".as_ref()).unwrap();
/// ```
pub fn tls_config(path: &Path) -> Result<rustls::ClientConfig, TlsSetupError> {
    let fail = |reason: String| TlsSetupError::Bundle {
        path: path.display().to_string(),
        reason,
    };
    let mut roots = rustls::RootCertStore::empty();
    let certs = CertificateDer::pem_file_iter(path).map_err(|e| fail(e.to_string()))?;
    for cert in certs {
        let cert = cert.map_err(|e| fail(e.to_string()))?;
        roots
            .add(cert)
            .map_err(|e| fail(format!("a certificate is not a valid CA: {e}")))?;
    }
    if roots.is_empty() {
        return Err(fail("holds no certificate".to_owned()));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| fail(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(config)
}

/// An open connection and the statements prepared on it.
struct Open {
    client: Client,
    statements: HashMap<String, Statement>,
}

type Slot = Arc<tokio::sync::Mutex<Option<Open>>>;

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
    tls: MakeRustlsConnect,
    slots: Mutex<LruCache<TenantId, Slot>>,
    connects: AtomicU64,
    tokens: AtomicU64,
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
            tls: MakeRustlsConnect::new(tls),
            slots: Mutex::new(LruCache::new(capacity)),
            connects: AtomicU64::new(0),
            tokens: AtomicU64::new(0),
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

    /// How many connections have been opened.
    pub fn connections_opened(&self) -> u64 {
        self.connects.load(Ordering::Relaxed)
    }

    /// How many auth tokens have been generated.
    pub fn tokens_generated(&self) -> u64 {
        self.tokens.load(Ordering::Relaxed)
    }

    /// An RDS IAM auth token for the session tenant's DB user, signed with the
    /// session's credentials at the session config's time.
    pub async fn auth_token(&self, session: &TenantSession) -> Result<AuthToken, Error> {
        self.token_for(&self.db_user(session.tenant())?, session)
            .await
    }

    async fn token_for(&self, user: &str, session: &TenantSession) -> Result<AuthToken, Error> {
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
        AuthTokenGenerator::new(config)
            .auth_token(session.sdk_config())
            .await
            .map_err(|e| Error::Upstream {
                service: "db",
                detail: format!("signing the auth token failed: {e}"),
            })
    }

    /// The session tenant's open connection, opening one if there is none or
    /// the cached one was closed.
    pub async fn connection(&self, session: &TenantSession) -> Result<TenantConnection, Error> {
        let slot = {
            let mut slots = self.slots.lock().expect("connection cache lock poisoned");
            slots
                .get_or_insert(session.tenant().clone(), Slot::default)
                .clone()
        };
        let mut guard = slot.lock_owned().await;
        if guard.as_ref().is_none_or(|open| open.client.is_closed()) {
            let client = self.connect(session).await?;
            *guard = Some(Open {
                client,
                statements: HashMap::new(),
            });
        }
        Ok(TenantConnection(guard))
    }

    async fn connect(&self, session: &TenantSession) -> Result<Client, Error> {
        let user = self.db_user(session.tenant())?;
        let token = self.token_for(&user, session).await?;
        let mut config = tokio_postgres::Config::new();
        config
            .host(&self.host)
            .port(self.port)
            .dbname(&self.database)
            .user(&user)
            .password(token.as_str())
            .ssl_mode(tokio_postgres::config::SslMode::Require)
            .connect_timeout(self.connect_timeout)
            .application_name("tenant-access");
        self.connects.fetch_add(1, Ordering::Relaxed);
        let (client, connection) = config
            .connect(self.tls.clone())
            .await
            .map_err(connect_error)?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::warn!(error.detail = %e, "database connection ended with an error");
            }
        });
        Ok(client)
    }

    /// Run `statement` on the session tenant's connection and return the rows.
    /// If the cached connection turns out closed, it is reopened with a fresh
    /// token and the statement tried once more.
    pub async fn query(
        &self,
        session: &TenantSession,
        statement: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, Error> {
        let mut retried = false;
        loop {
            let mut conn = self.connection(session).await?;
            match conn.run(statement, params).await {
                Err(e) if e.is_closed() && !retried => {
                    tracing::info!("database connection was closed; reconnecting");
                    conn.0.take();
                    retried = true;
                }
                other => return other.map_err(query_error),
            }
        }
    }
}

fn connect_error(e: tokio_postgres::Error) -> Error {
    let detail = e.to_string();
    match e.code() {
        Some(code)
            if *code == SqlState::INVALID_PASSWORD
                || *code == SqlState::INVALID_AUTHORIZATION_SPECIFICATION =>
        {
            Error::AccessDenied { detail }
        }
        Some(_) => Error::Upstream {
            service: "db",
            detail,
        },
        None => Error::Unavailable {
            service: "db",
            detail,
        },
    }
}

fn query_error(e: tokio_postgres::Error) -> Error {
    let detail = e.to_string();
    match e.code() {
        Some(code) if *code == SqlState::INSUFFICIENT_PRIVILEGE => Error::AccessDenied { detail },
        // Unique constraints are per tenant (they include tenant_id), so a
        // clash is with the caller's own data.
        Some(code) if *code == SqlState::UNIQUE_VIOLATION => {
            Error::Conflict("the request conflicts with an existing row".to_owned())
        }
        _ if e.is_closed() => Error::Unavailable {
            service: "db",
            detail,
        },
        _ => Error::Upstream {
            service: "db",
            detail,
        },
    }
}

/// A tenant's connection, held exclusively while in use.
pub struct TenantConnection(OwnedMutexGuard<Option<Open>>);

impl TenantConnection {
    fn open(&mut self) -> &mut Open {
        self.0
            .as_mut()
            .expect("a TenantConnection always holds a connection")
    }

    /// Run `statement` with bound `params`, preparing it once per connection.
    pub async fn run(
        &mut self,
        statement: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, tokio_postgres::Error> {
        let open = self.open();
        let prepared = match open.statements.get(statement) {
            Some(prepared) => prepared.clone(),
            None => {
                let prepared = open.client.prepare(statement).await?;
                open.statements
                    .insert(statement.to_owned(), prepared.clone());
                prepared
            }
        };
        open.client.query(&prepared, params).await
    }
}

impl Deref for TenantConnection {
    type Target = Client;

    fn deref(&self) -> &Client {
        &self
            .0
            .as_ref()
            .expect("a TenantConnection always holds a connection")
            .client
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
        let botocore = include_str!("../tests/fixtures/botocore-auth-token.txt").trim();

        let (our_base, our_query) = parts(ours.as_str());
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

    #[test]
    fn a_ca_bundle_without_certificates_is_refused() {
        let dir = std::env::temp_dir().join(format!("tenant-access-ca-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let err = tls_config(&empty).unwrap_err();
        assert!(err.to_string().contains("DB_CA_BUNDLE"), "{err}");
        assert!(tls_config(&dir.join("missing.pem")).is_err());
    }
}
