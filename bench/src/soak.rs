//! `cargo xtask bench --soak`: a container's hours in minutes. Both
//! functions, in this release process as one container would hold them,
//! serve 8 requests in flight over 1,000 tenants for 100,000 requests
//! while the fault suite's kinds of faults come and go (STS and S3
//! throttling, S3 errors and resets, refused credentials, a database that
//! stops answering or drops every connection). At every 10,000 requests it
//! prints the resident memory, the open file descriptors, aurora-query's
//! open DB connections and PostgreSQL's count of tenant backends, and the
//! cached sessions. After warm-up every figure must stay flat (growth at
//! most 5%) and the backends never exceed `DB_CONNECTION_CAPACITY`.
//!
//! The faults are injected where the functions' own traffic passes: AWS
//! faults at the stack's front, a process of its own (over its control
//! API), database faults at a TCP front in this process, which holds
//! nothing per connection once it closes. An in-process AWS front would
//! hold a record of every session it saw, and its growth would be counted
//! as the functions'.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use local_front::{HttpFault, HttpRule, Service, TcpFront, TcpMode};
use serde_json::{Value, json};
use test_support::{Stack, event, request, with_key};

use crate::scale::rss_kib;
use crate::{DB_CAPACITY, progress, quiet};

/// Requests between two checkpoints.
const CHECKPOINT: u64 = 10_000;
/// Requests between two faults: each block of this many starts with one
/// fault kind, for a fifth of the block (none in the first block).
const FAULT_BLOCK: u64 = 5_000;
/// The fault kinds, taken in turn.
const FAULT_KINDS: u64 = 7;
/// Checkpoints before the figures are expected flat: until every fault
/// kind has come and gone once (a first fault of a kind grows the
/// allocator's pools, measured: 42 to 51 MiB over the first seven, then
/// flat), that is blocks 1 to 7 of 5,000.
const WARM_UP_CHECKPOINTS: usize = ((FAULT_KINDS + 1) * FAULT_BLOCK / CHECKPOINT) as usize;
/// The most a figure may grow past warm-up.
const FLAT: f64 = 1.05;

/// The bytes this process holds: with `--features live-heap` (which
/// `cargo xtask bench --soak` builds), every allocation and free counted, so
/// a leak shows here whatever the allocator keeps; without it, `NaN`.
#[cfg(feature = "live-heap")]
#[global_allocator]
static HEAP: &stats_alloc::StatsAlloc<std::alloc::System> = &stats_alloc::INSTRUMENTED_SYSTEM;

fn live_heap_kib() -> f64 {
    #[cfg(feature = "live-heap")]
    {
        // A realloc counts its growth as allocated and its shrinking as
        // deallocated (`bytes_reallocated` is the same change again).
        let s = HEAP.stats();
        (s.bytes_allocated as f64 - s.bytes_deallocated as f64) / 1024.0
    }
    #[cfg(not(feature = "live-heap"))]
    f64::NAN
}

/// The process's threads (a thread is an allocator arena's worth of
/// memory that may never be returned).
fn threads() -> usize {
    std::fs::read_dir("/proc/self/task").map_or(0, |d| d.count())
}

/// One checkpoint's figures.
#[derive(Debug, Clone, Copy)]
struct Figures {
    requests: u64,
    rss_kib: f64,
    heap_kib: f64,
    threads: usize,
    fds: usize,
    db_connections: usize,
    tenant_backends: i64,
    sessions: usize,
    failures: u64,
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count())
}

/// The fault of block `n` (of [`FAULT_BLOCK`] requests): applied for its
/// first fifth, then cleared.
/// The stack's own AWS front, a process of its own, driven over its control
/// API: the soak's process then holds the functions alone, as a container
/// would, and not the front's record of every session it saw.
struct StackFront {
    control: String,
}

impl StackFront {
    fn new(endpoint: &str) -> Self {
        StackFront {
            control: format!("{endpoint}{}", local_front::http::CONTROL_PATH),
        }
    }

    async fn inject(&self, rule: HttpRule) {
        let body = serde_json::to_vec(&rule).expect("a rule serializes");
        let (status, answer) = test_support::http_with(
            "POST",
            &self.control,
            &[("content-type", "application/json")],
            &body,
        )
        .await;
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&answer));
    }

    async fn clear(&self) {
        let (status, answer) = test_support::http_with("DELETE", &self.control, &[], b"").await;
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&answer));
    }
}

