//! Thousands of tenants per container: session memory, a Zipf mix over
//! 10,000 tenants, requests in flight at once, and the cost of a bare
//! database login.

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tenant_access::Caller;
use test_support::{Stack, request};

use crate::stats::{Percentiles, percentiles};
use crate::{App, Function, progress, quiet};

/// Record `ids` as active tenants in the stack's registry, as onboarding
/// does, so synthetic tenants (the Zipf mix's, the memory scenario's) are
/// served: straight to moto, 25 items a call, enforcement paused (the
/// functions may only read the registry).
pub async fn register(stack: &Stack, ids: &[String]) {
    use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};
    progress(&format!("registering {} synthetic tenants", ids.len()));
    let _paused = stack.pause_iam_enforcement();
    let moto = stack.with(&[("AWS_ENDPOINT_URL", &stack.var("STACK_MOTO_URL"))]);
    let sdk = moto
        .sdk_config_with(aws_sdk_dynamodb::config::Credentials::new(
            "seed", "seed", None, None, "bench",
        ))
        .await;
    let client = aws_sdk_dynamodb::Client::new(&sdk);
    let table = stack.var("TENANT_REGISTRY_TABLE");
    for batch in ids.chunks(25) {
        let writes = batch
            .iter()
            .map(|id| {
                let put = PutRequest::builder()
                    .item("tenant_id", AttributeValue::S(id.clone()))
                    .item("state", AttributeValue::S("active".to_owned()))
                    .build()
                    .expect("an item");
                WriteRequest::builder().put_request(put).build()
            })
            .collect();
        let out = client
            .batch_write_item()
            .request_items(&table, writes)
            .send()
            .await
            .expect("moto takes the registry items");
        assert!(
            out.unprocessed_items().is_none_or(|u| u.is_empty()),
            "moto left registry items unprocessed"
        );
    }
}

/// The memory scenario's tenant `i`.
pub fn memory_tenant(i: usize) -> String {
    format!("mem{i:05}")
}

/// Resident memory of this process (`VmRSS`) and its peak (`VmHWM`), KiB.
pub fn rss_kib() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(f64::NAN)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// The child half of [`session_memory`]: a process holding nothing but
/// s3-fetch's session cache, filled with `n` tenants' sessions and their
/// cached registry states, which is what s3-fetch keeps per tenant (its one
/// S3 client serves every session). session-tags: one shared role, so no
/// per-tenant IAM is needed; the parent registers the tenants. Prints one
/// JSON line.
pub async fn session_memory_child(n: usize) {
    let stack = quiet(&Stack::load())
        .with_strategy("session-tags")
        .with(&[("TENANT_CACHE_CAPACITY", &n.to_string())]);
    let config =
        s3_fetch::Config::from_lookup(&stack.lookup()).expect("the session-tags configuration");
    let sdk = stack.sdk_config().await;
    let app = Arc::new(s3_fetch::App::new(&config, &sdk));
    // Warm the SDK and the allocator with one session first.
    let caller =
        |i: usize| Caller::new(memory_tenant(i).parse().expect("tenant id"), "bench-memory");
    let sessions = || app.sessions();
    sessions().session(&caller(0)).await.expect("a session");
    let (before, _) = rss_kib();
    let started = Instant::now();
    let workers = 16;
    let mut tasks = Vec::new();
    for w in 0..workers {
        let app = app.clone();
        tasks.push(tokio::spawn(async move {
            for i in (1..n).filter(|i| i % workers == w) {
                app.sessions().session(&caller(i)).await.expect("a session");
            }
        }));
    }
    for task in tasks {
        task.await.expect("worker");
    }
    let (after, peak) = rss_kib();
    let line = json!({
        "sessions": n,
        "rss_before_kib": before,
        "rss_after_kib": after,
        "peak_rss_kib": peak,
        "bytes_per_session": (after - before) * 1024.0 / (n - 1) as f64,
        "assume_role_calls": sessions().assume_role_calls(),
        "cached": sessions().cached(),
        "with_s3_client": true,
        "seconds": started.elapsed().as_secs_f64(),
    });
    println!("{line}");
}

