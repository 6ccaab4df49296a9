//! Every `events/s3-fetch/` fixture through the handler against the local
//! stack, checked against `events/expectations.json`.

use s3_fetch::{App, Config, function_handler};
use test_support::{
    Stack, check_expectation, event, fixture_table, readme_error_examples, request,
};

#[tokio::test]
async fn every_fixture_answers_as_recorded() {
    let stack = Stack::load();
    let config = Config::from_lookup(&stack.lookup()).expect("stack config is valid");
    let app = App::new(&config, &stack.sdk_config().await);
    let table = fixture_table("s3-fetch");
    assert!(table.len() >= 40, "only {} fixtures", table.len());
    let mut failures = Vec::new();
    for (name, event, expected) in &table {
        let response = function_handler(&app, request(event))
            .await
            .expect("the handler never fails the invocation");
        for problem in check_expectation(name, expected, &response) {
            failures.push(format!("{name}: {problem}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    // The README's error examples are what these fixtures really answer.
    let examples = readme_error_examples("s3-fetch");
    assert!(!examples.is_empty());
    for (fixture, status, body) in examples {
        let response = function_handler(&app, request(&event(&fixture)))
            .await
            .expect("the handler never fails the invocation");
        assert_eq!(
            response.status().as_u16(),
            status,
            "README example {fixture}"
        );
        assert_eq!(
            test_support::body_json(&response),
            body,
            "README example {fixture}"
        );
    }
}
