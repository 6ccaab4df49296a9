//! After a failover: every tenant's database connection dropped at once,
//! and how one container's tenants come back.
//!
//! One aurora-query app holds a connection for each of `tenants` tenants
//! (`DB_CONNECTION_CAPACITY` as large). The database then ends every one of
//! them at once (`pg_terminate_backend`, as a failover does), and the
//! tenants ask again, `in_flight` at a time, each until it is served: a
//! request answered 503 is asked again after its `Retry-After`, as a client
//! would. Reported per run, with the login pace on (`DB_LOGINS_PER_SECOND`)
//! and off: the time until every tenant was served again, the peak of new
//! logins in any one second (RDS takes 200 a second per cluster, over
//! every container), the logins made and the 503s answered.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use test_support::{Stack, request};

use crate::{Function, progress, quiet};

/// RDS's new IAM-authenticated connections per second per cluster.
const RDS_IAM_LOGINS_PER_S: f64 = 200.0;

/// What one run of tenants coming back gave.
struct Recovery {
    seconds: f64,
    served: usize,
    throttled: usize,
    failed: usize,
}

/// Every tenant in `0..tenants` served once through `app`, `in_flight` at a
/// time; a 503 is asked again after its `Retry-After`.
async fn serve_all(app: &Arc<aurora_query::App>, tenants: usize, in_flight: usize) -> Recovery {
    let queue: Arc<std::sync::Mutex<VecDeque<(usize, Instant)>>> = Arc::new(std::sync::Mutex::new(
        (0..tenants).map(|i| (i, Instant::now())).collect(),
    ));
    let left = Arc::new(std::sync::atomic::AtomicUsize::new(tenants));
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..in_flight {
        let (app, queue, left) = (app.clone(), queue.clone(), left.clone());
        workers.push(tokio::spawn(async move {
            let (mut served, mut throttled, mut failed) = (0, 0, 0);
            while left.load(Ordering::Acquire) > 0 {
                let next = queue.lock().expect("queue").pop_front();
                let Some((tenant, not_before)) = next else {
                    // Every tenant left is with another worker.
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    continue;
                };
                let now = Instant::now();
                if not_before > now {
                    tokio::time::sleep(not_before - now).await;
                }
                let event = Function::AuroraQuery.event(&crate::tenant(tenant));
                let response = aurora_query::function_handler(&app, request(&event))
                    .await
                    .expect("handlers answer every request");
                match response.status().as_u16() {
                    200 => {
                        served += 1;
                        left.fetch_sub(1, Ordering::AcqRel);
                    }
                    503 => {
                        throttled += 1;
                        let retry = response
                            .headers()
                            .get("retry-after")
                            .and_then(|v| v.to_str().ok())
                            .and_then(|v| v.parse::<u64>().ok())
                            .unwrap_or(1);
                        queue
                            .lock()
                            .expect("queue")
                            .push_back((tenant, Instant::now() + Duration::from_secs(retry)));
                    }
                    _ => {
                        failed += 1;
                        left.fetch_sub(1, Ordering::AcqRel);
                    }
                }
            }
            (served, throttled, failed)
        }));
    }
    let mut recovery = Recovery {
        seconds: 0.0,
        served: 0,
        throttled: 0,
        failed: 0,
    };
    for worker in workers {
        let (served, throttled, failed) = worker.await.expect("worker");
        recovery.served += served;
        recovery.throttled += throttled;
        recovery.failed += failed;
    }
    recovery.seconds = started.elapsed().as_secs_f64();
    recovery
}

