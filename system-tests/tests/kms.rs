//! Per-tenant KMS keys, enforced through the local front under every
//! strategy: S3 decrypts an SSE-KMS object only for a session whose tenant
//! the object's key is tagged with, and encrypts a write only with such a
//! key; the bucket policy refuses writes without SSE-KMS. moto's S3 never
//! asks KMS, so every refusal here is the front's, and the KMS ones say so
//! (`kms:Decrypt`, `kms:GenerateDataKey` in S3's `AccessDenied`).
//!
//! One test, in steps: it plants an object by going around IAM (moto's
//! enforcement paused), as an operator's mistake would, which must not
//! overlap other tests' refusals.

use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::ServerSideEncryption;
use test_support::Stack;

/// `tenant`'s s3-fetch session under `isolation` (with the user's token
/// under identity-pool).
async fn session(stack: &Stack, isolation: &str, tenant: &str) -> aws_sdk_s3::Client {
    let env = stack.with_strategy(isolation);
    let app = s3_fetch::App::new(
        &s3_fetch::Config::from_lookup(&env.lookup()).expect("config"),
        &env.sdk_config().await,
    );
    let caller = stack.caller(tenant, isolation, "kms-test").await;
    let session = app.sessions().session(&caller).await.expect("a session");
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&session.sdk_config())
            .force_path_style(true)
            .build(),
    )
}

/// The key ARN of `tenant`, from the seed's registry.
fn key_of(stack: &Stack, tenant: &str) -> String {
    let path = stack.registry_file();
    let registry: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("registry")).expect("JSON");
    registry["keys"]
        .as_object()
        .expect("keys")
        .iter()
        .find(|(_, key)| key["tags"]["TenantID"] == tenant)
        .map(|(arn, _)| arn.clone())
        .unwrap_or_else(|| panic!("no key for {tenant}"))
}

/// The error's code and message, and whether the front answered it.
fn refusal<E: ProvideErrorMetadata>(
    e: aws_sdk_s3::error::SdkError<E, aws_sdk_s3::config::http::HttpResponse>,
) -> (String, String) {
    let body = e
        .raw_response()
        .and_then(|r| r.body().bytes())
        .map(|b| String::from_utf8_lossy(b).into_owned())
        .unwrap_or_default();
    assert!(body.contains("local-front"), "moto answered: {body}");
    (
        e.code().unwrap_or_default().to_owned(),
        e.message().unwrap_or_default().to_owned(),
    )
}

