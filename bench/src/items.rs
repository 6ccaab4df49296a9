//! dynamodb-items against its floor, and the identity-pool strategy
//! against role-per-tenant.
//!
//! - **items warm vs floor**: `GET /items/welcome` through the handler,
//!   each paired with the same `GetItem` on a client built on the same
//!   tenant's held credentials, right before it (so server drift cancels).
//! - **identity-pool vs role-per-tenant**: the same `GET /items/welcome`
//!   requests, with each tenant user's real ID token, under both strategies,
//!   interleaved; and the identity-pool exchanges per 1,000 warm requests
//!   (0 while the cache holds every token's session).

use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::{Value, json};
use test_support::{Stack, event, request};

use crate::stats::percentiles;
use crate::{progress, tenant};

/// `GET /items/welcome` of `tenant`, with `token` as its bearer token.
fn item_event(tenant: &str, token: Option<&str>) -> Value {
    let mut e = event("dynamodb-items/tenant1-item.json");
    e["requestContext"]["authorizer"]["jwt"]["claims"]["custom:tenant_id"] = tenant.into();
    e["requestContext"]["requestId"] = format!("bench-{tenant}").into();
    if let Some(token) = token {
        e["headers"]["authorization"] = format!("Bearer {token}").into();
    }
    e
}

async fn app(stack: &Stack) -> dynamodb_items::App {
    let config = dynamodb_items::Config::from_lookup(&stack.lookup()).expect("config");
    dynamodb_items::App::new(&config, &stack.sdk_config().await)
}

async fn serve(app: &dynamodb_items::App, event: &Value) -> Duration {
    let start = Instant::now();
    let response = dynamodb_items::function_handler(app, request(event))
        .await
        .expect("handlers answer every request");
    let took = start.elapsed();
    assert_eq!(response.status(), 200, "bench item request failed");
    took
}

/// The items scenarios; each result carries `targets_missed`.
pub(crate) async fn items(stack: &Stack, requests: usize, tenants: usize) -> Vec<Value> {
    progress(&format!(
        "dynamodb-items warm: {tenants} tenants, {requests} requests paired with GetItem"
    ));
    let names: Vec<String> = (0..tenants).map(tenant).collect();
    let app = app(stack).await;
    // The floor: each tenant's own session, held, and a client built once.
    let mut clients = Vec::new();
    for name in &names {
        let caller = stack.caller(name, "role-per-tenant", "bench-floor").await;
        let session = app.sessions().session(&caller).await.expect("session");
        clients.push(aws_sdk_dynamodb::Client::new(&session.sdk_config()));
    }
    let table = app.table().name().to_owned();
    let floor = |i: usize| {
        let client = &clients[i % tenants];
        let name = &names[i % tenants];
        let table = &table;
        async move {
            let start = Instant::now();
            let out = client
                .get_item()
                .table_name(table)
                .key("tenant_id", AttributeValue::S(name.clone()))
                .key("item_id", AttributeValue::S("welcome".into()))
                .consistent_read(true)
                .send()
                .await
                .expect("GetItem");
            assert!(out.item().is_some());
            start.elapsed()
        }
    };
    let events: Vec<Value> = names.iter().map(|n| item_event(n, None)).collect();
    for (i, e) in events.iter().enumerate() {
        serve(&app, e).await;
        floor(i).await;
    }
    let (mut handler, mut raw) = (Vec::new(), Vec::new());
    for i in 0..requests {
        raw.push(floor(i).await);
        handler.push(serve(&app, &events[i % tenants]).await);
    }
    let (h, f) = (percentiles(&handler), percentiles(&raw));
    let overhead = h.p50 / f.p50;
    let mut misses = Vec::new();
    if overhead > 1.15 {
        misses.push(format!("overhead {overhead:.2} > 1.15"));
    }
    let warm = json!({
        "function": "dynamodb-items", "scenario": "warm", "tenants": tenants, "requests": requests,
        "p50_us": h.p50, "p90_us": h.p90, "p99_us": h.p99,
        "floor_p50_us": f.p50, "floor_p99_us": f.p99, "overhead": overhead,
        "targets_missed": misses,
    });

    progress(&format!(
        "dynamodb-items identity-pool vs role-per-tenant: {tenants} users, {requests} requests each"
    ));
    let pooled_stack = stack.with_strategy("identity-pool");
    let pooled = app_for(&pooled_stack).await;
    let per_tenant = app_for(&stack.with_strategy("role-per-tenant")).await;
    let mut tokens = Vec::new();
    for name in &names {
        tokens.push(stack.id_token(&format!("{name}@example.com")).await);
    }
    let pooled_events: Vec<Value> = names
        .iter()
        .zip(&tokens)
        .map(|(n, t)| item_event(n, Some(t)))
        .collect();
    for i in 0..tenants {
        serve(&pooled, &pooled_events[i]).await;
        serve(&per_tenant, &events[i]).await;
    }
    let exchanges_before = pooled.sessions().identity_pool_calls();
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for i in 0..requests {
        a.push(serve(&pooled, &pooled_events[i % tenants]).await);
        b.push(serve(&per_tenant, &events[i % tenants]).await);
    }
    let exchanges = pooled.sessions().identity_pool_calls() - exchanges_before;
    let (a, b) = (percentiles(&a), percentiles(&b));
    let ratio = a.p50 / b.p50;
    let per_1000 = exchanges as f64 * 1000.0 / requests as f64;
    let mut misses = Vec::new();
    if ratio > 1.1 {
        misses.push(format!(
            "identity-pool p50 {ratio:.2} x role-per-tenant > 1.1"
        ));
    }
    if exchanges > 0 {
        misses.push(format!("{exchanges} identity-pool exchanges while warm"));
    }
    let strategy = json!({
        "function": "dynamodb-items", "scenario": "identity_pool_vs_role_per_tenant",
        "tenants": tenants, "requests": requests,
        "identity_pool_p50_us": a.p50, "identity_pool_p99_us": a.p99,
        "role_per_tenant_p50_us": b.p50, "role_per_tenant_p99_us": b.p99,
        "ratio_p50": ratio, "identity_pool_calls_per_1000": per_1000,
        "identity_pool_calls_warm_up": exchanges_before,
        "targets_missed": misses,
    });
    vec![warm, strategy]
}

async fn app_for(stack: &Stack) -> dynamodb_items::App {
    app(&crate::quiet(stack)).await
}
