use std::sync::Arc;

use lambda_http::{Error, run_concurrent, service_fn};
use search_docs::{App, Config, function_handler};
use tenant_access::telemetry::or_exit;

#[tokio::main]
async fn main() -> Result<(), Error> {
    tenant_access::telemetry::init();
    // A bad setting is one log line naming the variable, then exit 1.
    let config = or_exit(Config::from_env());
    let sdk = tenant_access::aws::load_sdk_config().await;
    // No TLS roots for the domain is an init failure, named in the log.
    let app = Arc::new(or_exit(
        App::new(&config, &sdk).map_err(|e| format!("{e:?}")),
    ));
    // One invocation at a time on classic Lambda; on Lambda Managed
    // Instances, AWS_LAMBDA_MAX_CONCURRENCY at once, sharing the caches.
    run_concurrent(service_fn(move |request| {
        let app = Arc::clone(&app);
        async move { function_handler(&app, request).await }
    }))
    .await
}
