//! Suspension is enforced by the database: once an operator sets a tenant's
//! `tenant_metadata.status` to anything but `active`, the records policy
//! refuses the tenant's next statement (list, get, create or delete) on the
//! connection it already holds,
//! and the function answers 403 `tenant_suspended`. Reactivating serves it
//! again, with no restart and no wait for the connection's max age.
//!
//! A test binary of its own (cargo runs binaries one after another), so no
//! other test sees tenant2 suspended.

use aurora_query::{App, Config, function_handler};
use serde_json::{Value, json};
use test_support::{Stack, body_json, event, request};

/// The status and the JSON body (`null` for none, as a 204 has).
async fn call(app: &App, event: &Value) -> (u16, Value) {
    let response = function_handler(app, request(event))
        .await
        .expect("the handler never fails the invocation");
    let body = match response.body() {
        lambda_http::Body::Empty => Value::Null,
        _ => body_json(&response),
    };
    (response.status().as_u16(), body)
}

fn create(name: &str) -> Value {
    let mut e = event("aurora-query/tenant2-create.json");
    e["body"] = json!({ "name": name }).to_string().into();
    e
}

/// tenant2's `DELETE /records/{id}`.
fn delete(id: &str) -> Value {
    let mut e = event("aurora-query/tenant2-delete.json");
    e["pathParameters"]["id"] = id.into();
    e["rawPath"] = format!("/records/{id}").into();
    e["requestContext"]["http"]["path"] = format!("/records/{id}").into();
    e
}

/// Whether the admin (behind row-level security) sees record `id`.
async fn record_exists(admin: &tokio_postgres::Client, id: &str) -> bool {
    admin
        .query_one(
            "SELECT count(*) FROM records WHERE id = $1::text::uuid",
            &[&id],
        )
        .await
        .expect("admin counts")
        .get::<_, i64>(0)
        == 1
}

async fn set_status(admin: &tokio_postgres::Client, status: &str) {
    let changed = admin
        .execute(
            "UPDATE tenant_metadata SET status = $1 WHERE tenant_id = 'tenant2_dbuser'",
            &[&status],
        )
        .await
        .expect("admin updates the status");
    assert_eq!(changed, 1, "tenant2 has a metadata row");
}

