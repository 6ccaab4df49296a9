//! Every `events/s3-fetch/` fixture through the handler against the local
//! stack, checked against `events/expectations.json`, and the error
//! examples of docs/api.md replayed.

use s3_fetch::{App, Config, function_handler};
use test_support::{Stack, check_fixture_table};

#[tokio::test]
async fn every_fixture_answers_as_recorded() {
    let stack = Stack::load();
    let config = Config::from_lookup(&stack.lookup()).expect("stack config is valid");
    let app = App::new(&config, &stack.sdk_config().await);
    check_fixture_table("s3-fetch", |request| async {
        function_handler(&app, request)
            .await
            .expect("the handler never fails the invocation")
    })
    .await;
}
