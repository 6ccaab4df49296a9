//! Tenants write their own files through s3-fetch, against the local stack:
//! a round trip (write, read back, delete), conditional writes, and a race
//! of eight conditional writers with exactly one winner.

use std::sync::Arc;

use lambda_http::{Body, Response};
use s3_fetch::{App, Config, function_handler};
use serde_json::{Value, json};
use test_support::{Stack, body_bytes, event, request, with_key};

async fn app(stack: &Stack) -> App {
    let config = Config::from_lookup(&stack.lookup()).expect("stack config is valid");
    App::new(&config, &stack.sdk_config().await)
}

/// tenant1's `method` of `key` with `body` and `headers`.
fn call(method: &str, key: &str, body: Option<&str>, headers: &[(&str, &str)]) -> Value {
    let mut e = with_key(&event("s3-fetch/tenant1-get.json"), key);
    e["requestContext"]["http"]["method"] = json!(method);
    e["routeKey"] = json!(format!("{method} /files/{{key+}}"));
    for (k, v) in headers {
        e["headers"][*k] = json!(v);
    }
    if let Some(body) = body {
        e["headers"]["content-type"] = json!("text/plain");
        e["body"] = json!(body);
    }
    e
}

async fn serve(app: &App, e: &Value) -> Response<Body> {
    function_handler(app, request(e))
        .await
        .expect("the handler answers")
}

#[tokio::test]
async fn a_tenant_writes_reads_back_and_deletes_its_file() {
    let stack = Stack::load();
    let app = app(&stack).await;
    let key = "writes/round-trip.txt";
    let written = serve(&app, &call("PUT", key, Some("round trip\n"), &[])).await;
    assert_eq!(written.status(), 200);
    let etag = written.headers()["etag"].to_str().unwrap().to_owned();
    let read = serve(&app, &call("GET", key, None, &[])).await;
    assert_eq!(read.status(), 200);
    assert_eq!(body_bytes(&read), b"round trip\n");
    assert_eq!(read.headers()["content-type"], "text/plain");
    // Conditional: not over another version, and not if it exists.
    let stale = serve(
        &app,
        &call(
            "PUT",
            key,
            Some("x"),
            &[("if-match", "\"0123456789abcdef0123456789abcdef\"")],
        ),
    )
    .await;
    assert_eq!(stale.status(), 412);
    let exists = serve(
        &app,
        &call("PUT", key, Some("x"), &[("if-none-match", "*")]),
    )
    .await;
    assert_eq!(exists.status(), 412);
    let stale_delete = serve(
        &app,
        &call(
            "DELETE",
            key,
            None,
            &[("if-match", "\"0123456789abcdef0123456789abcdef\"")],
        ),
    )
    .await;
    assert_eq!(stale_delete.status(), 412);
    let deleted = serve(&app, &call("DELETE", key, None, &[("if-match", &etag)])).await;
    assert_eq!(deleted.status(), 204);
    let gone = serve(&app, &call("GET", key, None, &[])).await;
    assert_eq!(gone.status(), 404);
    // A body over the inline limit is refused, naming the limit (larger
    // bodies go through ?upload=url).
    let big = "x".repeat(4 * 1024 * 1024 + 1);
    let too_large = serve(&app, &call("PUT", "writes/big.bin", Some(&big), &[])).await;
    assert_eq!(too_large.status(), 413);
    let body = test_support::body_json(&too_large);
    assert_eq!(body["error"], "payload_too_large", "{body}");
    assert_eq!(
        body["message"], "the body is larger than 4194304 bytes",
        "the answer names the limit"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_conditional_write_race_has_exactly_one_winner() {
    let stack = Stack::load();
    let app = Arc::new(app(&stack).await);
    let key = "writes/race.txt";
    let _ = serve(&app, &call("DELETE", key, None, &[])).await;
    let mut writers = tokio::task::JoinSet::new();
    for w in 0..8 {
        let app = app.clone();
        writers.spawn(async move {
            let body = format!("writer {w}");
            let e = call("PUT", key, Some(&body), &[("if-none-match", "*")]);
            (w, serve(&app, &e).await.status().as_u16())
        });
    }
    let answers = writers.join_all().await;
    let winners: Vec<i32> = answers
        .iter()
        .filter(|(_, s)| *s == 200)
        .map(|(w, _)| *w)
        .collect();
    assert_eq!(winners.len(), 1, "{answers:?}");
    assert!(
        answers.iter().all(|(_, s)| *s == 200 || *s == 412),
        "{answers:?}"
    );
    let read = serve(&app, &call("GET", key, None, &[])).await;
    assert_eq!(
        body_bytes(&read),
        format!("writer {}", winners[0]).as_bytes()
    );
    let _ = serve(&app, &call("DELETE", key, None, &[])).await;
}

/// A tenant-written type is served as written, never sniffed, and what a
/// browser would render as markup or script comes as an attachment.
#[tokio::test]
async fn served_objects_are_never_sniffed_and_markup_is_an_attachment() {
    let stack = Stack::load();
    let app = app(&stack).await;
    for (key, content_type, attachment) in [
        ("writes/page.html", "text/html; charset=utf-8", true),
        ("writes/logo.svg", "image/svg+xml", true),
        ("writes/notes.txt", "text/plain", false),
    ] {
        let mut put = call("PUT", key, Some("<script>alert(1)</script>"), &[]);
        put["headers"]["content-type"] = json!(content_type);
        assert_eq!(serve(&app, &put).await.status(), 200, "{key}");
        let read = serve(&app, &call("GET", key, None, &[])).await;
        assert_eq!(read.status(), 200, "{key}");
        assert_eq!(read.headers()["content-type"], content_type, "{key}");
        assert_eq!(read.headers()["x-content-type-options"], "nosniff", "{key}");
        assert_eq!(
            read.headers()
                .get("content-disposition")
                .map(|v| v.to_str().unwrap()),
            attachment.then_some("attachment"),
            "{key}"
        );
    }
}
