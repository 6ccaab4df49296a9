//! The tenant registry's cost on the warm path.
//!
//! s3-fetch's `GET /files/bench-1k.bin` through two handlers built alike,
//! one checking each tenant's state in the registry (cached for the
//! default 30 s) and one without a registry, interleaved request by
//! request and alternating which goes first, so both see the same server.
//! Reports the p50 ratio (target ≤ 1.02) and the registry reads per 1,000
//! warm requests (target 0: every tenant's state is cached after its
//! warm-up request).

use serde_json::{Value, json};
use test_support::Stack;

use crate::files::serve;
use crate::stats::percentiles;
use crate::{Function, progress, tenant};

async fn app(stack: &Stack) -> s3_fetch::App {
    let config = s3_fetch::Config::from_lookup(&stack.lookup()).expect("config");
    s3_fetch::App::new(&config, &stack.sdk_config().await)
}

/// The registry scenario; its result carries `targets_missed`.
pub(crate) async fn registry(stack: &Stack, requests: usize, tenants: usize) -> Value {
    progress(&format!(
        "s3-fetch registry check: {tenants} tenants, {requests} requests with and without it, interleaved"
    ));
    let checked = app(stack).await;
    let unchecked = app(&stack.with(&[("TENANT_REGISTRY_TABLE", "")])).await;
    let registry = checked.sessions().registry().expect("the stack sets one");
    assert!(unchecked.sessions().registry().is_none());
    let events: Vec<Value> = (0..tenants)
        .map(|i| Function::S3Fetch.event(&tenant(i)))
        .collect();
    for e in &events {
        serve(&checked, e).await;
        serve(&unchecked, e).await;
    }
    let reads_before = registry.reads();
    let (mut with, mut without) = (Vec::new(), Vec::new());
    for i in 0..requests {
        let e = &events[i % tenants];
        if i % 2 == 0 {
            with.push(serve(&checked, e).await);
            without.push(serve(&unchecked, e).await);
        } else {
            without.push(serve(&unchecked, e).await);
            with.push(serve(&checked, e).await);
        }
    }
    let reads = (registry.reads() - reads_before) as f64 * 1000.0 / requests as f64;
    let (w, wo) = (percentiles(&with), percentiles(&without));
    let ratio = w.p50 / wo.p50;
    let mut misses = Vec::new();
    if ratio > 1.02 {
        misses.push(format!("registry check p50 {ratio:.3} x without > 1.02"));
    }
    if reads > 0.0 {
        misses.push(format!(
            "{reads:.1} registry reads per 1,000 warm requests > 0"
        ));
    }
    json!({
        "function": "s3-fetch", "scenario": "registry_check", "tenants": tenants, "requests": requests,
        "with_p50_us": w.p50, "without_p50_us": wo.p50, "ratio_p50": ratio,
        "with_p99_us": w.p99, "without_p99_us": wo.p99,
        "registry_reads_per_1000": reads,
        "targets_missed": misses,
    })
}
