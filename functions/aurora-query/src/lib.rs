//! `aurora-query`: the caller's tenant metadata and records, read and
//! written as the tenant's own DB user.
//!
//! | route | answer |
//! |---|---|
//! | `GET /tenant` | the caller's `tenant_metadata` row |
//! | `GET /records?limit=&cursor=` | the caller's records, oldest first, one page |
//! | `GET /records/{id}` | one record |
//! | `POST /records` | create a record from `{"name": ..., "data": {...}}` (201) |
//! | `DELETE /records/{id}` | delete a record (204) |
//!
//! No statement has a `WHERE` clause on the tenant and none takes a tenant
//! from the request: each runs as the tenant's own DB user, `tenant_id`
//! defaults to `current_user`, and row-level security keyed on
//! `current_user` filters reads and refuses writes for anyone else. Every
//! statement is prepared, with bound parameters only.
//!
//! Suspension is the database's decision too: the records policy calls
//! `tenant_is_active()`, which raises unless the caller's `tenant_metadata`
//! row is `active` (403 `tenant_suspended`). The records statements also
//! call it up front, so a suspended tenant gets that answer even when it
//! has no rows; `GET /tenant` stays readable, so it can see its status.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

use aws_config::SdkConfig;
use lambda_http::http::{HeaderValue, StatusCode, header};
use lambda_http::{Body, Request, Response};
use serde::Serialize;
use serde_json::Value;
use tenant_access::config::{DbConfig, FunctionConfig};
use tenant_access::db::{TenantDatabase, TlsSetupError};
use tenant_access::http::Envelope;
use tenant_access::registry::TenantRegistry;
use tenant_access::session_policy::SessionScope;
use tenant_access::{Caller, Error, TenantSessions, json_response};
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

/// The statement behind `GET /tenant`. No tenant filter: RLS is the filter.
pub const TENANT_METADATA_QUERY: &str =
    "SELECT tenant_id, email, status, tier FROM tenant_metadata ORDER BY tenant_id";

/// The columns every records statement returns, in [`Record`] order, plus
/// the pagination key (`created_at` in microseconds since the epoch).
macro_rules! record_columns {
    () => {
        "id::text, name, data, \
         to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), \
         (extract(epoch FROM created_at) * 1000000)::bigint"
    };
}

/// `GET /records`: one page in `(created_at, id)` order, after a position.
pub const LIST_RECORDS: &str = concat!(
    "SELECT ",
    record_columns!(),
    " FROM records \
     WHERE tenant_is_active() AND ($1::bigint IS NULL \
        OR (created_at, id) > ('epoch'::timestamptz + $1::bigint * interval '1 microsecond', $2::text::uuid)) \
     ORDER BY created_at, id LIMIT $3::bigint"
);
/// `GET /records/{id}`.
pub const GET_RECORD: &str = concat!(
    "SELECT ",
    record_columns!(),
    " FROM records WHERE tenant_is_active() AND id = $1::text::uuid"
);
/// `POST /records`: `tenant_id` is left to its default, `current_user`.
pub const INSERT_RECORD: &str = concat!(
    "INSERT INTO records (name, data) VALUES ($1, $2) RETURNING ",
    record_columns!()
);
/// `DELETE /records/{id}`.
pub const DELETE_RECORD: &str =
    "DELETE FROM records WHERE tenant_is_active() AND id = $1::text::uuid RETURNING id";

mod route;

pub use route::{
    DEFAULT_RECORDS_LIMIT, MAX_RECORD_BODY_BYTES, MAX_RECORD_NAME_CHARS, MAX_RECORDS_LIMIT,
    NewRecord, Position, RecordId, Route,
};

/// This function's configuration, read once at cold start.
pub type Config = FunctionConfig<DbConfig>;

/// What the handler borrows: built once at cold start.
#[derive(Debug)]
pub struct App {
    envelope: Envelope,
    sessions: TenantSessions,
    db: TenantDatabase,
}

