//! aurora-query against the local stack (real PostgreSQL with TLS and RLS,
//! real moto with IAM enforced). Run with `cargo xtask test`.

use aurora_query::{App, Config, TENANT_METADATA_QUERY, function_handler};
use test_support::{Stack, body_json, event, request};

async fn app_with(stack: &Stack) -> App {
    let config = Config::from_lookup(&stack.lookup()).expect("stack config is valid");
    App::new(&config, &stack.sdk_config().await).expect("CA bundle loads")
}

async fn call(app: &App, event: &serde_json::Value) -> lambda_http::Response<lambda_http::Body> {
    function_handler(app, request(event))
        .await
        .expect("the handler never fails the invocation")
}

#[tokio::test]
async fn each_tenant_sees_only_its_own_row_though_the_query_has_no_where() {
    assert!(!TENANT_METADATA_QUERY.to_lowercase().contains("where"));
    let stack = Stack::load();
    let app = app_with(&stack).await;
    for (tenant, tier) in [("tenant1", "gold"), ("tenant2", "silver")] {
        for fixture in [
            format!("aurora-query/{tenant}-tenant.json"),
            format!("aurora-query/{tenant}-tenant-v1.json"),
        ] {
            let response = call(&app, &event(&fixture)).await;
            assert_eq!(response.status(), 200, "{fixture}");
            let body = body_json(&response);
            let rows = body["tenant"].as_array().expect("rows");
            assert_eq!(rows.len(), 1, "{fixture}: {body}");
            assert_eq!(rows[0]["tenant_id"], format!("{tenant}_dbuser"));
            assert_eq!(rows[0]["tier"], tier);
        }
    }
}

/// The filtering is RLS's doing: behind it, the table holds both tenants.
#[tokio::test]
async fn the_table_holds_both_tenants_behind_rls() {
    let stack = Stack::load();
    let admin = stack.admin_db().await;
    let rows = admin
        .query("SELECT tenant_id FROM tenant_metadata WHERE tenant_id IN ('tenant1_dbuser', 'tenant2_dbuser')", &[])
        .await
        .unwrap();
    assert_eq!(rows.len(), 2);
    let flags = admin
        .query_one("SELECT relrowsecurity, relforcerowsecurity FROM pg_class WHERE relname = 'tenant_metadata'", &[])
        .await
        .unwrap();
    assert!(
        flags.get::<_, bool>(0) && flags.get::<_, bool>(1),
        "RLS enabled and forced"
    );
    let roles = admin
        .query(
            "SELECT rolname FROM pg_roles WHERE rolname LIKE 'tenant%_dbuser' AND (rolsuper OR rolbypassrls OR rolcreaterole OR rolcreatedb)",
            &[],
        )
        .await
        .unwrap();
    assert!(
        roles.is_empty(),
        "tenant roles hold no privileged attributes"
    );
}

