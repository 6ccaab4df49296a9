//! Presigned URLs against the local stack, used as a browser would: the
//! URL is signed by the tenant's own STS session, expires no later than
//! configured, and fetched as given (the local front verifies its
//! signature, moto enforcing) returns exactly the tenant's object.

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
