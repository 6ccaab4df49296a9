//! s3-fetch against the local stack (real moto with IAM enforced).
//! Run with `cargo xtask test`, which starts the stack.

use s3_fetch::{App, Config, function_handler};
use test_support::{Stack, body_bytes, body_json, event, request, with_key};

async fn app(stack: &Stack) -> App {
    let config = Config::from_lookup(&stack.lookup()).expect("stack config is valid");
    App::new(&config, &stack.sdk_config().await)
}

async fn call(app: &App, event: &serde_json::Value) -> lambda_http::Response<lambda_http::Body> {
    function_handler(app, request(event))
        .await
        .expect("the handler never fails the invocation")
}

#[tokio::test]
async fn each_tenant_gets_its_own_object_over_http_api_and_rest_api() {
    let stack = Stack::load();
    let app = app(&stack).await;
    for tenant in ["tenant1", "tenant2"] {
        let response = call(&app, &event(&format!("s3-fetch/{tenant}-get.json"))).await;
        assert_eq!(response.status(), 200, "{tenant}");
        assert_eq!(body_bytes(&response), format!("{tenant} info\n").as_bytes());
        assert_eq!(response.headers()["content-type"], "text/plain");
        assert!(response.headers().contains_key("etag"));

        let response = call(&app, &event(&format!("s3-fetch/{tenant}-get-docs-v1.json"))).await;
        assert_eq!(response.status(), 200, "{tenant} v1");
        assert_eq!(
            body_bytes(&response),
            format!("# {tenant} docs\n").as_bytes()
        );
    }
}

#[tokio::test]
async fn a_missing_key_is_a_json_404() {
    let stack = Stack::load();
    let response = call(&app(&stack).await, &event("s3-fetch/tenant1-missing.json")).await;
    assert_eq!(response.status(), 404);
    assert_eq!(body_json(&response)["error"], "not_found");
}

#[tokio::test]
async fn no_key_trick_reaches_the_other_tenants_bytes() {
    let stack = Stack::load();
    let app = app(&stack).await;
    let base = event("s3-fetch/tenant1-get.json");
    let tricks = [
        "../tenant2_home/tenant.info",
        "./../tenant2_home/tenant.info",
        "docs/../../tenant2_home/tenant.info",
        "..%2Ftenant2_home%2Ftenant.info",
        "%2e%2e/tenant2_home/tenant.info",
        "%252e%252e%252ftenant2_home%252ftenant.info",
        "/tenant2_home/tenant.info",
        "//tenant2_home/tenant.info",
        "tenant2_home/tenant.info",
        "tenant2_home//tenant.info",
        "..\\tenant2_home\\tenant.info",
        "tenant1_home/../tenant2_home/tenant.info",
        "s3://tenant-data/tenant2_home/tenant.info",
        "arn:aws:s3:::tenant-data/tenant2_home/tenant.info",
        "tenant.info\0/../../tenant2_home/tenant.info",
        "tenant.info\n../tenant2_home/tenant.info",
    ];
    for key in tricks {
        let response = call(&app, &with_key(&base, key)).await;
        let status = response.status().as_u16();
        assert!(status == 400 || status == 404, "{key:?} answered {status}");
        let body = body_json(&response);
        let text = body.to_string();
        assert!(
            !text.contains("tenant2 info"),
            "{key:?} leaked tenant2's object"
        );
        assert!(
            !text.contains("tenant2"),
            "{key:?} named the other tenant: {text}"
        );
    }

    // Without a matched route (local emulators), the raw path is decoded once:
    // an encoded traversal becomes a plain one and is refused.
    let mut raw = base.clone();
    raw.as_object_mut().unwrap().remove("pathParameters");
    raw["rawPath"] = "/files/..%2Ftenant2_home%2Ftenant.info".into();
    let response = call(&app, &raw).await;
    assert_eq!(response.status(), 400);
    assert_eq!(body_json(&response)["error"], "bad_request");
}

#[tokio::test]
async fn requests_without_a_verified_tenant_are_refused_before_any_aws_call() {
    let stack = Stack::load();
    let app = app(&stack).await;
    let cases = [
        ("s3-fetch/no-authorizer.json", 401, "unauthenticated"),
        ("s3-fetch/claim-missing.json", 403, "tenant_claim_missing"),
    ];
    for (fixture, status, code) in cases {
        let response = call(&app, &event(fixture)).await;
        assert_eq!(response.status(), status, "{fixture}");
        assert_eq!(body_json(&response)["error"], code);
    }
    assert_eq!(
        app.sessions().assume_role_calls(),
        0,
        "no AssumeRole for unauthenticated requests"
    );
}

