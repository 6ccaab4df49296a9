//! The fault-injection suite: both functions under concurrent load over 50
//! tenants while faults come and go, against the real local servers.
//!
//! The functions reach moto through the local front's HTTP side and
//! PostgreSQL through its TCP side, and the suite drives faults through
//! them: AWS throttling, 5xx answers, answers slower than the deadline,
//! refused credentials, dropped connections; a database that stops
//! answering (half-open sockets), drops every connection, restarts for
//! real, and a tenant whose login is revoked. Every answer is checked
//! against its caller and the fault model (docs/faults.md):
//!
//! - no answer carries another tenant's data;
//! - every failure is one its phase's fault explains, with its documented
//!   status and code (503 `throttled` for throttling, 504
//!   `deadline_exceeded` for slowness, 403 for the revoked tenant, ...),
//!   every 503/504 carries `Retry-After`, and none comes later than its
//!   deadline less the margin;
//! - service recovers within 2 s of a fault clearing;
//! - the revoked tenant gets nothing past the connection max age, and its
//!   requests cost at most one AssumeRole per refusal memory;
//! - no record is lost, and none is written twice.
//!
//! One test, so nothing else shares the database while it restarts.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime};

use lambda_http::{Body, Response};
use local_front::{HttpFault, HttpFront, HttpRule, Service, TcpFront, TcpMode};
use serde_json::Value;
use test_support::{Stack, as_tenant, body_bytes, event, request_until};

const TENANTS: usize = 50;
/// Requests in flight at once.
const WORKERS: usize = 12;
/// Each invocation's Lambda deadline, from its start.
const LAMBDA_BUDGET: Duration = Duration::from_secs(2);
/// REQUEST_DEADLINE_MARGIN_MS: answers are due this long before the deadline.
const MARGIN_MS: u64 = 300;
/// DB_CONNECTION_MAX_AGE_SECONDS for the suite.
const MAX_AGE: Duration = Duration::from_secs(3);
/// A fault that has cleared must stop showing within this.
const RECOVERY_BOUND: Duration = Duration::from_secs(2);
/// The tenant whose DB login is revoked.
const REVOKED: usize = TENANTS;
/// DB_REFUSED_LOGIN_MEMORY_SECONDS for the suite.
const REFUSAL_MEMORY: Duration = Duration::from_secs(2);
/// How late past its due time (deadline less margin) an answer may be on a
/// busy two-core machine: the scheduling of the answer, not the margin.
const LATE_SLACK: Duration = Duration::from_millis(100);

fn tenant(i: usize) -> String {
    format!("fault{i:03}")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    /// s3-fetch `GET /files/tenant.info`.
    File,
    /// aurora-query `GET /tenant`.
    Tenant,
    /// aurora-query `POST /records`.
    Create,
}

/// One answered request.
#[derive(Debug, Clone)]
struct Outcome {
    phase: &'static str,
    tenant: usize,
    route: Route,
    started: Instant,
    elapsed: Duration,
    status: u16,
    code: Option<String>,
    /// The `Retry-After` header.
    retry_after: Option<String>,
    /// The record name a `Create` asked for.
    name: Option<String>,
    /// What is wrong with the answer's content, if anything.
    wrong: Option<String>,
}

struct Apps {
    files: s3_fetch::App,
    records: aurora_query::App,
}

struct Load {
    apps: RwLock<Arc<Apps>>,
    phase: Mutex<&'static str>,
    outcomes: Mutex<Vec<Outcome>>,
    running: AtomicBool,
    counter: AtomicU64,
    run_id: String,
}

/// The tenant names in `text` (`fault` and three digits).
fn tenants_named(text: &str) -> Vec<usize> {
    let bytes = text.as_bytes();
    let mut found = Vec::new();
    let mut at = 0;
    while let Some(i) = text[at..].find("fault") {
        let start = at + i + 5;
        if let Some(digits) = bytes.get(start..start + 3)
            && digits.iter().all(u8::is_ascii_digit)
        {
            found.push(text[start..start + 3].parse().expect("three digits"));
        }
        at = start;
    }
    found
}

