//! A noisy neighbour: does one tenant at ten times the others' rate hurt
//! them, with the per-tenant limits on ([`tenant_access::limits`]) and off?
//!
//! One dynamodb-items app serves every tenant at once (as one container of
//! Lambda Managed Instances does), with `TENANT_MAX_IN_FLIGHT=8` and a
//! token bucket of twice a quiet tenant's rate. Nine quiet tenants each
//! send `GET /items/welcome` at a steady rate, one at a time; their latency
//! is measured three times, in one run:
//!
//! - **alone**: the quiet tenants only (the baseline);
//! - **noisy, limited**: the same, while one noisy tenant offers ten times a
//!   quiet tenant's rate, eight requests in flight at once;
//! - **noisy, unlimited**: the same without the limits.
//!
//! The targets: the quiet tenants' p99 under the limited noise within 1.2x
//! of the baseline, and the noisy tenant's refusals all 429 (never a 5xx,
//! so no request missed its deadline, which would be 504).
//! The unlimited phase shows what the limits buy on this machine.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use test_support::{Stack, event, request};

use crate::stats::percentiles;
use crate::{progress, tenant};

/// Quiet tenants.
const QUIET: usize = 9;
/// A quiet tenant's requests per second.
const QUIET_RATE: f64 = 20.0;
/// How many times a quiet tenant's rate the noisy tenant offers.
const NOISE: f64 = 10.0;
/// The noisy tenant's requests in flight at once (its workers): the
/// in-flight cap's size, so it is the rate that limits it.
const NOISY_WORKERS: usize = 8;

fn item_event(tenant: &str) -> Value {
    let mut e = event("dynamodb-items/tenant1-item.json");
    e["requestContext"]["authorizer"]["jwt"]["claims"]["custom:tenant_id"] = tenant.into();
    e["requestContext"]["requestId"] = format!("bench-noisy-{tenant}").into();
    e
}

async fn app(stack: &Stack, limited: bool) -> Arc<dynamodb_items::App> {
    let rate = (2.0 * QUIET_RATE).to_string();
    let env = if limited {
        stack.with(&[
            ("TENANT_MAX_IN_FLIGHT", "8"),
            ("TENANT_REQUESTS_PER_SECOND", &rate),
            ("TENANT_BURST", &rate),
        ])
    } else {
        stack.with(&[])
    };
    let config = dynamodb_items::Config::from_lookup(&env.lookup()).expect("config");
    Arc::new(dynamodb_items::App::new(&config, &env.sdk_config().await))
}

/// What the noisy tenant got: answers by class.
#[derive(Default)]
struct Noise {
    ok: AtomicU64,
    limited: AtomicU64,
    server_errors: AtomicU64,
    other: AtomicU64,
}

/// The quiet tenants' latencies over `per_tenant` requests each, with the
/// noisy tenant running alongside when `noisy` is given.
async fn phase(
    app: &Arc<dynamodb_items::App>,
    quiet: &[String],
    per_tenant: usize,
    noisy: Option<(&str, &Arc<Noise>)>,
) -> Vec<Duration> {
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut noise_tasks = Vec::new();
    if let Some((name, noise)) = noisy {
        let interval = Duration::from_secs_f64(NOISY_WORKERS as f64 / (QUIET_RATE * NOISE));
        for _ in 0..NOISY_WORKERS {
            let (app, noise, stop) = (app.clone(), noise.clone(), stop.clone());
            let event = item_event(name);
            noise_tasks.push(tokio::spawn(async move {
                let mut next = Instant::now();
                while !stop.load(Ordering::Relaxed) {
                    let response = dynamodb_items::function_handler(&app, request(&event))
                        .await
                        .expect("handlers answer every request");
                    let counter = match response.status().as_u16() {
                        200 => &noise.ok,
                        429 => &noise.limited,
                        500..=599 => &noise.server_errors,
                        _ => &noise.other,
                    };
                    counter.fetch_add(1, Ordering::Relaxed);
                    next += interval;
                    tokio::time::sleep_until(next.into()).await;
                }
            }));
        }
    }
    let interval = Duration::from_secs_f64(1.0 / QUIET_RATE);
    let mut quiet_tasks = Vec::new();
    for (i, name) in quiet.iter().enumerate() {
        let app = app.clone();
        let event = item_event(name);
        quiet_tasks.push(tokio::spawn(async move {
            // Staggered, so the quiet tenants do not arrive in step.
            let mut next = Instant::now() + interval.mul_f64(i as f64 / QUIET as f64);
            let mut took = Vec::with_capacity(per_tenant);
            for _ in 0..per_tenant {
                tokio::time::sleep_until(next.into()).await;
                let start = Instant::now();
                let response = dynamodb_items::function_handler(&app, request(&event))
                    .await
                    .expect("handlers answer every request");
                took.push(start.elapsed());
                assert_eq!(response.status(), 200, "a quiet tenant was refused");
                next += interval;
            }
            took
        }));
    }
    let mut all = Vec::new();
    for task in quiet_tasks {
        all.extend(task.await.expect("a quiet tenant's task"));
    }
    stop.store(true, Ordering::Relaxed);
    for task in noise_tasks {
        task.await.expect("a noisy worker");
    }
    all
}

