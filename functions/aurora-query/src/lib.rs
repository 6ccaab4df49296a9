//! `aurora-query`: `GET /tenant` returns the caller's `tenant_metadata` rows.
//!
//! The query has no `WHERE` clause on the tenant: it runs as the tenant's own
//! DB user, and row-level security keyed on `current_user` does the filtering.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

use aws_config::SdkConfig;
use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, RequestExt, Response};
use serde::Serialize;
use tenant_access::config::{DbConfig, FunctionConfig};
use tenant_access::db::{TenantDatabase, TlsSetupError};
use tenant_access::http::serve;
use tenant_access::{Error, TenantSessions, json_response};

/// The statement behind `GET /tenant`. No tenant filter: RLS is the filter.
pub const TENANT_METADATA_QUERY: &str =
    "SELECT tenant_id, email, status, tier FROM tenant_metadata ORDER BY tenant_id";

/// This function's configuration, read once at cold start.
pub type Config = FunctionConfig<DbConfig>;

/// What the handler borrows: built once at cold start.
#[derive(Debug)]
pub struct App {
    claim: String,
    sessions: TenantSessions,
    db: TenantDatabase,
}

impl App {
    /// Clients for `config`; `sdk` carries the execution role's credentials.
    /// Fails if the CA bundle cannot be loaded.
    pub fn new(config: &Config, sdk: &SdkConfig) -> Result<Self, TlsSetupError> {
        Ok(App {
            claim: config.access.tenant_claim.clone(),
            sessions: TenantSessions::new(sdk, &config.access),
            db: TenantDatabase::new(&config.service)?,
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
}

/// One `tenant_metadata` row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TenantMetadata {
    /// The tenant's DB user, which is what RLS compares with `current_user`.
    pub tenant_id: String,
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

/// Handle one API Gateway request.
pub async fn function_handler(
    app: &App,
    request: Request,
) -> Result<Response<Body>, lambda_http::Error> {
    let request = &request;
    Ok(serve(request, &app.claim, |caller| async move {
        if !request.raw_http_path().ends_with("/tenant") {
            return Err(Error::NotFound);
        }
        if request.method() != Method::GET {
            return Err(Error::MethodNotAllowed);
        }
        let session = app.sessions.session(&caller).await?;
        let rows = app.db.query(&session, TENANT_METADATA_QUERY, &[]).await?;
        let tenant = rows
            .iter()
            .map(|row| {
                Ok(TenantMetadata {
                    tenant_id: row.try_get(0)?,
                    email: row.try_get(1)?,
                    status: row.try_get(2)?,
                    tier: row.try_get(3)?,
                })
            })
            .collect::<Result<Vec<_>, tokio_postgres::Error>>()
            .map_err(|e| Error::Upstream {
                service: "db",
                detail: format!("unexpected row shape: {e}"),
            })?;
        Ok(json_response(StatusCode::OK, &TenantResponse { tenant }))
    })
    .await)
}
