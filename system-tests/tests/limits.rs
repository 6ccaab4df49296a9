//! Per-tenant limits in one container, served by s3-fetch on the local
//! stack: a tenant over its rate or its requests in flight gets 429
//! `rate_limited` with `Retry-After`, before any AWS call is made for it,
//! while other tenants are served; a tenant whose registry item names a
//! tier gets that tier's limits.

mod common;

use std::sync::Arc;
use std::time::Duration;

use local_front::{HttpFault, HttpFront, HttpRule, Service};
use test_support::{Stack, as_tenant, body_json, event, request};

/// s3-fetch with `overrides`, its AWS calls through `endpoint` if given.
async fn app(stack: &Stack, overrides: &[(&str, &str)]) -> s3_fetch::App {
    let env = stack.with(overrides);
    let config = s3_fetch::Config::from_lookup(&env.lookup()).expect("s3-fetch config");
    s3_fetch::App::new(&config, &env.sdk_config().await)
}

async fn get(
    app: &s3_fetch::App,
    tenant: &str,
    n: u32,
) -> lambda_http::Response<lambda_http::Body> {
    let event = as_tenant(
        &event("s3-fetch/tenant1-get.json"),
        tenant,
        &format!("limits-{tenant}-{n}"),
    );
    s3_fetch::function_handler(app, request(&event))
        .await
        .expect("handlers answer every request")
}

/// (AssumeRole calls, registry reads) so far.
fn calls(app: &s3_fetch::App) -> (u64, u64) {
    (
        app.sessions().assume_role_calls(),
        app.sessions().registry().map_or(0, |r| r.reads()),
    )
}

#[tokio::test]
async fn a_tenant_over_its_rate_is_refused_before_any_aws_call() {
    let stack = Stack::load();
    let app = app(
        &stack,
        &[("TENANT_REQUESTS_PER_SECOND", "1"), ("TENANT_BURST", "3")],
    )
    .await;
    for n in 0..3 {
        let response = get(&app, "fault021", n).await;
        assert_eq!(response.status(), 200, "{:?}", body_json(&response));
    }
    let before = calls(&app);
    let refused = get(&app, "fault021", 3).await;
    assert_eq!(refused.status(), 429);
    assert_eq!(body_json(&refused)["error"], "rate_limited");
    let retry: u32 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&retry), "Retry-After {retry}");
    assert_eq!(calls(&app), before, "no STS or registry call for it");
    // Another tenant has a bucket of its own.
    let other = get(&app, "fault022", 0).await;
    assert_eq!(other.status(), 200, "{:?}", body_json(&other));
    // And the tenant's bucket refills.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(get(&app, "fault021", 4).await.status(), 200);
}

#[tokio::test]
async fn a_tenant_over_its_requests_in_flight_is_refused_and_others_are_served() {
    let stack = Stack::load();
    let moto = stack
        .var("AWS_ENDPOINT_URL")
        .trim_start_matches("http://")
        .parse()
        .unwrap();
    let front = HttpFront::start("127.0.0.1:0".parse().unwrap(), moto)
        .await
        .unwrap();
    // fault023's first session call is held 1.5 s, so its requests stay in
    // flight meanwhile.
    front.inject(
        HttpRule::new(HttpFault::Delay { ms: 1500 })
            .service(Service::Sts)
            .contains("assumeRole-fault023")
            .times(1),
    );
    let endpoint = front.endpoint();
    let app = Arc::new(
        app(
            &stack,
            &[
                ("TENANT_MAX_IN_FLIGHT", "2"),
                ("AWS_ENDPOINT_URL", &endpoint),
            ],
        )
        .await,
    );
    let held: Vec<_> = (0..2)
        .map(|n| {
            let app = app.clone();
            tokio::spawn(async move { get(&app, "fault023", n).await.status() })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = std::time::Instant::now();
    let refused = get(&app, "fault023", 2).await;
    assert_eq!(refused.status(), 429, "{:?}", body_json(&refused));
    assert_eq!(body_json(&refused)["error"], "rate_limited");
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "refused at once"
    );
    // Another tenant is served meanwhile.
    assert_eq!(get(&app, "fault024", 0).await.status(), 200);
    for request in held {
        assert_eq!(request.await.unwrap(), 200);
    }
    // Once they are answered, the tenant is served again.
    assert_eq!(get(&app, "fault023", 3).await.status(), 200);
}

#[tokio::test]
async fn a_tenant_s_tier_in_the_registry_chooses_its_limits() {
    let stack = Stack::load();
    // fault025 is premium in the registry; the default allows one request
    // at a time per second.
    common::set_tier(&stack, "fault025", Some("premium")).await;
    let app = app(
        &stack,
        &[
            ("TENANT_REQUESTS_PER_SECOND", "1"),
            ("TENANT_BURST", "1"),
            ("TENANT_TIER_LIMITS", "premium=0:100:20"),
        ],
    )
    .await;
    // The first request reads the tier; from then on the tier's limits.
    for n in 0..10 {
        let response = get(&app, "fault025", n).await;
        assert_eq!(
            response.status(),
            200,
            "request {n}: {:?}",
            body_json(&response)
        );
    }
    // A tenant of no tier has the default: one, then 429.
    assert_eq!(get(&app, "fault026", 0).await.status(), 200);
    assert_eq!(get(&app, "fault026", 1).await.status(), 429);
    // The registry as it was: fault025 of no tier.
    common::set_tier(&stack, "fault025", None).await;
}
