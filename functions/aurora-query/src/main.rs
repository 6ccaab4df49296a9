use aurora_query::{App, Config, function_handler};
use lambda_http::{Error, run, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    tenant_access::telemetry::init();
    let config = Config::from_env()?;
    let sdk = tenant_access::aws::load_sdk_config().await;
    let app = App::new(&config, &sdk)?;
    let app = &app;
    run(service_fn(move |request| function_handler(app, request))).await
}