#[tokio::test]
async fn each_tenant_s_key_serves_only_that_tenant_under_every_strategy() {
    let stack = Stack::load();
    let bucket = stack.var("TENANT_BUCKET");
    let (key1, key2) = (key_of(&stack, "tenant1"), key_of(&stack, "tenant2"));

    // An operator's mistake: an object under tenant1's prefix, encrypted
    // with tenant2's key. Written straight to moto with IAM paused.
    {
        let _paused = stack.pause_iam_enforcement();
        let admin = stack
            .with(&[("AWS_ENDPOINT_URL", &stack.var("STACK_MOTO_URL"))])
            .sdk_config()
            .await;
        let admin = aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&admin)
                .force_path_style(true)
                .build(),
        );
        admin
            .put_object()
            .bucket(&bucket)
            .key("tenant1_home/misplaced.bin")
            .server_side_encryption(ServerSideEncryption::AwsKms)
            .ssekms_key_id(&key2)
            .body(ByteStream::from_static(b"tenant2's secret, misplaced"))
            .send()
            .await
            .expect("the operator writes");
    }

    for isolation in tenant_access::config::Isolation::NAMES {
        let s3 = session(&stack, isolation, "tenant1").await;

        // Its own object, its own key: read.
        let own = s3
            .get_object()
            .bucket(&bucket)
            .key("tenant1_home/tenant.info")
            .send()
            .await
            .unwrap_or_else(|e| panic!("{isolation}: tenant1 reads its own object: {e:?}"));
        assert_eq!(own.ssekms_key_id(), Some(key1.as_str()), "{isolation}");

        // Under its own prefix but tenant2's key: the KMS check refuses,
        // though the prefix allows it.
        let misplaced = s3
            .get_object()
            .bucket(&bucket)
            .key("tenant1_home/misplaced.bin")
            .send()
            .await
            .map(|_| ())
            .map_err(refusal);
        let (code, message) = misplaced.expect_err("tenant2's key must not decrypt for tenant1");
        assert_eq!(code, "AccessDenied", "{isolation}");
        assert!(message.contains("kms:Decrypt"), "{isolation}: {message}");
        // HEAD decrypts nothing: the prefix allows it.
        s3.head_object()
            .bucket(&bucket)
            .key("tenant1_home/misplaced.bin")
            .send()
            .await
            .unwrap_or_else(|e| panic!("{isolation}: HEAD: {e:?}"));

        // Writing with tenant2's key: the data key is refused.
        let put = |key: &str, kms: Option<&str>| {
            let mut request = s3
                .put_object()
                .bucket(&bucket)
                .key(key)
                .body(ByteStream::from_static(b"x"));
            if let Some(kms) = kms {
                request = request
                    .server_side_encryption(ServerSideEncryption::AwsKms)
                    .ssekms_key_id(kms);
            }
            request.send()
        };
        let (code, message) = put("tenant1_home/kms-test.txt", Some(&key2))
            .await
            .map(|_| ())
            .map_err(refusal)
            .expect_err("tenant2's key must not encrypt for tenant1");
        assert_eq!(code, "AccessDenied", "{isolation}");
        assert!(
            message.contains("kms:GenerateDataKey"),
            "{isolation}: {message}"
        );

        // Without SSE-KMS: the bucket policy refuses, whatever the prefix.
        let (code, message) = put("tenant1_home/kms-test.txt", None)
            .await
            .map(|_| ())
            .map_err(refusal)
            .expect_err("a write without SSE-KMS");
        assert_eq!(code, "AccessDenied", "{isolation}");
        assert!(
            message.contains("s3:PutObject")
                && message.ends_with("with an explicit deny in a resource-based policy"),
            "{isolation}: refused by the bucket policy: {message}"
        );

        // Under tenant2's prefix, even with tenant1's own key: the prefix.
        let (code, message) = put("tenant2_home/planted.txt", Some(&key1))
            .await
            .map(|_| ())
            .map_err(refusal)
            .expect_err("a write under tenant2's prefix");
        assert_eq!(code, "AccessDenied", "{isolation}");
        // Not the bucket policy (the write carries SSE-KMS): the policy
        // that confines the tenant to its prefix. Under session-policy
        // alone that is the session policy (the shared role's own policy
        // spans every tenant); under every other strategy, the role's.
        let confining = if isolation == "session-policy" {
            "session"
        } else {
            "identity-based"
        };
        assert!(
            message.contains("s3:PutObject")
                && message.contains("tenant2_home/planted.txt")
                && message.ends_with(&format!(
                    "because no {confining} policy allows the s3:PutObject action"
                )),
            "{isolation}: refused by the prefix: {message}"
        );
        let (code, _) = s3
            .delete_object()
            .bucket(&bucket)
            .key("tenant2_home/tenant.info")
            .send()
            .await
            .map(|_| ())
            .map_err(refusal)
            .expect_err("a delete under tenant2's prefix");
        assert_eq!(code, "AccessDenied", "{isolation}");

        // With its own key, under its own prefix: written, read, deleted.
        put("tenant1_home/kms-test.txt", Some(&key1))
            .await
            .unwrap_or_else(|e| panic!("{isolation}: tenant1 writes with its key: {e:?}"));
        s3.delete_object()
            .bucket(&bucket)
            .key("tenant1_home/kms-test.txt")
            .send()
            .await
            .unwrap_or_else(|e| panic!("{isolation}: tenant1 deletes its own: {e:?}"));
    }
    // A presigned PUT URL, bound to tenant1's key: sent with the headers
    // it was signed with, it writes SSE-KMS; without them its signature
    // does not verify. With moto enforcing: the front verifies the URL.
    {
        let app = s3_fetch::App::new(
            &s3_fetch::Config::from_lookup(&stack.lookup()).expect("config"),
            &stack.sdk_config().await,
        );
        let mut e = test_support::with_key(
            &test_support::event("s3-fetch/tenant1-upload-url.json"),
            "kms-test/uploaded.bin",
        );
        e["requestContext"]["http"]["method"] = "PUT".into();
        let response = s3_fetch::function_handler(&app, test_support::request(&e))
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let upload = test_support::body_json(&response);
        let url = upload["url"].as_str().unwrap().to_owned();
        let headers: Vec<(String, String)> = upload["headers"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
            .collect();
        assert!(
            headers
                .iter()
                .any(|(k, v)| k == "x-amz-server-side-encryption-aws-kms-key-id"
                    && v.ends_with("alias/tenant/tenant1")),
            "{headers:?}"
        );
        let with: Vec<(&str, &str)> = headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let (status, body) = test_support::http_with("PUT", &url, &with, b"uploaded").await;
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        let (status, body) = test_support::http_with("PUT", &url, &[], b"unencrypted").await;
        assert_eq!(status, 403, "{}", String::from_utf8_lossy(&body));
        let body = String::from_utf8_lossy(&body);
        assert!(
            body.contains("SignatureDoesNotMatch") && body.contains("local-front"),
            "{body}"
        );
    }
    let s3 = session(&stack, "role-per-tenant", "tenant1").await;
    let uploaded = s3
        .get_object()
        .bucket(&bucket)
        .key("tenant1_home/kms-test/uploaded.bin")
        .send()
        .await
        .expect("the upload is there");
    // moto reports the key id as the upload named it (the alias; S3 would
    // report the key's ARN): either way, tenant1's key.
    let stored = uploaded.ssekms_key_id().unwrap_or_default();
    assert!(
        stored == key1 || stored.ends_with(":alias/tenant/tenant1"),
        "{stored}"
    );

    // tenant2's objects are as seeded.
    let theirs = session(&stack, "role-per-tenant", "tenant2").await;
    let body = theirs
        .get_object()
        .bucket(&bucket)
        .key("tenant2_home/tenant.info")
        .send()
        .await
        .expect("tenant2 reads its own")
        .body
        .collect()
        .await
        .unwrap()
        .into_bytes();
    assert_eq!(&body[..], b"tenant2 info\n");
}