async fn fault(n: u64, aws: &StackFront, db: &TcpFront) -> &'static str {
    match n % FAULT_KINDS {
        0 => {
            aws.inject(HttpRule::new(HttpFault::Throttle).service(Service::Sts))
                .await;
            "STS throttling"
        }
        1 => {
            aws.inject(HttpRule::new(HttpFault::Throttle).service(Service::S3))
                .await;
            "S3 throttling"
        }
        2 => {
            aws.inject(HttpRule::new(HttpFault::ServerError).service(Service::S3))
                .await;
            "S3 errors"
        }
        3 => {
            aws.inject(HttpRule::new(HttpFault::Reset).service(Service::S3))
                .await;
            "S3 connection resets"
        }
        4 => {
            aws.inject(
                HttpRule::new(HttpFault::ExpiredToken)
                    .service(Service::S3)
                    .times(50),
            )
            .await;
            "S3 refusing credentials"
        }
        5 => {
            db.set_mode(TcpMode::Pause);
            "database paused"
        }
        _ => {
            db.set_mode(TcpMode::Refuse);
            db.reset();
            "database connections dropped"
        }
    }
}

async fn clear(aws: &StackFront, db: &TcpFront) {
    aws.clear().await;
    db.set_mode(TcpMode::Pass);
}

