//! Every `events/dynamodb-items/` fixture through the handler against the
//! local stack, checked against `events/expectations.json`, and the error
//! examples of docs/api.md replayed.

use aws_sdk_dynamodb::types::AttributeValue;
use dynamodb_items::{App, Config, function_handler};
use test_support::{Stack, check_fixture_table};

/// Put each tenant's partition back as the seed left it: `welcome` and
/// `to-delete` at version 1, no `fixture-*` items. Done with the tenant's
/// own session (the function's), which may write only its partition.
async fn reset(stack: &Stack, app: &App) {
    for tenant in ["tenant1", "tenant2"] {
        let caller = stack
            .caller(tenant, "role-per-tenant", "fixture-reset")
            .await;
        let session = app.sessions().session(&caller).await.expect("a session");
        let items = aws_sdk_dynamodb::Client::new(&session.sdk_config());
        let key = |id: &str| {
            [
                ("tenant_id".to_owned(), AttributeValue::S(tenant.to_owned())),
                ("item_id".to_owned(), AttributeValue::S(id.to_owned())),
            ]
        };
        for (id, data) in [
            ("welcome", r#"{"message":"welcome"}"#),
            ("to-delete", r#"{"doomed":true}"#),
        ] {
            let mut item: std::collections::HashMap<_, _> = key(id).into();
            item.insert("version".into(), AttributeValue::N("1".into()));
            // The seed's tag (xtask/stack/seed_moto.py), which the fixtures name.
            item.insert(
                "etag".into(),
                AttributeValue::S("00000000000000000000000000000001".into()),
            );
            item.insert("data".into(), AttributeValue::S(data.into()));
            item.insert(
                "updated_at".into(),
                AttributeValue::S("2026-01-01T00:00:00Z".into()),
            );
            items
                .put_item()
                .table_name(app.table().name())
                .set_item(Some(item))
                .send()
                .await
                .expect("the tenant writes its own item");
        }
        for id in ["fixture-put", "fixture-put-v1"] {
            items
                .delete_item()
                .table_name(app.table().name())
                .set_key(Some(key(id).into()))
                .send()
                .await
                .expect("the tenant deletes its own item");
        }
    }
}

#[tokio::test]
async fn every_fixture_answers_as_recorded() {
    let stack = Stack::load();
    let config = Config::from_lookup(&stack.lookup()).expect("stack config is valid");
    let app = App::new(&config, &stack.sdk_config().await);
    reset(&stack, &app).await;
    check_fixture_table("dynamodb-items", |request| async {
        function_handler(&app, request)
            .await
            .expect("the handler never fails the invocation")
    })
    .await;
}
