//! Offboarding on the local stack under each of the five strategies,
//! through the same commands an operator runs: `cargo xtask tenant add ID
//! --local`, use it through every function, capture its raw credentials,
//! `cargo xtask tenant remove ID --local`, and every one of them is refused
//! at each layer:
//!
//! - the functions (warm, their caches full) answer 403 once the tenant's
//!   cached state is past its life (1 s here, 30 s by default);
//! - the function's cached sessions (identity-pool credentials under
//!   `identity-pool`) are refused by S3 and DynamoDB in direct SDK calls:
//!   under role-per-tenant its role is gone, under the others the roles
//!   tenants share deny its sessions (OffboardedTenantsDeny);
//! - presigned GET and PUT URLs handed out before are refused;
//! - its key is disabled and pending deletion, so nothing of its objects
//!   can be decrypted again;
//! - a new database login is refused, and its login is dropped;
//! - its user can no longer sign in;
//! - `tenant add` of the same id is refused: ids are never reused.
//!
//! Each layer is checked on its own, so removing any one revocation fails
//! the test. The database side of both commands goes through db-admin's
//! built binary, as `--aws` goes through the deployed function. Run with
//! `cargo xtask test`, which starts the stack.

use std::process::Command;
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_s3::error::ProvideErrorMetadata;
use serde_json::{Value, json};
use tenant_access::config::{DbConfig, FunctionConfig};
use tenant_access::db::TenantDatabase;
use tenant_access::s3::{ObjectKey, TenantBucket, WriteCondition};
use tenant_access::session_policy::SessionScope;
use tenant_access::{Caller, Error, TenantSessions};
use test_support::{Stack, body_json, event, http_get, http_with, request};

/// One offboarding at a time: each rewrites the stack's IAM registry.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A new id per run and strategy: an offboarded id is never onboarded
/// again, and the stack's database outlives a run.
fn fresh_tenant(suffix: &str) -> String {
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("a clock after 1970")
        .as_secs();
    format!("offb{stamp}{suffix}")
}

/// Run the xtask; its progress lines.
fn xtask(args: &[&str]) -> String {
    let (ok, stderr) = try_xtask(args);
    assert!(ok, "xtask {args:?}: {stderr}");
    stderr
}

