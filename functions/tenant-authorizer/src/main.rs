use lambda_runtime::{Error, LambdaEvent, service_fn};
use tenant_access::authorizer::AuthorizerRequest;
use tenant_access::config::AuthorizerConfig;
use tenant_access::telemetry::or_exit;
use tenant_authorizer::{App, function_handler};

#[tokio::main]
async fn main() -> Result<(), Error> {
    tenant_access::telemetry::init();
    // A bad setting is one log line naming the variable, then exit 1.
    let config = or_exit(AuthorizerConfig::from_env());
    // The issuer's keys are fetched once here; a failure is logged and the
    // first request fetches again.
    let app = App::new(config).await;
    lambda_runtime::run(service_fn(|event: LambdaEvent<AuthorizerRequest>| {
        let app = &app;
        async move { function_handler(app, event.payload).await }
    }))
    .await
}
