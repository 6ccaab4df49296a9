//! A user's own area of its tenant (`/me/files`, `/me/items`), enforced on
//! the local stack under every strategy that assumes a role.
//!
//! Each test takes the user sessions the functions really create (through
//! their own `App`: tagged with the user, or under the session-policy
//! strategies scoped down to the user's area) and goes around the crate
//! with them, as a bug in a handler could. User A of tenant1 must reach its
//! own area and nothing of user B's (same tenant), nor may user A of tenant2
//! (the same `sub` in another tenant), nor tenant1's own shared session.
//! The refusals come from the local AWS front, which decides with the
//! deployed policies (moto's copies leave the user statements out: it would
//! apply their denies to every session), and each check says so.
//!
//! Under `identity-pool` a user's one session serves the tenant's shared
//! files too, so IAM cannot keep users' files apart there (docs/isolation.md);
//! its items are kept apart, which `xtask/tests/isolation_proof.rs` proves on
//! the pool role's policies.

mod common;

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use common::*;
use tenant_access::s3::{ObjectKey, TenantBucket, WriteCondition};
use tenant_access::{Caller, Error};
use test_support::Stack;

/// s3-fetch's and dynamodb-items' apps, and the bucket, under `isolation`.
async fn apps(
    stack: &Stack,
    isolation: &str,
) -> (s3_fetch::App, dynamodb_items::App, TenantBucket) {
    let env = stack.with_strategy(isolation);
    let sdk = env.sdk_config().await;
    let files_config = s3_fetch::Config::from_lookup(&env.lookup()).expect("s3-fetch config");
    let files = s3_fetch::App::new(&files_config, &sdk);
    let items = dynamodb_items::App::new(
        &dynamodb_items::Config::from_lookup(&env.lookup()).expect("dynamodb-items config"),
        &sdk,
    );
    (files, items, TenantBucket::new(&files_config.service))
}

fn user(tenant: &str, user: &str, isolation: &str) -> Caller {
    Caller::new(tenant.parse().unwrap(), format!("user-areas-{isolation}"))
        .with_user(user.parse().unwrap())
}

fn tenant(tenant: &str, isolation: &str) -> Caller {
    Caller::new(tenant.parse().unwrap(), format!("user-areas-{isolation}"))
}

/// The four sessions each test sets against one another: user A of
/// tenant1, user B of tenant1, user A of tenant2 (the same `sub` in another
/// tenant), and tenant1's own shared session.
async fn sessions_of(
    sessions: &tenant_access::TenantSessions,
    isolation: &str,
) -> [std::sync::Arc<tenant_access::TenantSession>; 4] {
    let mut out = Vec::new();
    for caller in [
        user("tenant1", "user-a", isolation),
        user("tenant1", "user-b", isolation),
        user("tenant2", "user-a", isolation),
    ] {
        out.push(
            sessions
                .user_session(&caller)
                .await
                .expect("a user's session"),
        );
    }
    out.push(
        sessions
            .session(&tenant("tenant1", isolation))
            .await
            .expect("tenant1's session"),
    );
    out.try_into().expect("four sessions")
}