#[tokio::test]
async fn other_methods_are_405() {
    let stack = Stack::load();
    let mut e = event("s3-fetch/tenant1-get.json");
    e["requestContext"]["http"]["method"] = "PATCH".into();
    let response = call(&app(&stack).await, &e).await;
    assert_eq!(response.status(), 405);
    assert_eq!(response.headers()["allow"], "GET, HEAD, PUT, DELETE");
    assert_eq!(body_json(&response)["error"], "method_not_allowed");
}

#[tokio::test]
async fn sessions_are_reused_across_invocations_one_assume_role_per_tenant() {
    let stack = Stack::load();
    let app = app(&stack).await;
    for _ in 0..5 {
        for tenant in ["tenant1", "tenant2"] {
            let response = call(&app, &event(&format!("s3-fetch/{tenant}-get.json"))).await;
            assert_eq!(response.status(), 200);
        }
    }
    assert_eq!(app.sessions().assume_role_calls(), 2);
}

/// A request's usage record counts the S3 requests it made (`awsCalls`):
/// a warm GET, its session and registry state cached, is one S3 call and
/// no other; a missing key is one too (S3 answered it), and a request
/// refused before any AWS call is none.
#[tokio::test]
async fn a_request_s_aws_calls_are_its_own_s3_requests() {
    use tenant_access::metrics::measure;
    let stack = Stack::load();
    let app = app(&stack).await;
    let get = event("s3-fetch/tenant1-get.json");
    assert_eq!(call(&app, &get).await.status(), 200, "warm-up");
    let (response, counts) = measure(call(&app, &get)).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        (
            counts.data_calls,
            counts.assume_role_calls,
            counts.registry_reads
        ),
        (1, 0, 0)
    );
    let (response, counts) = measure(call(&app, &event("s3-fetch/tenant1-missing.json"))).await;
    assert_eq!(response.status(), 404);
    assert_eq!(counts.data_calls, 1);
    let (response, counts) = measure(call(&app, &event("s3-fetch/claim-missing.json"))).await;
    assert_eq!(response.status(), 403);
    assert_eq!(counts.data_calls, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_first_requests_of_a_tenant_share_one_assume_role() {
    let stack = Stack::load();
    let app = std::sync::Arc::new(app(&stack).await);
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let app = app.clone();
        tasks.spawn(async move {
            call(&app, &event("s3-fetch/tenant1-get.json"))
                .await
                .status()
        });
    }
    while let Some(status) = tasks.join_next().await {
        assert_eq!(status.unwrap(), 200);
    }
    assert_eq!(app.sessions().assume_role_calls(), 1);
}

/// An S3 client signing with `creds`, bypassing the crate entirely.
async fn raw_s3(
    stack: &Stack,
    creds: Option<aws_credential_types::Credentials>,
) -> aws_sdk_s3::Client {
    let sdk = match creds {
        Some(creds) => stack.sdk_config_with(creds).await,
        None => stack.sdk_config().await,
    };
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&sdk)
            .force_path_style(true)
            .build(),
    )
}

async fn denied_code(s3: &aws_sdk_s3::Client, bucket: &str, key: &str) -> Option<String> {
    let err = s3
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .expect_err("must be denied");
    err.as_service_error()
        .and_then(aws_sdk_s3::error::ProvideErrorMetadata::code)
        .map(str::to_owned)
}

/// Even with the crate bypassed, a tenant1 session cannot read tenant2's
/// prefix: IAM (moto, enforcing the role policy) refuses it.
#[tokio::test]
async fn tenant1_credentials_used_directly_cannot_read_tenant2_prefix() {
    let stack = Stack::load();
    let s3 = raw_s3(&stack, Some(stack.raw_tenant_credentials("tenant1").await)).await;
    let bucket = stack.var("TENANT_BUCKET");
    let own = s3
        .get_object()
        .bucket(&bucket)
        .key("tenant1_home/tenant.info")
        .send()
        .await;
    assert!(own.is_ok(), "control: tenant1 reads its own prefix");
    for key in ["tenant2_home/tenant.info", "tenant2_home/docs/readme.md"] {
        assert_eq!(
            denied_code(&s3, &bucket, key).await.as_deref(),
            Some("AccessDenied"),
            "{key}"
        );
    }
}

