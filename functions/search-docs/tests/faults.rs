//! The search domain on a bad day, through a front of the test's own (IAM
//! enforced, so the tenant's session is recorded there as everywhere):
//! throttling answers 503 `throttled`, a 5xx 503 `upstream_unavailable`,
//! both with `Retry-After`, and a domain slower than
//! `SEARCH_TIMEOUT_SECONDS` is answered 503 within that bound, never left
//! to the invocation's deadline. Once the domain is well, the same request
//! is answered by the domain again.

use std::time::{Duration, Instant};

use lambda_http::{Body, Response};
use local_front::{HttpFault, HttpFront, HttpRule, Service};
use search_docs::{App, Config, function_handler};
use test_support::{Stack, as_tenant, body_json, event, request, retry_after};

fn answer(response: &Response<Body>) -> (u16, String, Option<String>) {
    (
        response.status().as_u16(),
        body_json(response)["error"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        retry_after(response),
    )
}

#[tokio::test]
async fn a_throttling_failing_or_slow_domain_is_answered_503_in_time() {
    let stack = Stack::load();
    let front = HttpFront::start_enforcing(
        "127.0.0.1:0".parse().unwrap(),
        stack.moto_addr(),
        stack.registry_file(),
    )
    .await
    .expect("a front");
    let endpoint = front.endpoint();
    let env = stack.with(&[
        ("AWS_ENDPOINT_URL", &endpoint),
        ("SEARCH_ENDPOINT", &endpoint),
        ("SEARCH_TIMEOUT_SECONDS", "1"),
    ]);
    let config = Config::from_lookup(&env.lookup()).expect("config");
    let app = App::new(&config, &env.sdk_config().await).expect("TLS roots");
    let get = as_tenant(
        &event("search-docs/tenant1-doc.json"),
        "tenant1",
        "search-faults",
    );
    let serve = || function_handler(&app, request(&get));

    // The domain is well: this front's own (empty) index has no such
    // document.
    let well = serve().await.unwrap();
    assert_eq!(answer(&well).0, 404, "{}", body_json(&well));

    for (fault, expected) in [
        (HttpFault::Throttle, (503, "throttled", Some("2"))),
        (
            HttpFault::ServerError,
            (503, "upstream_unavailable", Some("1")),
        ),
    ] {
        front.inject(HttpRule::new(fault.clone()).service(Service::Es));
        let response = serve().await.unwrap();
        let (status, code, retry) = answer(&response);
        assert_eq!(
            (status, code.as_str(), retry.as_deref()),
            expected,
            "{fault:?}"
        );
        front.clear();
    }

    // Slower than SEARCH_TIMEOUT_SECONDS: answered within it, not held.
    front.inject(HttpRule::new(HttpFault::Delay { ms: 4000 }).service(Service::Es));
    let started = Instant::now();
    let response = serve().await.unwrap();
    let took = started.elapsed();
    let (status, code, retry) = answer(&response);
    assert_eq!(
        (status, code.as_str()),
        (503, "upstream_unavailable"),
        "{}",
        body_json(&response)
    );
    assert!(retry.is_some(), "with Retry-After");
    assert!(
        took < Duration::from_millis(2500),
        "answered within the search time-out, not after the domain: {took:?}"
    );
    front.clear();

    let again = serve().await.unwrap();
    assert_eq!(answer(&again).0, 404, "well again");
}
