//! Every isolation layer enforced on the local stack, under every strategy.
//!
//! Each test takes the sessions the functions really create (through their
//! own `App`, so with their own session policies and tags; under
//! `identity-pool` from the tenant user's own ID token, exchanged at the
//! local identity pool) and goes around the crate with them, as a bug in a
//! handler could: reads, lists and presigned URLs against S3, item calls
//! against DynamoDB, and logins to the database. moto alone would allow
//! much of it (it ignores session tags, session policies and conditions
//! such as `dynamodb:LeadingKeys`, and its copies of the shared roles span
//! all tenants); the refusals here come from the local AWS front (S3,
//! DynamoDB) and the token verifier (Postgres), which decide with the
//! deployed policies, and each test checks that they, not moto, refused.

mod common;

use std::sync::Arc;

use aws_sdk_s3::presigning::PresigningConfig;
use common::*;
use tenant_access::{Caller, Error, TenantSession};
use test_support::{Stack, event, request};

/// The two functions' sessions of `tenant` under `isolation`.
struct Sessions {
    s3_fetch: Arc<TenantSession>,
    aurora_query: Arc<TenantSession>,
    dynamodb_items: Arc<TenantSession>,
}

async fn sessions(stack: &Stack, isolation: &str, tenant: &str) -> Sessions {
    let env = stack.with_strategy(isolation);
    let sdk = env.sdk_config().await;
    let s3 = s3_fetch::App::new(
        &s3_fetch::Config::from_lookup(&env.lookup()).expect("s3-fetch config"),
        &sdk,
    );
    let db = aurora_query::App::new(
        &aurora_query::Config::from_lookup(&env.lookup()).expect("aurora-query config"),
        &sdk,
    )
    .expect("CA bundle");
    let items = dynamodb_items::App::new(
        &dynamodb_items::Config::from_lookup(&env.lookup()).expect("dynamodb-items config"),
        &sdk,
    );
    let caller = stack
        .caller(tenant, isolation, &format!("enforcement-{isolation}"))
        .await;
    Sessions {
        s3_fetch: s3.sessions().session(&caller).await.expect("a session"),
        aurora_query: db.sessions().session(&caller).await.expect("a session"),
        dynamodb_items: items.sessions().session(&caller).await.expect("a session"),
    }
}

#[tokio::test]
async fn a_tenant_s_raw_sessions_reach_only_its_own_data_and_job_under_every_strategy() {
    let stack = Stack::load();
    let bucket = stack.var("TENANT_BUCKET");
    for isolation in tenant_access::config::Isolation::NAMES {
        let own = sessions(&stack, isolation, "tenant1").await;

        // The function's own job, on its own data: allowed.
        assert_eq!(
            get(&own.s3_fetch, &bucket, "tenant1_home/tenant.info").await,
            Ok(()),
            "{isolation}: tenant1 reads its own object"
        );
        assert_eq!(
            list(&own.s3_fetch, &bucket, "tenant1_home/").await,
            Ok(()),
            "{isolation}: tenant1 lists its own prefix"
        );
        let login = stack
            .auth_token_now(own.aurora_query.credentials().clone(), "tenant1_dbuser")
            .await;
        stack
            .connect("tenant1_dbuser", &login)
            .await
            .unwrap_or_else(|e| panic!("{isolation}: tenant1 logs in as itself: {e}"));

        // Another tenant's data: refused by the front, and by the verifier.
        assert_eq!(
            get(&own.s3_fetch, &bucket, "tenant2_home/tenant.info").await,
            denied_by_front(),
            "{isolation}: tenant1 reads tenant2's object"
        );
        for prefix in ["tenant2_home/", "", "tenant1"] {
            assert_eq!(
                list(&own.s3_fetch, &bucket, prefix).await,
                denied_by_front(),
                "{isolation}: tenant1 lists {prefix:?}"
            );
        }
        let theirs = stack
            .auth_token_now(own.aurora_query.credentials().clone(), "tenant2_dbuser")
            .await;
        stack
            .assert_login_refused("tenant2_dbuser", &theirs, "not allowed rds-db:connect")
            .await;

        // A presigned URL for tenant2's object, made with tenant1's session.
        let presigned = s3(&own.s3_fetch)
            .get_object()
            .bucket(&bucket)
            .key("tenant2_home/tenant.info")
            .presigned(PresigningConfig::expires_in(std::time::Duration::from_secs(60)).unwrap())
            .await
            .unwrap();
        let (status, body) = test_support::http_get(presigned.uri()).await;
        let body = String::from_utf8_lossy(&body);
        assert_eq!(status, 403, "{isolation}: presigned tenant2 object: {body}");
        assert!(body.contains("<Code>AccessDenied</Code>") && body.contains("local-front"));
        assert!(!body.contains("tenant2 info"));

        // The other function's job, even on its own data: refused, by the
        // role itself (each function assumes a role, or under
        // role-per-tenant carries a Scope tag, that can do only its job),
        // not only by the session policy. Under identity-pool the session
        // is the user's own, the same for every function: it is confined
        // to the tenant, not to a function.
        if isolation == "identity-pool" {
            continue;
        }
        assert_eq!(
            get(&own.aurora_query, &bucket, "tenant1_home/tenant.info").await,
            denied_by_front(),
            "{isolation}: tenant1's aurora-query session reads S3"
        );
        let cross = stack
            .auth_token_now(own.s3_fetch.credentials().clone(), "tenant1_dbuser")
            .await;
        stack
            .assert_login_refused("tenant1_dbuser", &cross, "NotAllowedByIdentity")
            .await;
    }
}

