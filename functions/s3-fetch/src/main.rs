use lambda_http::{Error, run, service_fn};
use s3_fetch::{App, Config, function_handler};
use tenant_access::telemetry::or_exit;

#[tokio::main]
async fn main() -> Result<(), Error> {
    tenant_access::telemetry::init();
    // A bad setting is one log line naming the variable, then exit 1.
    let config = or_exit(Config::from_env());
    let sdk = tenant_access::aws::load_sdk_config().await;
    let app = App::new(&config, &sdk);
    let app = &app;
    run(service_fn(move |request| function_handler(app, request))).await
}
