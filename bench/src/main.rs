//! `cargo xtask bench`: what a request costs, against the local stack.
//!
//! Scenarios, for s3-fetch (`GET /files/{key}`, 1 KiB) and aurora-query
//! (`GET /tenant`):
//! - **warm**: the handler in-process, N requests interleaving M tenants
//!   (past the cache bound, 200 tenants, `--requests-over-bound` requests);
//! - **floor**: a raw S3 GetObject on a built client with held credentials,
//!   or a raw query on an open TLS connection, to the same tenant, timed
//!   right before each handler request (paired, so server drift cancels);
//! - **AWS calls**: AssumeRole calls, DB connections and tokens per 1000 requests;
//! - **cold**: the release binary under a minimal Lambda Runtime API, from
//!   exec to the first response, and its peak RSS;
//! - **files** (`files.rs`): s3-fetch's PUT against the same PutObject,
//!   GET of an SSE-KMS object against the same under SSE-S3, and KMS calls
//!   per 1,000 requests;
//! - **items** (`items.rs`): dynamodb-items warm against the same GetItem
//!   with held credentials, and the identity-pool strategy against
//!   role-per-tenant, with identity-pool exchanges per 1,000 requests;
//! - **search** (`search.rs`): search-docs warm against the same signed
//!   GET of the tenant's document, made directly with held credentials;
//! - **noisy** (`noisy.rs`): nine quiet tenants' p99 alone, beside one
//!   tenant at ten times their rate with the per-tenant limits on, and
//!   with them off; the noisy tenant's answers by class (429, never 5xx);
//! - **registry** (`registry.rs`): s3-fetch warm with the tenant-registry
//!   check against the same without it, interleaved, and registry reads
//!   per 1,000 warm requests;
//! - **scale** (`scale.rs`): the memory of 10,000 cached sessions (each
//!   with its registry state; one S3 client serves them all), a Zipf mix over 10,000
//!   tenants, 8 requests in flight, one hot tenant at 8 in flight against 8
//!   tenants, and a bare DB login; connections opened per second past
//!   `DB_CONNECTION_CAPACITY`;
//! - **reconnect** (`reconnect.rs`): 1,000 tenants' connections dropped at
//!   once, with the login pace and without: the time until every tenant is
//!   served again and the peak of new logins per second against RDS's 200;
//! - **soak** (`soak.rs`, only with `--soak`): both functions for 100,000
//!   requests, 8 in flight over 1,000 tenants, with faults coming and going;
//!   memory, descriptors, connections and sessions at every 10,000.
//!
//! `--quick` runs every scenario small (a couple of minutes). Progress
//! lines go to stderr.
//!
//! Prints a table and writes `target/bench/results.json`. Not a test: no
//! figure fails the run.

mod chart;
mod files;
mod items;
mod noisy;
mod reconnect;
mod registry;
mod scale;
mod search;
mod soak;
mod stats;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use lambda_http::{Body, Request, Response};
use serde_json::{Value, json};
use stats::{Percentiles, median, percentiles};
use tenant_access::Caller;
use tenant_access::config::{DbConfig, FunctionConfig, S3Config};
use test_support::{Stack, event, request, with_key};

/// A progress line on stderr, with the seconds since the bench started.
pub(crate) fn progress(what: &str) {
    static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    let start = START.get_or_init(Instant::now);
    eprintln!("bench: [{:>6.1}s] {what}", start.elapsed().as_secs_f64());
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Function {
    S3Fetch,
    AuroraQuery,
}

impl Function {
    fn name(self) -> &'static str {
        match self {
            Function::S3Fetch => "s3-fetch",
            Function::AuroraQuery => "aurora-query",
        }
    }

    fn event(self, tenant: &str) -> Value {
        let mut e = match self {
            Function::S3Fetch => with_key(&event("s3-fetch/tenant1-get.json"), "bench-1k.bin"),
            Function::AuroraQuery => event("aurora-query/tenant1-tenant.json"),
        };
        e["requestContext"]["authorizer"]["jwt"]["claims"]["custom:tenant_id"] = tenant.into();
        e["requestContext"]["requestId"] = format!("bench-{tenant}").into();
        e
    }
}

pub(crate) enum App {
    S3(Box<s3_fetch::App>),
    Db(Box<aurora_query::App>),
}

impl App {
    async fn new(function: Function, stack: &Stack) -> App {
        let sdk = stack.sdk_config().await;
        match function {
            Function::S3Fetch => {
                let config = s3_fetch::Config::from_lookup(&quiet(stack).lookup()).expect("config");
                App::S3(Box::new(s3_fetch::App::new(&config, &sdk)))
            }
            Function::AuroraQuery => {
                let config =
                    aurora_query::Config::from_lookup(&quiet(stack).lookup()).expect("config");
                App::Db(Box::new(
                    aurora_query::App::new(&config, &sdk).expect("CA bundle"),
                ))
            }
        }
    }

    async fn call(&self, request: Request) -> Response<Body> {
        let result = match self {
            App::S3(app) => s3_fetch::function_handler(app, request).await,
            App::Db(app) => aurora_query::function_handler(app, request).await,
        };
        result.expect("handlers answer every request")
    }

