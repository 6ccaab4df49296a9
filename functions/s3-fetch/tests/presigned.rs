//! Presigned URLs against the local stack, used as a browser would: the
//! URL is signed by the tenant's own STS session, expires no later than
//! configured, and fetched as given (the local front verifies its
//! signature, moto enforcing) returns exactly the tenant's object.

use std::time::SystemTime;

use s3_fetch::{App, Config, function_handler};
use test_support::{Stack, body_json, event, http_get, request};

fn query_param<'u>(url: &'u str, name: &str) -> &'u str {
    url.split(['?', '&'])
        .find_map(|pair| pair.strip_prefix(&format!("{name}=")))
        .unwrap_or_else(|| panic!("{name} missing from {url}"))
}

#[tokio::test]
async fn presigned_urls_are_signed_by_the_tenant_session_and_address_its_object() {
    let stack = Stack::load();
    let config = Config::from_lookup(&stack.lookup()).expect("stack config is valid");
    let app = App::new(&config, &stack.sdk_config().await);
    let ttl = config.service.presign_ttl.as_secs();

    // An object past the inline limit is a redirect; `?download=url` a
    // JSON answer holding the URL.
    for (tenant, fixture, expected_status, expected_len) in [
        (
            "tenant1",
            "tenant1-big.json",
            302,
            config.service.inline_max_bytes + 1,
        ),
        (
            "tenant2",
            "tenant2-download-url.json",
            200,
            "tenant2 info\n".len() as u64,
        ),
    ] {
        let response = function_handler(&app, request(&event(&format!("s3-fetch/{fixture}"))))
            .await
            .expect("the handler never fails the invocation");
        let status = response.status().as_u16();
        assert_eq!(status, expected_status, "{fixture}");
        let body = body_json(&response);
        let url = body["url"].as_str().expect("url").to_owned();
        if status == 302 {
            assert_eq!(response.headers()["location"], url.as_str());
        }
        assert_eq!(response.headers()["cache-control"], "no-store");

        // Signed by the tenant's cached STS session, not the execution role.
        let caller = tenant_access::Caller::new(tenant.parse().unwrap(), "presign-test");
        let session = app
            .sessions()
            .session(&caller)
            .await
            .expect("cached session");
        let credential = query_param(&url, "X-Amz-Credential");
        assert!(
            credential.starts_with(&format!("{}%2F", session.credentials().access_key_id())),
            "{credential}"
        );
        assert_ne!(
            session.credentials().access_key_id(),
            stack.var("AWS_ACCESS_KEY_ID")
        );
        assert!(url.contains("X-Amz-Security-Token="), "{url}");
        let expires: u64 = query_param(&url, "X-Amz-Expires").parse().unwrap();
        assert!(expires > 0 && expires <= ttl, "{expires}");
        assert!(body["expires_in"].as_u64().unwrap() <= ttl);
        assert!(url.contains(&format!("/{tenant}_home/")), "{url}");

        let (status, bytes) = http_get(&url).await;
        assert_eq!(
            status,
            200,
            "{}",
            String::from_utf8_lossy(&bytes[..bytes.len().min(200)])
        );
        assert_eq!(bytes.len() as u64, expected_len);
        assert!(bytes.starts_with(tenant.as_bytes()));
    }
    assert_eq!(
        app.sessions().assume_role_calls(),
        2,
        "one session per tenant, reused"
    );
}

/// An upload URL for `key`, asked with `if_none_match`: its URL and the
/// headers it must be sent with, less `content-length` (the HTTP client
/// sends the body's own length, so a longer body shows as a longer
/// length).
async fn upload_url(app: &App, key: &str, if_none_match: bool) -> (String, Vec<(String, String)>) {
    let mut e = test_support::with_key(&event("s3-fetch/tenant1-upload-url.json"), key);
    if if_none_match {
        e["headers"]["if-none-match"] = "*".into();
    }
    let response = function_handler(app, request(&e))
        .await
        .expect("the handler never fails the invocation");
    assert_eq!(response.status().as_u16(), 200, "{:?}", response.body());
    let body = body_json(&response);
    let headers: Vec<(String, String)> = body["headers"]
        .as_object()
        .expect("headers")
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().expect("a header value").to_owned()))
        .collect();
    assert!(
        headers
            .iter()
            .any(|(k, v)| k == "content-length" && v == "8"),
        "the length is signed into the URL: {headers:?}"
    );
    assert_eq!(
        headers
            .iter()
            .any(|(k, v)| k == "if-none-match" && v == "*"),
        if_none_match,
        "the condition is signed into the URL: {headers:?}"
    );
    let url = body["url"].as_str().expect("url").to_owned();
    let headers = headers
        .into_iter()
        .filter(|(k, _)| k != "content-length")
        .collect();
    (url, headers)
}