/// A session past its expiration: the front answers S3 `ExpiredToken`, the
/// verifier refuses its tokens, and the functions renew the session and
/// serve again (s3-fetch on the next request, after a 503
/// `credentials_rejected`; aurora-query within the request, since a
/// refused login ran nothing and can be tried again).
#[tokio::test]
async fn expired_sessions_are_refused_and_the_functions_renew_them() {
    let stack = Stack::load();
    let bucket = stack.var("TENANT_BUCKET");
    let env = stack.with_strategy("role-per-tenant");
    let sdk = env.sdk_config().await;
    let s3_app = s3_fetch::App::new(&s3_fetch::Config::from_lookup(&env.lookup()).unwrap(), &sdk);
    // Connections replaced after a second, so a later request logs in.
    let db_env = env.with(&[("DB_CONNECTION_MAX_AGE_SECONDS", "1")]);
    let db_app = aurora_query::App::new(
        &aurora_query::Config::from_lookup(&db_env.lookup()).unwrap(),
        &sdk,
    )
    .unwrap();
    let file = event("s3-fetch/tenant2-get.json");
    let metadata = event("aurora-query/tenant2-tenant.json");
    let status = |r: &lambda_http::Response<lambda_http::Body>| r.status().as_u16();

    let served = s3_fetch::function_handler(&s3_app, request(&file))
        .await
        .unwrap();
    assert_eq!(status(&served), 200);
    let served = aurora_query::function_handler(&db_app, request(&metadata))
        .await
        .unwrap();
    assert_eq!(status(&served), 200);
    let caller = Caller::new("tenant2".parse().unwrap(), "expiry");
    let old_s3 = s3_app.sessions().session(&caller).await.unwrap();
    let old_db = db_app.sessions().session(&caller).await.unwrap();

    // Both sessions are now past their expiration, as the front sees it.
    let front = stack.var("AWS_ENDPOINT_URL");
    for session in [&old_s3, &old_db] {
        let key = session.credentials().access_key_id();
        let (status, body) =
            test_support::http_post(&format!("{front}/__front/sessions/{key}/expire")).await;
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    }

    assert_eq!(
        get(&old_s3, &bucket, "tenant2_home/tenant.info").await,
        Err(("ExpiredToken".to_owned(), true))
    );
    let token = stack
        .auth_token_now(old_db.credentials().clone(), "tenant2_dbuser")
        .await;
    stack
        .assert_login_refused("tenant2_dbuser", &token, "credentials have expired")
        .await;

    // s3-fetch: one 503 (the session is dropped), then served.
    let refused = s3_fetch::function_handler(&s3_app, request(&file))
        .await
        .unwrap();
    assert_eq!(status(&refused), 503);
    assert_eq!(
        test_support::body_json(&refused)["error"],
        Error::CredentialsRejected {
            service: "s3",
            detail: String::new()
        }
        .code()
    );
    let renewed = s3_fetch::function_handler(&s3_app, request(&file))
        .await
        .unwrap();
    assert_eq!(status(&renewed), 200);
    assert_eq!(test_support::body_bytes(&renewed), b"tenant2 info\n");

    // aurora-query: served in the same request, on a renewed session, once
    // its connection has passed DB_CONNECTION_MAX_AGE_SECONDS and a request
    // must log in again. Until then the open connection serves, with no
    // STS call.
    let calls = db_app.sessions().assume_role_calls();
    let logins = db_app.db().connections_opened();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let answered = aurora_query::function_handler(&db_app, request(&metadata))
            .await
            .unwrap();
        assert_eq!(
            status(&answered),
            200,
            "{}",
            test_support::body_json(&answered)
        );
        if db_app.db().connections_opened() > logins {
            break;
        }
        assert_eq!(
            db_app.sessions().assume_role_calls(),
            calls,
            "no login, no STS call"
        );
        assert!(std::time::Instant::now() < deadline, "no new login in 10 s");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(db_app.sessions().assume_role_calls(), calls + 1);
}