/// A session for another function's job reads nothing, even with no
/// session policy to stop it: tenant1's own role assumed with
/// aurora-query's or dynamodb-items' `Scope` tag (which the trust policy
/// keeps from s3-fetch on AWS; locally one identity stands for the three
/// execution roles), and the other jobs' shared roles. Without the tag the
/// trust policy refuses the session itself.
#[tokio::test]
async fn a_session_for_another_job_reads_nothing() {
    let stack = Stack::load();
    let bucket = stack.var("TENANT_BUCKET");
    let account = stack.var("AWS_ACCOUNT_ID");
    // Without the Scope tag the role's trust policy refuses the session.
    let role = format!("arn:aws:iam::{account}:role/tenant/assumeRole-tenant1");
    assert_eq!(
        stack
            .try_raw_role_credentials(&role, None)
            .await
            .err()
            .as_deref(),
        Some("AccessDenied"),
        "tenant1's role without the Scope tag"
    );
    let mut sessions = Vec::new();
    for scope in [Some("db"), Some("dynamodb")] {
        sessions.push((
            format!("tenant1's role, Scope {scope:?}"),
            stack.raw_tenant_credentials_as("tenant1", scope).await,
        ));
    }
    for job in ["db", "dynamodb"] {
        let role = format!("arn:aws:iam::{account}:role/tenant-access-shared-{job}");
        sessions.push((role.clone(), stack.raw_role_credentials(&role, None).await));
    }
    for (what, creds) in sessions {
        let s3 = raw_s3(&stack, Some(creds)).await;
        assert_eq!(
            denied_code(&s3, &bucket, "tenant1_home/tenant.info")
                .await
                .as_deref(),
            Some("AccessDenied"),
            "{what}"
        );
    }
}

/// The execution identity itself holds no data permissions at all.
#[tokio::test]
async fn the_execution_identity_cannot_read_any_tenant_data() {
    let stack = Stack::load();
    let s3 = raw_s3(&stack, None).await;
    let bucket = stack.var("TENANT_BUCKET");
    for key in ["tenant1_home/tenant.info", "tenant2_home/tenant.info"] {
        assert_eq!(
            denied_code(&s3, &bucket, key).await.as_deref(),
            Some("AccessDenied"),
            "{key}"
        );
    }
}

/// A tenant that was never onboarded gets no data and no 500: STS refuses
/// the AssumeRole of a role that does not exist, and the function answers
/// exactly 403 `tenant_not_onboarded` (not a retryable 503).
#[tokio::test]
async fn a_tenant_without_a_role_gets_no_data() {
    let stack = Stack::load();
    let mut e = event("s3-fetch/tenant1-get.json");
    e["requestContext"]["authorizer"]["jwt"]["claims"]["custom:tenant_id"] = "tenant3".into();
    let response = call(&app(&stack).await, &e).await;
    // STS refuses a role that does not exist (the local front checks it as
    // STS does; moto alone would hand out a session).
    assert_eq!(response.status().as_u16(), 403);
    let body = body_json(&response);
    assert_eq!(body["error"], "tenant_not_onboarded", "{body}");
    assert!(
        !body.to_string().contains("info"),
        "no object bytes in {body}"
    );
}

/// An s3-fetch event for `key` with a query string.
fn with_query(event: &serde_json::Value, query: &[(&str, &str)]) -> serde_json::Value {
    let mut event = event.clone();
    let params: serde_json::Map<String, serde_json::Value> = query
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).into()))
        .collect();
    event["rawQueryString"] = query
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
        .into();
    event["queryStringParameters"] = params.into();
    event
}

/// `?download=url` for another tenant's key answers 404 like a missing key
/// and presigns nothing; so does HEAD.
#[tokio::test]
async fn no_download_url_or_metadata_for_another_tenants_key() {
    let stack = Stack::load();
    let app = app(&stack).await;
    let base = event("s3-fetch/tenant2-download-url.json");
    for key in ["tenant1_home/tenant.info", "no-such-key"] {
        let response = call(&app, &with_key(&base, key)).await;
        assert_eq!(response.status(), 404, "{key}");
        assert!(!body_json(&response).to_string().contains("http"), "{key}");
    }
    let mut head = with_key(
        &event("s3-fetch/tenant2-head.json"),
        "tenant1_home/tenant.info",
    );
    head["requestContext"]["http"]["method"] = "HEAD".into();
    assert_eq!(call(&app, &head).await.status(), 404);
}

/// Every full key under `home` (e.g. `tenant2_home/`), listed with `s3`.
async fn raw_keys(s3: &aws_sdk_s3::Client, bucket: &str, home: &str) -> Vec<String> {
    let mut keys = Vec::new();
    let mut pages = s3
        .list_objects_v2()
        .bucket(bucket)
        .prefix(home)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.expect("a tenant lists its own home");
        keys.extend(
            page.contents()
                .iter()
                .filter_map(|o| o.key().map(str::to_owned)),
        );
    }
    keys
}

