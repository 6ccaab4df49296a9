//! dynamodb-items against the local stack: a tenant writes, reads back,
//! pages and deletes its items; two writers racing on one version get
//! exactly one winner; and another tenant's items stay out of reach.

use dynamodb_items::{App, Config, function_handler};
use lambda_http::{Body, Response};
use serde_json::{Value, json};
use test_support::{Stack, body_json, event, request};

async fn app(stack: &Stack) -> App {
    let config = Config::from_lookup(&stack.lookup()).expect("stack config is valid");
    App::new(&config, &stack.sdk_config().await)
}

/// `tenant`'s request `method path` with `body` and `headers`, from the
/// list fixture's shape.
fn call(
    tenant: &str,
    method: &str,
    path: &str,
    body: Option<&Value>,
    headers: &[(&str, &str)],
) -> lambda_http::Request {
    let mut e = test_support::as_tenant(&event("dynamodb-items/tenant1-items.json"), tenant, path);
    e["requestContext"]["http"]["method"] = json!(method);
    e["requestContext"]["http"]["path"] = json!(path);
    e["rawPath"] = json!(path);
    e["routeKey"] = json!(format!("{method} {path}"));
    for (k, v) in headers {
        e["headers"][*k] = json!(v);
    }
    if let Some(body) = body {
        e["headers"]["content-type"] = json!("application/json");
        e["body"] = json!(body.to_string());
    }
    request(&e)
}

fn status(r: &Response<Body>) -> u16 {
    r.status().as_u16()
}

/// The response's `ETag`.
fn etag(r: &Response<Body>) -> String {
    r.headers()["etag"].to_str().unwrap().to_owned()
}

/// An item deleted and created again has a new tag: an `If-Match` taken
/// before the delete refuses to overwrite the new item (412), though it
/// is at version 1 again like the one it names.
#[tokio::test]
async fn a_tag_from_before_a_delete_does_not_match_the_item_created_after_it() {
    let stack = Stack::load();
    let app = app(&stack).await;
    let serve = |r| function_handler(&app, r);
    let path = "/items/recreated";
    let _ = serve(call("tenant1", "DELETE", path, None, &[])).await;
    let put = |data: Value, headers: &[(&str, &str)]| {
        serve(call("tenant1", "PUT", path, Some(&data), headers))
    };
    let before = put(json!({"n": 1}), &[]).await.unwrap();
    assert_eq!(status(&before), 201);
    let stale = etag(&before);
    let deleted = serve(call(
        "tenant1",
        "DELETE",
        path,
        None,
        &[("if-match", &stale)],
    ))
    .await
    .unwrap();
    assert_eq!(status(&deleted), 204);
    let after = put(json!({"n": 2}), &[]).await.unwrap();
    assert_eq!(status(&after), 201);
    assert_eq!(body_json(&after)["version"], 1, "the count starts again");
    assert_ne!(etag(&after), stale);

    let overwrite = put(json!({"n": 3}), &[("if-match", &stale)]).await.unwrap();
    assert_eq!(status(&overwrite), 412);
    assert_eq!(body_json(&overwrite)["error"], "precondition_failed");
    let read = serve(call("tenant1", "GET", path, None, &[]))
        .await
        .unwrap();
    assert_eq!(body_json(&read)["data"], json!({"n": 2}), "untouched");
}