/// KMS on a bad day, injected at the front's KMS call (a `kms` rule): a
/// disabled key answers 403 `key_unavailable`, throttling 503 `throttled`;
/// the next request, with the fault gone, is served.
#[tokio::test]
async fn kms_faults_answer_as_the_fault_model_says() {
    use local_front::{HttpFault, HttpFront, HttpRule, Service};
    let stack = Stack::load();
    let front = HttpFront::start_enforcing(
        "127.0.0.1:0".parse().unwrap(),
        stack.moto_addr(),
        stack.registry_file(),
    )
    .await
    .expect("a front");
    let env = stack.with(&[("AWS_ENDPOINT_URL", &front.endpoint())]);
    let app = s3_fetch::App::new(
        &s3_fetch::Config::from_lookup(&env.lookup()).expect("config"),
        &env.sdk_config().await,
    );
    let get = || async {
        let response = s3_fetch::function_handler(
            &app,
            test_support::request(&test_support::event("s3-fetch/tenant1-get.json")),
        )
        .await
        .unwrap();
        let status = response.status().as_u16();
        let code = if status == 200 {
            String::new()
        } else {
            test_support::body_json(&response)["error"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        };
        (status, code)
    };
    assert_eq!(get().await.0, 200);
    let calls = front.kms_calls();
    assert!(calls >= 1, "the read asked KMS");
    front.inject(
        HttpRule::new(HttpFault::KeyDisabled)
            .service(Service::Kms)
            .times(1),
    );
    assert_eq!(get().await, (403, "key_unavailable".to_owned()));
    front.inject(
        HttpRule::new(HttpFault::Throttle)
            .service(Service::Kms)
            .times(3),
    );
    assert_eq!(get().await, (503, "throttled".to_owned()));
    front.clear();
    assert_eq!(get().await.0, 200);
}
