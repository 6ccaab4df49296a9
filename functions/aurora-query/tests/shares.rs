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
