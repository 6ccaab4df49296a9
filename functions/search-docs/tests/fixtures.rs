//! Every `events/search-docs/` fixture through the handler against the
//! local stack (the front's search domain), checked against
//! `events/expectations.json`, and the error examples of docs/api.md
//! replayed.

use search_docs::{App, Config, function_handler};
use serde_json::json;
use tenant_access::search::DocId;
use test_support::{Stack, check_fixture_table};

/// Put each tenant's index as the fixtures expect it: `welcome` and
/// `to-delete` (and tenant2's `only-tenant2`), no `fixture-*` documents.
/// Done with the tenant's own session (the function's), which may write
/// only its own index.
async fn reset(stack: &Stack, app: &App) {
    for tenant in ["tenant1", "tenant2"] {
        let caller = stack
            .caller(tenant, "role-per-tenant", "fixture-reset")
            .await;
        let session = app.sessions().session(&caller).await.expect("a session");
        let id = |id: &str| DocId::parse(id).unwrap();
        let mut docs = vec![
            (
                "welcome",
                json!({"title": "welcome", "body": "the first document"}),
            ),
            ("to-delete", json!({"title": "doomed"})),
        ];
        if tenant == "tenant2" {
            docs.push(("only-tenant2", json!({"title": "only here"})));
        }
        for (name, document) in docs {
            app.index()
                .put(&session, &id(name), &document)
                .await
                .expect("the tenant writes its own document");
        }
        for name in ["fixture-put"] {
            match app.index().delete(&session, &id(name)).await {
                Ok(()) | Err(tenant_access::Error::NotFound) => {}
                Err(e) => panic!("the tenant deletes its own document: {e:?}"),
            }
        }
    }
}

#[tokio::test]
async fn every_fixture_answers_as_recorded() {
    let stack = Stack::load();
    let config = Config::from_lookup(&stack.lookup()).expect("stack config is valid");
    let app = App::new(&config, &stack.sdk_config().await).expect("TLS roots");
    reset(&stack, &app).await;
    check_fixture_table("search-docs", |request| async {
        function_handler(&app, request)
            .await
            .expect("the handler never fails the invocation")
    })
    .await;
}
