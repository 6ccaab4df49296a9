//! `/records` against the local stack: each tenant's records are its own,
//! and Postgres itself refuses the writes the API never attempts.

use aurora_query::{
    App, Config, DELETE_RECORD, GET_RECORD, INSERT_RECORD, LIST_RECORDS, function_handler,
};
use lambda_http::{Body, Response};
use serde_json::{Value, json};
use test_support::{Stack, body_json, event, request};

async fn app(stack: &Stack) -> App {
    let config = Config::from_lookup(&stack.lookup()).expect("stack config is valid");
    App::new(&config, &stack.sdk_config().await).expect("CA bundle loads")
}

async fn call(app: &App, event: &Value) -> Response<Body> {
    function_handler(app, request(event))
        .await
        .expect("the handler never fails the invocation")
}

/// A name no other run used.
fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{prefix}-{nanos}")
}

fn create(tenant: &str, body: &Value) -> Value {
    let mut e = event(&format!("aurora-query/{tenant}-create.json"));
    e["body"] = body.to_string().into();
    e
}

fn by_id(tenant: &str, method: &str, id: &str) -> Value {
    let mut e = event(&format!("aurora-query/{tenant}-record.json"));
    e["rawPath"] = format!("/records/{id}").into();
    e["requestContext"]["http"]["method"] = method.into();
    e["pathParameters"] = json!({ "id": id });
    e
}

fn page(tenant: &str, limit: usize, cursor: Option<&str>) -> Value {
    let mut e = event(&format!("aurora-query/{tenant}-records.json"));
    let mut query = json!({ "limit": limit.to_string() });
    let mut raw = format!("limit={limit}");
    if let Some(c) = cursor {
        query["cursor"] = c.into();
        raw.push_str(&format!("&cursor={c}"));
    }
    e["queryStringParameters"] = query;
    e["rawQueryString"] = raw.into();
    e
}

#[tokio::test]
async fn records_are_private_to_their_tenant_end_to_end() {
    let stack = Stack::load();
    let app = app(&stack).await;
    let name = unique("shared-name");

    let created = call(
        &app,
        &create("tenant1", &json!({"name": name, "data": {"n": 1}})),
    )
    .await;
    assert_eq!(created.status(), 201);
    let record = body_json(&created);
    let id = record["id"].as_str().expect("id").to_owned();
    assert_eq!(created.headers()["location"], format!("/records/{id}"));

    // The same name in another tenant is no conflict: uniqueness is per
    // tenant, so a clash can never reveal another tenant's names.
    let theirs = call(&app, &create("tenant2", &json!({"name": name}))).await;
    assert_eq!(theirs.status(), 201, "{}", body_json(&theirs));
    let their_id = body_json(&theirs)["id"].as_str().unwrap().to_owned();
    // The same name twice in one tenant is.
    let again = call(&app, &create("tenant1", &json!({"name": name}))).await;
    assert_eq!(again.status(), 409);
    assert_eq!(body_json(&again)["error"], "conflict");

    // tenant2 cannot see or delete tenant1's record: answered like a missing one.
    for method in ["GET", "DELETE"] {
        let response = call(&app, &by_id("tenant2", method, &id)).await;
        assert_eq!(response.status(), 404, "{method}");
        assert_eq!(body_json(&response)["error"], "not_found");
    }
    let own = call(&app, &by_id("tenant1", "GET", &id)).await;
    assert_eq!(own.status(), 200);
    assert_eq!(body_json(&own)["data"], json!({"n": 1}));

    // Behind RLS, each row carries the DB user that wrote it.
    let admin = stack.admin_db().await;
    let owners = admin
        .query(
            "SELECT id::text, tenant_id FROM records WHERE name = $1 ORDER BY tenant_id",
            &[&name],
        )
        .await
        .unwrap();
    let owners: Vec<(String, String)> = owners.iter().map(|r| (r.get(0), r.get(1))).collect();
    assert_eq!(
        owners,
        vec![
            (id.clone(), "tenant1_dbuser".to_owned()),
            (their_id.clone(), "tenant2_dbuser".to_owned())
        ]
    );

    let deleted = call(&app, &by_id("tenant1", "DELETE", &id)).await;
    assert_eq!(deleted.status(), 204);
    assert_eq!(
        call(&app, &by_id("tenant1", "GET", &id)).await.status(),
        404
    );
    assert_eq!(
        call(&app, &by_id("tenant2", "GET", &their_id))
            .await
            .status(),
        200,
        "tenant2's record of the same name is untouched"
    );
    assert_eq!(
        call(&app, &by_id("tenant2", "DELETE", &their_id))
            .await
            .status(),
        204
    );
}

