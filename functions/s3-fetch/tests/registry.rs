//! The tenant registry, checked before any AWS call: a tenant's state is
//! read once per cache life (warm requests read nothing), a suspended or
//! unknown tenant is refused without an STS call, and an unreadable
//! registry fails closed. Run with `cargo xtask test`, which starts the
//! stack.

use aws_sdk_s3::config::Credentials;
use s3_fetch::{App, Config, function_handler};
use serde_json::Value;
use test_support::{Stack, body_json, event, request};

async fn app(stack: &Stack) -> App {
    let stack = stack.with(&[("METRICS_NAMESPACE", "none")]);
    let config = Config::from_lookup(&stack.lookup()).expect("stack config is valid");
    App::new(&config, &stack.sdk_config().await)
}

/// `tenant`'s GET of its `tenant.info`: (status, error code).
async fn get(app: &App, tenant: &str) -> (u16, Value) {
    let e = test_support::as_tenant(&event("s3-fetch/tenant1-get.json"), tenant, "registry");
    let response = function_handler(app, request(&e)).await.unwrap();
    let status = response.status().as_u16();
    let code = if status >= 400 {
        body_json(&response)["error"].clone()
    } else {
        Value::Null
    };
    (status, code)
}

/// Write `tenant`'s state into the stack's registry, as the operator's
/// commands do (moto directly, enforcement paused: the functions may
/// only read it).
async fn set_state(stack: &Stack, tenant: &str, state: &str) {
    let _paused = stack.pause_iam_enforcement();
    let moto = stack.with(&[("AWS_ENDPOINT_URL", &stack.var("STACK_MOTO_URL"))]);
    let sdk = moto
        .sdk_config_with(Credentials::new("seed", "seed", None, None, "test"))
        .await;
    aws_sdk_dynamodb::Client::new(&sdk)
        .put_item()
        .table_name(stack.var("TENANT_REGISTRY_TABLE"))
        .item(
            "tenant_id",
            aws_sdk_dynamodb::types::AttributeValue::S(tenant.to_owned()),
        )
        .item(
            "state",
            aws_sdk_dynamodb::types::AttributeValue::S(state.to_owned()),
        )
        .send()
        .await
        .expect("moto takes the item");
}

#[tokio::test]
async fn warm_requests_read_the_registry_once_per_cache_life() {
    let stack = Stack::load();
    let app = app(&stack).await;
    let registry = app.sessions().registry().expect("the stack sets one");
    assert_eq!(get(&app, "tenant1").await.0, 200);
    let cold = registry.reads();
    assert_eq!(cold, 1, "the first request reads the tenant's state");
    for _ in 0..200 {
        assert_eq!(get(&app, "tenant1").await.0, 200);
    }
    assert_eq!(registry.reads(), cold, "no read per warm request");
}

#[tokio::test]
async fn suspended_and_unknown_tenants_are_refused_before_any_sts_call() {
    let stack = Stack::load();
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let suspended = format!("susp{stamp}");
    set_state(&stack, &suspended, "suspended").await;
    let app = app(&stack).await;
    assert_eq!(
        get(&app, &suspended).await,
        (403, Value::from("tenant_suspended"))
    );
    // Never onboarded: the same answer an offboarded tenant gets.
    assert_eq!(
        get(&app, &format!("never{stamp}")).await,
        (403, Value::from("tenant_not_onboarded"))
    );
    assert_eq!(
        app.sessions().assume_role_calls(),
        0,
        "no STS call for either"
    );
    // And an active tenant is served by the same app: the refusals above
    // are the registry's, not a broken app's.
    assert_eq!(get(&app, "tenant1").await.0, 200);
    assert_eq!(app.sessions().assume_role_calls(), 1);
}

#[tokio::test]
async fn an_unreadable_registry_fails_closed() {
    let stack = Stack::load().with(&[("TENANT_REGISTRY_TABLE", "no-such-registry")]);
    let app = app(&stack).await;
    let (status, code) = get(&app, "tenant1").await;
    assert_eq!((status, code), (503, Value::from("upstream_unavailable")));
    assert_eq!(app.sessions().assume_role_calls(), 0, "nothing served");
}