/// Run the xtask: whether it succeeded, and its progress lines.
fn try_xtask(args: &[&str]) -> (bool, String) {
    // db-admin as `cargo test` built it (no nested cargo build).
    let xtask = std::path::Path::new(env!("CARGO_BIN_EXE_xtask"));
    let out = Command::new(xtask)
        .env("XTASK_DB_ADMIN_BIN", xtask.with_file_name("db-admin"))
        .args(args)
        .output()
        .expect("xtask runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The tenant's `tenant_metadata` status and how many logins it has.
async fn row_and_login(stack: &Stack, tenant: &str) -> (String, i64) {
    let row = stack
        .admin_db()
        .await
        .query_one(
            "SELECT m.status, (SELECT count(*) FROM pg_roles WHERE rolname = m.tenant_id) \
             FROM tenant_metadata m WHERE m.tenant_id = $1",
            &[&format!("{tenant}_dbuser")],
        )
        .await
        .unwrap();
    (row.get(0), row.get(1))
}

/// The API Gateway event of fixture `name` as `tenant`'s request, with
/// `token` as its bearer token (identity-pool exchanges it).
fn api_event(name: &str, tenant: &str, token: Option<&str>) -> lambda_http::Request {
    let mut e = test_support::as_tenant(&event(name), tenant, "offboarding-api");
    if let Some(token) = token {
        e["headers"]["authorization"] = json!(format!("Bearer {token}"));
    }
    request(&e)
}

/// What the three functions answer `tenant`: (status, error code).
async fn api_answers(
    files: &s3_fetch::App,
    items: &dynamodb_items::App,
    records: &aurora_query::App,
    tenant: &str,
    token: Option<&str>,
) -> Vec<(&'static str, u16, Value)> {
    let answer = |r: lambda_http::Response<lambda_http::Body>| {
        let status = r.status().as_u16();
        let code = if status >= 400 {
            body_json(&r)["error"].clone()
        } else {
            Value::Null
        };
        (status, code)
    };
    let file =
        s3_fetch::function_handler(files, api_event("s3-fetch/tenant1-get.json", tenant, token))
            .await
            .unwrap();
    let item = dynamodb_items::function_handler(
        items,
        api_event("dynamodb-items/tenant1-item.json", tenant, token),
    )
    .await
    .unwrap();
    let list = aurora_query::function_handler(
        records,
        api_event("aurora-query/tenant1-records.json", tenant, token),
    )
    .await
    .unwrap();
    let (f, i, l) = (answer(file), answer(item), answer(list));
    vec![
        ("s3-fetch", f.0, f.1),
        ("dynamodb-items", i.0, i.1),
        ("aurora-query", l.0, l.1),
    ]
}

/// The tenant's state in the registry table, read from moto directly.
async fn registry_state(stack: &Stack, tenant: &str) -> Option<String> {
    let _paused = stack.pause_iam_enforcement();
    let sdk = moto_sdk(stack).await;
    let item = aws_sdk_dynamodb::Client::new(&sdk)
        .get_item()
        .table_name(stack.var("TENANT_REGISTRY_TABLE"))
        .key("tenant_id", AttributeValue::S(tenant.to_owned()))
        .send()
        .await
        .expect("moto answers");
    item.item()
        .and_then(|i| i.get("state"))
        .and_then(|s| s.as_s().ok())
        .cloned()
}

/// The stack's IAM registry file, as the front decides with it.
fn iam_registry(stack: &Stack) -> Value {
    serde_json::from_str(&std::fs::read_to_string(stack.var("STACK_IAM_REGISTRY")).unwrap())
        .unwrap()
}

async fn offboarding_revokes_every_layer(strategy: &str, suffix: &str) {
    let _serial = SERIAL.lock().await;
    let tenant = fresh_tenant(suffix);
    let added = xtask(&["tenant", "add", &tenant, "--local"]);
    assert!(
        added.contains(&format!("db-admin onboarded {tenant}_dbuser")),
        "{added}"
    );
    // The functions as deployed under `strategy`, their tenant states
    // cached for 1 s (30 s by default).
    let stack = Stack::load().with_strategy(strategy).with(&[
        ("TENANT_STATE_TTL_MS", "1000"),
        ("METRICS_NAMESPACE", "none"),
    ]);
    let sdk = stack.sdk_config().await;
    let pool = strategy == "identity-pool";
    let user = format!("{tenant}@example.com");
    let token = if pool {
        Some(stack.id_token(&user).await)
    } else {
        None
    };
    let files = s3_fetch::App::new(
        &s3_fetch::Config::from_lookup(&stack.lookup()).unwrap(),
        &sdk,
    );
    let items = dynamodb_items::App::new(
        &dynamodb_items::Config::from_lookup(&stack.lookup()).unwrap(),
        &sdk,
    );
    let records = aurora_query::App::new(
        &aurora_query::Config::from_lookup(&stack.lookup()).unwrap(),
        &sdk,
    )
    .unwrap();

    // Onboarded: every function serves it.
    for (function, status, code) in
        api_answers(&files, &items, &records, &tenant, token.as_deref()).await
    {
        assert_eq!(
            status, 200,
            "{strategy}: {function} serves {tenant}: {code}"
        );
    }

    // Its raw credentials, captured: the functions' cached sessions
    // (identity-pool credentials under identity-pool), a DB session, and
    // presigned URLs.
    let caller = stack.caller(&tenant, strategy, "offboarding-capture").await;
    let file_session = files.sessions().session(&caller).await.unwrap();
    let item_session = items.sessions().session(&caller).await.unwrap();
    let s3 = s3_fetch::Config::from_lookup(&stack.lookup()).unwrap();
    let db = FunctionConfig::<DbConfig>::from_lookup(&stack.lookup()).unwrap();
    let db_scope = SessionScope::Db {
        resource_id: db.service.resource_id.clone().unwrap(),
        user_template: db.service.user_template.clone(),
        region: stack.var("AWS_REGION"),
        account: stack.var("AWS_ACCOUNT_ID"),
    };
    let db_session = TenantSessions::new(&sdk, &db.access)
        .with_scope(db_scope)
        .session(&caller)
        .await
        .unwrap();
    let bucket = TenantBucket::new(&s3.service);
    let info = ObjectKey::parse("tenant.info").unwrap();
    let get_url = bucket
        .presign_get(&file_session, &info, Duration::from_secs(900))
        .await
        .unwrap()
        .url;
    let put = bucket
        .presign_put(
            &file_session,
            &ObjectKey::parse("uploaded.bin").unwrap(),
            Duration::from_secs(900),
            4,
            &WriteCondition::Any,
        )
        .await
        .unwrap();
    let put_headers: Vec<(&str, &str)> = put
        .headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    // Each works before: the checks below can fail.
    let prefix = bucket.prefix(&caller.tenant);
    let list = |session: &tenant_access::TenantSession| {
        bucket
            .client(session)
            .list_objects_v2()
            .bucket(bucket.bucket())
            .prefix(format!("{prefix}/"))
            .send()
    };
    let get_item = |session: &tenant_access::TenantSession| {
        items
            .table()
            .client(session)
            .get_item()
            .table_name(items.table().name())
            .key("tenant_id", AttributeValue::S(tenant.clone()))
            .key("item_id", AttributeValue::S("welcome".to_owned()))
            .send()
    };
    list(&file_session)
        .await
        .expect("the tenant lists its prefix");
    get_item(&item_session)
        .await
        .expect("the tenant reads its item");
    assert_eq!(http_get(&get_url).await.0, 200, "{strategy}: presigned GET");
    assert_eq!(
        http_with("PUT", &put.url, &put_headers, b"four").await.0,
        200,
        "{strategy}: presigned PUT"
    );
    let database = TenantDatabase::new(&db.service).unwrap();
    database
        .query(&db_session, "SELECT 1", &[])
        .await
        .expect("the tenant logs in");

    let removed = xtask(&["tenant", "remove", &tenant, "--local"]);
    assert!(
        removed.contains(&format!("db-admin offboarded {tenant}_dbuser")),
        "{removed}"
    );
    // Past the cached state's life.
    tokio::time::sleep(Duration::from_millis(1_100)).await;

    // The functions, still warm: refused before any AWS call, with the
    // same answer as a tenant never onboarded.
    for (function, status, code) in
        api_answers(&files, &items, &records, &tenant, token.as_deref()).await
    {
        assert_eq!(
            (status, code),
            (403, json!("tenant_not_onboarded")),
            "{strategy}: {function} after offboarding"
        );
    }
    assert_eq!(
        registry_state(&stack, &tenant).await.as_deref(),
        Some("offboarded")
    );

    // IAM: the captured sessions may no longer list its prefix (S3 alone,
    // no key involved) or read its items.
    let listed = list(&file_session).await;
    assert_eq!(
        listed.as_ref().err().and_then(|e| e.code()),
        Some("AccessDenied"),
        "{strategy}: S3 with the captured session: {listed:?}"
    );
    let item = get_item(&item_session).await;
    assert_eq!(
        item.as_ref().err().and_then(|e| e.code()),
        Some("AccessDeniedException"),
        "{strategy}: DynamoDB with the captured session: {item:?}"
    );
    let registry = iam_registry(&stack);
    if strategy == "role-per-tenant" {
        let role = format!(
            "arn:aws:iam::{}:role/tenant/assumeRole-{tenant}",
            stack.var("AWS_ACCOUNT_ID")
        );
        assert!(registry["roles"].get(&role).is_none(), "its role is gone");
    } else {
        let listed = registry["offboarded"].as_array().unwrap();
        assert!(listed.contains(&json!(tenant)), "the shared roles deny it");
    }
    // The URLs handed out before.
    assert_eq!(http_get(&get_url).await.0, 403, "{strategy}: presigned GET");
    assert_eq!(
        http_with("PUT", &put.url, &put_headers, b"four").await.0,
        403,
        "{strategy}: presigned PUT"
    );
    // KMS: its one key is disabled and awaits deletion.
    let keys: Vec<&Value> = registry["keys"]
        .as_object()
        .unwrap()
        .values()
        .filter(|k| k["tags"]["TenantID"] == tenant.as_str())
        .collect();
    assert_eq!(keys.len(), 1, "the tenant's one key is in the registry");
    assert_eq!(keys[0]["state"], "PendingDeletion");
    // The database: a new login with the session obtained before is
    // refused, and the login itself is gone; its rows are kept, disabled.
    let fresh_pool = TenantDatabase::new(&db.service).unwrap();
    let login = fresh_pool.query(&db_session, "SELECT 1", &[]).await;
    assert!(
        matches!(login, Err(Error::AccessDenied { .. })),
        "{strategy}: {login:?}"
    );
    assert_eq!(
        row_and_login(&stack, &tenant).await,
        ("disabled".to_owned(), 0)
    );
    // Its user signs in no more.
    let signed_in = test_support::cognito_id_token(
        &stack.var("AWS_ENDPOINT_URL"),
        &stack.var("STACK_USER_POOL_CLIENT_ID"),
        &user,
        &stack.var("STACK_USER_PASSWORD"),
    )
    .await;
    assert!(signed_in.is_err(), "{strategy}: the tenant's user signs in");
    // No new session either: refused in code by the registry's state.
    let after = TenantSessions::new(&sdk, &s3.access).with_scope(SessionScope::S3 {
        bucket: s3.service.bucket.clone(),
        prefix_template: s3.service.prefix_template.clone(),
    });
    let fresh = Caller::new(tenant.parse().unwrap(), "after-offboarding");
    if !pool {
        // (Under identity-pool a new exchange needs a token, which the
        // disabled user cannot get.)
        if let Ok(session) = after.session(&fresh).await {
            let listed = list(&session).await;
            assert!(
                listed.is_err(),
                "{strategy}: a new session lists: {listed:?}"
            );
        }
    }

    // Its id is never onboarded again: a new customer would inherit the
    // old one's rows, objects, items and key. Nothing is made again.
    let (ok, refused) = try_xtask(&["tenant", "add", &tenant, "--local"]);
    assert!(!ok, "an offboarded id is onboarded again: {refused}");
    assert!(refused.contains("never reused"), "{refused}");
    assert_eq!(
        registry_state(&stack, &tenant).await.as_deref(),
        Some("offboarded")
    );
    // Offboarding again has nothing left to do, and says so without error.
    let removed_again = xtask(&["tenant", "remove", &tenant, "--local"]);
    assert!(
        removed_again.contains(&format!("db-admin offboarded {tenant}_dbuser")),
        "offboarding is idempotent: {removed_again}"
    );
}

#[tokio::test]
async fn role_per_tenant_offboarding_revokes_every_layer() {
    offboarding_revokes_every_layer("role-per-tenant", "r").await;
}

#[tokio::test]
async fn session_tags_offboarding_revokes_every_layer() {
    offboarding_revokes_every_layer("session-tags", "t").await;
}

#[tokio::test]
async fn session_policy_offboarding_revokes_every_layer() {
    offboarding_revokes_every_layer("session-policy", "p").await;
}

#[tokio::test]
async fn session_tags_and_policy_offboarding_revokes_every_layer() {
    offboarding_revokes_every_layer("session-tags+session-policy", "tp").await;
}

#[tokio::test]
async fn identity_pool_offboarding_revokes_every_layer() {
    offboarding_revokes_every_layer("identity-pool", "i").await;
}

/// SDK configuration straight to moto, as the seed signs (enforcement
/// paused by the caller).
async fn moto_sdk(stack: &Stack) -> aws_config::SdkConfig {
    stack
        .with(&[("AWS_ENDPOINT_URL", &stack.var("STACK_MOTO_URL"))])
        .sdk_config_with(aws_credential_types::Credentials::new(
            "seed", "seed", None, None, "test",
        ))
        .await
}

/// An S3 client straight to moto (enforcement paused by the caller).
async fn moto_s3(stack: &Stack) -> aws_sdk_s3::Client {
    let sdk = moto_sdk(stack).await;
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&sdk)
            .force_path_style(true)
            .build(),
    )
}