    /// (AssumeRole calls, DB connections opened, tokens generated)
    fn counters(&self) -> (u64, u64, u64) {
        match self {
            App::S3(app) => (app.sessions().assume_role_calls(), 0, 0),
            App::Db(app) => (
                app.sessions().assume_role_calls(),
                app.db().connections_opened(),
                app.db().tokens_generated(),
            ),
        }
    }
}

/// The default `TENANT_CACHE_CAPACITY`.
const BOUND: usize = tenant_access::config::DEFAULT_TENANT_CACHE_CAPACITY;

/// `DB_CONNECTION_CAPACITY` for the bench: a cluster's `max_connections`
/// (1,000 here) over the containers expected to run at once (10).
pub(crate) const DB_CAPACITY: usize = 100;

/// The stack's environment without the per-request metrics lines: the
/// in-process handlers would print one per request over the table.
pub(crate) fn quiet(stack: &Stack) -> Stack {
    stack.with(&[
        ("METRICS_NAMESPACE", "none"),
        ("DB_CONNECTION_CAPACITY", &DB_CAPACITY.to_string()),
    ])
}

pub(crate) fn tenant(i: usize) -> String {
    format!("bench{:03}", i + 1)
}

struct Warm {
    latency: Percentiles,
    floor: Percentiles,
    per_1000: (f64, f64, f64),
    totals: (u64, u64, u64),
    /// DB connections opened per second of handler time.
    connections_per_s: f64,
    failures: usize,
}

/// The same requests with the handler taken away: per tenant, an S3 client
/// already built on held credentials, or an open TLS connection with the
/// statement prepared. Tenants past the DB connection bound share the open
/// connections (more connections is the handler's cost, not the floor's).
enum Floor {
    S3 {
        bucket: String,
        clients: Vec<(aws_sdk_s3::Client, String)>,
    },
    Db {
        _db: Box<tenant_access::db::TenantDatabase>,
        conns: Vec<tenant_access::db::TenantConnection>,
    },
}

impl Floor {
    async fn new(stack: &Stack, function: Function, tenants: usize) -> Floor {
        let sdk = stack.sdk_config().await;
        let callers: Vec<Caller> = (0..tenants)
            .map(|i| Caller::new(tenant(i).parse().expect("tenant id"), "bench-floor"))
            .collect();
        match function {
            Function::S3Fetch => {
                let config =
                    FunctionConfig::<S3Config>::from_lookup(&stack.lookup()).expect("config");
                // s3-fetch's own sessions (its job's scope), held.
                let app = s3_fetch::App::new(&config, &sdk);
                let sessions = app.sessions();
                let mut clients = Vec::new();
                for caller in &callers {
                    let session = sessions.session(caller).await.expect("session");
                    let client = aws_sdk_s3::Client::from_conf(
                        aws_sdk_s3::config::Builder::from(&session.sdk_config())
                            .force_path_style(true)
                            .build(),
                    );
                    clients.push((client, format!("{}_home/bench-1k.bin", caller.tenant)));
                }
                Floor::S3 {
                    bucket: config.service.bucket,
                    clients,
                }
            }
            Function::AuroraQuery => {
                let config =
                    FunctionConfig::<DbConfig>::from_lookup(&stack.lookup()).expect("config");
                let app = aurora_query::App::new(&config, &sdk).expect("CA");
                let sessions = app.sessions();
                let db = tenant_access::db::TenantDatabase::new(&config.service).expect("CA");
                let open = tenants.min(config.service.connection_capacity.get());
                let mut conns = Vec::new();
                for caller in &callers[..open] {
                    let session = sessions.session(caller).await.expect("session");
                    conns.push(db.connection(&session).await.expect("connection"));
                }
                Floor::Db {
                    _db: Box::new(db),
                    conns,
                }
            }
        }
    }

    /// One raw request for the i-th tenant; returns its latency.
    async fn call(&mut self, i: usize) -> Duration {
        let start = Instant::now();
        match self {
            Floor::S3 { bucket, clients } => {
                let (s3, key) = &clients[i % clients.len()];
                let out = s3
                    .get_object()
                    .bucket(bucket.as_str())
                    .key(key)
                    .send()
                    .await
                    .expect("get");
                let body = out.body.collect().await.expect("body").into_bytes();
                assert_eq!(body.len(), 1024);
            }
            Floor::Db { conns, .. } => {
                let n = conns.len();
                let rows = conns[i % n]
                    .run(aurora_query::TENANT_METADATA_QUERY, &[])
                    .await
                    .expect("query");
                assert_eq!(rows.len(), 1);
            }
        }
        start.elapsed()
    }
}

