//! A noisy neighbour: does one tenant at ten times the others' rate hurt
//! them, with the per-tenant limits on ([`tenant_access::limits`]) and off?
//!
//! One dynamodb-items app serves every tenant at once (as one container of
//! Lambda Managed Instances does), with the limits set to a tenant's fair
//! share: `TENANT_MAX_IN_FLIGHT=2` and a token bucket of a quiet tenant's
//! rate. Nine quiet tenants each send `GET /items/welcome` at 5 requests per
//! second, one at a time; their latency is measured in four phases,
//! interleaved in rounds so the shared servers' drift falls on all alike:
//!
//! - **alone**: the quiet tenants only (the baseline);
//! - **noisy at its limit**: the same, while one tenant sends exactly its
//!   limit's rate: what its served share costs the others on the servers
//!   they share;
//! - **noisy, limited**: the same, while one noisy tenant offers ten times a
//!   quiet tenant's rate, eight requests in flight at once;
//! - **noisy, unlimited**: the same without the limits.
//!
//! The targets: the quiet tenants' p99 under the limited noise within 1.2x
//! of the baseline (the limited over the at-limit phase is what the refused
//! excess costs), and the noisy tenant's refusals all 429 (never a 5xx, so
//! no request missed its deadline, which would be 504). The unlimited phase
//! shows what the limits buy on this machine.

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
const QUIET_RATE: f64 = 5.0;
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

/// Rounds of the four phases, interleaved.
const ROUNDS: usize = 5;

/// Each quiet tenant's requests in each phase, at least: 900 samples per
/// phase, so a p99 is the ninth slowest, not the third (with 300, one
/// stall of the shared servers moved it by more than the target's margin).
const MIN_PER_QUIET_TENANT: usize = 100;

/// The noisy tenant's bucket, in quiet tenants' rates.
const LIMIT_FACTOR: f64 = 1.0;

async fn app(stack: &Stack, limited: bool) -> Arc<dynamodb_items::App> {
    let rate = (LIMIT_FACTOR * QUIET_RATE).to_string();
    let env = if limited {
        stack.with(&[
            ("TENANT_MAX_IN_FLIGHT", "2"),
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
    noisy: Option<(&str, f64, &Arc<Noise>)>,
) -> Vec<Duration> {
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut noise_tasks = Vec::new();
    if let Some((name, factor, noise)) = noisy {
        let interval = Duration::from_secs_f64(NOISY_WORKERS as f64 / (QUIET_RATE * factor));
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
    let per_tenant = (requests / QUIET).max(MIN_PER_QUIET_TENANT);
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
    // The four phases in rounds, interleaved, so the shared servers' drift
    // over the run falls on all of them alike.
    let (at_limit_noise, noise, unlimited_noise) = (
        Arc::new(Noise::default()),
        Arc::new(Noise::default()),
        Arc::new(Noise::default()),
    );
    let rounds = ROUNDS.min(per_tenant);
    let per_round = per_tenant / rounds;
    let mut samples: [Vec<Duration>; 4] = Default::default();
    // Each round's quiet p99 per phase, for the chart over time.
    let mut by_round: Vec<[f64; 4]> = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let before = samples.each_ref().map(Vec::len);
        samples[0].extend(phase(&limited, quiet, per_round, None).await);
        // At its limit's rate, no more: what its served share alone costs
        // the others on the servers they share.
        samples[1].extend(
            phase(
                &limited,
                quiet,
                per_round,
                Some((noisy_name, LIMIT_FACTOR, &at_limit_noise)),
            )
            .await,
        );
        samples[2].extend(
            phase(
                &limited,
                quiet,
                per_round,
                Some((noisy_name, NOISE, &noise)),
            )
            .await,
        );
        samples[3].extend(
            phase(
                &unlimited,
                quiet,
                per_round,
                Some((noisy_name, NOISE, &unlimited_noise)),
            )
            .await,
        );
        by_round.push(std::array::from_fn(|i| {
            percentiles(&samples[i][before[i]..]).p99
        }));
    }
    let [alone, at_limit, with_limits, without_limits] = samples.map(|s| percentiles(&s));
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
        "at_limit_p50_us": at_limit.p50, "at_limit_p99_us": at_limit.p99,
        "refused_excess_ratio_p99": with_limits.p99 / at_limit.p99,
        "unlimited_p50_us": without_limits.p50, "unlimited_p99_us": without_limits.p99,
        "ratio_p99": ratio, "unlimited_ratio_p99": without_limits.p99 / alone.p99,
        "noisy_ok": count(&noise.ok), "noisy_429": count(&noise.limited),
        "noisy_5xx": count(&noise.server_errors), "noisy_other": count(&noise.other),
        "unlimited_noisy_ok": count(&unlimited_noise.ok),
        "rounds": by_round,
        "targets_missed": misses,
    })
}
