//! A refused login is not a revocation until it persists.
//!
//! After a failover, or past RDS's 200 new IAM logins per second, logins
//! fail for reasons that are not the tenant's. For a tenant the registry
//! holds active, aurora-query answers such a refusal 503 with `Retry-After`
//! (clients retry), tries the login again after a jittered 0.5 to 1 s (no STS
//! call or login meanwhile), and is served again as soon as logins pass;
//! only a refusal that lasts `DB_REFUSED_LOGIN_MEMORY_SECONDS` is the
//! tenant's, 403 `access_denied`. The refusal is made real on the local
//! stack by taking the tenant's login away in PostgreSQL, with its registry
//! item still `active`.

use std::time::{Duration, Instant};

use test_support::{Stack, as_tenant, body_json, event, request, retry_after};

const TENANT: &str = "fault027";

/// The admin connection that takes the tenant's login away and back.
struct Admin(tokio_postgres::Client);

impl Admin {
    async fn login(&self, allowed: bool) {
        let verb = if allowed { "LOGIN" } else { "NOLOGIN" };
        self.0
            .batch_execute(&format!("ALTER ROLE {TENANT}_dbuser {verb}"))
            .await
            .expect("the admin alters the tenant's role");
    }
}

async fn call(app: &aurora_query::App, n: u32) -> (u16, serde_json::Value, Option<String>) {
    let event = as_tenant(
        &event("aurora-query/tenant1-tenant.json"),
        TENANT,
        &format!("storm-{n}"),
    );
    let response = aurora_query::function_handler(app, request(&event))
        .await
        .expect("handlers answer every request");
    (
        response.status().as_u16(),
        body_json(&response),
        retry_after(&response),
    )
}

#[tokio::test]
async fn a_refused_login_is_retried_as_a_storm_until_it_persists() {
    let stack = Stack::load();
    let restore = Admin(stack.admin_db().await);
    // A login left away by an interrupted run is given back first.
    restore.login(true).await;
    let env = stack.with(&[("DB_REFUSED_LOGIN_MEMORY_SECONDS", "4")]);
    let config = aurora_query::Config::from_lookup(&env.lookup()).expect("config");
    let app = aurora_query::App::new(&config, &env.sdk_config().await).expect("CA bundle");

    // The login path fails (here: the login refused) for a tenant the
    // registry holds active: 503 with Retry-After, not 403.
    restore.login(false).await;
    let (status, body, retry) = call(&app, 0).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (503, Some("upstream_unavailable")),
        "{body}"
    );
    assert_eq!(retry.as_deref(), Some("1"));
    // Remembered: the next requests cost no STS call and no login.
    let (assumed, logins) = (
        app.sessions().assume_role_calls(),
        app.db().connections_opened(),
    );
    for n in 1..4 {
        let (status, _, _) = call(&app, n).await;
        assert_eq!(status, 503);
    }
    assert_eq!(
        (
            app.sessions().assume_role_calls(),
            app.db().connections_opened()
        ),
        (assumed, logins),
        "no STS call or login before the retry is due"
    );

    // The storm passes: served again within the jittered retry (0.5 to 1 s,
    // so within the answer's Retry-After), give or take the polling.
    restore.login(true).await;
    let passed = Instant::now();
    let mut n = 10;
    loop {
        let (status, body, _) = call(&app, n).await;
        if status == 200 {
            break;
        }
        assert_eq!(status, 503, "{body}");
        assert!(
            passed.elapsed() < Duration::from_millis(2000),
            "not served again within the retry"
        );
        n += 1;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // A refusal that persists is the tenant's: 403 access_denied, once it
    // has lasted DB_REFUSED_LOGIN_MEMORY_SECONDS, and not before.
    restore.login(false).await;
    // The warm connection outlives the change: start over with a new app.
    let app = aurora_query::App::new(&config, &env.sdk_config().await).expect("CA bundle");
    let refused_at = Instant::now();
    let mut answers = Vec::new();
    while refused_at.elapsed() < Duration::from_secs(8) {
        let (status, body, _) = call(&app, n).await;
        answers.push((
            refused_at.elapsed(),
            status,
            body["error"].as_str().map(str::to_owned),
        ));
        if status == 403 {
            break;
        }
        n += 1;
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let (at, status, code) = answers.last().cloned().expect("answers");
    assert_eq!(
        (status, code.as_deref()),
        (403, Some("access_denied")),
        "{answers:?}"
    );
    assert!(
        at >= Duration::from_secs(4),
        "403 only once it persisted: {answers:?}"
    );
    assert!(
        answers[..answers.len() - 1]
            .iter()
            .all(|(_, s, _)| *s == 503),
        "{answers:?}"
    );
    restore.login(true).await;
}

/// A container logs in at its own pace (`DB_LOGINS_PER_SECOND`), as after
/// a failover when every tenant's connection is gone: with 5 a second (a
/// tenth of them, at least one, at once), twenty tenants' first requests at
/// once get one login at once and five more spread over the next second
/// (each waiting its turn), and the other fourteen are answered 503
/// `throttled` with `Retry-After` at once, with no login; the ones that
/// waited are served.
#[tokio::test]
async fn a_container_logs_in_at_its_own_pace() {
    let stack = Stack::load();
    let env = stack.with(&[
        ("DB_LOGINS_PER_SECOND", "5"),
        ("DB_CONNECTION_CAPACITY", "50"),
    ]);
    let config = aurora_query::Config::from_lookup(&env.lookup()).expect("config");
    let app = std::sync::Arc::new(
        aurora_query::App::new(&config, &env.sdk_config().await).expect("CA bundle"),
    );
    let tenants: Vec<String> = (31..=50).map(|i| format!("fault{i:03}")).collect();
    // Their sessions first: what is paced here is the logins.
    for tenant in &tenants {
        let caller = tenant_access::Caller::new(tenant.parse().unwrap(), "pace");
        app.sessions().session(&caller).await.expect("a session");
    }
    let started = Instant::now();
    let calls: Vec<_> = tenants
        .iter()
        .map(|tenant| {
            let app = app.clone();
            let event = as_tenant(&event("aurora-query/tenant1-tenant.json"), tenant, "pace");
            tokio::spawn(async move {
                let response = aurora_query::function_handler(&app, request(&event))
                    .await
                    .expect("handlers answer every request");
                (
                    response.status().as_u16(),
                    body_json(&response)["error"].as_str().map(str::to_owned),
                    retry_after(&response),
                )
            })
        })
        .collect();
    let mut served = 0;
    let mut throttled = 0;
    for call in calls {
        match call.await.unwrap() {
            (200, _, _) => served += 1,
            (503, Some(code), Some(retry)) if code == "throttled" && retry == "2" => {
                throttled += 1;
            }
            other => panic!("neither served nor throttled: {other:?}"),
        }
    }
    assert_eq!((served, throttled), (6, 14));
    assert_eq!(app.db().connections_opened(), 6, "no login for the refused");
    assert_eq!(app.db().logins_waited(), 5, "five waited for their turn");
    assert_eq!(app.db().logins_throttled(), 14);
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "the last turn came a second after the first"
    );
}
