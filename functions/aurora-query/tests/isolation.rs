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
            assert_eq!(rows[0]["db_user"], format!("{tenant}_dbuser"));
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
    // row_security = off may be set, but for a login that cannot bypass
    // RLS every query a policy would filter is then an error, not rows.
    conn.execute("SET row_security = off", &[])
        .await
        .expect("any login may ask");
    let still = conn
        .query(
            "SELECT 1 FROM tenant_metadata WHERE tenant_id = 'tenant2_dbuser'",
            &[],
        )
        .await
        .expect_err("row_security=off reveals no rows");
    assert!(
        still
            .as_db_error()
            .is_some_and(|e| e.message().contains("row-level security")),
        "{still:?}"
    );
    conn.execute("RESET row_security", &[]).await.unwrap();

    // Writes: a record inserted as tenant2 is refused by the policy's WITH
    // CHECK; tenant2's records cannot be deleted (none is visible) and its
    // metadata cannot be changed at all (no privilege).
    let admin = stack.admin_db().await;
    let count_theirs = || async {
        let row = admin
            .query_one(
                "SELECT count(*) FROM records WHERE tenant_id = 'tenant2_dbuser'",
                &[],
            )
            .await
            .unwrap();
        row.get::<_, i64>(0)
    };
    let theirs_before = count_theirs().await;
    assert!(theirs_before > 0, "tenant2 has records to protect");
    let insert = conn
        .execute(
            "INSERT INTO records (tenant_id, name) VALUES ('tenant2_dbuser', 'planted')",
            &[],
        )
        .await
        .expect_err("a row for tenant2 is refused");
    assert!(
        insert
            .as_db_error()
            .is_some_and(|e| e.message().contains("row-level security")),
        "{insert:?}"
    );
    let deleted = conn
        .execute(
            "DELETE FROM records WHERE tenant_id = 'tenant2_dbuser'",
            &[],
        )
        .await
        .expect("a DELETE runs, over the rows tenant1 can see");
    assert_eq!(deleted, 0, "no row of tenant2's is deleted");
    let update = conn
        .execute(
            "UPDATE tenant_metadata SET tier = 'gold' WHERE tenant_id = 'tenant2_dbuser'",
            &[],
        )
        .await
        .expect_err("no UPDATE on tenant_metadata");
    assert!(
        update
            .as_db_error()
            .is_some_and(|e| e.message().contains("permission denied")),
        "{update:?}"
    );
    assert_eq!(
        count_theirs().await,
        theirs_before,
        "tenant2's records untouched"
    );

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