/// An item stored before tags existed (no `etag` attribute, as in a table
/// the previous release wrote) is read with the tag `"v<version>"`, and an
/// `If-Match` of that tag writes over it once, giving it a real tag.
#[tokio::test]
async fn an_item_stored_before_tags_is_read_and_written_with_its_version_as_tag() {
    use aws_sdk_dynamodb::types::AttributeValue;
    let stack = Stack::load();
    let app = app(&stack).await;
    let serve = |r| function_handler(&app, r);
    let path = "/items/stored-before-tags";
    let caller = stack
        .caller("tenant1", "role-per-tenant", "legacy-item")
        .await;
    let session = app.sessions().session(&caller).await.expect("a session");
    let attribute = |v: &str| AttributeValue::S(v.to_owned());
    app.table()
        .client(&session)
        .put_item()
        .table_name(app.table().name())
        .item("tenant_id", attribute("tenant1"))
        .item("item_id", attribute("stored-before-tags"))
        .item("version", AttributeValue::N("3".to_owned()))
        .item("data", attribute(r#"{"old":true}"#))
        .item("updated_at", attribute("2026-01-01T00:00:00Z"))
        .send()
        .await
        .expect("the tenant writes its own item");

    let read = serve(call("tenant1", "GET", path, None, &[]))
        .await
        .unwrap();
    assert_eq!(status(&read), 200, "{}", body_json(&read));
    assert_eq!(etag(&read), "\"v3\"");
    let wrong = serve(call(
        "tenant1",
        "PUT",
        path,
        Some(&json!({"n": 1})),
        &[("if-match", "\"v2\"")],
    ))
    .await
    .unwrap();
    assert_eq!(status(&wrong), 412);
    let written = serve(call(
        "tenant1",
        "PUT",
        path,
        Some(&json!({"n": 2})),
        &[("if-match", "\"v3\"")],
    ))
    .await
    .unwrap();
    assert_eq!(status(&written), 200, "{}", body_json(&written));
    assert_eq!(body_json(&written)["version"], 4);
    assert_ne!(etag(&written), "\"v4\"", "a real tag from now on");
    let again = serve(call(
        "tenant1",
        "DELETE",
        path,
        None,
        &[("if-match", "\"v3\"")],
    ))
    .await
    .unwrap();
    assert_eq!(status(&again), 412, "the version tag is spent");
    let deleted = serve(call(
        "tenant1",
        "DELETE",
        path,
        None,
        &[("if-match", &etag(&written))],
    ))
    .await
    .unwrap();
    assert_eq!(status(&deleted), 204);
}

/// A conditional write whose answer is lost after DynamoDB committed it
/// (the front passes the call on, then answers 500): the SDK sends it
/// again, the condition no longer holds, and the item carries this
/// write's own tag, so the client gets the success it was, not 412.
#[tokio::test]
async fn a_retried_write_that_had_committed_answers_as_the_success_it_was() {
    let stack = Stack::load();
    // A front of its own before the stack's, so its fault hits only this
    // test's call.
    let stack_front = stack
        .var("AWS_ENDPOINT_URL")
        .trim_start_matches("http://")
        .parse()
        .expect("the stack front's address");
    let front = local_front::HttpFront::start("127.0.0.1:0".parse().unwrap(), stack_front)
        .await
        .expect("a front");
    let env = stack.with(&[("AWS_ENDPOINT_URL", &front.endpoint())]);
    let config = Config::from_lookup(&env.lookup()).expect("stack config is valid");
    let app = App::new(&config, &env.sdk_config().await);
    let serve = |r| function_handler(&app, r);
    let path = "/items/lost-answer";
    let _ = serve(call("tenant1", "DELETE", path, None, &[])).await;
    let created = serve(call("tenant1", "PUT", path, Some(&json!({"n": 1})), &[]))
        .await
        .unwrap();
    assert_eq!(status(&created), 201, "{}", body_json(&created));
    let tag = etag(&created);
    // The next DynamoDB call for this item is passed on, and its answer lost.
    let lose_next_answer = || {
        front.inject(
            local_front::HttpRule::new(local_front::HttpFault::LoseAnswer)
                .service(local_front::Service::DynamoDb)
                .contains("lost-answer")
                .times(1),
        )
    };
    lose_next_answer();
    let replaced = serve(call(
        "tenant1",
        "PUT",
        path,
        Some(&json!({"n": 2})),
        &[("if-match", &tag)],
    ))
    .await
    .unwrap();
    assert_eq!(front.injected(), 1, "the first answer was lost");
    assert_eq!(status(&replaced), 200, "{}", body_json(&replaced));
    assert_eq!(body_json(&replaced)["data"], json!({"n": 2}));
    assert_ne!(etag(&replaced), tag);
    let read = serve(call("tenant1", "GET", path, None, &[]))
        .await
        .unwrap();
    assert_eq!(
        etag(&read),
        etag(&replaced),
        "the write the client was told of"
    );

    // The same with If-None-Match: *: created, though the retry found it.
    let _ = serve(call("tenant1", "DELETE", path, None, &[])).await;
    lose_next_answer();
    let created = serve(call(
        "tenant1",
        "PUT",
        path,
        Some(&json!({"n": 3})),
        &[("if-none-match", "*")],
    ))
    .await
    .unwrap();
    assert_eq!(front.injected(), 2);
    assert_eq!(status(&created), 201, "{}", body_json(&created));
}

#[tokio::test]
async fn a_tenant_writes_reads_pages_and_deletes_its_items() {
    let stack = Stack::load();
    let app = app(&stack).await;
    let serve = |r| function_handler(&app, r);
    let id = "round-trip";
    let path = format!("/items/{id}");
    let _ = serve(call("tenant1", "DELETE", &path, None, &[])).await;

    let created = serve(call("tenant1", "PUT", &path, Some(&json!({"a": 1})), &[]))
        .await
        .unwrap();
    assert_eq!(status(&created), 201);
    let first = etag(&created);
    let replaced = serve(call(
        "tenant1",
        "PUT",
        &path,
        Some(&json!({"a": 2})),
        &[("if-match", &first)],
    ))
    .await
    .unwrap();
    assert_eq!(status(&replaced), 200);
    assert_eq!(body_json(&replaced)["version"], 2);
    let second = etag(&replaced);
    assert_ne!(first, second, "every write has a tag of its own");
    let read = serve(call("tenant1", "GET", &path, None, &[]))
        .await
        .unwrap();
    assert_eq!(body_json(&read)["data"], json!({"a": 2}));

    // tenant2 has no such item: the key is always the caller's own.
    let theirs = serve(call("tenant2", "GET", &path, None, &[]))
        .await
        .unwrap();
    assert_eq!(status(&theirs), 404);
    let theirs = serve(call("tenant2", "DELETE", &path, None, &[]))
        .await
        .unwrap();
    assert_eq!(status(&theirs), 404);
    // Those 404s rest on the key being the caller's own. IAM refuses the
    // rest: tenant2's own session, asking DynamoDB directly for tenant1's
    // item, is denied (dynamodb:LeadingKeys), and tenant1's item is there.
    let tenant2 = tenant_access::Caller::new("tenant2".parse().unwrap(), "items-direct");
    let session = app.sessions().session(&tenant2).await.unwrap();
    let direct = |partition: &str| {
        app.table()
            .client(&session)
            .get_item()
            .table_name(app.table().name())
            .key(
                "tenant_id",
                aws_sdk_dynamodb::types::AttributeValue::S(partition.to_owned()),
            )
            .key(
                "item_id",
                aws_sdk_dynamodb::types::AttributeValue::S(id.to_owned()),
            )
            .send()
    };
    let denied = direct("tenant1").await;
    assert_eq!(
        denied
            .as_ref()
            .err()
            .and_then(aws_sdk_dynamodb::error::ProvideErrorMetadata::code),
        Some("AccessDeniedException"),
        "tenant2's session reads tenant1's partition: {denied:?}"
    );
    direct("tenant2")
        .await
        .expect("the same session may read its own partition");

    // Paging walks every item once, in id order, to the end.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut ended = false;
    for _ in 0..20 {
        let mut r = call("tenant1", "GET", "/items", None, &[]);
        let mut query = std::collections::HashMap::from([("limit".to_owned(), "1".to_owned())]);
        if let Some(c) = &cursor {
            query.insert("cursor".to_owned(), c.clone());
        }
        r = lambda_http::RequestExt::with_query_string_parameters(r, query);
        let response = serve(r).await.unwrap();
        assert_eq!(status(&response), 200, "every page is served");
        let page = body_json(&response);
        assert!(
            page["items"].as_array().unwrap().len() <= 1,
            "a page holds at most `limit` items"
        );
        seen.extend(
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["id"].as_str().unwrap().to_owned()),
        );
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => {
                ended = true;
                break;
            }
        }
    }
    assert!(ended, "the walk ends with a page that has no next cursor");
    assert!(seen.contains(&id.to_owned()) && seen.contains(&"welcome".to_owned()));
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(seen, sorted, "in id order, each once");
    assert!(!seen.contains(&"only-tenant2".to_owned()));

    let stale = serve(call(
        "tenant1",
        "DELETE",
        &path,
        None,
        &[("if-match", &first)],
    ))
    .await
    .unwrap();
    assert_eq!(status(&stale), 412);
    let deleted = serve(call(
        "tenant1",
        "DELETE",
        &path,
        None,
        &[("if-match", &second)],
    ))
    .await
    .unwrap();
    assert_eq!(status(&deleted), 204);
    let gone = serve(call("tenant1", "GET", &path, None, &[]))
        .await
        .unwrap();
    assert_eq!(status(&gone), 404);
}

