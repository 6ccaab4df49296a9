//! Every `events/aurora-query/` fixture through the handler against the
//! local stack, checked against `events/expectations.json`, and the error
//! examples of docs/api.md replayed.

use aurora_query::{App, Config, function_handler};
use test_support::{Stack, check_fixture_table, root};

#[tokio::test]
async fn every_fixture_answers_as_recorded() {
    let stack = Stack::load();
    // The create and delete fixtures change state: put the seeded records
    // back and remove what an earlier run created, so the table can run again.
    let admin = stack.admin_db().await;
    admin
        .execute(
            "DELETE FROM records WHERE name LIKE 'created-by-fixture%'",
            &[],
        )
        .await
        .expect("admin cleans up");
    let seed = std::fs::read_to_string(root().join("db/local/90_seed.sql")).expect("seed file");
    admin
        .batch_execute(&seed)
        .await
        .expect("seed applies again");

    let config = Config::from_lookup(&stack.lookup()).expect("stack config is valid");
    let app = App::new(&config, &stack.sdk_config().await).expect("CA bundle loads");
    check_fixture_table("aurora-query", |request| async {
        function_handler(&app, request)
            .await
            .expect("the handler never fails the invocation")
    })
    .await;
}