/// What is left of `tenant` in each store: object versions and delete
/// markers under its prefix, items of its partition, its records, its
/// metadata row and its login.
async fn left_of(stack: &Stack, tenant: &str) -> [usize; 6] {
    let _paused = stack.pause_iam_enforcement();
    let listed = moto_s3(stack)
        .await
        .list_object_versions()
        .bucket(stack.var("TENANT_BUCKET"))
        .prefix(format!("{tenant}_home/"))
        .send()
        .await
        .expect("moto lists versions");
    let sdk = moto_sdk(stack).await;
    let items = aws_sdk_dynamodb::Client::new(&sdk)
        .query()
        .table_name(stack.var("TENANT_TABLE"))
        .key_condition_expression("tenant_id = :t")
        .expression_attribute_values(":t", AttributeValue::S(tenant.to_owned()))
        .send()
        .await
        .expect("moto queries");
    // Its users' own partitions, <tenant>#<sub>.
    let users_items = aws_sdk_dynamodb::Client::new(&sdk)
        .scan()
        .table_name(stack.var("TENANT_TABLE"))
        .filter_expression("begins_with(tenant_id, :p)")
        .expression_attribute_values(":p", AttributeValue::S(format!("{tenant}#")))
        .send()
        .await
        .expect("moto scans");
    let db = stack.admin_db().await;
    let user = format!("{tenant}_dbuser");
    let count = |sql: &'static str| {
        let db = &db;
        let user = user.clone();
        async move {
            let row = db.query_one(sql, &[&user]).await.unwrap();
            row.get::<_, i64>(0) as usize
        }
    };
    [
        listed.versions().len(),
        listed.delete_markers().len(),
        items.items().len() + users_items.items().len(),
        count("SELECT count(*) FROM records WHERE tenant_id = $1").await,
        count("SELECT count(*) FROM tenant_metadata WHERE tenant_id = $1").await,
        count("SELECT count(*) FROM pg_roles WHERE rolname = $1").await,
    ]
}