async fn put(url: &str, headers: &[(String, String)], body: &[u8]) -> (u16, String) {
    let headers: Vec<(&str, &str)> = headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let (status, answer) = test_support::http_with("PUT", url, &headers, body).await;
    (status, String::from_utf8_lossy(&answer).into_owned())
}

/// An upload URL keeps its promises, with the front verifying signatures
/// and moto enforcing: issued not to overwrite, it cannot overwrite; issued
/// for 8 bytes, it refuses 9; and its condition cannot be left out.
#[tokio::test]
async fn upload_urls_keep_their_length_and_their_condition() {
    let stack = Stack::load();
    let config = Config::from_lookup(&stack.lookup()).expect("stack config is valid");
    let app = App::new(&config, &stack.sdk_config().await);

    // tenant.info exists: a URL issued with If-None-Match: * never
    // overwrites it (S3 checks the signed condition: 412).
    let (url, headers) = upload_url(&app, "tenant.info", true).await;
    let (status, answer) = put(&url, &headers, b"12345678").await;
    assert_eq!(status, 412, "{answer}");
    // Without the condition header the URL does not verify.
    let without: Vec<(String, String)> = headers
        .iter()
        .filter(|(k, _)| k != "if-none-match")
        .cloned()
        .collect();
    let (status, answer) = put(&url, &without, b"12345678").await;
    assert_eq!(status, 403, "{answer}");
    assert!(answer.contains("SignatureDoesNotMatch"), "{answer}");
    let (_, info) = http_get(&presigned_get_of(&app, "tenant.info").await).await;
    assert_eq!(info, b"tenant1 info\n", "tenant.info is untouched");

    // A new key, for 8 bytes: 9 do not verify, 8 are written.
    let stamp = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let key = format!("uploads/{stamp}.bin");
    let (url, headers) = upload_url(&app, &key, true).await;
    let (status, answer) = put(&url, &headers, b"123456789").await;
    assert_eq!(status, 403, "{answer}");
    assert!(
        answer.contains("SignatureDoesNotMatch") && answer.contains("local-front"),
        "{answer}"
    );
    let (status, answer) = put(&url, &headers, b"12345678").await;
    assert_eq!(status, 200, "{answer}");
    // Used again, the same URL does not overwrite what it wrote.
    let (status, answer) = put(&url, &headers, b"87654321").await;
    assert_eq!(status, 412, "{answer}");
}

/// A presigned GET URL of the tenant1 object `key`.
async fn presigned_get_of(app: &App, key: &str) -> String {
    let e = test_support::with_key(&event("s3-fetch/tenant1-download-url.json"), key);
    let response = function_handler(app, request(&e))
        .await
        .expect("the handler never fails the invocation");
    assert_eq!(response.status().as_u16(), 200, "{:?}", response.body());
    body_json(&response)["url"]
        .as_str()
        .expect("url")
        .to_owned()
}

/// `size` is required with `upload=url`, 1 to 5 GiB, and means nothing
/// without it: each refusal is a 400 that says why.
#[tokio::test]
async fn an_upload_url_needs_a_size_it_can_sign() {
    let stack = Stack::load();
    let config = Config::from_lookup(&stack.lookup()).expect("stack config is valid");
    let app = App::new(&config, &stack.sdk_config().await);
    for (query, what) in [
        ("upload=url", "no size"),
        ("upload=url&size=0", "an empty upload"),
        ("upload=url&size=5368709121", "over S3's 5 GiB"),
        ("upload=url&size=8kb", "not a number"),
        ("size=8", "size without upload=url"),
    ] {
        let mut e = event("s3-fetch/tenant1-upload-url.json");
        e["rawQueryString"] = query.into();
        e["queryStringParameters"] = query
            .split('&')
            .map(|pair| {
                let (k, v) = pair.split_once('=').unwrap();
                (k.to_owned(), serde_json::Value::from(v))
            })
            .collect::<serde_json::Map<_, _>>()
            .into();
        let response = function_handler(&app, request(&e))
            .await
            .expect("the handler never fails the invocation");
        assert_eq!(response.status().as_u16(), 400, "{what}");
        let body = body_json(&response);
        assert_eq!(body["error"], "bad_request", "{what}");
        assert!(
            body["message"].as_str().unwrap().contains("size"),
            "{what}: {body}"
        );
    }
}