/// Session memory, measured in a child process of its own (so nothing
/// else the bench holds counts): RSS before and after caching `n`
/// sessions, the bytes one costs, and the peak.
pub fn session_memory(n: usize) -> Value {
    progress(&format!(
        "session memory: {n} sessions in a process of their own (~{} s)",
        n / 300 + 2
    ));
    child(&["--session-memory-child", &n.to_string()])
}

/// Run this bench binary with `args` in a process of its own and take the
/// JSON line it prints last.
fn child(args: &[&str]) -> Value {
    let out = Command::new(std::env::current_exe().expect("the bench binary"))
        .args(args)
        .stderr(Stdio::inherit())
        .output()
        .expect("the child runs");
    let text = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(text.lines().last().unwrap_or_default())
        .unwrap_or_else(|e| json!({ "error": format!("no result from the child ({e}): {text}") }))
}

/// The user-sessions scenario's tenant `i` (registered by the parent).
pub fn user_tenant(i: usize) -> String {
    format!("usr{i:04}")
}

/// The child half of [`user_sessions`]: s3-fetch under session-tags serving
/// `GET /me/files` for `users` users of each of `tenants` tenants. Every
/// user is served once (warm-up: one `AssumeRole` per user), then
/// `requests` requests drawn across all of them are timed and their
/// `AssumeRole` calls counted. Prints one JSON line.
pub async fn user_sessions_child(tenants: usize, users: usize, requests: usize) {
    let pairs = tenants * users;
    let stack = quiet(&Stack::load())
        .with_strategy("session-tags")
        .with(&[("TENANT_CACHE_CAPACITY", &(pairs + 10).to_string())]);
    let config =
        s3_fetch::Config::from_lookup(&stack.lookup()).expect("the session-tags configuration");
    let sdk = stack.sdk_config().await;
    let app = s3_fetch::App::new(&config, &sdk);
    let base = test_support::event("s3-fetch/tenant1-me-list.json");
    let event_of = |pair: usize, n: usize| {
        let mut e = base.clone();
        let claims = &mut e["requestContext"]["authorizer"]["jwt"]["claims"];
        claims["custom:tenant_id"] = user_tenant(pair / users).into();
        claims["sub"] = format!("user-{:02}", pair % users).into();
        e["requestContext"]["requestId"] = format!("bench-me-{n}").into();
        e
    };
    let serve = |pair: usize, n: usize| {
        let app = &app;
        let event = event_of(pair, n);
        async move {
            let response = s3_fetch::function_handler(app, request(&event))
                .await
                .expect("handlers answer every request");
            assert_eq!(response.status(), 200, "GET /me/files of pair {pair}");
        }
    };
    // One session first, so the SDK and the allocator are warm.
    serve(0, 0).await;
    let (before, _) = rss_kib();
    for pair in 1..pairs {
        serve(pair, pair).await;
    }
    let (after, _) = rss_kib();
    let warm_up_calls = app.sessions().assume_role_calls();
    let mut zipf = Zipf::new(pairs, 0.0);
    let mut times = Vec::with_capacity(requests);
    for n in 0..requests {
        let pair = zipf.next_rank() - 1;
        let started = Instant::now();
        serve(pair, pairs + n).await;
        times.push(started.elapsed());
    }
    let warm_calls = app.sessions().assume_role_calls() - warm_up_calls;
    let p = percentiles(&times);
    let line = json!({
        "scenario": "user_sessions",
        "tenants": tenants,
        "users_per_tenant": users,
        "cached": app.sessions().cached(),
        "warm_up_assume_role": warm_up_calls,
        "warm_requests": requests,
        "warm_assume_role": warm_calls,
        "assume_role_per_1000_warm": warm_calls as f64 * 1000.0 / requests as f64,
        "bytes_per_user_session": (after - before) * 1024.0 / (pairs - 1) as f64,
        "p50_us": p.p50,
        "p99_us": p.p99,
    });
    println!("{line}");
}

