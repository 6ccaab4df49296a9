//! Presigned URLs against the local stack.
//!
//! moto 5.2.5 cannot authenticate query-string (presigned) SigV4 while IAM
//! enforcement is on: it looks for an `Authorization` header and fails with
//! a 500. So this test checks what can be checked locally: the URL is signed
//! by the tenant's own STS session (whose policy moto does enforce in the
//! other tests), expires no later than configured, and, fetched with
//! enforcement paused, addresses exactly the tenant's object. That a
//! presigned URL carries its signer's IAM limits is AWS's behaviour.
//!
//! Enforcement is paused for the whole moto server, so this is the only test
//! in this binary (cargo runs test binaries one at a time).

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

    for (tenant, fixture, expected_len) in [
        (
            "tenant1",
            "tenant1-big.json",
            config.service.inline_max_bytes + 1,
        ),
        (
            "tenant2",
            "tenant2-download-url.json",
            "tenant2 info\n".len() as u64,
        ),
    ] {
        let response = function_handler(&app, request(&event(&format!("s3-fetch/{fixture}"))))
            .await
            .expect("the handler never fails the invocation");
        let status = response.status().as_u16();
        assert!(status == 302 || status == 200, "{fixture}: {status}");
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

        let (status, bytes) = {
            let _paused = stack.pause_iam_enforcement();
            http_get(&url).await
        };
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