impl App {
    /// Clients for `config`; `sdk` carries the execution role's credentials.
    /// Fails if the CA bundle cannot be loaded.
    pub fn new(config: &Config, sdk: &SdkConfig) -> Result<Self, TlsSetupError> {
        // Config::from_lookup checked that the session-policy strategies
        // have both; the others pass only the function policy, which
        // falls back to any cluster and account when they are not set.
        let any = || "*".to_owned();
        let sessions = TenantSessions::new(sdk, &config.access)
            .with_registry(TenantRegistry::new(sdk, &config.access))
            .with_scope(SessionScope::Db {
                resource_id: config.service.resource_id.clone().unwrap_or_else(any),
                user_template: config.service.user_template.clone(),
                region: sdk.region().map_or_else(any, |r| r.to_string()),
                account: config.access.account.clone().unwrap_or_else(any),
            });
        let registry_checked = sessions.registry().is_some();
        let registry = sessions.registry_handle();
        Ok(App {
            envelope: Envelope::new(&config.access)
                .with_metrics(&config.access, "aurora-query")
                .with_tiers(sessions.registry_handle()),
            sessions,
            // A refused login of a tenant the registry holds active is taken
            // for a login storm or a failover first, not a revocation.
            // A tier with a connection budget of its own
            // (DB_TIER_CONNECTIONS) is known by the tenant's registry item.
            db: TenantDatabase::new(&config.service)?
                .with_registry(registry_checked)
                .with_tiers(registry),
        })
    }

    /// The tenant sessions, for counting STS calls.
    pub fn sessions(&self) -> &TenantSessions {
        &self.sessions
    }

    /// The database access, for counting connections and tokens.
    pub fn db(&self) -> &TenantDatabase {
        &self.db
    }

    /// Serve a parsed `route` as `caller`.
    async fn serve(&self, route: Route, caller: &Caller) -> Result<Response<Body>, Error> {
        match route {
            Route::Tenant => self.tenant(caller).await,
            Route::List { limit, after } => self.list(caller, limit, after).await,
            Route::Get { id } => self.get(caller, &id).await,
            Route::Create(new) => self.create(caller, new).await,
            Route::Delete { id } => self.delete(caller, &id).await,
        }
    }