/// Run the soak and judge it; the JSON holds every checkpoint.
pub async fn soak(stack: &Stack, requests: u64, tenants: usize, in_flight: usize) -> Value {
    progress(&format!(
        "soak: {requests} requests, {in_flight} in flight over {tenants} tenants, faults coming and going"
    ));
    let pg: SocketAddr = format!("127.0.0.1:{}", stack.var("DB_PORT"))
        .parse()
        .expect("PostgreSQL's address");
    let front_port = stack.var("STACK_PG_FRONT_PORT");
    let aws = StackFront::new(&stack.var("AWS_ENDPOINT_URL"));
    aws.clear().await;
    let db = Arc::new(
        TcpFront::start(
            format!("127.0.0.1:{front_port}").parse().expect("loopback"),
            pg,
        )
        .await
        .expect("the TCP front starts"),
    );
    let env = quiet(stack).with(&[
        ("DB_PORT", &front_port),
        ("DB_CONNECT_TIMEOUT_SECONDS", "2"),
        ("DB_STATEMENT_TIMEOUT_MS", "1000"),
        ("REQUEST_TIMEOUT_MS", "3000"),
    ]);
    let sdk = env.sdk_config().await;
    let files = Arc::new(s3_fetch::App::new(
        &s3_fetch::Config::from_lookup(&env.lookup()).expect("s3-fetch config"),
        &sdk,
    ));
    let records = Arc::new(
        aurora_query::App::new(
            &aurora_query::Config::from_lookup(&env.lookup()).expect("aurora-query config"),
            &sdk,
        )
        .expect("aurora-query app"),
    );
    let admin = stack.admin_db().await;
    let file_event = with_key(&event("s3-fetch/tenant1-get.json"), "bench-1k.bin");
    let tenant_event = event("aurora-query/tenant1-tenant.json");
    let counter = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicU64::new(0));
    let failures = Arc::new(AtomicU64::new(0));
    let running = Arc::new(AtomicBool::new(true));
    let mut workers = Vec::new();
    for _ in 0..in_flight {
        let (files, records, counter, done, failures, running) = (
            files.clone(),
            records.clone(),
            counter.clone(),
            done.clone(),
            failures.clone(),
            running.clone(),
        );
        let (file_event, tenant_event) = (file_event.clone(), tenant_event.clone());
        workers.push(tokio::spawn(async move {
            while running.load(Ordering::Relaxed) {
                let i = counter.fetch_add(1, Ordering::Relaxed);
                if i >= requests {
                    break;
                }
                let tenant = crate::tenant((i as usize).wrapping_mul(7919) % tenants);
                let base = if i % 2 == 0 {
                    &file_event
                } else {
                    &tenant_event
                };
                let mut e = base.clone();
                e["requestContext"]["authorizer"]["jwt"]["claims"]["custom:tenant_id"] =
                    tenant.into();
                e["requestContext"]["requestId"] = format!("soak-{i}").into();
                let response = if i % 2 == 0 {
                    s3_fetch::function_handler(&files, request(&e)).await
                } else {
                    aurora_query::function_handler(&records, request(&e)).await
                }
                .expect("handlers answer every request");
                if response.status() != 200 {
                    failures.fetch_add(1, Ordering::Relaxed);
                }
                done.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }

    let started = Instant::now();
    let mut lines: Vec<String> = Vec::new();
    let mut checkpoints: Vec<Figures> = Vec::new();
    let mut block = 0;
    let mut checkpoint = 0;
    let mut faulted: Option<&str> = None;
    let mut max_backends = 0;
    // Until the last request, whose checkpoint is the last one taken.
    loop {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let n = done.load(Ordering::Relaxed);
        let in_block = n % FAULT_BLOCK;
        if n / FAULT_BLOCK > block {
            block = n / FAULT_BLOCK;
            if let Some(fault) = faulted.take() {
                clear(&aws, &db).await;
                progress(&format!("soak: {fault} cleared"));
            }
        }
        // Each block's fault for its first fifth (none in the first block).
        if block > 0 && faulted.is_none() && in_block < FAULT_BLOCK / 5 {
            faulted = Some(fault(block, &aws, &db).await);
        } else if in_block >= FAULT_BLOCK / 5
            && let Some(fault) = faulted.take()
        {
            clear(&aws, &db).await;
            progress(&format!("soak: {fault} cleared"));
        }
        if n / CHECKPOINT > checkpoint {
            checkpoint = n / CHECKPOINT;
            let backends: i64 = admin
                .query_one(
                    "SELECT count(*) FROM pg_stat_activity WHERE usename LIKE '%\\_dbuser'",
                    &[],
                )
                .await
                .map(|row| row.get(0))
                .unwrap_or(-1);
            max_backends = max_backends.max(backends);
            let (rss, _) = rss_kib();
            let figures = Figures {
                requests: n,
                rss_kib: rss,
                heap_kib: live_heap_kib(),
                threads: threads(),
                fds: open_fds(),
                db_connections: records.db().open_connections(),
                tenant_backends: backends,
                sessions: files.sessions().cached() + records.sessions().cached(),
                failures: failures.load(Ordering::Relaxed),
            };
            let line = format!(
                "soak {:>7} requests: RSS {:>6.1} MiB, live heap {:>6.1} MiB, {:>3} threads, {:>4} fds, {:>3} DB connections, {:>3} tenant backends, {:>5} sessions, {} failures so far ({:.0} s)",
                figures.requests,
                figures.rss_kib / 1024.0,
                figures.heap_kib / 1024.0,
                figures.threads,
                figures.fds,
                figures.db_connections,
                figures.tenant_backends,
                figures.sessions,
                figures.failures,
                started.elapsed().as_secs_f64()
            );
            println!("{line}");
            lines.push(line);
            checkpoints.push(figures);
        }
        if n >= requests {
            break;
        }
    }
    running.store(false, Ordering::Relaxed);
    clear(&aws, &db).await;
    for worker in workers {
        worker.await.expect("worker");
    }

    // Flat after warm-up: the last figures against the first after it.
    let mut problems = Vec::new();
    if let (Some(base), Some(last)) = (checkpoints.get(WARM_UP_CHECKPOINTS - 1), checkpoints.last())
    {
        for (what, from, to) in [
            ("RSS", base.rss_kib, last.rss_kib),
            ("live heap", base.heap_kib, last.heap_kib),
            ("open fds", base.fds as f64, last.fds as f64),
            (
                "DB connections",
                base.db_connections as f64,
                last.db_connections as f64,
            ),
            ("sessions", base.sessions as f64, last.sessions as f64),
        ] {
            let peak = checkpoints[WARM_UP_CHECKPOINTS - 1..]
                .iter()
                .map(|c| match what {
                    "RSS" => c.rss_kib,
                    "live heap" => c.heap_kib,
                    "open fds" => c.fds as f64,
                    "DB connections" => c.db_connections as f64,
                    _ => c.sessions as f64,
                })
                .fold(to, f64::max);
            if peak > from * FLAT && peak - from > 1.0 {
                problems.push(format!(
                    "{what} grew from {from:.0} to {peak:.0} after warm-up"
                ));
            }
        }
    } else {
        problems.push("too few checkpoints to judge".to_owned());
    }
    if max_backends > DB_CAPACITY as i64 {
        problems.push(format!(
            "{max_backends} tenant backends, over DB_CONNECTION_CAPACITY={DB_CAPACITY}"
        ));
    }
    let verdict = if problems.is_empty() {
        format!(
            "soak: flat after warm-up (growth at most {:.0}%), at most {max_backends} tenant backends of {DB_CAPACITY}",
            (FLAT - 1.0) * 100.0
        )
    } else {
        format!("soak: NOT flat: {}", problems.join("; "))
    };
    println!("{verdict}");
    lines.push(verdict);
    json!({
        "scenario": "soak",
        "requests": requests, "tenants": tenants, "in_flight": in_flight,
        "seconds": started.elapsed().as_secs_f64(),
        "checkpoints": checkpoints.iter().map(|c| json!({
            "requests": c.requests, "rss_kib": c.rss_kib, "heap_kib": c.heap_kib,
            "threads": c.threads, "fds": c.fds,
            "db_connections": c.db_connections, "tenant_backends": c.tenant_backends,
            "sessions": c.sessions, "failures": c.failures,
        })).collect::<Vec<_>>(),
        "max_tenant_backends": max_backends,
        "db_capacity": DB_CAPACITY,
        "flat": problems.is_empty(),
        "lines": lines,
        "problems": problems,
    })
}
