//! search-docs against its floor.
//!
//! - **search warm vs floor**: `GET /docs/welcome` through the handler,
//!   each paired with the same signed `GET /<tenant>.docs/_doc/welcome`
//!   made directly ([`tenant_access::search::TenantIndex::get`]) with the
//!   same tenant's held session, right before it (so server drift
//!   cancels). The domain is the local front's stand-in engine: the ratio
//!   is the function's overhead (envelope, session cache, routing, JSON)
//!   over one signed call, not OpenSearch's speed.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tenant_access::search::DocId;
use test_support::{Stack, event, request};

use crate::stats::percentiles;
use crate::{progress, tenant};

/// `GET /docs/welcome` of `tenant`.
fn doc_event(tenant: &str) -> Value {
    let mut e = event("search-docs/tenant1-doc.json");
    e["requestContext"]["authorizer"]["jwt"]["claims"]["custom:tenant_id"] = tenant.into();
    e["requestContext"]["requestId"] = format!("bench-{tenant}").into();
    e
}

async fn serve(app: &search_docs::App, event: &Value) -> Duration {
    let start = Instant::now();
    let response = search_docs::function_handler(app, request(event))
        .await
        .expect("handlers answer every request");
    let took = start.elapsed();
    assert_eq!(response.status(), 200, "bench document request failed");
    took
}

/// The search scenario; the result carries `targets_missed`.
pub(crate) async fn search(stack: &Stack, requests: usize, tenants: usize) -> Value {
    progress(&format!(
        "search-docs warm: {tenants} tenants, {requests} requests paired with the signed GET"
    ));
    let names: Vec<String> = (0..tenants).map(tenant).collect();
    let config = search_docs::Config::from_lookup(&stack.lookup()).expect("config");
    let app = search_docs::App::new(&config, &stack.sdk_config().await).expect("TLS roots");
    let welcome = DocId::parse("welcome").expect("an id");
    // The floor: each tenant's own session, held, and its document.
    let mut sessions = Vec::new();
    for name in &names {
        let caller = stack.caller(name, "role-per-tenant", "bench-floor").await;
        let session = app.sessions().session(&caller).await.expect("session");
        app.index()
            .put(
                &session,
                &welcome,
                &json!({"title": "welcome", "tenant": name}),
            )
            .await
            .expect("the tenant indexes its own document");
        sessions.push(session);
    }
    let floor = |i: usize| {
        let session = &sessions[i % tenants];
        let (app, welcome) = (&app, &welcome);
        async move {
            let start = Instant::now();
            let doc = app.index().get(session, welcome).await.expect("GET");
            assert!(doc.is_object());
            start.elapsed()
        }
    };
    let events: Vec<Value> = names.iter().map(|n| doc_event(n)).collect();
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
    json!({
        "function": "search-docs", "scenario": "warm", "tenants": tenants, "requests": requests,
        "p50_us": h.p50, "p90_us": h.p90, "p99_us": h.p99,
        "floor_p50_us": f.p50, "floor_p99_us": f.p99, "overhead": overhead,
        "targets_missed": misses,
    })
}