/// What is wrong with a successful answer to `tenant`, if anything.
fn check_content(route: Route, tenant_index: usize, status: u16, body: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(body);
    if let Some(other) = tenants_named(&text)
        .into_iter()
        .find(|t| *t != tenant_index)
    {
        return Some(format!("names tenant {other}"));
    }
    if status >= 300 {
        return None;
    }
    let me = tenant(tenant_index);
    match route {
        Route::File => (text != format!("{me} info\n")).then(|| format!("file body {text:?}")),
        Route::Tenant => {
            let Ok(json) = serde_json::from_slice::<Value>(body) else {
                return Some(format!("a 2xx that is not JSON: {text:?}"));
            };
            let rows = json["tenant"].as_array().cloned().unwrap_or_default();
            let mine = rows.len() == 1 && rows[0]["db_user"] == format!("{me}_dbuser");
            (!mine).then(|| format!("tenant rows {rows:?}"))
        }
        // A created record answers with its id and the name it was given.
        Route::Create => match serde_json::from_slice::<Value>(body) {
            Ok(json) if json["id"].is_string() && json["name"].is_string() => None,
            _ => Some(format!("a create answered {text:?}")),
        },
    }
}

fn error_code(response: &Response<Body>) -> Option<String> {
    let json: Value = serde_json::from_slice(&body_bytes(response)).ok()?;
    json["error"].as_str().map(str::to_owned)
}