/// One run: warm, drop every connection, come back; `pace` is
/// `DB_LOGINS_PER_SECOND` (0: none).
async fn run(stack: &Stack, tenants: usize, in_flight: usize, pace: u32) -> Value {
    let env = quiet(stack).with(&[
        ("DB_CONNECTION_CAPACITY", &tenants.to_string()),
        ("DB_LOGINS_PER_SECOND", &pace.to_string()),
    ]);
    let config = aurora_query::Config::from_lookup(&env.lookup()).expect("config");
    let app =
        Arc::new(aurora_query::App::new(&config, &env.sdk_config().await).expect("CA bundle"));
    let warm = serve_all(&app, tenants, in_flight).await;
    assert_eq!(warm.failed, 0, "every tenant is served before the drop");
    let open = app.db().open_connections();
    let admin = stack.admin_db().await;
    let ended = admin
        .query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE usename ~ '^bench[0-9]+_dbuser$'",
            &[],
        )
        .await
        .expect("the admin ends the tenants' connections")
        .len();
    let before = app.db().connections_opened();
    // New logins sampled every 50 ms while the tenants come back.
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (app, done) = (app.clone(), done.clone());
        tokio::spawn(async move {
            let started = Instant::now();
            let mut samples = vec![(0.0, 0u64)];
            while !done.load(Ordering::Acquire) {
                tokio::time::sleep(Duration::from_millis(50)).await;
                samples.push((
                    started.elapsed().as_secs_f64(),
                    app.db().connections_opened() - before,
                ));
            }
            samples
        })
    };
    let back = serve_all(&app, tenants, in_flight).await;
    done.store(true, Ordering::Release);
    let samples = sampler.await.expect("sampler");
    // The most logins within any one second.
    let peak = samples
        .iter()
        .map(|&(at, n)| {
            let earlier = samples
                .iter()
                .rev()
                .find(|(t, _)| *t <= at - 1.0)
                .map_or(0, |&(_, n)| n);
            n - earlier
        })
        .max()
        .unwrap_or(0);
    let logins = app.db().connections_opened() - before;
    json!({
        "pace_per_s": pace, "open_before": open, "connections_ended": ended,
        "recovery_s": back.seconds, "served": back.served, "throttled_503": back.throttled,
        "failed": back.failed, "logins": logins, "peak_logins_per_s": peak,
        "peak_vs_rds_limit": peak as f64 / RDS_IAM_LOGINS_PER_S,
        "logins_waited": app.db().logins_waited(), "logins_throttled": app.db().logins_throttled(),
    })
}

/// `tenants` tenants' connections dropped at once, with the default login
/// pace and without one, `in_flight` requests at a time.
pub async fn reconnect(stack: &Stack, tenants: usize, in_flight: usize) -> Value {
    // The pace a deployment gets when it sets none.
    let default_pace = aurora_query::Config::from_lookup(&quiet(stack).lookup())
        .expect("config")
        .service
        .logins_per_second;
    let mut runs = Vec::new();
    for pace in [default_pace, 0] {
        progress(&format!(
            "aurora-query: {tenants} tenants' connections dropped at once, {in_flight} in flight, logins paced at {}",
            if pace == 0 {
                "nothing".to_owned()
            } else {
                format!("{pace}/s")
            }
        ));
        runs.push(run(stack, tenants, in_flight, pace).await);
    }
    json!({
        "function": "aurora-query", "scenario": "reconnect", "tenants": tenants,
        "in_flight": in_flight, "rds_iam_logins_per_s": RDS_IAM_LOGINS_PER_S, "runs": runs,
    })
}

/// The table lines of a [`reconnect`] result.
pub fn lines(result: &Value) -> Vec<String> {
    result["runs"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|run| {
            let pace = run["pace_per_s"].as_u64().unwrap_or(0);
            format!(
                "aurora-query  {} tenants' connections dropped, {} in flight, logins paced at {}: all served again in {:.1} s, peak {} new logins/s ({:.0}% of RDS's 200/s), {} logins, {} answered 503 and retried, {} failed",
                result["tenants"],
                result["in_flight"],
                if pace == 0 { "nothing".to_owned() } else { format!("{pace}/s") },
                run["recovery_s"].as_f64().unwrap_or(f64::NAN),
                run["peak_logins_per_s"],
                run["peak_vs_rds_limit"].as_f64().unwrap_or(f64::NAN) * 100.0,
                run["logins"],
                run["throttled_503"],
                run["failed"],
            )
        })
        .collect()
}