/// Item calls with a raw session of `tenant1`, around the crate: every key
/// names a partition, and only tenant1's is allowed (`dynamodb:LeadingKeys`
/// as the literal tenant, the principal tag, or the session policy's).
#[tokio::test]
async fn a_tenant_s_raw_sessions_reach_only_its_own_partition_under_every_strategy() {
    use aws_sdk_dynamodb::types::AttributeValue;
    let stack = Stack::load();
    let table = stack.var("TENANT_TABLE");
    let key = |tenant: &str, id: &str| {
        std::collections::HashMap::from([
            ("tenant_id".to_owned(), AttributeValue::S(tenant.to_owned())),
            ("item_id".to_owned(), AttributeValue::S(id.to_owned())),
        ])
    };
    for isolation in tenant_access::config::Isolation::NAMES {
        let own = sessions(&stack, isolation, "tenant1").await;
        let theirs = sessions(&stack, isolation, "tenant2").await;
        let items = aws_sdk_dynamodb::Client::new(&own.dynamodb_items.sdk_config());
        let tenant2_items = aws_sdk_dynamodb::Client::new(&theirs.dynamodb_items.sdk_config());
        let id = format!("enforcement-{isolation}");
        // tenant2's own item, written with tenant2's session.
        let mut theirs_item = key("tenant2", &id);
        theirs_item.insert(
            "data".to_owned(),
            AttributeValue::S(r#""tenant2 secret""#.into()),
        );
        tenant2_items
            .put_item()
            .table_name(&table)
            .set_item(Some(theirs_item.clone()))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{isolation}: tenant2 writes its own item: {e:?}"));

        // Its own partition: allowed.
        let mut mine = key("tenant1", &id);
        mine.insert("data".to_owned(), AttributeValue::S("{}".into()));
        items
            .put_item()
            .table_name(&table)
            .set_item(Some(mine))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{isolation}: tenant1 writes its own item: {e:?}"));
        let got = items
            .get_item()
            .table_name(&table)
            .set_key(Some(key("tenant1", &id)))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{isolation}: tenant1 reads its own item: {e:?}"));
        assert!(got.item().is_some(), "{isolation}");
        let page = items
            .query()
            .table_name(&table)
            .key_condition_expression("tenant_id = :t")
            .expression_attribute_values(":t", AttributeValue::S("tenant1".into()))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{isolation}: tenant1 queries its partition: {e:?}"));
        assert!(page.count() >= 1, "{isolation}");

        // tenant2's partition, and the whole table: refused by the front.
        let get = items
            .get_item()
            .table_name(&table)
            .set_key(Some(key("tenant2", &id)))
            .send()
            .await;
        assert_eq!(
            get.map(|_| ()).map_err(item_refusal),
            item_denied_by_front(),
            "{isolation}: tenant1 reads tenant2's item"
        );
        let mut planted = key("tenant2", &id);
        planted.insert(
            "data".to_owned(),
            AttributeValue::S(r#""overwritten""#.into()),
        );
        let put = items
            .put_item()
            .table_name(&table)
            .set_item(Some(planted))
            .send()
            .await;
        assert_eq!(
            put.map(|_| ()).map_err(item_refusal),
            item_denied_by_front(),
            "{isolation}: tenant1 writes into tenant2's partition"
        );
        let delete = items
            .delete_item()
            .table_name(&table)
            .set_key(Some(key("tenant2", &id)))
            .send()
            .await;
        assert_eq!(
            delete.map(|_| ()).map_err(item_refusal),
            item_denied_by_front(),
            "{isolation}: tenant1 deletes tenant2's item"
        );
        let query = items
            .query()
            .table_name(&table)
            .key_condition_expression("tenant_id = :t")
            .expression_attribute_values(":t", AttributeValue::S("tenant2".into()))
            .send()
            .await;
        assert_eq!(
            query.map(|_| ()).map_err(item_refusal),
            item_denied_by_front(),
            "{isolation}: tenant1 queries tenant2's partition"
        );
        let scan = items.scan().table_name(&table).send().await;
        assert_eq!(
            scan.map(|_| ()).map_err(item_refusal),
            item_denied_by_front(),
            "{isolation}: tenant1 scans the table"
        );
        // tenant2's item is as tenant2 wrote it.
        let kept = tenant2_items
            .get_item()
            .table_name(&table)
            .set_key(Some(key("tenant2", &id)))
            .send()
            .await
            .unwrap();
        assert_eq!(
            kept.item().and_then(|i| i.get("data")),
            Some(&AttributeValue::S(r#""tenant2 secret""#.into())),
            "{isolation}"
        );
        // Each tenant removes its own item: the partitions stay as seeded
        // (dynamodb-items' tests list them).
        for (client, tenant) in [(&items, "tenant1"), (&tenant2_items, "tenant2")] {
            client
                .delete_item()
                .table_name(&table)
                .set_key(Some(key(tenant, &id)))
                .send()
                .await
                .unwrap_or_else(|e| panic!("{isolation}: {tenant} deletes its own item: {e:?}"));
        }

        // Another function's session on its own partition: refused, but
        // under identity-pool (one session per user, for every function).
        if isolation != "identity-pool" {
            let s3_items = aws_sdk_dynamodb::Client::new(&own.s3_fetch.sdk_config());
            let cross = s3_items
                .get_item()
                .table_name(&table)
                .set_key(Some(key("tenant1", &id)))
                .send()
                .await;
            assert_eq!(
                cross.map(|_| ()).map_err(item_refusal),
                item_denied_by_front(),
                "{isolation}: tenant1's s3-fetch session reads items"
            );
        }
    }
}

/// The front refuses an `AssumeRole` STS would refuse: a session tag value
/// of `*` (which `${aws:PrincipalTag/TenantID}_home/*` would read as a
/// wildcard over every tenant), and a role that does not exist.
#[tokio::test]
async fn assume_role_is_refused_where_sts_refuses_it() {
    let stack = Stack::load();
    let sts = aws_sdk_sts::Client::new(&stack.sdk_config().await);
    let tagged = stack
        .var("STACK_SHARED_TAGGED_ROLE_ARN")
        .replace("{scope}", "s3");
    let wildcard = sts
        .assume_role()
        .role_arn(&tagged)
        .role_session_name("wildcard-test")
        .tags(
            aws_sdk_sts::types::Tag::builder()
                .key("TenantID")
                .value("*")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .expect_err("STS refuses the tag value");
    let front = |e: &aws_sdk_sts::error::SdkError<_, aws_sdk_sts::config::http::HttpResponse>| {
        e.raw_response()
            .and_then(|r| r.body().bytes())
            .is_some_and(|b| String::from_utf8_lossy(b).contains("local-front"))
    };
    use aws_sdk_sts::error::ProvideErrorMetadata;
    assert_eq!(wildcard.code(), Some("ValidationError"));
    assert!(front(&wildcard), "refused by the front, not moto");
    let missing = sts
        .assume_role()
        .role_arn(format!(
            "arn:aws:iam::{}:role/tenant/assumeRole-nobody",
            stack.var("AWS_ACCOUNT_ID")
        ))
        .role_session_name("missing-test")
        .send()
        .await
        .expect_err("no such role");
    assert_eq!(missing.code(), Some("AccessDenied"));
    assert!(front(&missing));
    // The same call with a valid tag is served.
    sts.assume_role()
        .role_arn(&tagged)
        .role_session_name("valid-test")
        .tags(
            aws_sdk_sts::types::Tag::builder()
                .key("TenantID")
                .value("tenant1")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .expect("a valid tag");
}

/// A cache holding real sessions formats none of their secrets: the
/// functions log `TenantSessions` with `{:?}`, and an empty cache would
/// prove nothing (`shared/tenant-access/tests/redaction.rs` checks the
/// other types).
#[tokio::test]
async fn a_populated_session_cache_formats_no_secret() {
    let stack = Stack::load();
    let app = s3_fetch::App::new(
        &s3_fetch::Config::from_lookup(&stack.lookup()).expect("s3-fetch config"),
        &stack.sdk_config().await,
    );
    let mut secrets = Vec::new();
    for tenant in ["tenant1", "tenant2"] {
        let caller = stack
            .caller(tenant, "role-per-tenant", "redaction-test")
            .await;
        let session = app.sessions().session(&caller).await.expect("a session");
        let creds = session.credentials();
        secrets.push(creds.secret_access_key().to_owned());
        secrets.push(creds.session_token().expect("STS token").to_owned());
    }
    assert_eq!(app.sessions().cached(), 2, "the cache holds both sessions");
    let shown = format!("{:?}", app.sessions());
    for secret in &secrets {
        assert!(!shown.contains(secret.as_str()), "a secret in {shown}");
    }
}
