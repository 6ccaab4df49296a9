//! A minimal Postgres Lambda: `GET /tenant` answers the caller's own
//! `tenant_metadata` row. The login is the tenant's own DB user, with an
//! RDS IAM token signed by the tenant's STS session, over verified TLS; the
//! query has no WHERE clause: row-level security returns only the
//! tenant's rows. Configured by the environment (`DB_HOST`, `DB_NAME`,
//! `DB_CA_BUNDLE`, `DB_RESOURCE_ID`, ...; see the crate README).
use std::sync::Arc;

use lambda_http::{Body, Error, Request, Response, run, service_fn};
use tenant_access::config::{DbConfig, FunctionConfig};
use tenant_access::db::TenantDatabase;
use tenant_access::http::Envelope;
use tenant_access::session_policy::SessionScope;
use tenant_access::{TenantSessions, json_response};

struct App {
    envelope: Envelope,
    sessions: TenantSessions,
    db: TenantDatabase,
}

async fn handler(app: &App, request: Request) -> Result<Response<Body>, Error> {
    Ok(app
        .envelope
        .serve(&request, |caller| async move {
            let session = app.sessions.session(&caller).await?;
            let rows = app
                .db
                .query(&session, "SELECT tenant_id FROM tenant_metadata", &[])
                .await?;
            let ids: Vec<String> = rows.iter().map(|row| row.get(0)).collect();
            Ok(json_response(http::StatusCode::OK, &ids))
        })
        .await)
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let config = FunctionConfig::<DbConfig>::from_env()?;
    let sdk = tenant_access::aws::load_sdk_config().await;
    let scope = SessionScope::Db {
        resource_id: config
            .service
            .resource_id
            .clone()
            .unwrap_or_else(|| "*".into()),
        user_template: config.service.user_template.clone(),
        region: sdk.region().map_or_else(|| "*".into(), |r| r.to_string()),
        account: config.access.account.clone().unwrap_or_else(|| "*".into()),
    };
    let app = Arc::new(App {
        envelope: Envelope::new(&config.access),
        sessions: TenantSessions::new(&sdk, &config.access).with_scope(scope),
        db: TenantDatabase::new(&config.service)?,
    });
    run(service_fn(move |request| {
        let app = Arc::clone(&app);
        async move { handler(&app, request).await }
    }))
    .await
}
