//! Every `events/aurora-query/` fixture through the handler against the local
//! stack, checked against `events/expectations.json`.

use aurora_query::{App, Config, function_handler};
use test_support::{
    Stack, check_expectation, event, fixture_table, readme_error_examples, request, root,
};

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
    let table = fixture_table("aurora-query");
    assert!(table.len() >= 30, "only {} fixtures", table.len());
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
    let examples = readme_error_examples("aurora-query");
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