/// N handler requests interleaving M tenants, each paired with one floor
/// request to the same tenant right before it, so both see the same server
/// conditions and their ratio is the handler's own cost.
async fn warm(stack: &Stack, function: Function, requests: usize, tenants: usize) -> Warm {
    // Rough seconds, from this machine's runs: an s3-fetch pair costs
    // ~12 ms against moto, a pooled aurora-query pair under 1 ms, one past
    // DB_CONNECTION_CAPACITY a login (~14 ms).
    let per_request = match function {
        Function::S3Fetch => 0.012,
        Function::AuroraQuery if tenants > DB_CAPACITY => 0.014,
        Function::AuroraQuery => 0.0007,
    };
    progress(&format!(
        "{} warm: {tenants} tenants, {requests} requests paired with the floor (~{:.0} s)",
        function.name(),
        (requests + 2 * tenants) as f64 * per_request
    ));
    let app = App::new(function, stack).await;
    let mut floor = Floor::new(stack, function, tenants).await;
    // Warm-up: each tenant once, so the timed run starts in steady state.
    for i in 0..tenants {
        let response = app.call(request(&function.event(&tenant(i)))).await;
        assert_eq!(response.status(), 200, "warm-up for {} failed", tenant(i));
        floor.call(i).await;
    }
    let events: Vec<Value> = (0..tenants).map(|i| function.event(&tenant(i))).collect();
    let prepared: Vec<Request> = (0..requests)
        .map(|i| request(&events[i % tenants]))
        .collect();
    let before = app.counters();
    let mut samples = Vec::with_capacity(requests);
    let mut floor_samples = Vec::with_capacity(requests);
    let mut failures = 0;
    for (i, req) in prepared.into_iter().enumerate() {
        floor_samples.push(floor.call(i).await);
        let start = Instant::now();
        let response = app.call(req).await;
        samples.push(start.elapsed());
        if response.status() != 200 {
            failures += 1;
        }
    }
    let after = app.counters();
    let per = |a: u64, b: u64| (a - b) as f64 * 1000.0 / requests as f64;
    let busy: f64 = samples.iter().map(Duration::as_secs_f64).sum();
    Warm {
        connections_per_s: (after.1 - before.1) as f64 / busy,
        latency: percentiles(&samples),
        floor: percentiles(&floor_samples),
        per_1000: (
            per(after.0, before.0),
            per(after.1, before.1),
            per(after.2, before.2),
        ),
        totals: after,
        failures,
    }
}

struct Cold {
    median_ms: f64,
    peak_rss_kib: f64,
    failures: usize,
}

fn peak_rss_kib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn cold(stack: &Stack, function: Function, runs: usize) -> Cold {
    progress(&format!("{} cold: {runs} starts", function.name()));
    let binary = test_support::root()
        .join("target/release")
        .join(function.name());
    let mut times = Vec::new();
    let mut rss = Vec::new();
    let mut failures = 0;
    for run in 0..runs {
        // A different tenant per run: nothing is warm anywhere.
        let event = function.event(&tenant(run % 200)).to_string();
        let api = test_support::runtime_api::RuntimeApi::start(vec![
            test_support::runtime_api::Invocation::new(event),
        ])
        .expect("runtime API");
        let start = Instant::now();
        let mut child = api
            .function(&binary, function.name())
            .envs(stack.function_env())
            .env("RUST_LOG", "warn")
            .env("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/bench")
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "bench")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "{}: {e} (build it with cargo build --release)",
                    binary.display()
                )
            });
        match api.outcome(Duration::from_secs(30)) {
            Some(outcome) if outcome.status == Some(200) => {
                times.push((outcome.at - start).as_secs_f64() * 1000.0);
                if let Some(kib) = peak_rss_kib(child.id()) {
                    rss.push(kib);
                }
            }
            Some(outcome) => {
                failures += 1;
                let what = outcome
                    .error
                    .unwrap_or_else(|| format!("status {:?}", outcome.status));
                eprintln!(
                    "bench: cold run {run} of {} failed: {what}",
                    function.name()
                );
            }
            None => {
                failures += 1;
                eprintln!(
                    "bench: cold run {run} of {} got no response within 30 s",
                    function.name()
                );
            }
        }
        let _ = child.kill();
        let _ = child.wait();
    }
    Cold {
        median_ms: median(&mut times),
        peak_rss_kib: median(&mut rss),
        failures,
    }
}

struct Args {
    requests: usize,
    requests_over_bound: usize,
    tenants: Vec<usize>,
    cold_runs: usize,
    /// Sessions cached for the memory scenario.
    sessions: usize,
    /// Tenants of the Zipf mix.
    zipf_tenants: usize,
    /// Run the soak instead of the other scenarios.
    soak: bool,
    /// Requests of the soak.
    soak_requests: u64,
    out: PathBuf,
}

fn args() -> Args {
    let mut a = Args {
        requests: 2000,
        requests_over_bound: 200,
        tenants: vec![10, 200, 1000],
        cold_runs: 10,
        sessions: 10_000,
        zipf_tenants: 10_000,
        soak: false,
        soak_requests: 100_000,
        out: PathBuf::from("target/bench/results.json"),
    };
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let mut it = argv.iter();
    while let Some(flag) = it.next() {
        let mut value = || {
            it.next()
                .cloned()
                .unwrap_or_else(|| usage(&format!("{flag} needs a value")))
        };
        match flag.as_str() {
            "--requests" => {
                a.requests = value()
                    .parse()
                    .unwrap_or_else(|_| usage("--requests takes a number"))
            }
            "--requests-over-bound" => {
                a.requests_over_bound = value()
                    .parse()
                    .unwrap_or_else(|_| usage("--requests-over-bound takes a number"))
            }
            "--tenants" => {
                a.tenants = value()
                    .split(',')
                    .map(|t| {
                        t.parse()
                            .ok()
                            .filter(|n| (1..=SEEDED).contains(n))
                            .unwrap_or_else(|| usage("--tenants: 1..=1000, comma-separated"))
                    })
                    .collect()
            }
            // Every scenario, small: a couple of minutes.
            "--quick" => {
                a.requests = 300;
                a.requests_over_bound = 100;
                a.tenants = vec![10, 200];
                a.cold_runs = 3;
                a.sessions = 1000;
                a.zipf_tenants = 2000;
            }
            "--cold-runs" => {
                a.cold_runs = value()
                    .parse()
                    .unwrap_or_else(|_| usage("--cold-runs takes a number"))
            }
            "--out" => a.out = PathBuf::from(value()),
            "--soak" => a.soak = true,
            "--soak-requests" => {
                a.soak_requests = value()
                    .parse()
                    .ok()
                    .filter(|n| *n >= 30_000)
                    .unwrap_or_else(|| usage("--soak-requests takes a number of at least 30000"))
            }
            _ => usage(&format!("unknown argument {flag}")),
        }
    }
    a
}