#[tokio::test]
async fn a_user_s_raw_session_reaches_only_its_own_files_under_every_strategy() {
    let stack = Stack::load();
    let bucket_name = stack.var("TENANT_BUCKET");
    for isolation in tenant_access::config::Isolation::ASSUME_ROLE_NAMES {
        let (files, _, bucket) = apps(&stack, isolation).await;
        let [a, b, same_sub_elsewhere, shared] = sessions_of(files.sessions(), isolation).await;

        // User A writes a note in its own area, through the crate.
        let note = ObjectKey::parse("notes/private.txt").unwrap();
        bucket
            .put_object(
                &a,
                &note,
                b"user A's own".to_vec(),
                Some("text/plain"),
                &WriteCondition::Any,
            )
            .await
            .unwrap_or_else(|e| panic!("{isolation}: user A writes its own area: {e}"));
        let key = "tenant1_home/users/user-a/notes/private.txt";
        assert_eq!(
            get(&a, &bucket_name, key).await,
            Ok(()),
            "{isolation}: user A reads its own file"
        );
        assert_eq!(
            list(&a, &bucket_name, "tenant1_home/users/user-a/").await,
            Ok(()),
            "{isolation}: user A lists its own area"
        );

        // Everyone else, raw, around the crate: refused by the front.
        for (who, session) in [
            ("user B of tenant1", &b),
            ("user A of tenant2", &same_sub_elsewhere),
            ("tenant1's shared session", &shared),
        ] {
            assert_eq!(
                get(session, &bucket_name, key).await,
                denied_by_front(),
                "{isolation}: {who} reads user A's file"
            );
            assert_eq!(
                list(session, &bucket_name, "tenant1_home/users/user-a/").await,
                denied_by_front(),
                "{isolation}: {who} lists user A's area"
            );
        }
        // The shared session lists no user area at all; user B's, nothing of
        // the tenant's but its own area.
        assert_eq!(
            list(&shared, &bucket_name, "tenant1_home/users/").await,
            denied_by_front(),
            "{isolation}: tenant1's shared session lists the users' areas"
        );
        assert_eq!(
            list(&b, &bucket_name, "tenant1_home/").await,
            denied_by_front(),
            "{isolation}: user B lists the tenant's home"
        );
        assert_eq!(
            list(&b, &bucket_name, "tenant1_home/users/user-b/").await,
            Ok(()),
            "{isolation}: user B lists its own area"
        );

        // Through the crate, the tenant's shared area refuses the users'
        // folder before any call, and leaves it out of listings.
        let inside = ObjectKey::parse("users/user-a/notes/private.txt").unwrap();
        let refused = bucket
            .get_object(&shared, &inside, &Default::default())
            .await
            .map(|_| ())
            .unwrap_err();
        assert!(matches!(refused, Error::BadRequest(_)), "{refused:?}");
        let page = bucket
            .list_objects(
                &shared,
                &tenant_access::s3::KeyPrefix::parse("").unwrap(),
                1000,
                None,
            )
            .await
            .expect("tenant1 lists its home");
        assert!(
            page.objects.iter().all(|o| !o.key.starts_with("users/")),
            "{isolation}: no user's file in the tenant's listing"
        );
        assert!(page.objects.iter().any(|o| o.key == "tenant.info"));
        // And user B's own area does not have user A's note.
        let missing = bucket
            .get_object(&b, &note, &Default::default())
            .await
            .map(|_| ())
            .unwrap_err();
        assert!(
            matches!(missing, Error::NotFound),
            "{isolation}: {missing:?}"
        );
    }
}

#[tokio::test]
async fn a_user_s_raw_session_reaches_only_its_own_items_under_every_strategy() {
    let stack = Stack::load();
    let table = stack.var("TENANT_TABLE");
    let key = |partition: &str, id: &str| {
        HashMap::from([
            (
                "tenant_id".to_owned(),
                AttributeValue::S(partition.to_owned()),
            ),
            ("item_id".to_owned(), AttributeValue::S(id.to_owned())),
        ])
    };
    for isolation in tenant_access::config::Isolation::ASSUME_ROLE_NAMES {
        let (_, items, _) = apps(&stack, isolation).await;
        let [a, b, same_sub_elsewhere, shared] = sessions_of(items.sessions(), isolation).await;
        let id = format!("user-areas-{isolation}");
        let mut item = key("tenant1#user-a", &id);
        item.insert("data".to_owned(), AttributeValue::S("\"mine\"".into()));
        let client = |session: &tenant_access::TenantSession| {
            aws_sdk_dynamodb::Client::new(&session.sdk_config())
        };
        client(&a)
            .put_item()
            .table_name(&table)
            .set_item(Some(item.clone()))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{isolation}: user A writes its own partition: {e:?}"));
        for (who, session) in [
            ("user B of tenant1", &b),
            ("user A of tenant2", &same_sub_elsewhere),
            ("tenant1's shared session", &shared),
        ] {
            let read = client(session)
                .get_item()
                .table_name(&table)
                .set_key(Some(key("tenant1#user-a", &id)))
                .send()
                .await;
            assert_eq!(
                read.map(|_| ()).map_err(item_refusal),
                item_denied_by_front(),
                "{isolation}: {who} reads user A's item"
            );
            let write = client(session)
                .put_item()
                .table_name(&table)
                .set_item(Some(item.clone()))
                .send()
                .await;
            assert_eq!(
                write.map(|_| ()).map_err(item_refusal),
                item_denied_by_front(),
                "{isolation}: {who} writes user A's item"
            );
        }
    }
}