#[tokio::test]
async fn pages_walk_every_record_once_in_creation_order() {
    let stack = Stack::load();
    let app = app(&stack).await;
    let batch = unique("page");
    let mut mine = Vec::new();
    for i in 0..5 {
        let response = call(
            &app,
            &create("tenant1", &json!({"name": format!("{batch}-{i}")})),
        )
        .await;
        assert_eq!(response.status(), 201);
        mine.push(body_json(&response)["id"].as_str().unwrap().to_owned());
    }
    let mut seen: Vec<String> = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let response = call(&app, &page("tenant1", 2, cursor.as_deref())).await;
        assert_eq!(response.status(), 200);
        let body = body_json(&response);
        let records = body["records"].as_array().unwrap();
        assert!(records.len() <= 2);
        seen.extend(records.iter().map(|r| r["id"].as_str().unwrap().to_owned()));
        pages += 1;
        match body["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
        assert!(pages < 1000, "pagination does not end");
    }
    let unique_seen: std::collections::BTreeSet<&String> = seen.iter().collect();
    assert_eq!(unique_seen.len(), seen.len(), "no record on two pages");
    let positions: Vec<usize> = mine
        .iter()
        .map(|id| {
            seen.iter()
                .position(|s| s == id)
                .expect("every record listed")
        })
        .collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "creation order");

    let admin = stack.admin_db().await;
    let tenant2_ids = admin
        .query(
            "SELECT id::text FROM records WHERE tenant_id = 'tenant2_dbuser'",
            &[],
        )
        .await
        .unwrap();
    assert!(!tenant2_ids.is_empty(), "tenant2 has records to leak");
    for row in tenant2_ids {
        let id: String = row.get(0);
        assert!(!seen.contains(&id), "tenant1's pages hold tenant2's {id}");
    }
    for id in mine {
        assert_eq!(
            call(&app, &by_id("tenant1", "DELETE", &id)).await.status(),
            204
        );
    }
}

/// On tenant1's own connection, Postgres refuses what the API never asks:
/// a record for tenant2, tenant2's rows, an update.
#[tokio::test]
async fn postgres_refuses_records_for_another_tenant() {
    let stack = Stack::load();
    let conn = stack.tenant_login("tenant1").await;

    let forged = conn
        .execute(
            "INSERT INTO records (tenant_id, name) VALUES ('tenant2_dbuser', $1)",
            &[&unique("forged")],
        )
        .await
        .unwrap_err();
    let message = forged
        .as_db_error()
        .map(|e| e.message().to_owned())
        .unwrap_or_default();
    assert!(message.contains("row-level security"), "{forged:?}");

    let deleted = conn
        .execute(
            "DELETE FROM records WHERE tenant_id = 'tenant2_dbuser'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(deleted, 0, "tenant2's records are invisible to DELETE");
    let seen = conn
        .query("SELECT 1 FROM records WHERE tenant_id <> current_user", &[])
        .await
        .unwrap();
    assert!(seen.is_empty());
    let update = conn
        .execute("UPDATE records SET name = name", &[])
        .await
        .unwrap_err();
    assert_eq!(
        update.code(),
        Some(&tokio_postgres::error::SqlState::INSUFFICIENT_PRIVILEGE),
        "no UPDATE privilege: the API never updates"
    );
    let admin = stack.admin_db().await;
    let theirs: i64 = admin
        .query_one(
            "SELECT count(*) FROM records WHERE id = '22222222-2222-4222-8222-222222222221'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(theirs, 1, "tenant2's seeded record is still there");
}

/// No statement names the tenant, every statement but the insert (whose
/// policy check does the same) asks the suspension guard first, and every value arrives as a bound
/// parameter: the only literals are fixed formatting constants.
#[test]
fn statements_never_name_the_tenant_and_bind_every_value() {
    let constants = [
        "epoch",
        "UTC",
        "1 microsecond",
        "YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"",
    ];
    for statement in [LIST_RECORDS, GET_RECORD, INSERT_RECORD, DELETE_RECORD] {
        // The suspension guard takes no argument: it checks current_user.
        let unguarded = statement.replace("tenant_is_active() AND ", "");
        assert!(!unguarded.contains("tenant"), "{statement}");
        let literals: Vec<&str> = statement.split('\'').skip(1).step_by(2).collect();
        for literal in literals {
            assert!(
                constants.contains(&literal),
                "literal {literal:?} in {statement}"
            );
        }
        assert!(statement.contains("$1"), "{statement}");
    }
    for statement in [LIST_RECORDS, GET_RECORD, DELETE_RECORD] {
        assert!(statement.contains("tenant_is_active() AND "), "{statement}");
    }
}