    /// A read, retried once on a fresh connection if the cached one closed.
    async fn run(
        &self,
        caller: &Caller,
        statement: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, Error> {
        self.statement(caller, statement, params, true).await
    }

    /// A write, never replayed: it may have committed before a failure.
    async fn write(
        &self,
        caller: &Caller,
        statement: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, Error> {
        self.statement(caller, statement, params, false).await
    }

    /// Run `statement` on the tenant's connection. If the database refuses
    /// the login (the session's credentials expired or were revoked before
    /// the cache knew), the session is dropped and the login tried once more
    /// with a new one (unless it was obtained for this very request): safe
    /// for writes too, since nothing ran. A refusal is
    /// remembered for `DB_REFUSED_LOGIN_MEMORY_SECONDS`: the tenant's
    /// requests meanwhile are refused before any STS call or login.
    async fn statement(
        &self,
        caller: &Caller,
        statement: &str,
        params: &[&(dyn ToSql + Sync)],
        read: bool,
    ) -> Result<Vec<Row>, Error> {
        self.db.refused_login(&caller.tenant)?;
        let started = std::time::Instant::now();
        let mut session = self.sessions.session(caller).await?;
        let mut renewed = false;
        loop {
            let result = if read {
                self.db.query(&session, statement, params).await
            } else {
                self.db.query_once(&session, statement, params).await
            };
            match result {
                // The database refused the session's login (answered 403, or
                // 503 while it may be a storm): a session from before the
                // request may have been revoked early, so one new one.
                Err(Error::AccessDenied { .. } | Error::Unavailable { service: "db", .. })
                    if session.is_invalidated() && !renewed && session.obtained() < started =>
                {
                    tracing::warn!("the database refused the session's login; renewing it once");
                    renewed = true;
                    session = self.sessions.session(caller).await?;
                }
                other => return other,
            }
        }
    }

    async fn tenant(&self, caller: &Caller) -> Result<Response<Body>, Error> {
        let rows = self.run(caller, TENANT_METADATA_QUERY, &[]).await?;
        let tenant = rows
            .iter()
            .map(|row| {
                Ok(TenantMetadata {
                    db_user: row.try_get(0)?,
                    email: row.try_get(1)?,
                    status: row.try_get(2)?,
                    tier: row.try_get(3)?,
                })
            })
            .collect::<Result<Vec<_>, tokio_postgres::Error>>()
            .map_err(row_shape)?;
        Ok(json_response(StatusCode::OK, &TenantResponse { tenant }))
    }

    async fn list(
        &self,
        caller: &Caller,
        limit: usize,
        after: Option<Position>,
    ) -> Result<Response<Body>, Error> {
        let micros = after.as_ref().map(|p| p.micros);
        let id = after.as_ref().map(|p| p.id.0.as_str());
        let fetch = limit as i64 + 1;
        let rows = self
            .run(caller, LIST_RECORDS, &[&micros, &id, &fetch])
            .await?;
        let mut records = rows
            .iter()
            .map(|row| Ok((record(row)?, row.try_get::<_, i64>(4)?)))
            .collect::<Result<Vec<_>, tokio_postgres::Error>>()
            .map_err(row_shape)?;
        let next_cursor = if records.len() > limit {
            records.truncate(limit);
            records.last().map(|(record, micros)| {
                Position {
                    micros: *micros,
                    id: RecordId(record.id.clone()),
                }
                .encode()
            })
        } else {
            None
        };
        let records = records.into_iter().map(|(record, _)| record).collect();
        Ok(json_response(
            StatusCode::OK,
            &RecordsPage {
                records,
                next_cursor,
            },
        ))
    }

    async fn get(&self, caller: &Caller, id: &RecordId) -> Result<Response<Body>, Error> {
        let rows = self.run(caller, GET_RECORD, &[&id.0]).await?;
        let row = rows.first().ok_or(Error::NotFound)?;
        Ok(json_response(
            StatusCode::OK,
            &record(row).map_err(row_shape)?,
        ))
    }

    async fn create(&self, caller: &Caller, new: NewRecord) -> Result<Response<Body>, Error> {
        let data = Value::Object(new.data);
        let rows = match self.write(caller, INSERT_RECORD, &[&new.name, &data]).await {
            Err(Error::Conflict(_)) => {
                return Err(Error::Conflict(
                    "a record with this name already exists".to_owned(),
                ));
            }
            other => other?,
        };
        let row = rows.first().ok_or_else(|| Error::Upstream {
            service: "db",
            detail: "INSERT ... RETURNING returned no row".to_owned(),
        })?;
        let record = record(row).map_err(row_shape)?;
        let mut response = json_response(StatusCode::CREATED, &record);
        if let Ok(location) = HeaderValue::from_str(&format!("/records/{}", record.id)) {
            response.headers_mut().insert(header::LOCATION, location);
        }
        Ok(response)
    }

    async fn delete(&self, caller: &Caller, id: &RecordId) -> Result<Response<Body>, Error> {
        let rows = self.write(caller, DELETE_RECORD, &[&id.0]).await?;
        if rows.is_empty() {
            // Missing, or another tenant's: RLS hides both the same way.
            return Err(Error::NotFound);
        }
        let mut response = Response::new(Body::Empty);
        *response.status_mut() = StatusCode::NO_CONTENT;
        Ok(response)
    }
}

/// Handle one API Gateway request.
pub async fn function_handler(
    app: &App,
    request: Request,
) -> Result<Response<Body>, lambda_http::Error> {
    let request = &request;
    Ok(app
        .envelope
        .serve_measured(request, |caller| async move {
            let route = Route::parse(request)?;
            app.serve(route, &caller).await
        })
        .await)
}

/// One `tenant_metadata` row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TenantMetadata {
    /// The row's `tenant_id` column, which holds the tenant's DB user
    /// (what RLS compares with `current_user`), so the API names it for
    /// what it is.
    pub db_user: String,
    /// Contact address.
    pub email: Option<String>,
    /// `active`, `suspended` or `disabled`.
    pub status: Option<String>,
    /// `gold`, `silver` or `bronze`.
    pub tier: Option<String>,
}

#[derive(Serialize)]
struct TenantResponse {
    tenant: Vec<TenantMetadata>,
}

/// One record as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Record {
    /// Random UUID, assigned by the database.
    pub id: String,
    /// Unique among the tenant's records.
    pub name: String,
    /// Any JSON object.
    pub data: Value,
    /// When it was created, RFC 3339 in UTC with microseconds.
    pub created_at: String,
}

fn record(row: &Row) -> Result<Record, tokio_postgres::Error> {
    Ok(Record {
        id: row.try_get(0)?,
        name: row.try_get(1)?,
        data: row.try_get(2)?,
        created_at: row.try_get(3)?,
    })
}

fn row_shape(e: tokio_postgres::Error) -> Error {
    Error::Upstream {
        service: "db",
        detail: format!("unexpected row shape: {e}"),
    }
}

#[derive(Serialize)]
struct RecordsPage {
    records: Vec<Record>,
    next_cursor: Option<String>,
}