/// `--purge` leaves nothing of the tenant in any store, listed store by
/// store: no object version or delete marker (the bucket is versioned),
/// no item (its partition's or its users' own), no record, no metadata
/// row, no login, no search index (the purge counts its documents; run
/// again, it finds the index gone); and a purge run again finds nothing and
/// succeeds. The id stays recorded as offboarded.
#[tokio::test]
async fn a_purge_leaves_no_version_item_record_or_login() {
    let _serial = SERIAL.lock().await;
    let tenant = fresh_tenant("g");
    xtask(&["tenant", "add", &tenant, "--local"]);
    let stack = Stack::load().with(&[("METRICS_NAMESPACE", "none")]);
    let sdk = stack.sdk_config().await;
    // Versions and a delete marker, written as the tenant.
    let s3 = s3_fetch::Config::from_lookup(&stack.lookup()).unwrap();
    let sessions = TenantSessions::new(&sdk, &s3.access).with_scope(SessionScope::S3 {
        bucket: s3.service.bucket.clone(),
        prefix_template: s3.service.prefix_template.clone(),
    });
    let caller = Caller::new(tenant.parse().unwrap(), "purge-test");
    let session = sessions.session(&caller).await.unwrap();
    let bucket = TenantBucket::new(&s3.service);
    let key = ObjectKey::parse("versions.txt").unwrap();
    for body in ["one", "two"] {
        bucket
            .put_object(
                &session,
                &key,
                body.as_bytes().to_vec(),
                Some("text/plain"),
                &WriteCondition::Any,
            )
            .await
            .unwrap();
    }
    bucket.delete_object(&session, &key, None).await.unwrap();
    // A record, through aurora-query.
    let records = aurora_query::App::new(
        &aurora_query::Config::from_lookup(&stack.lookup()).unwrap(),
        &sdk,
    )
    .unwrap();
    let created = aurora_query::function_handler(
        &records,
        api_event("aurora-query/tenant1-create.json", &tenant, None),
    )
    .await
    .unwrap();
    assert_eq!(created.status().as_u16(), 201, "{:?}", created.body());
    // A user's own item (partition <tenant>#user-a), through dynamodb-items.
    let items_app = dynamodb_items::App::new(
        &dynamodb_items::Config::from_lookup(&stack.lookup()).unwrap(),
        &sdk,
    );
    let user =
        Caller::new(tenant.parse().unwrap(), "purge-test").with_user("user-a".parse().unwrap());
    let user_session = items_app.sessions().user_session(&user).await.unwrap();
    items_app
        .table()
        .put(
            &user_session,
            &tenant_access::dynamodb::ItemId::parse("mine").unwrap(),
            &json!({"private": true}),
            tenant_access::dynamodb::Precondition::None,
        )
        .await
        .unwrap();
    // Two documents in its search index, through search-docs.
    let docs = search_docs::App::new(
        &search_docs::Config::from_lookup(&stack.lookup()).unwrap(),
        &sdk,
    )
    .unwrap();
    let search_session = docs.sessions().session(&caller).await.unwrap();
    for id in ["one", "two"] {
        docs.index()
            .put(
                &search_session,
                &tenant_access::search::DocId::parse(id).unwrap(),
                &json!({"title": id}),
            )
            .await
            .unwrap();
    }

    let [versions, markers, items, rows, metadata, logins] = left_of(&stack, &tenant).await;
    assert!(
        versions >= 2 + 4,
        "the seeded objects and both writes: {versions}"
    );
    assert_eq!((markers, metadata, logins), (1, 1, 1));
    assert!(items >= 4 && rows >= 1, "{items} items, {rows} records");

    let removed = xtask(&["tenant", "remove", &tenant, "--local", "--purge"]);
    assert!(
        removed.contains(&format!(
            "purged {tenant}: {versions} object versions, {markers} delete markers, {items} items, 2 documents"
        )),
        "{removed}"
    );
    assert_eq!(left_of(&stack, &tenant).await, [0; 6], "nothing left");
    let again = xtask(&["tenant", "remove", &tenant, "--local", "--purge"]);
    assert!(
        again.contains(&format!(
            "purged {tenant}: 0 object versions, 0 delete markers, 0 items, 0 documents"
        )),
        "{again}"
    );
    assert_eq!(
        registry_state(&stack, &tenant).await.as_deref(),
        Some("offboarded")
    );
}