/// Reads through tenant1's own session: Postgres shows nothing of tenant2's
/// row, whatever the statement asks for. (Writes to `tenant_metadata` are
/// refused by privilege, below; RLS on writes is tested on `records`.)
#[tokio::test]
async fn rls_refuses_cross_tenant_reads_and_writes_on_the_tenant_connection() {
    let stack = Stack::load();
    let conn = stack.tenant_login("tenant1").await;

    let who: String = conn
        .query_one("SELECT current_user::text", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(who, "tenant1_dbuser");
    let seen = conn
        .query(
            "SELECT 1 FROM tenant_metadata WHERE tenant_id = 'tenant2_dbuser'",
            &[],
        )
        .await
        .unwrap();
    assert!(seen.is_empty(), "a WHERE naming tenant2 still sees nothing");
    let bypass = conn.execute("SET row_security = off", &[]).await;
    let still = conn
        .query(
            "SELECT 1 FROM tenant_metadata WHERE tenant_id = 'tenant2_dbuser'",
            &[],
        )
        .await;
    assert!(
        bypass.is_err() || still.is_err() || still.unwrap().is_empty(),
        "row_security=off does not reveal rows"
    );

    let admin = stack.admin_db().await;
    let tier: String = admin
        .query_one(
            "SELECT tier FROM tenant_metadata WHERE tenant_id = 'tenant2_dbuser'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(tier, "silver", "tenant2's row is untouched");
}

/// A tenant login holds exactly what the routes need: SELECT on
/// `tenant_metadata`; SELECT, INSERT and DELETE on `records`. Everything
/// else, on its own rows too, is refused by privilege (42501) before
/// row-level security is even asked.
#[tokio::test]
async fn tenant_logins_hold_only_the_privileges_the_routes_need() {
    let stack = Stack::load();
    let conn = stack.tenant_login("tenant1").await;
    for allowed in [
        "SELECT tier FROM tenant_metadata",
        "SELECT id FROM records",
        "DELETE FROM records WHERE false",
    ] {
        conn.execute(allowed, &[])
            .await
            .unwrap_or_else(|e| panic!("{allowed}: {e}"));
    }
    for forbidden in [
        "UPDATE tenant_metadata SET tier = 'gold' WHERE tenant_id = 'tenant1_dbuser'",
        "UPDATE tenant_metadata SET status = NULL WHERE tenant_id = 'tenant1_dbuser'",
        "DELETE FROM tenant_metadata WHERE tenant_id = 'tenant1_dbuser'",
        "INSERT INTO tenant_metadata (tenant_id, status, tier) VALUES ('tenant1_dbuser', 'active', 'gold')",
        "TRUNCATE tenant_metadata",
        "UPDATE records SET name = 'renamed' WHERE tenant_id = 'tenant1_dbuser'",
        "TRUNCATE records",
        "CREATE TABLE tenant1_scratch (x int)",
    ] {
        let err = conn.execute(forbidden, &[]).await.unwrap_err();
        assert_eq!(
            err.code(),
            Some(&tokio_postgres::error::SqlState::INSUFFICIENT_PRIVILEGE),
            "{forbidden}: {err}"
        );
    }
    let admin = stack.admin_db().await;
    let row = admin
        .query_one(
            "SELECT status, tier FROM tenant_metadata WHERE tenant_id = 'tenant1_dbuser'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(
        (row.get::<_, String>(0), row.get::<_, String>(1)),
        ("active".to_owned(), "gold".to_owned()),
        "tenant1's own row is untouched"
    );
}

#[tokio::test]
async fn requests_without_a_verified_tenant_are_refused_before_any_aws_or_db_call() {
    let stack = Stack::load();
    let app = app_with(&stack).await;
    let cases = [
        ("aurora-query/no-authorizer.json", 401, "unauthenticated"),
        ("aurora-query/bad-tenant.json", 403, "invalid_tenant"),
        // A tenant in a header does not stand in for the missing claim.
        (
            "aurora-query/claim-missing.json",
            403,
            "tenant_claim_missing",
        ),
    ];
    for (fixture, status, code) in cases {
        let response = call(&app, &event(fixture)).await;
        assert_eq!(response.status(), status, "{fixture}");
        let body = body_json(&response);
        assert_eq!(body["error"], code, "{fixture}");
        assert!(!body.to_string().contains("tenant2"), "{fixture}: {body}");
    }
    assert_eq!(app.sessions().assume_role_calls(), 0);
    assert_eq!(app.db().connections_opened(), 0);
    assert_eq!(app.db().tokens_generated(), 0);
}

#[tokio::test]
async fn connections_are_kept_per_tenant_and_reopened_when_closed() {
    let stack = Stack::load();
    let app = app_with(&stack).await;
    let fixture = event("aurora-query/tenant2-tenant.json");
    for _ in 0..5 {
        assert_eq!(call(&app, &fixture).await.status(), 200);
    }
    assert_eq!(app.db().connections_opened(), 1);
    assert_eq!(app.db().tokens_generated(), 1);
    assert_eq!(app.sessions().assume_role_calls(), 1);

    // The server drops the connection (failover, idle timeout, restart):
    // this app's connection only, not those of tests running beside it.
    let caller = tenant_access::Caller::new("tenant2".parse().unwrap(), "terminate");
    let session = app.sessions().session(&caller).await.unwrap();
    let pid: i32 = {
        let conn = app.db().connection(&session).await.unwrap();
        conn.query_one("SELECT pg_backend_pid()", &[])
            .await
            .unwrap()
            .get(0)
    };
    let admin = stack.admin_db().await;
    admin
        .execute("SELECT pg_terminate_backend($1)", &[&pid])
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let response = call(&app, &fixture).await;
    assert_eq!(response.status(), 200, "{}", body_json(&response));
    assert_eq!(app.db().connections_opened(), 2, "reopened once");
    assert_eq!(app.db().tokens_generated(), 2, "with a fresh token");
}

/// The server certificate must chain to DB_CA_BUNDLE: with another CA the
/// connection fails (503) rather than falling back to anything weaker.
#[tokio::test]
async fn a_server_not_signed_by_the_bundle_ca_is_refused() {
    let stack = Stack::load();
    let other_ca =
        test_support::root().join("shared/tenant-access/tests/fixtures/unrelated-ca.pem");
    let other = stack.with(&[("DB_CA_BUNDLE", other_ca.to_str().unwrap())]);
    let app = app_with(&other).await;
    let response = call(&app, &event("aurora-query/tenant1-tenant.json")).await;
    assert_eq!(response.status(), 503);
    assert_eq!(body_json(&response)["error"], "upstream_unavailable");
}
