//! Two tiers served by one deployment: a premium tier on dedicated roles
//! (role-per-tenant: each tenant its own role, trust policy and boundary)
//! and a basic tier pooled under session-tags (one shared role, the tenant
//! as a session tag), chosen per request by the tenant's `tier` in the
//! registry, by one s3-fetch app from one configuration
//! (`TENANT_ISOLATION=session-tags`, `TENANT_TIER_ISOLATION=premium=role-per-tenant`).
//!
//! Each tier's sessions are shown to be the tier's own (the role STS gave,
//! as the front recorded it), to reach their own tenant's objects, and to
//! be refused the other tier's tenant's by the local front, with raw
//! credentials around the crate; the same for their database logins (the
//! token verifier) and their partitions of the table. A tier's connections
//! can be a budget of their own, which the pooled tenants cannot take.

mod common;

use common::*;
use serde_json::Value;
use tenant_access::Caller;
use test_support::{Stack, as_tenant, event, http_get, request};

/// The role a session's credentials are of, as the front recorded the
/// `AssumeRole` that made them.
async fn role_of(stack: &Stack, session: &tenant_access::TenantSession) -> String {
    let front = stack.var("AWS_ENDPOINT_URL");
    let key = session.credentials().access_key_id().to_owned();
    let (status, body) = http_get(&format!("{front}/__front/sessions/{key}")).await;
    assert_eq!(status, 200, "the front recorded the session");
    let record: Value = serde_json::from_slice(&body).unwrap();
    record["role_arn"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn one_deployment_serves_a_premium_tier_on_its_own_roles_and_a_basic_tier_pooled() {
    let stack = Stack::load();
    set_tier(&stack, "fault030", Some("premium")).await;
    set_tier(&stack, "fault031", None).await;
    let env = stack
        .with_strategy("session-tags")
        .with(&[("TENANT_TIER_ISOLATION", "premium=role-per-tenant")]);
    let config = s3_fetch::Config::from_lookup(&env.lookup()).expect("s3-fetch config");
    let app = s3_fetch::App::new(&config, &env.sdk_config().await);
    let caller = |tenant: &str| Caller::new(tenant.parse().unwrap(), "tiers-test");
    let premium = app
        .sessions()
        .session(&caller("fault030"))
        .await
        .expect("the premium tenant's session");
    let basic = app
        .sessions()
        .session(&caller("fault031"))
        .await
        .expect("the basic tenant's session");

    // Each tier's own strategy: the premium tenant's own role, the basic
    // tenant the shared role (tagged with it).
    let premium_role = role_of(&stack, &premium).await;
    assert!(
        premium_role.ends_with(":role/tenant/assumeRole-fault030"),
        "{premium_role}"
    );
    let basic_role = role_of(&stack, &basic).await;
    assert!(
        basic_role.ends_with(":role/tenant-access-shared-s3-tagged"),
        "{basic_role}"
    );

    // Each reaches its own objects and is refused the other tier's
    // tenant's, by the front.
    let bucket = config.service.bucket.clone();
    let info = |tenant: &str| format!("{tenant}_home/tenant.info");
    assert_eq!(get(&premium, &bucket, &info("fault030")).await, Ok(()));
    assert_eq!(get(&basic, &bucket, &info("fault031")).await, Ok(()));
    assert_eq!(
        get(&premium, &bucket, &info("fault031")).await,
        denied_by_front(),
        "premium reading basic"
    );
    assert_eq!(
        get(&basic, &bucket, &info("fault030")).await,
        denied_by_front(),
        "basic reading premium"
    );
    assert_eq!(
        list(&basic, &bucket, "fault030_home/").await,
        denied_by_front(),
        "basic listing premium"
    );
    // One AssumeRole each, from the two tiers' caches.
    assert_eq!(app.sessions().assume_role_calls(), 2);
    assert_eq!(app.sessions().cached(), 2);

    // A tenant moved to premium is served from the premium cache once its
    // cached tier is read again: with the state's cache off, at once.
    set_tier(&stack, "fault031", Some("premium")).await;
    let fresh = stack.with_strategy("session-tags").with(&[
        ("TENANT_TIER_ISOLATION", "premium=role-per-tenant"),
        ("TENANT_STATE_TTL_MS", "0"),
    ]);
    let app = s3_fetch::App::new(
        &s3_fetch::Config::from_lookup(&fresh.lookup()).unwrap(),
        &fresh.sdk_config().await,
    );
    let moved = app.sessions().session(&caller("fault031")).await.unwrap();
    let moved_role = role_of(&stack, &moved).await;
    assert!(
        moved_role.ends_with(":role/tenant/assumeRole-fault031"),
        "{moved_role}"
    );
    assert_eq!(get(&moved, &bucket, &info("fault031")).await, Ok(()));
    assert_eq!(
        get(&moved, &bucket, &info("fault030")).await,
        denied_by_front()
    );
    set_tier(&stack, "fault031", None).await;
}

/// The database and the table too, from the same configuration: the
/// premium tenant's aurora-query and dynamodb-items sessions are of its own
/// role, the basic tenant's of the shared roles (tagged); each logs in only
/// as its own tenant's database user (the token verifier refuses the other
/// tier's tenant's) and reaches only its own partition of the table (the
/// front refuses the other's).
#[tokio::test]
async fn each_tier_s_database_and_table_sessions_reach_only_their_own_tenant() {
    let stack = Stack::load();
    let (premium, basic) = ("fault044", "fault045");
    set_tier(&stack, premium, Some("premium")).await;
    set_tier(&stack, basic, None).await;
    let env = stack
        .with_strategy("session-tags")
        .with(&[("TENANT_TIER_ISOLATION", "premium=role-per-tenant")]);
    let sdk = env.sdk_config().await;
    let db = aurora_query::App::new(
        &aurora_query::Config::from_lookup(&env.lookup()).expect("aurora-query config"),
        &sdk,
    )
    .expect("CA bundle");
    let items = dynamodb_items::App::new(
        &dynamodb_items::Config::from_lookup(&env.lookup()).expect("dynamodb-items config"),
        &sdk,
    );
    let caller = |tenant: &str| Caller::new(tenant.parse().unwrap(), "tiers-stores");
    let table = stack.var("TENANT_TABLE");
    for (tenant, other, role) in [
        (premium, basic, format!(":role/tenant/assumeRole-{premium}")),
        (basic, premium, "-shared-".to_owned()),
    ] {
        let db_session = db
            .sessions()
            .session(&caller(tenant))
            .await
            .expect("a session");
        let item_session = items
            .sessions()
            .session(&caller(tenant))
            .await
            .expect("a session");
        for session in [&db_session, &item_session] {
            let arn = role_of(&stack, session).await;
            assert!(arn.contains(&role), "{tenant}: {arn}");
        }
        // Its own database user, and not the other tier's tenant's.
        let own = format!("{tenant}_dbuser");
        let token = stack
            .auth_token_now(db_session.credentials().clone(), &own)
            .await;
        stack
            .connect(&own, &token)
            .await
            .unwrap_or_else(|e| panic!("{tenant} logs in as itself: {e}"));
        let theirs = format!("{other}_dbuser");
        let token = stack
            .auth_token_now(db_session.credentials().clone(), &theirs)
            .await;
        stack
            .assert_login_refused(&theirs, &token, "not allowed rds-db:connect")
            .await;
        // Its own partition of the table, and not the other's.
        let client = aws_sdk_dynamodb::Client::new(&item_session.sdk_config());
        let read = |partition: &str| {
            client
                .get_item()
                .table_name(&table)
                .key(
                    "tenant_id",
                    aws_sdk_dynamodb::types::AttributeValue::S(partition.into()),
                )
                .key(
                    "item_id",
                    aws_sdk_dynamodb::types::AttributeValue::S("tiers".into()),
                )
                .send()
        };
        assert_eq!(
            read(tenant).await.map(|_| ()).map_err(item_refusal),
            Ok(()),
            "{tenant}"
        );
        assert_eq!(
            read(other).await.map(|_| ()).map_err(item_refusal),
            item_denied_by_front(),
            "{tenant} reading {other}'s partition"
        );
    }
    set_tier(&stack, premium, None).await;
}

/// aurora-query's `GET /tenant` as `tenant`, through the handler (which
/// reads the tenant's registry item, and so its tier): the answer's status.
async fn tenant_row(app: &aurora_query::App, tenant: &str) -> u16 {
    let event = as_tenant(
        &event("aurora-query/tenant1-tenant.json"),
        tenant,
        "tiers-db",
    );
    aurora_query::function_handler(app, request(&event))
        .await
        .expect("handlers answer")
        .status()
        .as_u16()
}

/// With one pooled place (`DB_CONNECTION_CAPACITY=1`), two basic tenants
/// taking turns close each other's connection every time. Without a budget
/// of its own, the premium tenant's idle connection is closed for them
/// too, and its next request logs in again; with `DB_TIER_CONNECTIONS`
/// (`premium=1`), it is kept: its next request logs in no more.
#[tokio::test]
async fn a_premium_tier_s_own_connection_budget_is_not_taken_by_pooled_tenants() {
    let stack = Stack::load();
    let (premium, basic) = ("fault041", ["fault042", "fault043"]);
    set_tier(&stack, premium, Some("premium")).await;
    for tenant in basic {
        set_tier(&stack, tenant, None).await;
    }
    // The premium tenant's logins while the basic tenants take turns.
    let premium_logins = |tier_connections: Option<&'static str>| {
        let stack = &stack;
        async move {
            let mut overrides = vec![("DB_CONNECTION_CAPACITY", "1")];
            overrides.extend(tier_connections.map(|budget| ("DB_TIER_CONNECTIONS", budget)));
            let env = stack.with(&overrides);
            let config = aurora_query::Config::from_lookup(&env.lookup()).expect("config");
            let app = aurora_query::App::new(&config, &env.sdk_config().await).expect("CA");
            assert_eq!(tenant_row(&app, premium).await, 200);
            let mut logins = 0;
            for _ in 0..3 {
                for tenant in basic {
                    assert_eq!(tenant_row(&app, tenant).await, 200);
                }
                let before = app.db().connections_opened();
                assert_eq!(tenant_row(&app, premium).await, 200);
                logins += app.db().connections_opened() - before;
            }
            (
                logins,
                app.db().open_connections(),
                app.db().open_connections_of("premium"),
            )
        }
    };
    // Pooled: every turn of the basic tenants cost the premium tenant its
    // connection.
    assert_eq!(premium_logins(None).await, (3, 1, None));
    // Its own budget: one login at first, none after; two open in all.
    assert_eq!(premium_logins(Some("premium=1")).await, (0, 2, Some(1)));
    set_tier(&stack, premium, None).await;
}