#[tokio::test]
async fn suspend_refuses_on_the_next_statement_and_reactivate_serves_again() {
    let stack = Stack::load();
    let admin = stack.admin_db().await;
    // The body runs as its own task so that tenant2 is reactivated even if
    // an assertion fails half-way.
    let body = tokio::spawn(async move {
        let stack = Stack::load();
        let config = Config::from_lookup(&stack.lookup()).expect("stack config is valid");
        let app = App::new(&config, &stack.sdk_config().await).expect("CA bundle loads");
        let admin = stack.admin_db().await;
        let records = event("aurora-query/tenant2-records.json");
        let record = event("aurora-query/tenant2-record.json");
        let metadata = event("aurora-query/tenant2-tenant.json");

        // Active: served, and the connection is now pooled.
        let (status, _) = call(&app, &records).await;
        assert_eq!(status, 200);
        // A record of tenant2's own, which it may delete while active.
        let name = format!(
            "doomed-{}",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        );
        let (status, body) = call(&app, &create(&name)).await;
        assert_eq!(status, 201, "{body}");
        let doomed = body["id"].as_str().expect("the new record's id").to_owned();
        let opened = app.db().connections_opened();

        for not_active in ["suspended", "disabled"] {
            set_status(&admin, not_active).await;
            for (what, e) in [
                ("list", &records),
                ("get", &record),
                ("create", &create(&format!("while-{not_active}"))),
                ("delete", &delete(&doomed)),
            ] {
                let (status, body) = call(&app, e).await;
                assert_eq!(
                    (status, body["error"].as_str()),
                    (403, Some("tenant_suspended")),
                    "{what} while {not_active}: {body}"
                );
                // The fixed message, never the database's own text.
                assert_eq!(body["message"], "this tenant is suspended", "{body}");
            }
            assert!(
                record_exists(&admin, &doomed).await,
                "the delete while {not_active} removed nothing"
            );
            // The tenant can still read its own status.
            let (status, body) = call(&app, &metadata).await;
            assert_eq!(status, 200, "{body}");
            assert_eq!(body["tenant"][0]["status"], not_active, "{body}");
        }

        // Nothing was written while suspended.
        let written = admin
            .query_one(
                "SELECT count(*) FROM records WHERE tenant_id = 'tenant2_dbuser' AND name LIKE 'while-%'",
                &[],
            )
            .await
            .expect("admin counts")
            .get::<_, i64>(0);
        assert_eq!(written, 0);

        // A login with no metadata row at all is not onboarded.
        admin
            .execute(
                "DELETE FROM tenant_metadata WHERE tenant_id = 'tenant2_dbuser'",
                &[],
            )
            .await
            .expect("admin deletes the row");
        let (status, body) = call(&app, &records).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (403, Some("tenant_not_onboarded")),
            "{body}"
        );
        admin
            .execute(
                "INSERT INTO tenant_metadata (tenant_id, email, status, tier) \
                 VALUES ('tenant2_dbuser', 'tenant2@example.com', 'active', 'silver')",
                &[],
            )
            .await
            .expect("admin restores the row");

        // Reactivated: served at once, on the same pooled connection.
        let (status, body) = call(&app, &records).await;
        assert_eq!(status, 200, "{body}");
        let (status, body) = call(&app, &record).await;
        assert_eq!(status, 200, "{body}");
        // The delete refused while suspended is served once active.
        let (status, body) = call(&app, &delete(&doomed)).await;
        assert_eq!(status, 204, "{body}");
        assert!(!record_exists(&admin, &doomed).await, "deleted once active");
        assert_eq!(
            app.db().connections_opened(),
            opened,
            "suspension and reactivation needed no new connection"
        );
    })
    .await;
    admin
        .execute(
            "INSERT INTO tenant_metadata (tenant_id, email, status, tier) \
             VALUES ('tenant2_dbuser', 'tenant2@example.com', 'active', 'silver') \
             ON CONFLICT (tenant_id) DO UPDATE SET status = 'active'",
            &[],
        )
        .await
        .expect("admin reactivates tenant2");
    if let Err(panic) = body {
        std::panic::resume_unwind(panic.into_panic());
    }
}

#[tokio::test]
async fn the_guard_is_the_database_s_not_the_function_s() {
    // A tenant login that skips the function's SQL entirely, with a
    // statement of its own and no call to the guard, is still refused.
    let stack = Stack::load();
    let admin = stack.admin_db().await;
    let login = stack.tenant_login("tenant1").await;
    let before: i64 = login
        .query_one("SELECT count(*) FROM records", &[])
        .await
        .expect("an active tenant reads its records")
        .get(0);
    assert!(before > 0, "tenant1 has seeded records");
    admin
        .execute(
            "UPDATE tenant_metadata SET status = 'suspended' WHERE tenant_id = 'tenant1_dbuser'",
            &[],
        )
        .await
        .expect("admin suspends tenant1");
    let read = login.query("SELECT name FROM records", &[]).await.map(drop);
    let write = login
        .query(
            "INSERT INTO records (name) VALUES ('raw-while-suspended')",
            &[],
        )
        .await
        .map(drop);
    // A DELETE with no WHERE reads no column, so only the policy's DELETE
    // side applies (not its SELECT side): all of tenant1's records, in a
    // transaction rolled back whatever happens.
    let delete = async {
        login.batch_execute("BEGIN").await?;
        let deleted = login.execute("DELETE FROM records", &[]).await.map(drop);
        login.batch_execute("ROLLBACK").await?;
        deleted
    }
    .await;
    admin
        .execute(
            "UPDATE tenant_metadata SET status = 'active' WHERE tenant_id = 'tenant1_dbuser'",
            &[],
        )
        .await
        .expect("admin reactivates tenant1");
    for (what, result) in [("read", read), ("write", write), ("delete", delete)] {
        let err = result.expect_err(what);
        assert_eq!(
            err.code().map(|c| c.code()),
            Some(tenant_access::db::TENANT_NOT_ACTIVE),
            "{what}: {err}"
        );
    }
    assert!(
        record_exists(&admin, "11111111-1111-4111-8111-111111111111").await,
        "tenant1's seeded record is still there"
    );
}