/// db/tenant.sql gives a tenant login the server-side `statement_timeout`
/// it is given (`-v statement_timeout_ms`, which the xtask sets from the
/// functions' `DB_STATEMENT_TIMEOUT_MS`), else the functions' default of
/// 5000 ms. Applied to a probe role inside a transaction that is rolled
/// back: no other test ever sees the role.
#[test]
fn onboarding_sets_the_statement_timeout_it_is_given() {
    let stack = Stack::load();
    let user = format!("timeout_probe_{}_dbuser", std::process::id());
    let onboarded_config = |timeout_ms: Option<&str>| {
        let psql = std::path::Path::new(&stack.var("STACK_PG_CTL")).with_file_name("psql");
        let mut cmd = std::process::Command::new(psql);
        cmd.env("PGPASSWORD", stack.var("STACK_DB_ADMIN_PASSWORD"))
            .arg(format!(
                "host={} port={} dbname={} user={} sslmode=verify-full sslrootcert={}",
                stack.var("DB_HOST"),
                stack.var("DB_PORT"),
                stack.var("DB_NAME"),
                stack.var("STACK_DB_ADMIN_USER"),
                stack.var("DB_CA_BUNDLE"),
            ))
            .args(["-X", "-q", "-tA", "-v", "ON_ERROR_STOP=1"])
            .arg("-v")
            .arg(format!("tenant_user={user}"))
            .arg("-v")
            .arg(format!("dbname={}", stack.var("DB_NAME")));
        if let Some(ms) = timeout_ms {
            cmd.arg("-v").arg(format!("statement_timeout_ms={ms}"));
        }
        cmd.args(["-c", "BEGIN", "-f"])
            .arg(test_support::root().join("db/tenant.sql"))
            .arg("-c")
            .arg(format!(
                "SELECT array_to_string(rolconfig, ',') FROM pg_roles WHERE rolname = '{user}'"
            ))
            .args(["-c", "ROLLBACK"]);
        let out = cmd.output().expect("psql runs");
        assert!(
            out.status.success(),
            "db/tenant.sql: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout)
            .expect("UTF-8")
            .trim()
            .to_owned()
    };
    let given = onboarded_config(Some("1234"));
    assert!(
        given.split(',').any(|s| s == "statement_timeout=1234"),
        "{given}"
    );
    let default = onboarded_config(None);
    assert!(
        default.split(',').any(|s| s == "statement_timeout=5000"),
        "{default}"
    );
    assert!(
        default
            .split(',')
            .any(|s| s == "idle_in_transaction_session_timeout=10s"),
        "{default}"
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
    // Until the backend is gone, polled under a deadline.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let alive: i64 = admin
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE pid = $1",
                &[&pid],
            )
            .await
            .unwrap()
            .get(0);
        if alive == 0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "backend {pid} still alive"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
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

/// A TCP relay on 127.0.0.2 to the stack's PostgreSQL: loopback, but an
/// address the server certificate does not name (it names `localhost` and
/// 127.0.0.1 only; xtask/src/postgres.rs). Returns the relay's port and a
/// count of the connections it relayed.
async fn relay_from_an_unnamed_address(
    stack: &Stack,
) -> (u16, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let listener = tokio::net::TcpListener::bind("127.0.0.2:0")
        .await
        .expect("127.0.0.2 is loopback on Linux");
    let port = listener.local_addr().expect("bound").port();
    let upstream = format!("127.0.0.1:{}", stack.var("DB_PORT"));
    let relayed = std::sync::Arc::new(AtomicUsize::new(0));
    let count = relayed.clone();
    tokio::spawn(async move {
        while let Ok((mut inbound, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            let upstream = upstream.clone();
            tokio::spawn(async move {
                if let Ok(mut outbound) = tokio::net::TcpStream::connect(&upstream).await {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                }
            });
        }
    });
    (port, relayed)
}

/// Every message of `err` and of its sources, for asserting why it failed.
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(inner) = source {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        source = inner.source();
    }
    text
}

/// The server certificate must also name the host connected to: with the
/// right CA but a host the certificate does not carry, the login fails at
/// the TLS handshake (503 `upstream_unavailable`, no rows), before any
/// password or token is sent; the same connection under a name the
/// certificate carries gets through.
#[tokio::test]
async fn a_server_certificate_for_another_host_name_is_refused() {
    let stack = Stack::load();
    let (port, relayed) = relay_from_an_unnamed_address(&stack).await;
    let port_text = port.to_string();

    // The function, with DB_HOST an address the certificate does not name.
    // Were the name not checked, the login would reach authentication and
    // be refused there (403 `access_denied`: the token is signed for this
    // host), not at the handshake.
    let unnamed = stack.with(&[("DB_HOST", "127.0.0.2"), ("DB_PORT", &port_text)]);
    let app = app_with(&unnamed).await;
    let response = call(&app, &event("aurora-query/tenant1-tenant.json")).await;
    let status = response.status().as_u16();
    let body = body_json(&response);
    assert_eq!(
        (status, body["error"].as_str()),
        (503, Some("upstream_unavailable")),
        "{body}"
    );
    assert!(body.get("tenant").is_none(), "no rows: {body}");
    assert!(
        relayed.load(std::sync::atomic::Ordering::SeqCst) >= 1,
        "the login reached the server"
    );

    // Why, with the functions' own TLS configuration and the admin login:
    // the certificate is refused for the name; through the same relay
    // under the name `localhost`, which it carries, the login succeeds.
    let tls = tenant_access::db::tls_config(stack.var("DB_CA_BUNDLE").as_ref()).expect("stack CA");
    let login = |name: &'static str| {
        let mut config = tokio_postgres::Config::new();
        config
            .host(name)
            .hostaddr(std::net::Ipv4Addr::new(127, 0, 0, 2).into())
            .port(port)
            .dbname(stack.var("DB_NAME"))
            .user(stack.var("STACK_DB_ADMIN_USER"))
            .password(stack.var("STACK_DB_ADMIN_PASSWORD"))
            .ssl_mode(tokio_postgres::config::SslMode::Require);
        let tls = tokio_postgres_rustls::MakeRustlsConnect::new(tls.clone());
        async move {
            let (client, connection) = config.connect(tls).await?;
            tokio::spawn(connection);
            client.query_one("SELECT 1", &[]).await
        }
    };
    let err = login("127.0.0.2")
        .await
        .expect_err("a certificate that does not name 127.0.0.2 is refused");
    let why = error_chain(&err);
    assert!(why.contains("not valid for name"), "{why}");
    let row = login("localhost")
        .await
        .expect("the same server, under a name its certificate carries");
    assert_eq!(row.get::<_, i32>(0), 1);
}