impl Load {
    async fn one(&self, events: &Events, seq: u64) {
        // A cheap spread of tenants and routes: every worker walks its own
        // stride through them.
        let tenant_index = (seq.wrapping_mul(7919) % TENANTS as u64) as usize + 1;
        let route = match seq % 3 {
            0 => Route::File,
            1 => Route::Tenant,
            _ => Route::Create,
        };
        let me = tenant(tenant_index);
        let request_id = format!("{}-{seq}", self.run_id);
        let (base, name) = match route {
            Route::File => (&events.file, None),
            Route::Tenant => (&events.tenant, None),
            Route::Create => (&events.create, Some(format!("fs-{request_id}"))),
        };
        let mut event = as_tenant(base, &me, &request_id);
        if let Some(name) = &name {
            event["body"] = Value::String(format!(r#"{{"name": "{name}"}}"#));
        }
        let phase = *self.phase.lock().unwrap();
        let apps = self.apps.read().unwrap().clone();
        let started = Instant::now();
        let request = request_until(&event, SystemTime::now() + LAMBDA_BUDGET);
        let handled = async {
            match route {
                Route::File => s3_fetch::function_handler(&apps.files, request).await,
                Route::Tenant | Route::Create => {
                    aurora_query::function_handler(&apps.records, request).await
                }
            }
            .expect("handlers answer every request")
        };
        // Far past its deadline a request is hung: recorded, not waited for.
        let response = tokio::time::timeout(3 * LAMBDA_BUDGET, handled).await;
        let elapsed = started.elapsed();
        let outcome = match response {
            Ok(response) => {
                let status = response.status().as_u16();
                Outcome {
                    phase,
                    tenant: tenant_index,
                    route,
                    started,
                    elapsed,
                    status,
                    code: error_code(&response),
                    retry_after: response
                        .headers()
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned),
                    name,
                    wrong: check_content(route, tenant_index, status, &body_bytes(&response)),
                }
            }
            Err(_) => Outcome {
                phase,
                tenant: tenant_index,
                route,
                started,
                elapsed,
                status: 0,
                code: Some("hung".to_owned()),
                retry_after: None,
                name,
                wrong: None,
            },
        };
        self.outcomes.lock().unwrap().push(outcome);
    }
}

struct Events {
    file: Value,
    tenant: Value,
    create: Value,
}

async fn build_apps(env: &Stack) -> Apps {
    let sdk = env.sdk_config().await;
    let files = s3_fetch::App::new(
        &s3_fetch::Config::from_lookup(&env.lookup()).expect("s3-fetch config"),
        &sdk,
    );
    let records = aurora_query::App::new(
        &aurora_query::Config::from_lookup(&env.lookup()).expect("aurora-query config"),
        &sdk,
    )
    .expect("aurora-query app");
    Apps { files, records }
}

/// A phase's allowed failure answers, beyond success: exactly what its
/// fault explains. Too slow is 504 `deadline_exceeded` anywhere a fault
/// can slow a request (retries and back-off count against the deadline).
fn allowed(phase: &str, outcome: &Outcome) -> bool {
    let answer = (outcome.status, outcome.code.as_deref().unwrap_or(""));
    let late = answer == (504, "deadline_exceeded");
    let unavailable = answer == (503, "upstream_unavailable");
    match phase {
        "baseline" | "recovered" => false,
        // Cold sessions and logins for every tenant at once.
        "warm-up" => late,
        "sts-throttling" | "s3-throttling" => late || answer == (503, "throttled"),
        "s3-slower-than-deadline" => late,
        "s3-errors"
        | "s3-connection-resets"
        | "db-paused"
        | "db-connections-dropped"
        | "db-restart" => late || unavailable,
        "s3-expired-credentials" => late || answer == (503, "credentials_rejected"),
        // The revoked tenant's database routes: 503 while the refusal may
        // still be a login storm (its registry item says active), then 403
        // once it has lasted DB_REFUSED_LOGIN_MEMORY_SECONDS.
        "revoked" => {
            outcome.tenant == REVOKED
                && outcome.route != Route::File
                && (answer == (403, "access_denied") || unavailable)
        }
        other => panic!("no rule for phase {other}"),
    }
}

/// Per phase: requests, successes, failures by `status code`, worst latency.
type PhaseTally = (u64, u64, BTreeMap<String, u64>, Duration);

struct Clock {
    /// (phase, when its fault cleared)
    cleared: Vec<(&'static str, Instant)>,
    /// (phase, when it began)
    began: Vec<(&'static str, Instant)>,
    revoked_at: Option<Instant>,
    restored_at: Option<Instant>,
    faults: u64,
}

impl Clock {
    /// When the phase after `phase` began: the end of `phase`'s window.
    fn next_after(&self, phase: &str) -> Instant {
        self.began
            .iter()
            .skip_while(|(p, _)| *p != phase)
            .nth(1)
            .map_or_else(Instant::now, |(_, at)| *at)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn faults_come_and_go_under_load() {
    let stack = Stack::load();
    let moto: SocketAddr = stack
        .var("AWS_ENDPOINT_URL")
        .trim_start_matches("http://")
        .parse()
        .expect("moto's address");
    let pg: SocketAddr = format!("127.0.0.1:{}", stack.var("DB_PORT"))
        .parse()
        .unwrap();
    let front_port = stack.var("STACK_PG_FRONT_PORT");
    let aws = HttpFront::start("127.0.0.1:0".parse().unwrap(), moto)
        .await
        .expect("the HTTP front starts");
    let db = TcpFront::start(format!("127.0.0.1:{front_port}").parse().unwrap(), pg)
        .await
        .expect("the TCP front starts");
    let env = stack.with(&[
        ("AWS_ENDPOINT_URL", &aws.endpoint()),
        ("DB_PORT", &front_port),
        ("REQUEST_DEADLINE_MARGIN_MS", &MARGIN_MS.to_string()),
        // A login slower than this is cut off: 2 s, past the answer's due
        // time, so a login slowed by load (the verifier shares the machine)
        // is answered 504 in time; a paused server is caught by the
        // statement time-out.
        ("DB_CONNECT_TIMEOUT_SECONDS", "2"),
        ("DB_STATEMENT_TIMEOUT_MS", "1000"),
        (
            "DB_CONNECTION_MAX_AGE_SECONDS",
            &MAX_AGE.as_secs().to_string(),
        ),
        ("DB_CONNECTION_CAPACITY", "100"),
        (
            "DB_REFUSED_LOGIN_MEMORY_SECONDS",
            &REFUSAL_MEMORY.as_secs().to_string(),
        ),
        ("TENANT_CACHE_CAPACITY", "100"),
    ]);
    let admin = stack.admin_db().await;
    // A revocation left by an interrupted run (this suite's, or another
    // test's that takes a fault tenant's login away) would fail the
    // baseline.
    let logins: String = (1..=TENANTS)
        .map(|i| format!("ALTER ROLE {}_dbuser LOGIN;", tenant(i)))
        .collect();
    admin.batch_execute(&logins).await.unwrap();

    let load = Arc::new(Load {
        apps: RwLock::new(Arc::new(build_apps(&env).await)),
        phase: Mutex::new("warm-up"),
        outcomes: Mutex::new(Vec::new()),
        running: AtomicBool::new(true),
        counter: AtomicU64::new(0),
        run_id: format!(
            "{}-{}",
            std::process::id(),
            SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap()
                .as_millis()
        ),
    });
    let events = Arc::new(Events {
        file: event("s3-fetch/tenant1-get.json"),
        tenant: event("aurora-query/tenant1-tenant.json"),
        create: event("aurora-query/tenant1-create.json"),
    });
    let workers: Vec<_> = (0..WORKERS)
        .map(|_| {
            let (load, events) = (load.clone(), events.clone());
            tokio::spawn(async move {
                while load.running.load(Ordering::Relaxed) {
                    let seq = load.counter.fetch_add(1, Ordering::Relaxed);
                    load.one(&events, seq).await;
                }
            })
        })
        .collect();

    let began = Mutex::new(Vec::new());
    let set_phase = |name: &'static str| {
        *load.phase.lock().unwrap() = name;
        began.lock().unwrap().push((name, Instant::now()));
    };
    let mut clock = Clock {
        cleared: Vec::new(),
        began: Vec::new(),
        revoked_at: None,
        restored_at: None,
        faults: 0,
    };
    let sleep = |ms: u64| tokio::time::sleep(Duration::from_millis(ms));

    // Warm every tenant's session and connection, then a clean baseline.
    sleep(2000).await;
    set_phase("baseline");
    sleep(1500).await;

    // STS throttles a cold container: every AssumeRole answers Throttling.
    set_phase("sts-throttling");
    *load.apps.write().unwrap() = Arc::new(build_apps(&env).await);
    aws.inject(HttpRule::new(HttpFault::Throttle).service(Service::Sts));
    sleep(1500).await;
    aws.clear();
    clock.cleared.push(("sts-throttling", Instant::now()));
    sleep(2500).await;

    for (phase, fault) in [
        ("s3-throttling", HttpFault::Throttle),
        ("s3-errors", HttpFault::ServerError),
        ("s3-slower-than-deadline", HttpFault::Delay { ms: 2500 }),
        ("s3-connection-resets", HttpFault::Reset),
    ] {
        set_phase(phase);
        aws.inject(HttpRule::new(fault).service(Service::S3));
        sleep(1500).await;
        aws.clear();
        clock.cleared.push((phase, Instant::now()));
        sleep(2500).await;
    }

    // S3 refuses ten tenants' credentials once each: their sessions must be
    // dropped and replaced, not reused.
    set_phase("s3-expired-credentials");
    let assume_role_calls = || {
        let apps = load.apps.read().unwrap().clone();
        apps.files.sessions().assume_role_calls()
    };
    let assumed_before = assume_role_calls();
    for i in 1..=10 {
        aws.inject(
            HttpRule::new(HttpFault::ExpiredToken)
                .service(Service::S3)
                .contains(format!("/{}_home/", tenant(i)))
                .times(1),
        );
    }
    sleep(2500).await;
    aws.clear();
    clock
        .cleared
        .push(("s3-expired-credentials", Instant::now()));
    let assumed_after = assume_role_calls();
    sleep(1000).await;

    // The database stops answering: sockets stay open, nothing comes back.
    set_phase("db-paused");
    db.set_mode(TcpMode::Pause);
    clock.faults += 1;
    sleep(3000).await;
    db.set_mode(TcpMode::Pass);
    clock.cleared.push(("db-paused", Instant::now()));
    sleep(2500).await;

    // Every connection drops, and the server refuses new ones for a while.
    set_phase("db-connections-dropped");
    db.set_mode(TcpMode::Refuse);
    db.reset();
    clock.faults += 1;
    sleep(1500).await;
    db.set_mode(TcpMode::Pass);
    clock
        .cleared
        .push(("db-connections-dropped", Instant::now()));
    sleep(2500).await;

    // A real restart of PostgreSQL.
    set_phase("db-restart");
    let restarting = stack.clone();
    tokio::task::spawn_blocking(move || restarting.restart_postgres())
        .await
        .unwrap();
    clock.faults += 1;
    clock.cleared.push(("db-restart", Instant::now()));
    sleep(2500).await;

    // Revoke one tenant's login while its connection is warm.
    set_phase("revoked");
    let admin = stack.admin_db().await;
    admin
        .batch_execute(&format!("ALTER ROLE {}_dbuser NOLOGIN", tenant(REVOKED)))
        .await
        .unwrap();
    clock.revoked_at = Some(Instant::now());
    clock.faults += 1;
    // Counts the revoked tenant's AssumeRole calls as they pass.
    aws.inject(
        HttpRule::new(HttpFault::Delay { ms: 0 })
            .service(Service::Sts)
            .contains(format!("assumeRole-{}", tenant(REVOKED))),
    );
    let injected_before = aws.injected();
    sleep((MAX_AGE + LAMBDA_BUDGET).as_millis() as u64 + 1500).await;
    admin
        .batch_execute(&format!("ALTER ROLE {}_dbuser LOGIN", tenant(REVOKED)))
        .await
        .unwrap();
    let assumed_while_revoked = aws.injected() - injected_before;
    aws.clear();
    // Counted, not faults.
    let counted = assumed_while_revoked;
    clock.restored_at = Some(Instant::now());
    // The refusal is remembered a moment past the restore.
    sleep((REFUSAL_MEMORY + RECOVERY_BOUND).as_millis() as u64).await;
    set_phase("recovered");
    sleep(2000).await;
    load.running.store(false, Ordering::Relaxed);
    for worker in workers {
        worker.await.unwrap();
    }
    let outcomes = load.outcomes.lock().unwrap().clone();
    clock.faults += aws.injected() - counted;
    clock.began = began.lock().unwrap().clone();

    // Records: every 201 is in the database once, as its caller's.
    let names: Vec<String> = outcomes.iter().filter_map(|o| o.name.clone()).collect();
    let rows = admin
        .query(
            "SELECT name, tenant_id FROM records WHERE name = ANY($1)",
            &[&names],
        )
        .await
        .unwrap();
    let mut stored: HashMap<String, Vec<String>> = HashMap::new();
    for row in &rows {
        stored
            .entry(row.get::<_, String>(0))
            .or_default()
            .push(row.get(1));
    }

    let mut problems = Vec::new();
    let mut by_phase: BTreeMap<(usize, &str), PhaseTally> = BTreeMap::new();
    let order: HashMap<&str, usize> = outcomes
        .iter()
        .map(|o| o.phase)
        .fold(Vec::new(), |mut seen, p| {
            if !seen.contains(&p) {
                seen.push(p);
            }
            seen
        })
        .into_iter()
        .enumerate()
        .map(|(i, p)| (p, i))
        .collect();
    let mut late = 0;
    let mut wrong_tenant = 0;
    let mut other_5xx = 0;
    let mut lost = 0;
    for o in &outcomes {
        let entry = by_phase.entry((order[o.phase], o.phase)).or_insert((
            0,
            0,
            BTreeMap::new(),
            Duration::ZERO,
        ));
        entry.0 += 1;
        entry.3 = entry.3.max(o.elapsed);
        // A hung request (no answer: status 0) is a failure, never a success.
        if (1..300).contains(&o.status) {
            entry.1 += 1;
        } else {
            *entry
                .2
                .entry(format!("{} {}", o.status, o.code.as_deref().unwrap_or("?")))
                .or_default() += 1;
        }
        if o.elapsed > LAMBDA_BUDGET - Duration::from_millis(MARGIN_MS) + LATE_SLACK {
            late += 1;
            problems.push(format!(
                "{o:?}: answered after its deadline less the margin"
            ));
        }
        if matches!(o.status, 503 | 504)
            && o.retry_after
                .as_deref()
                .and_then(|v| v.parse::<u32>().ok())
                .is_none_or(|secs| secs == 0)
        {
            problems.push(format!("{o:?}: a transient failure without Retry-After"));
        }
        if let Some(wrong) = &o.wrong {
            wrong_tenant += 1;
            problems.push(format!("{o:?}: {wrong}"));
        }
        if o.status >= 500 && !matches!(o.status, 503 | 504) {
            other_5xx += 1;
        }
        // A request that started just before the next phase's fault and was
        // answered after it may show that fault.
        let next = clock
            .began
            .iter()
            .skip_while(|(p, _)| *p != o.phase)
            .nth(1)
            .copied();
        let explained = allowed(o.phase, o)
            || next.is_some_and(|(p, at)| o.started + o.elapsed >= at && allowed(p, o));
        if o.status == 0 {
            problems.push(format!("{o:?}: hung, no answer"));
        } else if o.status >= 300 && !explained {
            problems.push(format!("{o:?}: not an answer this phase allows"));
        }
        if o.status == 409 {
            problems.push(format!("{o:?}: a create was replayed"));
        }
        if let Some(name) = &o.name {
            let owners = stored.get(name).cloned().unwrap_or_default();
            if owners
                .iter()
                .any(|t| *t != format!("{}_dbuser", tenant(o.tenant)))
            {
                problems.push(format!("{o:?}: stored for {owners:?}"));
            }
            if o.status == 201 && owners.len() != 1 {
                lost += 1;
                problems.push(format!("{o:?}: created, but stored {} times", owners.len()));
            }
        }
    }

    // Recovery: after a fault clears, failures stop within the bound.
    let mut worst_recovery = Duration::ZERO;
    for (phase, cleared) in &clock.cleared {
        // Requests that ended before the next phase's fault could reach them.
        let window_end = clock.next_after(phase);
        let last_failure = outcomes
            .iter()
            .filter(|o| o.phase == *phase && o.status >= 300 && o.started > *cleared)
            .filter(|o| o.started + o.elapsed < window_end)
            .map(|o| o.started - *cleared)
            .max()
            .unwrap_or_default();
        worst_recovery = worst_recovery.max(last_failure);
        if last_failure > RECOVERY_BOUND {
            problems.push(format!(
                "{phase}: a request started {last_failure:?} after the fault cleared still failed"
            ));
        }
    }
    // Revocation: past the max age (plus one request's life), nothing of the
    // revoked tenant's database routes succeeds.
    let revoked_at = clock.revoked_at.expect("revoked");
    let cutoff = revoked_at + MAX_AGE + LAMBDA_BUDGET;
    let restored_at = clock.restored_at.expect("restored");
    let revoked: Vec<&Outcome> = outcomes
        .iter()
        .filter(|o| o.phase == "revoked" && o.tenant == REVOKED && o.route != Route::File)
        .filter(|o| o.started + o.elapsed < restored_at)
        .collect();
    let served_late = revoked
        .iter()
        .filter(|o| o.started > cutoff && o.status < 300)
        .count();
    if served_late > 0 {
        problems.push(format!(
            "the revoked tenant was served {served_late} times past the max age"
        ));
    }
    if !revoked
        .iter()
        .any(|o| o.started > cutoff && o.code.as_deref() == Some("access_denied"))
    {
        problems.push("the revoked tenant was never refused with access_denied".to_owned());
    }
    // Without the refusal memory every DB request of the revoked tenant
    // would assume its role again; with it, one per memory period (and the
    // refusal that opens each period), plus, while the refusal may still be
    // a storm (its first memory period), one retry per 0.5 to 1 s.
    let revoked_requests = revoked.len();
    let refusal_window = restored_at - revoked_at;
    let bound = (refusal_window.as_secs_f64() / REFUSAL_MEMORY.as_secs_f64()).ceil() as u64
        + 1
        + 2 * REFUSAL_MEMORY.as_secs();
    println!(
        "revoked tenant: {revoked_requests} DB requests, {assumed_while_revoked} AssumeRole calls in {refusal_window:?} (bound {bound})"
    );
    if assumed_while_revoked > bound {
        problems.push(format!(
            "the revoked tenant drove STS: {assumed_while_revoked} AssumeRole calls for {revoked_requests} requests in {refusal_window:?}, bound {bound}"
        ));
    }
    if assumed_after < assumed_before + 10 {
        problems.push(format!(
            "refused credentials did not evict the sessions: {assumed_before} AssumeRole calls before, {assumed_after} after"
        ));
    }
    // A suite whose rules never matched a request is a plain load test.
    if clock.faults == 0 {
        problems.push("no fault reached a request: the rules matched nothing".to_owned());
    }
    for phase in ["baseline", "recovered"] {
        let ok = by_phase
            .iter()
            .find(|((_, p), _)| *p == phase)
            .map(|(_, v)| v.1);
        if ok.unwrap_or(0) == 0 {
            problems.push(format!("{phase}: nothing was served"));
        }
    }

    println!(
        "fault suite: {TENANTS} tenants, {WORKERS} requests in flight, Lambda budget {LAMBDA_BUDGET:?}, margin {MARGIN_MS} ms"
    );
    println!(
        "{:<26} {:>8} {:>6} {:>11}  failures",
        "phase", "requests", "ok", "worst ms"
    );
    for ((_, phase), (requests, ok, failures, worst)) in &by_phase {
        let failures: Vec<String> = failures.iter().map(|(k, v)| format!("{v}x {k}")).collect();
        println!(
            "{phase:<26} {requests:>8} {ok:>6} {:>11}  {}",
            worst.as_millis(),
            failures.join(", ")
        );
    }
    println!(
        "fault suite figures: requests {}, faults injected {}, wrong-tenant answers {wrong_tenant}, \
         5xx other than 503/504 {other_5xx}, records lost or doubled {lost}, \
         worst recovery {} ms, answers past their deadline {late}",
        outcomes.len(),
        clock.faults,
        worst_recovery.as_millis()
    );
    assert!(
        problems.is_empty(),
        "{} problems:\n{}",
        problems.len(),
        problems
            .iter()
            .take(40)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}
