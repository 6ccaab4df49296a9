//! A minimal S3 Lambda: `GET /files/{key}` answers the caller's own object.
//! The tenant comes from the verified JWT claim, the object from the
//! tenant's prefix, read with the tenant's own STS session: IAM, not this
//! code, keeps it from any other tenant's. Configured by the environment
//! (`TENANT_BUCKET`, `TENANT_ROLE_ARN_TEMPLATE`, ...; see the crate README).
use std::sync::Arc;

use lambda_http::{Body, Error, Request, Response, run, service_fn};
use tenant_access::TenantSessions;
use tenant_access::config::{FunctionConfig, S3Config};
use tenant_access::http::Envelope;
use tenant_access::s3::{Fetched, ObjectKey, Read, ReadOptions, TenantBucket};
use tenant_access::session_policy::SessionScope;

struct App {
    envelope: Envelope,
    sessions: TenantSessions,
    bucket: TenantBucket,
}

async fn handler(app: &App, request: Request) -> Result<Response<Body>, Error> {
    let path = request.uri().path().to_owned();
    Ok(app
        .envelope
        .serve(&request, |caller| async move {
            let key = ObjectKey::parse(path.trim_start_matches("/files/"))?;
            let session = app.sessions.session(&caller).await?;
            match app
                .bucket
                .get_object(&session, &key, &ReadOptions::default())
                .await?
            {
                Read::Found(Fetched::Inline(object)) => Ok(Response::new(Body::from(object.body))),
                _ => Err(tenant_access::Error::NotFound),
            }
        })
        .await)
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    // Read and checked once, at cold start: a bad value names its variable.
    let config = FunctionConfig::<S3Config>::from_env()?;
    let sdk = tenant_access::aws::load_sdk_config().await;
    let scope = SessionScope::S3 {
        bucket: config.service.bucket.clone(),
        prefix_template: config.service.prefix_template.clone(),
    };
    let app = Arc::new(App {
        envelope: Envelope::new(&config.access),
        sessions: TenantSessions::new(&sdk, &config.access).with_scope(scope),
        bucket: TenantBucket::new(&config.service),
    });
    run(service_fn(move |request| {
        let app = Arc::clone(&app);
        async move { handler(&app, request).await }
    }))
    .await
}