fn usage(problem: &str) -> ! {
    eprintln!(
        "bench: {problem}\nusage: cargo xtask bench [--quick] [--requests 2000] [--requests-over-bound 200] [--tenants 10,200,1000] [--cold-runs 10] [--out FILE] [--soak [--soak-requests 100000]]"
    );
    std::process::exit(2)
}

fn commit() -> String {
    Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default()
}

/// The figures a run printed, into bench/RESULTS.md between the markers
/// `<!-- bench:NAME -->` and `<!-- /bench:NAME -->`: the file's figures are
/// always the last run's, with the command that made them; the prose
/// around them is written by hand.
fn record(name: &str, command: &str, lines: &[String]) {
    let path = PathBuf::from("bench/RESULTS.md");
    let Ok(text) = std::fs::read_to_string(&path) else {
        eprintln!("bench: no bench/RESULTS.md here; figures not recorded");
        return;
    };
    let (open, close) = (
        format!("<!-- bench:{name} -->"),
        format!("<!-- /bench:{name} -->"),
    );
    let (Some(start), Some(end)) = (text.find(&open), text.find(&close)) else {
        eprintln!("bench: bench/RESULTS.md has no {open} block; figures not recorded");
        return;
    };
    let block = format!(
        "{open}\n`{command}`, commit {}:\n\n```text\n{}\n```\n",
        commit(),
        lines.join("\n")
    );
    let updated = format!("{}{block}{}", &text[..start], &text[end..]);
    if std::fs::write(&path, updated).is_ok() {
        eprintln!("bench: figures recorded in bench/RESULTS.md ({name})");
    }
}

/// The capacity model's prediction for the Zipf run beside what it
/// measured: tenants seen, and first touches (the AssumeRole calls a
/// session cache that evicts nothing must make) per 1,000 requests.
fn zipf_model_line(z: &Value) -> String {
    let number = |name: &str| z[name].as_f64().unwrap_or(f64::NAN);
    let (warmup, measured) = (number("warmup_requests"), number("requests"));
    let p = capacity_model::popularity(z["tenants"].as_u64().unwrap_or(0) as usize, number("s"));
    let seen = capacity_model::distinct(&p, warmup + measured);
    let first = (seen - capacity_model::distinct(&p, warmup)) * 1000.0 / measured;
    let off = |predicted: f64, measured: f64| (predicted - measured) / measured * 100.0;
    format!(
        "s3-fetch      zipf   the capacity model predicts {seen:.0} tenants seen ({:+.0}%) and {first:.1} first touches per 1k ({:+.0}%); target within 25%",
        off(seen, number("distinct_tenants_seen")),
        off(first, number("first_touches_per_1000")),
    )
}

/// The table lines of the login scenario.
fn login_lines(login: &scale::LoginCost) -> Vec<String> {
    let mut lines: Vec<String> = [
        ("bare login (TLS + IAM token check)", login.bare),
        (
            "bare login, 100 other connections open",
            login.bare_beside_open,
        ),
        (
            "bare login, closing another connection first",
            login.bare_after_close,
        ),
        (
            "login + prepare + query (two round trips)",
            login.with_prepare,
        ),
        ("crate: token alone (signing)", login.token),
        ("crate: token + login", login.crate_login),
        (
            "crate: token + login + first statement",
            login.crate_login_and_statement,
        ),
    ]
    .iter()
    .map(|(what, p)| {
        format!(
            "aurora-query  {what}: p50 {:.0} us, p99 {:.0} us",
            p.p50, p.p99
        )
    })
    .collect();
    lines.push(format!(
        "aurora-query  a request past the connection budget pays {:.2}x a bare login closing another connection first (target 1.1; {:.2}x one with nothing closing), {:.2}x the crate's login alone",
        login.crate_login_and_statement.p50 / login.bare_after_close.p50,
        login.crate_login_and_statement.p50 / login.bare.p50,
        login.crate_login_and_statement.p50 / login.crate_login.p50
    ));
    lines
}

/// The JSON of the login scenario.
fn login_json(login: &scale::LoginCost) -> Value {
    let p = |p: &Percentiles| json!({ "p50_us": p.p50, "p90_us": p.p90, "p99_us": p.p99 });
    json!({
        "scenario": "login",
        "bare": p(&login.bare),
        "bare_beside_open": p(&login.bare_beside_open),
        "with_statement": p(&login.with_prepare),
        "crate_login": p(&login.crate_login),
        "token": p(&login.token),
        "bare_after_close": p(&login.bare_after_close),
        "crate_login_and_statement": p(&login.crate_login_and_statement),
        "statement_over_login": login.crate_login_and_statement.p50 / login.crate_login.p50,
        "over_bare_login": login.crate_login_and_statement.p50 / login.bare_after_close.p50,
        "over_bare_login_nothing_closing": login.crate_login_and_statement.p50 / login.bare.p50,
        "target": 1.1,
    })
}