/// Eight writers with the same `If-Match` version: exactly one wins, the
/// others get 412, and the item holds the winner's data.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_conditional_write_race_has_exactly_one_winner() {
    let stack = Stack::load();
    let app = std::sync::Arc::new(app(&stack).await);
    let path = "/items/race";
    let _ = function_handler(&app, call("tenant1", "DELETE", path, None, &[])).await;
    let created = function_handler(
        &app,
        call("tenant1", "PUT", path, Some(&json!({"w": -1})), &[]),
    )
    .await
    .unwrap();
    assert_eq!(status(&created), 201);
    let tag = etag(&created);
    let mut writers = tokio::task::JoinSet::new();
    for w in 0..8 {
        let app = app.clone();
        let tag = tag.clone();
        writers.spawn(async move {
            let r = call(
                "tenant1",
                "PUT",
                path,
                Some(&json!({"w": w})),
                &[("if-match", &tag)],
            );
            (w, status(&function_handler(&app, r).await.unwrap()))
        });
    }
    let answers = writers.join_all().await;
    let winners: Vec<i64> = answers
        .iter()
        .filter(|(_, s)| *s == 200)
        .map(|(w, _)| *w)
        .collect();
    assert_eq!(winners.len(), 1, "{answers:?}");
    assert!(
        answers.iter().all(|(_, s)| *s == 200 || *s == 412),
        "{answers:?}"
    );
    let read = function_handler(&app, call("tenant1", "GET", path, None, &[]))
        .await
        .unwrap();
    assert_eq!(body_json(&read)["data"], json!({"w": winners[0]}));
    assert_eq!(body_json(&read)["version"], 2);
}
