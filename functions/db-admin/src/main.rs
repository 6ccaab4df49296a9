use db_admin::{Action, Admin, Config};
use lambda_runtime::{Error, LambdaEvent, service_fn};
use tenant_access::telemetry::or_exit;

#[tokio::main]
async fn main() -> Result<(), Error> {
    tenant_access::telemetry::init();
    // A bad setting is one log line naming the variable, then exit 1.
    let config = or_exit(Config::from_env());
    let sdk = tenant_access::aws::load_sdk_config().await;
    let admin = Admin::new(config, &sdk);
    lambda_runtime::run(service_fn(|event: LambdaEvent<Action>| {
        let admin = &admin;
        async move { Ok::<_, Error>(admin.run(&event.payload).await?) }
    }))
    .await
}
