//! One tenant's share of the connection budget: a tenant holding
//! `DB_CONNECTIONS_PER_TENANT` connections waits for one of them for its
//! next, while another tenant gets one at once from what is left of
//! `DB_CONNECTION_CAPACITY`.

use std::time::Duration;

use tenant_access::Caller;
use tenant_access::db::TenantDatabase;
use test_support::Stack;
use tokio::time::timeout;

#[tokio::test]
async fn a_tenant_holds_no_more_than_its_share_of_the_connections() {
    let stack = Stack::load();
    let env = stack.with(&[
        ("DB_CONNECTION_CAPACITY", "4"),
        ("DB_CONNECTIONS_PER_TENANT", "2"),
    ]);
    let config = aurora_query::Config::from_lookup(&env.lookup()).expect("config");
    let app = aurora_query::App::new(&config, &env.sdk_config().await).expect("CA bundle");
    let db = std::sync::Arc::new(TenantDatabase::new(&config.service).expect("CA bundle"));
    let session = |tenant: &str| {
        let caller = Caller::new(tenant.parse().unwrap(), "shares");
        let sessions = app.sessions();
        async move { sessions.session(&caller).await.expect("a session") }
    };
    let (busy, other) = (session("tenant1").await, session("tenant2").await);

    // tenant1 takes its share, and holds it.
    let first = db.connection(&busy).await.expect("a connection");
    let second = db.connection(&busy).await.expect("a second one");
    assert_eq!(db.open_connections(), 2);
    // Its next waits, though the budget has room...
    let waiting = {
        let (db, busy) = (db.clone(), busy.clone());
        tokio::spawn(async move { db.connection(&busy).await.map(|_| ()) })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !waiting.is_finished(),
        "a third connection of one tenant waits"
    );
    assert_eq!(db.open_connections(), 2, "and opens nothing meanwhile");
    // ...which another tenant gets at once.
    let theirs = timeout(Duration::from_secs(5), db.connection(&other))
        .await
        .expect("another tenant is not held up")
        .expect("a connection");
    assert_eq!(db.open_connections(), 3);
    // One of tenant1's comes back: its waiting request goes on, on it.
    drop(first);
    timeout(Duration::from_secs(5), waiting)
        .await
        .expect("served once one of its own came back")
        .unwrap()
        .expect("a connection");
    assert_eq!(db.open_connections(), 3, "the returned one was reused");
    drop((second, theirs));
}

/// A login that fails gives its place back at once: with one place in all
/// and a database that takes connections but never answers (each login
/// ends at `DB_CONNECT_TIMEOUT_SECONDS`), a tenant waiting for the place
/// while another tenant's login hangs gets it when that login fails, and is
/// answered in about two login bounds, not left waiting for a connection
/// that will never come back.
#[tokio::test]
async fn a_failed_login_wakes_the_request_waiting_for_its_place() {
    let stack = Stack::load();
    // Takes every connection and never answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
    let port = silent.local_addr().unwrap().port().to_string();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in silent.incoming() {
            held.push(stream);
        }
    });
    let env = stack.with(&[
        ("DB_PORT", &port),
        ("DB_CONNECTION_CAPACITY", "1"),
        ("DB_CONNECT_TIMEOUT_SECONDS", "1"),
    ]);
    let config = aurora_query::Config::from_lookup(&env.lookup()).expect("config");
    let app = aurora_query::App::new(&config, &env.sdk_config().await).expect("CA bundle");
    let db = std::sync::Arc::new(TenantDatabase::new(&config.service).expect("CA bundle"));
    let session = |tenant: &str| {
        let caller = Caller::new(tenant.parse().unwrap(), "place");
        let sessions = app.sessions();
        async move { sessions.session(&caller).await.expect("a session") }
    };
    let (first, second) = (session("tenant1").await, session("tenant2").await);
    let hanging = {
        let (db, first) = (db.clone(), first.clone());
        tokio::spawn(async move { db.connection(&first).await.map(|_| ()) })
    };
    // The first login holds the one place; the second tenant waits for it.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(db.open_connections(), 1);
    let started = std::time::Instant::now();
    let waiting = timeout(Duration::from_secs(5), db.connection(&second))
        .await
        .expect("woken when the first login failed, not left waiting");
    assert!(
        matches!(waiting, Err(tenant_access::Error::Unavailable { .. })),
        "its own login hit the silent database too"
    );
    assert!(started.elapsed() < Duration::from_secs(4));
    assert!(hanging.await.unwrap().is_err(), "the first login failed");
    assert_eq!(db.open_connections(), 0, "both places given back");
}

