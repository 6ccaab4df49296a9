//! Lambda's tenant isolation mode (`LAMBDA_TENANT_ISOLATION`), through the
//! envelope every function serves with: the invocation's tenant id (what
//! Lambda routed the invocation by, the execution environment's tenant) is
//! checked against the caller's verified tenant before the handler runs.
//! The real runtime's header reaching this check is shown with the built
//! function and a Runtime API stand-in (`functions/aurora-query/tests/tenancy.rs`).

use std::sync::atomic::{AtomicUsize, Ordering};

use lambda_http::{Body, Request, RequestExt, Response};
use serde_json::{Value, json};
use tenant_access::config::{AccessConfig, Tenancy};
use tenant_access::http::Envelope;

/// An HTTP API (v2) event whose JWT authorizer verified `tenant`, as Lambda
/// hands it over with `runtime_tenant` as the invocation's tenant id.
fn request(tenant: &str, runtime_tenant: Option<&str>) -> Request {
    let event = json!({
        "version": "2.0", "routeKey": "GET /tenant", "rawPath": "/tenant", "rawQueryString": "",
        "headers": {}, "isBase64Encoded": false,
        "requestContext": {
            "accountId": "123456789012", "apiId": "api", "domainName": "example.com",
            "domainPrefix": "api", "requestId": "req-1", "routeKey": "GET /tenant",
            "stage": "$default", "time": "", "timeEpoch": 0,
            "http": {"method": "GET", "path": "/tenant", "protocol": "HTTP/1.1",
                     "sourceIp": "127.0.0.1", "userAgent": "test"},
            "authorizer": {"jwt": {"claims": {"custom:tenant_id": tenant}, "scopes": null}}
        }
    });
    let mut context = lambda_http::Context::default();
    context.tenant_id = runtime_tenant.map(str::to_owned);
    lambda_http::request::from_str(&event.to_string())
        .expect("an API Gateway event")
        .with_lambda_context(context)
}

fn envelope(tenancy: Tenancy) -> Envelope {
    let config = AccessConfig::builder()
        .account("123456789012")
        .tenancy(tenancy)
        .build()
        .expect("a valid configuration");
    Envelope::new(&config)
}

/// Serve `request`; the handler counts its calls and answers 200.
async fn serve(envelope: &Envelope, request: Request, calls: &AtomicUsize) -> (u16, Value) {
    let response = envelope
        .serve(&request, |_caller| async {
            calls.fetch_add(1, Ordering::SeqCst);
            Ok(Response::new(Body::Text("{}".to_owned())))
        })
        .await;
    let status = response.status().as_u16();
    let body = match response.body() {
        Body::Text(text) => serde_json::from_str(text).unwrap_or(Value::Null),
        _ => Value::Null,
    };
    (status, body)
}

#[tokio::test]
async fn per_tenant_serves_only_the_invocations_own_tenant_and_only_one() {
    let envelope = envelope(Tenancy::PerTenant);
    let calls = AtomicUsize::new(0);

    let (status, _) = serve(&envelope, request("tenant1", Some("tenant1")), &calls).await;
    assert_eq!(status, 200, "the environment's own tenant is served");
    assert_eq!(calls.load(Ordering::SeqCst), 1);

    for (caller, runtime_tenant, what) in [
        (
            "tenant2",
            Some("tenant1"),
            "tenant2's verified request routed to tenant1's environment",
        ),
        (
            "tenant1",
            Some("tenant2"),
            "tenant1's verified request carrying tenant2's tenant id",
        ),
        (
            "tenant1",
            None,
            "no tenant id: the function is not isolated as configured",
        ),
        // Lambda never routes so, and if it did this environment's caches
        // hold tenant1's sessions, so it is refused.
        (
            "tenant2",
            Some("tenant2"),
            "tenant2 with its own id, in an environment that served tenant1",
        ),
    ] {
        let (status, body) = serve(&envelope, request(caller, runtime_tenant), &calls).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (403, Some("tenant_mismatch")),
            "{what}"
        );
        assert!(
            !body.to_string().contains("tenant1") && !body.to_string().contains("tenant2"),
            "no tenant is named in the answer: {body}"
        );
    }

    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "no refused request reached the handler"
    );
    let (status, _) = serve(&envelope, request("tenant1", Some("tenant1")), &calls).await;
    assert_eq!(status, 200, "the environment still serves its tenant");
}

#[tokio::test]
async fn without_isolation_mode_a_tenant_id_present_must_still_be_the_callers() {
    let envelope = envelope(Tenancy::Shared);
    let calls = AtomicUsize::new(0);
    for tenant in ["tenant1", "tenant2"] {
        let (status, _) = serve(&envelope, request(tenant, None), &calls).await;
        assert_eq!(status, 200, "environments are shared: any tenant is served");
    }
    let (status, body) = serve(&envelope, request("tenant1", Some("tenant2")), &calls).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (403, Some("tenant_mismatch"))
    );
    let (status, _) = serve(&envelope, request("tenant2", Some("tenant2")), &calls).await;
    assert_eq!(status, 200);
    assert_eq!(calls.load(Ordering::SeqCst), 3);
}

#[test]
fn per_tenant_sizes_the_caches_for_one_tenant() {
    use tenant_access::config::{DbConfig, FunctionConfig};
    let env = |tenancy: &'static str| {
        move |name: &str| {
            match name {
                "AWS_ACCOUNT_ID" => Some("123456789012"),
                "LAMBDA_TENANT_ISOLATION" => Some(tenancy),
                "DB_HOST" => Some("db.example.com"),
                "DB_NAME" => Some("app"),
                "DB_CA_BUNDLE" => Some("/ca.pem"),
                "TENANT_CACHE_CAPACITY" => Some("500"),
                "DB_CONNECTION_CAPACITY" => Some("50"),
                "DB_CONNECTIONS_PER_TENANT" => Some("3"),
                _ => None,
            }
            .map(str::to_owned)
        }
    };
    let shared = FunctionConfig::<DbConfig>::from_lookup(&env("off")).expect("valid");
    assert_eq!(shared.access.tenant_cache_capacity.get(), 500);
    assert_eq!(shared.service.connection_capacity.get(), 50);
    let isolated = FunctionConfig::<DbConfig>::from_lookup(&env("per-tenant")).expect("valid");
    assert_eq!(isolated.access.tenancy, Tenancy::PerTenant);
    assert_eq!(isolated.access.tenant_cache_capacity.get(), 1);
    assert_eq!(isolated.service.connection_capacity.get(), 3);
    let err = FunctionConfig::<DbConfig>::from_lookup(&env("PER_TENANT")).unwrap_err();
    assert_eq!(err.variable, "LAMBDA_TENANT_ISOLATION");
}