/// Tenants `cargo xtask bench` seeds (bench001..bench1000).
const SEEDED: usize = 1000;

/// The user-sessions scenario: this many tenants, with this many users
/// each, every one using its own area (`/me/files`).
const USER_TENANTS: usize = 100;
const USERS_PER_TENANT: usize = 10;

#[tokio::main]
async fn main() {
    let argv: Vec<String> = std::env::args().collect();
    if let [_, flag, n] = argv.as_slice()
        && flag == "--session-memory-child"
    {
        scale::session_memory_child(n.parse().expect("a number")).await;
        return;
    }
    if let [_, flag, tenants, users, requests] = argv.as_slice()
        && flag == "--user-sessions-child"
    {
        scale::user_sessions_child(
            tenants.parse().expect("a number"),
            users.parse().expect("a number"),
            requests.parse().expect("a number"),
        )
        .await;
        return;
    }
    // The user-sessions scenario alone, on a running stack:
    // `cargo run -p bench --release -- --user-sessions`.
    if let [_, flag] = argv.as_slice()
        && flag == "--user-sessions"
    {
        let stack = Stack::load();
        let tenants: Vec<String> = (0..USER_TENANTS).map(scale::user_tenant).collect();
        scale::register(&stack, &tenants).await;
        println!(
            "{}",
            scale::user_sessions(USER_TENANTS, USERS_PER_TENANT, 1000)
        );
        return;
    }
    // The noisy-neighbour scenario alone, on a running stack with the
    // benchmark tenants seeded: `cargo run -p bench --release -- --noisy`.
    if let [_, flag] = argv.as_slice()
        && flag == "--noisy"
    {
        let stack = Stack::load();
        println!("{}", noisy::noisy(&quiet(&stack), 900).await);
        return;
    }
    // The login scenario alone, on a running stack with the benchmark
    // tenants seeded: `cargo run -p bench --release -- --login` (500 of
    // each login).
    if let [_, flag] = argv.as_slice()
        && flag == "--login"
    {
        let login = scale::login_cost(&quiet(&Stack::load()), 50, 500).await;
        for line in login_lines(&login) {
            println!("{line}");
        }
        return;
    }
    // The reconnect scenario alone, on a running stack with the benchmark
    // tenants seeded: `cargo run -p bench --release -- --reconnect 1000`.
    if let [_, flag, n] = argv.as_slice()
        && flag == "--reconnect"
    {
        let n: usize = n.parse().expect("a number of tenants");
        let result = reconnect::reconnect(&Stack::load(), n.min(SEEDED), 8).await;
        for line in reconnect::lines(&result) {
            println!("{line}");
        }
        return;
    }
    // The session-memory scenario alone, on a running stack:
    // `cargo run -p bench --release -- --session-memory 10000`.
    if let [_, flag, n] = argv.as_slice()
        && flag == "--session-memory"
    {
        let n: usize = n.parse().expect("a number of sessions");
        let stack = Stack::load();
        let tenants: Vec<String> = (0..n).map(scale::memory_tenant).collect();
        scale::register(&stack, &tenants).await;
        println!("{}", scale::session_memory(n));
        return;
    }
    let args = args();
    let stack = Stack::load();
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    if args.soak {
        let result = soak::soak(&stack, args.soak_requests, SEEDED, 8).await;
        let out = args.out.with_file_name("soak.json");
        if let Some(dir) = out.parent() {
            std::fs::create_dir_all(dir).expect("results dir");
        }
        std::fs::write(&out, serde_json::to_string_pretty(&result).expect("JSON"))
            .expect("write results");
        let lines: Vec<String> = result["lines"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|l| l.as_str().map(str::to_owned))
            .collect();
        record("soak", "cargo xtask bench --soak", &lines);
        println!("results: {}", out.display());
        return;
    }
    let mut scenarios = Vec::new();
    let mut table = Vec::new();
    for function in [Function::S3Fetch, Function::AuroraQuery] {
        let stack = quiet(&stack);
        for &tenants in &args.tenants {
            // Past the session cache bound every request is a cache miss by
            // design (AssumeRole, new connection): fewer requests show that.
            let requests = if tenants > BOUND {
                args.requests_over_bound
            } else {
                args.requests
            };
            let w = warm(&stack, function, requests, tenants).await;
            let floor = w.floor;
            scenarios.push(json!({
                "function": function.name(), "scenario": "floor", "tenants": tenants, "requests": requests,
                "p50_us": floor.p50, "p90_us": floor.p90, "p99_us": floor.p99,
            }));
            table.push(format!(
                "{:<13} {:<6} {:>4} {:>9.0} {:>9.0} {:>9.0}",
                function.name(),
                "floor",
                tenants,
                floor.p50,
                floor.p90,
                floor.p99
            ));
            let overhead = w.latency.p50 / floor.p50;
            let mut misses = Vec::new();
            if overhead > 1.15 {
                misses.push(format!("overhead {overhead:.2} > 1.15"));
            }
            if w.latency.p99 > 3.0 * w.latency.p50 {
                misses.push(format!(
                    "p99 {:.0} > 3 x p50 {:.0}",
                    w.latency.p99, w.latency.p50
                ));
            }
            let p99_ratio = w.latency.p99 / floor.p99;
            if tenants >= 1000 && p99_ratio > 1.5 {
                misses.push(format!("p99 {p99_ratio:.2} x the floor's p99 > 1.5"));
            }
            if w.totals.0 > tenants as u64 {
                misses.push(format!(
                    "{} AssumeRole calls for {tenants} tenants",
                    w.totals.0
                ));
            }
            if function == Function::AuroraQuery && w.totals.1 > tenants as u64 {
                misses.push(format!(
                    "{} DB connections for {tenants} tenants",
                    w.totals.1
                ));
            }
            scenarios.push(json!({
                "function": function.name(), "scenario": "warm", "tenants": tenants, "requests": requests,
                "p50_us": w.latency.p50, "p90_us": w.latency.p90, "p99_us": w.latency.p99,
                "floor_p50_us": floor.p50, "overhead": overhead,
                "floor_p99_us": floor.p99, "p99_vs_floor_p99": p99_ratio,
                "assume_role_per_1000": w.per_1000.0, "db_connections_per_1000": w.per_1000.1, "tokens_per_1000": w.per_1000.2,
                "assume_role_total": w.totals.0, "db_connections_total": w.totals.1, "tokens_total": w.totals.2,
                "db_connections_per_s": w.connections_per_s, "db_capacity": DB_CAPACITY,
                "failures": w.failures, "targets_missed": misses,
            }));
            if function == Function::AuroraQuery && tenants > DB_CAPACITY {
                table.push(format!(
                    "{:<13} {:<6} {:>4} {:.0} new connections/s past DB_CONNECTION_CAPACITY={DB_CAPACITY} ({:.0}% of RDS's 200/s per cluster)",
                    "", "", tenants, w.connections_per_s, w.connections_per_s / 2.0
                ));
            }
            table.push(format!(
                "{:<13} {:<6} {:>4} {:>9.0} {:>9.0} {:>9.0} {:>8.2} {:>7.1} {:>7.1} {:>7.1}",
                function.name(),
                "warm",
                tenants,
                w.latency.p50,
                w.latency.p90,
                w.latency.p99,
                overhead,
                w.per_1000.0,
                w.per_1000.1,
                w.per_1000.2
            ));
        }
        let c = cold(&stack, function, args.cold_runs);
        scenarios.push(json!({
            "function": function.name(), "scenario": "cold", "runs": args.cold_runs,
            "median_ms": c.median_ms, "peak_rss_kib": c.peak_rss_kib, "failures": c.failures,
        }));
        table.push(format!(
            "{:<13} {:<6} {:>4} cold start median {:.1} ms, peak RSS {:.1} MiB ({} runs, {} failed)",
            function.name(), "cold", "", c.median_ms, c.peak_rss_kib / 1024.0, args.cold_runs, c.failures
        ));
    }
    for s in files::files(&quiet(&stack), args.requests, 10).await {
        if s["scenario"] == "put_warm" {
            table.push(format!(
                "{:<13} {:<6} {:>4} {:>9.0} {:>9.0} {:>9.0} {:>8.2}   (floor: PutObject SSE-KMS p50 {:.0} us; KMS calls/1k pairs {:.0})",
                "s3-fetch",
                "put",
                s["tenants"],
                s["p50_us"].as_f64().unwrap_or(f64::NAN),
                s["p90_us"].as_f64().unwrap_or(f64::NAN),
                s["p99_us"].as_f64().unwrap_or(f64::NAN),
                s["overhead"].as_f64().unwrap_or(f64::NAN),
                s["floor_p50_us"].as_f64().unwrap_or(f64::NAN),
                s["kms_calls_per_1000_pairs"].as_f64().unwrap_or(f64::NAN),
            ));
        } else {
            table.push(format!(
                "s3-fetch      GET SSE-KMS p50 {:.0} us vs SSE-S3 {:.0} us ({:.2}x); KMS calls/1k SSE-KMS GETs {:.0}",
                s["sse_kms_p50_us"].as_f64().unwrap_or(f64::NAN),
                s["sse_s3_p50_us"].as_f64().unwrap_or(f64::NAN),
                s["ratio_p50"].as_f64().unwrap_or(f64::NAN),
                s["kms_calls_per_1000_sse_kms_gets"].as_f64().unwrap_or(f64::NAN),
            ));
        }
        scenarios.push(s);
    }
    for s in items::items(&quiet(&stack), args.requests, 10).await {
        if s["scenario"] == "warm" {
            table.push(format!(
                "{:<13} {:<6} {:>4} {:>9.0} {:>9.0} {:>9.0} {:>8.2}   (floor: GetItem p50 {:.0} us)",
                "dynamodb-items",
                "warm",
                s["tenants"],
                s["p50_us"].as_f64().unwrap_or(f64::NAN),
                s["p90_us"].as_f64().unwrap_or(f64::NAN),
                s["p99_us"].as_f64().unwrap_or(f64::NAN),
                s["overhead"].as_f64().unwrap_or(f64::NAN),
                s["floor_p50_us"].as_f64().unwrap_or(f64::NAN),
            ));
        } else {
            table.push(format!(
                "dynamodb-items identity-pool p50 {:.0} us vs role-per-tenant {:.0} us ({:.2}x), Cognito calls/1k warm {:.1}",
                s["identity_pool_p50_us"].as_f64().unwrap_or(f64::NAN),
                s["role_per_tenant_p50_us"].as_f64().unwrap_or(f64::NAN),
                s["ratio_p50"].as_f64().unwrap_or(f64::NAN),
                s["identity_pool_calls_per_1000"].as_f64().unwrap_or(f64::NAN),
            ));
        }
        scenarios.push(s);
    }
    let s = search::search(&quiet(&stack), args.requests, 10).await;
    table.push(format!(
        "{:<13} {:<6} {:>4} {:>9.0} {:>9.0} {:>9.0} {:>8.2}   (floor: the signed GET p50 {:.0} us)",
        "search-docs",
        "warm",
        s["tenants"],
        s["p50_us"].as_f64().unwrap_or(f64::NAN),
        s["p90_us"].as_f64().unwrap_or(f64::NAN),
        s["p99_us"].as_f64().unwrap_or(f64::NAN),
        s["overhead"].as_f64().unwrap_or(f64::NAN),
        s["floor_p50_us"].as_f64().unwrap_or(f64::NAN),
    ));
    scenarios.push(s);
    let s = noisy::noisy(&quiet(&stack), args.requests).await;
    table.push(format!(
        "noisy         quiet p99 {:.0} us alone, {:.0} us beside a 10x tenant limited ({:.2}x), {:.0} us unlimited ({:.2}x); the noisy tenant: {} served, {} 429, {} 5xx",
        s["alone_p99_us"].as_f64().unwrap_or(f64::NAN),
        s["limited_p99_us"].as_f64().unwrap_or(f64::NAN),
        s["ratio_p99"].as_f64().unwrap_or(f64::NAN),
        s["unlimited_p99_us"].as_f64().unwrap_or(f64::NAN),
        s["unlimited_ratio_p99"].as_f64().unwrap_or(f64::NAN),
        s["noisy_ok"],
        s["noisy_429"],
        s["noisy_5xx"],
    ));
    scenarios.push(s);
    let s = registry::registry(&quiet(&stack), args.requests, 10).await;
    table.push(format!(
        "s3-fetch      registry check p50 {:.0} us vs without {:.0} us ({:.3}x); registry reads/1k warm {:.1}",
        s["with_p50_us"].as_f64().unwrap_or(f64::NAN),
        s["without_p50_us"].as_f64().unwrap_or(f64::NAN),
        s["ratio_p50"].as_f64().unwrap_or(f64::NAN),
        s["registry_reads_per_1000"].as_f64().unwrap_or(f64::NAN),
    ));
    scenarios.push(s);
    // Thousands of tenants per container.
    let memory_tenants: Vec<String> = (0..args.sessions).map(scale::memory_tenant).collect();
    scale::register(&stack, &memory_tenants).await;
    let memory = scale::session_memory(args.sessions);
    table.push(format!(
        "sessions      memory {:>5} cached tenants (session + registry state): {:.0} bytes each, RSS {:.1} MiB after (peak {:.1} MiB), {} AssumeRole",
        memory["sessions"],
        memory["bytes_per_session"].as_f64().unwrap_or(f64::NAN),
        memory["rss_after_kib"].as_f64().unwrap_or(f64::NAN) / 1024.0,
        memory["peak_rss_kib"].as_f64().unwrap_or(f64::NAN) / 1024.0,
        memory["assume_role_calls"],
    ));
    scenarios.push(json!({ "scenario": "session_memory", "result": memory }));
    let user_tenants: Vec<String> = (0..USER_TENANTS).map(scale::user_tenant).collect();
    scale::register(&stack, &user_tenants).await;
    let u = scale::user_sessions(USER_TENANTS, USERS_PER_TENANT, 1000);
    table.push(format!(
        "s3-fetch      /me    {} users x {} tenants: AssumeRole/1k warm {:.1} (warm-up {}), {:.0} bytes per user session, {} cached, p50 {:.0} us",
        USERS_PER_TENANT,
        USER_TENANTS,
        u["assume_role_per_1000_warm"].as_f64().unwrap_or(f64::NAN),
        u["warm_up_assume_role"],
        u["bytes_per_user_session"].as_f64().unwrap_or(f64::NAN),
        u["cached"],
        u["p50_us"].as_f64().unwrap_or(f64::NAN),
    ));
    scenarios.push(u);
    let zipf_warmup = args.zipf_tenants * 2;
    let z = scale::zipf(&stack, args.zipf_tenants, 1.1, zipf_warmup, 1000, SEEDED).await;
    table.push(format!(
        "s3-fetch      zipf   {:>5} tenants s=1.1: STS/1k {:.1} after {} warm-up requests ({:.1} first touches, {:.1} repeats), {} AssumeRole for {} tenants seen, hit rate {:.3}, p50 {:.0} us, p99 {:.0} us",
        args.zipf_tenants,
        z["assume_role_per_1000"].as_f64().unwrap_or(f64::NAN),
        zipf_warmup,
        z["first_touches_per_1000"].as_f64().unwrap_or(f64::NAN),
        z["repeat_assume_role_per_1000"].as_f64().unwrap_or(f64::NAN),
        z["assume_role_total"],
        z["distinct_tenants_seen"],
        z["hit_rate"].as_f64().unwrap_or(f64::NAN),
        z["p50_us"].as_f64().unwrap_or(f64::NAN),
        z["p99_us"].as_f64().unwrap_or(f64::NAN),
    ));
    table.push(zipf_model_line(&z));
    scenarios.push(z);
    for function in [Function::S3Fetch, Function::AuroraQuery] {
        let c = scale::concurrency(&quiet(&stack), function, 50, args.requests, 8).await;
        table.push(format!(
            "{:<13} 8 in flight, 50 tenants: {:.0} requests/s vs {:.0} one at a time ({:.2}x)",
            function.name(),
            c["requests_per_s_concurrent"].as_f64().unwrap_or(f64::NAN),
            c["requests_per_s_sequential"].as_f64().unwrap_or(f64::NAN),
            c["speedup"].as_f64().unwrap_or(f64::NAN),
        ));
        scenarios.push(c);
    }
    let hot = scale::hot_tenant(&quiet(&stack), args.requests, 8).await;
    table.push(format!(
        "aurora-query  8 in flight, one hot tenant: {:.0} requests/s vs {:.0} over 8 tenants ({:.2}x the time; target 1.5), {:.0} with one connection per tenant; p99 {:.0} us vs {:.0} us",
        hot["requests_per_s_hot"].as_f64().unwrap_or(f64::NAN),
        hot["requests_per_s_spread"].as_f64().unwrap_or(f64::NAN),
        hot["hot_vs_spread_time"].as_f64().unwrap_or(f64::NAN),
        hot["requests_per_s_hot_one_connection"].as_f64().unwrap_or(f64::NAN),
        hot["hot_p99_us"].as_f64().unwrap_or(f64::NAN),
        hot["spread_p99_us"].as_f64().unwrap_or(f64::NAN),
    ));
    scenarios.push(hot);
    let login = scale::login_cost(&quiet(&stack), 50, args.requests_over_bound).await;
    table.extend(login_lines(&login));
    let dropped = reconnect::reconnect(&stack, SEEDED, 8).await;
    table.extend(reconnect::lines(&dropped));
    scenarios.push(dropped);
    scenarios.push(login_json(&login));
    let results =
        json!({ "machine": { "cores": cores, "commit": commit() }, "scenarios": scenarios });
    let mut printed = vec![format!(
        "{:<13} {:<6} {:>4} {:>9} {:>9} {:>9} {:>8} {:>7} {:>7} {:>7}",
        "function",
        "run",
        "ten.",
        "p50 us",
        "p90 us",
        "p99 us",
        "overhd",
        "STS/1k",
        "conn/1k",
        "tok/1k"
    )];
    printed.extend(table);
    for s in results["scenarios"].as_array().into_iter().flatten() {
        if let Some(misses) = s["targets_missed"].as_array().filter(|m| !m.is_empty()) {
            printed.push(format!(
                "target missed: {} warm {} tenants: {}",
                s["function"],
                s["tenants"],
                Value::Array(misses.clone())
            ));
        }
    }
    printed.push(format!("machine: {cores} cores"));
    for line in &printed {
        println!("{line}");
    }
    let run = std::env::args().skip(1).collect::<Vec<_>>().join(" ");
    record("table", &format!("cargo xtask bench {run}"), &printed);
    // The chart beside RESULTS.md, when run from the repository.
    if std::path::Path::new("bench/RESULTS.md").exists() {
        let bars = chart::bars(results["scenarios"].as_array().map_or(&[][..], |s| s));
        let title = format!("cargo xtask bench {run}, commit {}", commit());
        let noisy = results["scenarios"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|s| s["scenario"] == "noisy_neighbour")
            .cloned()
            .unwrap_or_default();
        for (file, svg) in [
            ("bench/results.svg", chart::svg(&title, &bars)),
            (
                "bench/noisy.svg",
                chart::lines(
                    &format!("noisy neighbour, round by round: {title}"),
                    (
                        "round (the four phases interleaved)",
                        "the quiet tenants' p99, ms",
                    ),
                    &chart::noisy_series(&noisy),
                    false,
                    None,
                    None,
                ),
            ),
            (
                "bench/capacity.svg",
                chart::lines(
                    "the capacity model: each limit's share as tenants grow (0.1 requests/s each, 10/s per container, skew 1.1)",
                    ("tenants", "% of the AWS limit (cargo xtask capacity)"),
                    &chart::capacity_series(),
                    true,
                    Some((100.0, "the limit")),
                    Some(300.0),
                ),
            ),
        ] {
            match std::fs::write(file, svg) {
                Ok(()) => eprintln!("bench: chart written to {file}"),
                Err(e) => eprintln!("bench: {file}: {e}"),
            }
        }
    }
    if let Some(dir) = args.out.parent() {
        std::fs::create_dir_all(dir).expect("results dir");
    }
    std::fs::write(
        &args.out,
        serde_json::to_string_pretty(&results).expect("JSON"),
    )
    .expect("write results");
    println!("results: {}", args.out.display());
}