/// The noisy-neighbour scenario; the result carries `targets_missed`.
pub(crate) async fn noisy(stack: &Stack, requests: usize) -> Value {
    let per_tenant = (requests / QUIET).max(30);
    progress(&format!(
        "noisy neighbour: {QUIET} quiet tenants at {QUIET_RATE}/s ({per_tenant} requests each), one at {NOISE}x from {NOISY_WORKERS} workers"
    ));
    let names: Vec<String> = (0..=QUIET).map(tenant).collect();
    let (noisy_name, quiet) = names.split_last().expect("tenants");
    let limited = app(stack, true).await;
    let unlimited = app(stack, false).await;
    // Warm: every tenant's session in both apps.
    for name in &names {
        for app in [&limited, &unlimited] {
            let response = dynamodb_items::function_handler(app, request(&item_event(name)))
                .await
                .expect("handlers answer");
            assert_eq!(response.status(), 200, "warm-up");
        }
    }
    let alone = percentiles(&phase(&limited, quiet, per_tenant, None).await);
    let noise = Arc::new(Noise::default());
    let with_limits =
        percentiles(&phase(&limited, quiet, per_tenant, Some((noisy_name, &noise))).await);
    let unlimited_noise = Arc::new(Noise::default());
    let without_limits = percentiles(
        &phase(
            &unlimited,
            quiet,
            per_tenant,
            Some((noisy_name, &unlimited_noise)),
        )
        .await,
    );
    let count = |n: &AtomicU64| n.load(Ordering::Relaxed);
    let ratio = with_limits.p99 / alone.p99;
    let mut misses = Vec::new();
    if ratio > 1.2 {
        misses.push(format!("quiet p99 {ratio:.2} x alone > 1.2"));
    }
    if count(&noise.server_errors) > 0 || count(&noise.other) > 0 {
        misses.push(format!(
            "the noisy tenant got {} 5xx and {} other refusals, not 429",
            count(&noise.server_errors),
            count(&noise.other)
        ));
    }
    if count(&noise.limited) == 0 {
        misses.push("the noisy tenant was never limited".to_owned());
    }
    json!({
        "function": "dynamodb-items", "scenario": "noisy_neighbour",
        "quiet_tenants": QUIET, "quiet_rate_per_second": QUIET_RATE, "noise_factor": NOISE,
        "requests_per_quiet_tenant": per_tenant,
        "alone_p50_us": alone.p50, "alone_p99_us": alone.p99,
        "limited_p50_us": with_limits.p50, "limited_p99_us": with_limits.p99,
        "unlimited_p50_us": without_limits.p50, "unlimited_p99_us": without_limits.p99,
        "ratio_p99": ratio, "unlimited_ratio_p99": without_limits.p99 / alone.p99,
        "noisy_ok": count(&noise.ok), "noisy_429": count(&noise.limited),
        "noisy_5xx": count(&noise.server_errors), "noisy_other": count(&noise.other),
        "unlimited_noisy_ok": count(&unlimited_noise.ok),
        "targets_missed": misses,
    })
}
