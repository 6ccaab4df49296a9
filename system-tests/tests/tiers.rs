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
//! credentials around the crate.

mod common;

use aws_sdk_dynamodb::types::AttributeValue;
use common::*;
use serde_json::Value;
use tenant_access::Caller;
use test_support::{Stack, http_get};

/// `tenant`'s registry item: active, in `tier` (none: no tier).
async fn set_tier(stack: &Stack, tenant: &str, tier: Option<&str>) {
    let _paused = stack.pause_iam_enforcement();
    let moto = stack.with(&[("AWS_ENDPOINT_URL", &stack.var("STACK_MOTO_URL"))]);
    let sdk = moto
        .sdk_config_with(aws_sdk_dynamodb::config::Credentials::new(
            "seed",
            "seed",
            None,
            None,
            "tiers-test",
        ))
        .await;
    let mut put = aws_sdk_dynamodb::Client::new(&sdk)
        .put_item()
        .table_name(stack.var("TENANT_REGISTRY_TABLE"))
        .item("tenant_id", AttributeValue::S(tenant.into()))
        .item("state", AttributeValue::S("active".into()));
    if let Some(tier) = tier {
        put = put.item("tier", AttributeValue::S(tier.into()));
    }
    put.send().await.expect("the registry takes the tier");
}

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