/// Per-user sessions (`/me` routes), in a child process of its own so its
/// memory counts alone: `users` users of each of `tenants` tenants.
pub fn user_sessions(tenants: usize, users: usize, requests: usize) -> Value {
    progress(&format!(
        "user sessions: {users} users x {tenants} tenants, then {requests} warm requests"
    ));
    child(&[
        "--user-sessions-child",
        &tenants.to_string(),
        &users.to_string(),
        &requests.to_string(),
    ])
}

/// Ranks 1..=n drawn with probability proportional to 1/rank^s, from a
/// fixed seed (xorshift64*), so every run draws the same sequence.
pub struct Zipf {
    cdf: Vec<f64>,
    state: u64,
}

impl Zipf {
    pub fn new(n: usize, s: f64) -> Zipf {
        let mut cdf = Vec::with_capacity(n);
        let mut total = 0.0;
        for rank in 1..=n {
            total += 1.0 / (rank as f64).powf(s);
            cdf.push(total);
        }
        for c in &mut cdf {
            *c /= total;
        }
        Zipf {
            cdf,
            state: 0x9E37_79B9_7F4A_7C15,
        }
    }

    /// The next rank, 1-based.
    pub fn next_rank(&mut self) -> usize {
        self.state ^= self.state >> 12;
        self.state ^= self.state << 25;
        self.state ^= self.state >> 27;
        let u = (self.state.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64;
        self.cdf.partition_point(|c| *c < u) + 1
    }
}

/// A tenant of the Zipf mix: the seeded bench tenants for the first ranks
/// (they have objects), others past them (their GET is a 404, which costs
/// the same session).
fn zipf_tenant(rank: usize, seeded: usize) -> String {
    if rank <= seeded {
        crate::tenant(rank - 1)
    } else {
        format!("zipf{rank:05}")
    }
}

/// s3-fetch under a Zipf (s) mix over `tenants` tenants with the default
/// session cache: after `warmup` draws, `measured` requests, and how many
/// AssumeRole calls and cache misses they cost. session-tags, so tenants
/// need no IAM of their own.
pub async fn zipf(
    stack: &Stack,
    tenants: usize,
    s: f64,
    warmup: usize,
    measured: usize,
    seeded: usize,
) -> Value {
    progress(&format!(
        "s3-fetch Zipf s={s} over {tenants} tenants: {warmup} warm-up + {measured} measured requests (~{} s)",
        (warmup + measured) / 100 + 1
    ));
    let env = stack.with_strategy("session-tags");
    let synthetic: Vec<String> = (seeded + 1..=tenants)
        .map(|rank| zipf_tenant(rank, seeded))
        .collect();
    register(stack, &synthetic).await;
    let app = App::new(Function::S3Fetch, &env).await;
    let App::S3(inner) = &app else {
        unreachable!("an s3-fetch app")
    };
    let mut draws = Zipf::new(tenants, s);
    let mut distinct = std::collections::HashSet::new();
    for _ in 0..warmup {
        let tenant = zipf_tenant(draws.next_rank(), seeded);
        distinct.insert(tenant.clone());
        app.call(request(&Function::S3Fetch.event(&tenant))).await;
    }
    let before = inner.sessions().counts();
    let mut samples = Vec::with_capacity(measured);
    let mut failures = 0;
    // A tenant's first request must assume its role; any other AssumeRole
    // is a repeat the cache should have saved.
    let mut first_touches = 0u64;
    for _ in 0..measured {
        let tenant = zipf_tenant(draws.next_rank(), seeded);
        if distinct.insert(tenant.clone()) {
            first_touches += 1;
        }
        let start = Instant::now();
        let response = app.call(request(&Function::S3Fetch.event(&tenant))).await;
        samples.push(start.elapsed());
        if !matches!(response.status().as_u16(), 200 | 404) {
            failures += 1;
        }
    }
    let after = inner.sessions().counts();
    let per_1000 = |a: u64, b: u64| (a - b) as f64 * 1000.0 / measured as f64;
    let hits = after.session_hits - before.session_hits;
    let misses = after.session_misses - before.session_misses;
    let latency = percentiles(&samples);
    let calls = after.assume_role_calls - before.assume_role_calls;
    json!({
        "function": "s3-fetch", "scenario": "zipf", "tenants": tenants, "s": s,
        "warmup_requests": warmup, "requests": measured, "distinct_tenants_seen": distinct.len(),
        "assume_role_per_1000": per_1000(after.assume_role_calls, before.assume_role_calls),
        "first_touches_per_1000": first_touches as f64 * 1000.0 / measured as f64,
        "repeat_assume_role_per_1000": calls.saturating_sub(first_touches) as f64 * 1000.0 / measured as f64,
        "assume_role_total": after.assume_role_calls,
        "hit_rate": hits as f64 / (hits + misses).max(1) as f64,
        "evictions": after.session_evictions - before.session_evictions,
        "p50_us": latency.p50, "p90_us": latency.p90, "p99_us": latency.p99,
        "failures": failures,
    })
}

/// Requests per second with `in_flight` requests at once across `tenants`
/// tenants, against one at a time, in the same run: what
/// `lambda_http::run_concurrent` serves on Lambda Managed Instances.
pub async fn concurrency(
    stack: &Stack,
    function: Function,
    tenants: usize,
    requests: usize,
    in_flight: usize,
) -> Value {
    progress(&format!(
        "{} {requests} requests across {tenants} tenants, 1 then {in_flight} in flight",
        function.name()
    ));
    let app = Arc::new(App::new(function, stack).await);
    for i in 0..tenants {
        app.call(request(&function.event(&crate::tenant(i)))).await;
    }
    let rate = |took: Duration| requests as f64 / took.as_secs_f64();
    let started = Instant::now();
    for i in 0..requests {
        app.call(request(&function.event(&crate::tenant(i % tenants))))
            .await;
    }
    let sequential = rate(started.elapsed());
    let started = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..in_flight {
        let app = app.clone();
        tasks.push(tokio::spawn(async move {
            let mut failures = 0;
            for i in (0..requests).filter(|i| i % in_flight == w) {
                let response = app
                    .call(request(&function.event(&crate::tenant(i % tenants))))
                    .await;
                failures += usize::from(response.status() != 200);
            }
            failures
        }));
    }
    let mut failures = 0;
    for task in tasks {
        failures += task.await.expect("worker");
    }
    let concurrent = rate(started.elapsed());
    json!({
        "function": function.name(), "scenario": "concurrency", "tenants": tenants,
        "requests": requests, "in_flight": in_flight,
        "requests_per_s_sequential": sequential, "requests_per_s_concurrent": concurrent,
        "speedup": concurrent / sequential, "failures": failures,
    })
}

/// What a login costs, for tenants whose sessions are held: bare (TCP,
/// TLS, IAM token check) with nothing else open, and with `DB_CAPACITY`
/// other connections open, as past the bound; then, through the crate
/// (`DB_CONNECTION_CAPACITY=1`, two tenants taking turns, so every call
/// logs in), a login alone against a login and the first statement as a
/// request past the bound runs it, interleaved so drift cancels; and the
/// login with the statement prepared and run (two round trips), as the
/// crate did before.
pub struct LoginCost {
    pub bare: Percentiles,
    pub bare_beside_open: Percentiles,
    /// The crate's `connection()`: token and login.
    pub crate_login: Percentiles,
    /// The crate's auth token alone (signing, no network).
    pub token: Percentiles,
    /// A bare login right after closing another connection, as a login
    /// past the budget closes the least recently used one first.
    pub bare_after_close: Percentiles,
    /// The crate's `query()` on a fresh connection: token, login and the
    /// statement in one round trip.
    pub crate_login_and_statement: Percentiles,
    /// Login, prepare, query: two round trips after the login.
    pub with_prepare: Percentiles,
}

pub async fn login_cost(stack: &Stack, tenants: usize, logins: usize) -> LoginCost {
    progress(&format!(
        "database logins: 7 x {logins} over {tenants} tenants (~{} s)",
        logins * 7 / 80 + 2
    ));
    let config = aurora_query::Config::from_lookup(&stack.lookup()).expect("config");
    let sdk = stack.sdk_config().await;
    let app = aurora_query::App::new(&config, &sdk).expect("CA bundle");
    let sessions = app.sessions();
    let db = tenant_access::db::TenantDatabase::new(&config.service).expect("CA bundle");
    let mut held = Vec::new();
    for i in 0..tenants + crate::DB_CAPACITY {
        let caller = Caller::new(crate::tenant(i).parse().expect("tenant id"), "bench-login");
        held.push(sessions.session(&caller).await.expect("a session"));
    }
    let login = |i: usize| {
        let session = &held[i % tenants];
        let db = &db;
        async move {
            let user = format!("{}_dbuser", session.tenant());
            let token = db.auth_token(session).await.expect("a token");
            let start = Instant::now();
            let client = stack
                .connect(&user, token.expose())
                .await
                .expect("the tenant logs in");
            (start, client)
        }
    };
    // Before each timed login the server is given a moment to finish
    // closing the last one, so a login overlaps only the close it causes.
    let settle = || tokio::time::sleep(std::time::Duration::from_millis(5));
    let mut bare = Vec::with_capacity(logins);
    for i in 0..logins {
        let (start, client) = login(i).await;
        bare.push(start.elapsed());
        drop(client);
        settle().await;
    }
    // As past the bound: the server holds DB_CAPACITY other connections.
    let mut open = Vec::new();
    for session in held.iter().skip(tenants).take(crate::DB_CAPACITY) {
        let user = format!("{}_dbuser", session.tenant());
        let token = db.auth_token(session).await.expect("a token");
        open.push(stack.connect(&user, token.expose()).await.expect("login"));
    }
    let mut beside = Vec::with_capacity(logins);
    for i in 0..logins {
        let (start, client) = login(i).await;
        beside.push(start.elapsed());
        drop(client);
        settle().await;
    }
    drop(open);
    // Through the crate, one connection in all: every call logs in. Logins
    // unpaced (`DB_LOGINS_PER_SECOND=0`): one after another they come
    // faster than the default 100 a second, and the figure is the login's,
    // not the pacing's.
    let one = aurora_query::Config::from_lookup(
        &stack
            .with(&[
                ("DB_CONNECTION_CAPACITY", "1"),
                ("DB_LOGINS_PER_SECOND", "0"),
            ])
            .lookup(),
    )
    .expect("config");
    let fresh = tenant_access::db::TenantDatabase::new(&one.service).expect("CA bundle");
    let (mut crate_login, mut crate_statement, mut with_prepare, mut token) = (
        Vec::with_capacity(logins),
        Vec::with_capacity(logins),
        Vec::with_capacity(logins),
        Vec::with_capacity(logins),
    );
    let (mut after_close, mut previous) = (Vec::with_capacity(logins), None);
    for i in 0..logins {
        let start = Instant::now();
        let _token = fresh.auth_token(&held[i % tenants]).await.expect("a token");
        token.push(start.elapsed());
        // Each crate login closes the other tenant's idle connection (one
        // place in all), as a login past the budget does.
        settle().await;
        let start = Instant::now();
        let connection = fresh
            .connection(&held[(2 * i) % tenants])
            .await
            .expect("the tenant logs in");
        crate_login.push(start.elapsed());
        drop(connection);
        settle().await;
        let start = Instant::now();
        fresh
            .query(
                &held[(2 * i + 1) % tenants],
                aurora_query::TENANT_METADATA_QUERY,
                &[],
            )
            .await
            .expect("the tenant's row");
        crate_statement.push(start.elapsed());
        // A bare login closing one connection first, the same way.
        settle().await;
        let session = &held[i % tenants];
        let user = format!("{}_dbuser", session.tenant());
        let login_token = db.auth_token(session).await.expect("a token");
        let start = Instant::now();
        drop(previous.take());
        let client = stack
            .connect(&user, login_token.expose())
            .await
            .expect("the tenant logs in");
        after_close.push(start.elapsed());
        previous = Some(client);
        settle().await;
        let (start, client) = login(i).await;
        let statement = client
            .prepare(aurora_query::TENANT_METADATA_QUERY)
            .await
            .expect("prepare");
        client.query(&statement, &[]).await.expect("query");
        with_prepare.push(start.elapsed());
        drop(client);
    }
    LoginCost {
        bare: percentiles(&bare),
        bare_beside_open: percentiles(&beside),
        crate_login: percentiles(&crate_login),
        token: percentiles(&token),
        bare_after_close: percentiles(&after_close),
        crate_login_and_statement: percentiles(&crate_statement),
        with_prepare: percentiles(&with_prepare),
    }
}

/// One hot tenant: `in_flight` aurora-query requests at once all for one
/// tenant, against as many spread over `in_flight` tenants, in the same run
/// (alternating, twice each, so server drift cancels); and the hot tenant
/// again with one connection per tenant, as before the pools, for scale.
pub async fn hot_tenant(stack: &Stack, requests: usize, in_flight: usize) -> Value {
    progress(&format!(
        "aurora-query: {requests} requests, {in_flight} in flight on one tenant vs {in_flight} tenants"
    ));
    async fn drive(
        app: Arc<App>,
        requests: usize,
        in_flight: usize,
        tenants: usize,
    ) -> (f64, Percentiles) {
        let started = Instant::now();
        let mut tasks = Vec::new();
        for w in 0..in_flight {
            let app = app.clone();
            tasks.push(tokio::spawn(async move {
                let mut took = Vec::new();
                for _ in (0..requests).filter(|i| i % in_flight == w) {
                    let event = Function::AuroraQuery.event(&crate::tenant(w % tenants));
                    let start = Instant::now();
                    let response = app.call(request(&event)).await;
                    assert_eq!(response.status(), 200, "hot tenant bench");
                    took.push(start.elapsed());
                }
                took
            }));
        }
        let mut all = Vec::new();
        for task in tasks {
            all.extend(task.await.expect("worker"));
        }
        (
            requests as f64 / started.elapsed().as_secs_f64(),
            percentiles(&all),
        )
    }
    let app = Arc::new(App::new(Function::AuroraQuery, stack).await);
    let serial = Arc::new(
        App::new(
            Function::AuroraQuery,
            &stack.with(&[("DB_CONNECTIONS_PER_TENANT", "1")]),
        )
        .await,
    );
    // Warm: every tenant's session, and the hot tenant's pool full.
    drive(app.clone(), in_flight * 4, in_flight, in_flight).await;
    drive(app.clone(), in_flight * 4, in_flight, 1).await;
    drive(serial.clone(), in_flight * 4, in_flight, 1).await;
    let (mut spread, mut hot, mut one) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..2 {
        spread.push(drive(app.clone(), requests / 2, in_flight, in_flight).await);
        hot.push(drive(app.clone(), requests / 2, in_flight, 1).await);
        one.push(drive(serial.clone(), requests / 2, in_flight, 1).await);
    }
    let rate =
        |runs: &[(f64, Percentiles)]| runs.iter().map(|r| r.0).sum::<f64>() / runs.len() as f64;
    let (spread_rate, hot_rate, one_rate) = (rate(&spread), rate(&hot), rate(&one));
    json!({
        "function": "aurora-query", "scenario": "hot_tenant", "requests": requests, "in_flight": in_flight,
        "requests_per_s_spread": spread_rate, "requests_per_s_hot": hot_rate,
        "requests_per_s_hot_one_connection": one_rate,
        "hot_vs_spread_time": spread_rate / hot_rate,
        "hot_p50_us": hot[1].1.p50, "hot_p99_us": hot[1].1.p99,
        "spread_p50_us": spread[1].1.p50, "spread_p99_us": spread[1].1.p99,
        "target": 1.5,
    })
}
