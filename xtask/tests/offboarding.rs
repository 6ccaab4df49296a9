//! Offboarding on the local stack, through the same commands an operator
//! runs: `cargo xtask tenant add ID --local`, use it, `cargo xtask tenant
//! remove ID --local`, and the offboarded tenant is refused at every layer
//! (STS, S3, the database), its key pending deletion, its rows kept but
//! disabled. The database side of both goes through db-admin's built
//! binary, as `--aws` goes through the deployed function. Run with `cargo
//! xtask test`, which starts the stack.

use std::process::Command;

use tenant_access::config::{DbConfig, FunctionConfig, S3Config};
use tenant_access::db::TenantDatabase;
use tenant_access::s3::{ObjectKey, Read, ReadOptions, TenantBucket};
use tenant_access::session_policy::SessionScope;
use tenant_access::{Caller, Error, TenantSessions};
use test_support::Stack;

/// A new id each run: an offboarded id is never onboarded again, and the
/// stack's database outlives a run.
static TENANT: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("a clock after 1970")
        .as_secs();
    format!("offb{stamp}")
});

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
async fn row_and_login(stack: &Stack) -> (String, i64) {
    let row = stack
        .admin_db()
        .await
        .query_one(
            "SELECT m.status, (SELECT count(*) FROM pg_roles WHERE rolname = m.tenant_id) \
             FROM tenant_metadata m WHERE m.tenant_id = $1",
            &[&format!("{}_dbuser", *TENANT)],
        )
        .await
        .unwrap();
    (row.get(0), row.get(1))
}

#[tokio::test]
async fn an_offboarded_tenant_is_refused_at_every_layer() {
    let added = xtask(&["tenant", "add", TENANT.as_str(), "--local"]);
    assert!(
        added.contains(&format!("db-admin onboarded {}_dbuser", *TENANT)),
        "{added}"
    );
    let stack = Stack::load();
    let sdk = stack.sdk_config().await;
    let s3 = FunctionConfig::<S3Config>::from_lookup(&stack.lookup()).unwrap();
    let db = FunctionConfig::<DbConfig>::from_lookup(&stack.lookup()).unwrap();
    let s3_scope = SessionScope::S3 {
        bucket: s3.service.bucket.clone(),
        prefix_template: s3.service.prefix_template.clone(),
    };
    let db_scope = SessionScope::Db {
        resource_id: db.service.resource_id.clone().unwrap(),
        user_template: db.service.user_template.clone(),
        region: stack.var("AWS_REGION"),
        account: stack.var("AWS_ACCOUNT_ID"),
    };
    let caller = Caller::new(TENANT.parse().unwrap(), "offboarding-test");
    let files = TenantSessions::new(&sdk, &s3.access).with_scope(s3_scope.clone());
    let rows = TenantSessions::new(&sdk, &db.access).with_scope(db_scope.clone());
    let bucket = TenantBucket::new(&s3.service);
    let key = ObjectKey::parse("tenant.info").unwrap();

    // Onboarded: its object, its login.
    let file_session = files
        .session(&caller)
        .await
        .expect("an onboarded tenant's session");
    let read = bucket
        .get_object(&file_session, &key, &ReadOptions::default())
        .await;
    assert!(matches!(read, Ok(Read::Found(_))), "{read:?}");
    let db_session = rows.session(&caller).await.expect("a DB session");
    let database = TenantDatabase::new(&db.service).unwrap();
    database
        .query(&db_session, "SELECT 1", &[])
        .await
        .expect("the tenant logs in");

    let removed = xtask(&["tenant", "remove", TENANT.as_str(), "--local"]);
    assert!(
        removed.contains(&format!("db-admin offboarded {}_dbuser", *TENANT)),
        "{removed}"
    );

    // STS: no new session (the role is gone).
    let after = TenantSessions::new(&sdk, &s3.access).with_scope(s3_scope);
    let err = after.session(&caller).await.unwrap_err();
    assert_eq!(
        (err.status().as_u16(), err.code()),
        (403, "tenant_not_onboarded")
    );
    // S3: the session obtained before reads nothing (its role's policies
    // are gone), answered as a missing key.
    let read = bucket
        .get_object(&file_session, &key, &ReadOptions::default())
        .await;
    assert!(matches!(read, Err(Error::NotFound)), "{read:?}");
    // The database: a new login with the session obtained before is refused.
    let fresh_pool = TenantDatabase::new(&db.service).unwrap();
    let login = fresh_pool.query(&db_session, "SELECT 1", &[]).await;
    assert!(
        matches!(login, Err(Error::AccessDenied { .. })),
        "{login:?}"
    );
    // Its rows are kept, disabled; its key awaits deletion.
    let (status, logins) = row_and_login(&stack).await;
    assert_eq!(status, "disabled");
    assert_eq!(logins, 0, "the login is dropped");
    let registry: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(stack.var("STACK_IAM_REGISTRY")).unwrap())
            .unwrap();
    let keys: Vec<&serde_json::Value> = registry["keys"]
        .as_object()
        .unwrap()
        .values()
        .filter(|k| k["tags"]["TenantID"] == TENANT.as_str())
        .collect();
    assert_eq!(keys.len(), 1, "the tenant's one key is in the registry");
    assert_eq!(
        keys[0]["state"], "PendingDeletion",
        "the tenant's key is scheduled for deletion"
    );

    // Its id is never onboarded again: a new customer would inherit the
    // old one's rows, objects, items and key. Nothing is made again.
    let (ok, refused) = try_xtask(&["tenant", "add", TENANT.as_str(), "--local"]);
    assert!(!ok, "an offboarded id is onboarded again: {refused}");
    assert!(refused.contains("never reused"), "{refused}");
    assert_eq!(row_and_login(&stack).await, ("disabled".to_owned(), 0));
    // Offboarding again has nothing left to do, and says so without error.
    let removed_again = xtask(&["tenant", "remove", TENANT.as_str(), "--local"]);
    assert!(
        removed_again.contains(&format!("db-admin offboarded {}_dbuser", *TENANT)),
        "offboarding is idempotent: {removed_again}"
    );
}