/// Following `next_cursor` with small page sizes visits every key of the
/// tenant once, in order, and nothing of the other tenant: the home's own
/// folder marker (`tenant1_home/`, an empty relative key), folder markers,
/// empty segments and 1000-byte keys included, which a cursor built from an
/// object key could not get past.
#[tokio::test]
async fn listing_pages_walk_the_tenant_prefix_only() {
    let stack = Stack::load();
    let app = app(&stack).await;
    let bucket = stack.var("TENANT_BUCKET");
    let tenant1: tenant_access::TenantId = "tenant1".parse().unwrap();

    // The home's folder marker, as a console's "create folder" makes it,
    // written as the tenant itself, through the session the function
    // holds for it (the execution identity has no data permissions), and
    // SSE-KMS with the tenant's key as every write is.
    let s3_config = tenant_access::config::S3Config::from_lookup(stack.lookup())
        .expect("the stack's S3 config");
    let bucket_access = tenant_access::s3::TenantBucket::new(&s3_config);
    let session = |tenant: &str| {
        let caller = tenant_access::Caller::new(tenant.parse().unwrap(), "listing-test");
        let sessions = app.sessions();
        async move { sessions.session(&caller).await.expect("a tenant session") }
    };
    let own_session = session("tenant1").await;
    let own = bucket_access.client(&own_session);
    own.put_object()
        .bucket(&bucket)
        .key("tenant1_home/")
        .body(Vec::new().into())
        .server_side_encryption(aws_sdk_s3::types::ServerSideEncryption::AwsKms)
        .ssekms_key_id(bucket_access.kms_key(&tenant1))
        .bucket_key_enabled(false)
        .send()
        .await
        .expect("tenant1 writes its home's folder marker");
    assert!(
        raw_keys(&own, &bucket, "tenant1_home/")
            .await
            .iter()
            .any(|k| k == "tenant1_home/"),
        "the marker is there to be paged past"
    );
    // The other tenant's keys, as full keys: none may be listed, whole or
    // as a key under its home.
    let other_session = session("tenant2").await;
    let others = raw_keys(
        &bucket_access.client(&other_session),
        &bucket,
        "tenant2_home/",
    )
    .await;
    assert!(others.iter().any(|k| k == "tenant2_home/tenant.info"));

    let base = event("s3-fetch/tenant1-list.json");
    let long = format!("odd/{}", "k".repeat(996));
    let seeded = [
        "bench-1k-sse-s3.bin",
        "bench-1k.bin",
        "big.bin",
        "docs/readme.md",
        "odd/",
        "odd/a//b",
        long.as_str(),
        "tenant.info",
    ];
    for limit in [1usize, 2, 3, 1000] {
        let limit_text = limit.to_string();
        let mut keys: Vec<String> = Vec::new();
        let mut cursor: Option<String> = None;
        let mut last_page_seen = false;
        for page in 0..100 {
            let mut query = vec![("limit", limit_text.as_str())];
            if let Some(c) = cursor.as_deref() {
                query.push(("cursor", c));
            }
            let response = call(&app, &with_query(&base, &query)).await;
            assert_eq!(response.status(), 200, "limit {limit}, page {page}");
            let body = body_json(&response);
            let items = body["items"].as_array().expect("items");
            assert!(items.len() <= limit, "limit {limit}, page {page}: {body}");
            for item in items {
                let key = item["key"].as_str().expect("a key");
                assert!(
                    !key.is_empty(),
                    "limit {limit}, page {page}: empty key in {body}"
                );
                assert!(
                    !key.starts_with("tenant2_home") && !others.iter().any(|o| o == key),
                    "limit {limit}, page {page}: tenant2's key {key:?}"
                );
                keys.push(key.to_owned());
            }
            match body["next_cursor"].as_str() {
                Some(next) => {
                    // A page that promises more gave something to follow.
                    assert!(!items.is_empty(), "limit {limit}, page {page}: {body}");
                    cursor = Some(next.to_owned());
                }
                None => {
                    last_page_seen = true;
                    break;
                }
            }
        }
        assert!(last_page_seen, "limit {limit}: the walk never ended");
        assert!(
            keys.windows(2).all(|pair| pair[0] < pair[1]),
            "limit {limit}: each key once, in order: {keys:?}"
        );
        // Keys other tests write (fixture/, writes/, kms-test/...) come and
        // go: the seeded ones are checked.
        keys.retain(|k| seeded.contains(&k.as_str()));
        assert_eq!(keys, seeded, "limit {limit}: every seeded key");
    }
}