/// A tenant's pool pushed out of the budget while its connection is in use
/// gives the place back when the connection comes back: with one place and
/// one connection a tenant, tenant1 holds the place and a second request of
/// tenant1 waits for its share; tenant2's request pushes tenant1's pool out
/// and waits for the place. When tenant1's connection comes back it is
/// closed at once, not kept idle in a pool no request for a place can find
/// (where it would hold the place until tenant1's last request ended), and
/// both waiting requests are served.
#[tokio::test]
async fn a_pool_pushed_out_of_the_budget_gives_its_places_back() {
    let stack = Stack::load();
    let env = stack.with(&[
        ("DB_CONNECTION_CAPACITY", "1"),
        ("DB_CONNECTIONS_PER_TENANT", "1"),
    ]);
    let config = aurora_query::Config::from_lookup(&env.lookup()).expect("config");
    let app = aurora_query::App::new(&config, &env.sdk_config().await).expect("CA bundle");
    let db = std::sync::Arc::new(TenantDatabase::new(&config.service).expect("CA bundle"));
    let session = |tenant: &str| {
        let caller = Caller::new(tenant.parse().unwrap(), "pushed-out");
        let sessions = app.sessions();
        async move { sessions.session(&caller).await.expect("a session") }
    };
    let (first_tenant, second_tenant) = (session("tenant1").await, session("tenant2").await);
    let request = |session: &std::sync::Arc<tenant_access::TenantSession>| {
        let (db, session) = (db.clone(), session.clone());
        tokio::spawn(async move { db.connection(&session).await.map(|_| ()) })
    };
    let held = db.connection(&first_tenant).await.expect("a connection");
    // Waits for tenant1's share, holding tenant1's pool.
    let again = request(&first_tenant);
    tokio::time::sleep(Duration::from_millis(200)).await;
    // Pushes tenant1's pool out, and waits for the place.
    let other = request(&second_tenant);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!again.is_finished() && !other.is_finished());
    assert_eq!(db.open_connections(), 1);
    drop(held);
    assert_eq!(
        db.open_connections(),
        0,
        "the pushed-out pool's connection closed as it came back"
    );
    for waiting in [other, again] {
        timeout(Duration::from_secs(5), waiting)
            .await
            .expect("served once the place was free")
            .unwrap()
            .expect("a connection");
    }
}

/// A tenant's share holds across a pushed-out pool: with two places and
/// one connection a tenant, tenant1 holds one while tenant2 and tenant3
/// push its pool out; tenant1's next request gets a new pool, which still
/// counts the connection tenant1 holds, so it waits for it (rather than
/// closing tenant3's idle connection to hold two at once).
#[tokio::test]
async fn a_tenant_s_share_holds_across_a_pushed_out_pool() {
    let stack = Stack::load();
    let env = stack.with(&[
        ("DB_CONNECTION_CAPACITY", "2"),
        ("DB_CONNECTIONS_PER_TENANT", "1"),
    ]);
    let config = aurora_query::Config::from_lookup(&env.lookup()).expect("config");
    let app = aurora_query::App::new(&config, &env.sdk_config().await).expect("CA bundle");
    let db = std::sync::Arc::new(TenantDatabase::new(&config.service).expect("CA bundle"));
    let session = |tenant: &str| {
        let caller = Caller::new(tenant.parse().unwrap(), "share-across");
        let sessions = app.sessions();
        async move { sessions.session(&caller).await.expect("a session") }
    };
    let (one, two, three) = (
        session("tenant1").await,
        session("tenant2").await,
        session("fault001").await,
    );
    let held = db.connection(&one).await.expect("a connection");
    drop(db.connection(&two).await.expect("a connection"));
    // tenant1's pool, the least recently used, is pushed out.
    drop(db.connection(&three).await.expect("a connection"));
    assert_eq!(db.open_connections(), 2);
    let again = {
        let (db, one) = (db.clone(), one.clone());
        tokio::spawn(async move { db.connection(&one).await.map(|_| ()) })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !again.is_finished(),
        "tenant1's second connection waits for its first"
    );
    drop(held);
    timeout(Duration::from_secs(5), again)
        .await
        .expect("served once its first came back")
        .unwrap()
        .expect("a connection");
}
