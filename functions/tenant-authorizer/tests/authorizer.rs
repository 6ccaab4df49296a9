//! The built authorizer, run as Lambda runs it (under the Runtime API
//! stand-in), against the local stack's user pool (moto's Cognito, its keys
//! fetched from the pool's JWKS): a user's ID token is allowed for the whole
//! stage with its tenant as `context.authorizer.tenantId`; every other token
//! gets the error message API Gateway turns into 401, and none of the
//! refusals names a tenant.

use std::process::Stdio;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde_json::{Value, json};
use test_support::Stack;
use test_support::runtime_api::{Invocation, RuntimeApi};

const METHOD_ARN: &str =
    "arn:aws:execute-api:us-east-1:123456789012:tenantrest/api/GET/files/doc.txt";

fn authorizer_event(authorization: Option<&str>) -> String {
    let headers = match authorization {
        Some(value) => json!({"Authorization": value, "Host": "api.example.com"}),
        None => json!({"Host": "api.example.com"}),
    };
    json!({
        "type": "REQUEST",
        "methodArn": METHOD_ARN,
        "resource": "/files/{key+}",
        "path": "/files/doc.txt",
        "httpMethod": "GET",
        "headers": headers,
        "queryStringParameters": null,
        "pathParameters": {"key": "doc.txt"},
        "stageVariables": null,
        "requestContext": {"accountId": "123456789012", "apiId": "tenantrest", "stage": "api",
            "requestId": "authorizer-test", "httpMethod": "GET", "resourcePath": "/files/{key+}"},
    })
    .to_string()
}

/// `token` with its header's key id replaced (the signature no longer
/// matches either).
fn with_key_id(token: &str, kid: &str) -> String {
    let (header, rest) = token.split_once('.').unwrap();
    let mut header: Value = serde_json::from_slice(&B64.decode(header).unwrap()).unwrap();
    header["kid"] = kid.into();
    format!("{}.{rest}", B64.encode(header.to_string()))
}

/// `token` naming `tenant` instead, its signature kept.
fn tampered(token: &str, tenant: &str) -> String {
    let parts: Vec<&str> = token.split('.').collect();
    let mut claims: Value = serde_json::from_slice(&B64.decode(parts[1]).unwrap()).unwrap();
    claims["custom:tenant_id"] = tenant.into();
    format!(
        "{}.{}.{}",
        parts[0],
        B64.encode(claims.to_string()),
        parts[2]
    )
}

#[tokio::test]
async fn the_pool_s_tokens_get_their_tenant_and_every_other_token_is_unauthorized() {
    let stack = Stack::load();
    let tenant1 = stack.id_token("tenant1@example.com").await;
    let tenant2 = stack.id_token("tenant2@example.com").await;
    let (other_client, other_pool) = stack.foreign_tokens("tenant1@example.com").await;
    let allowed = [
        ("tenant1's ID token", format!("Bearer {tenant1}"), "tenant1"),
        ("tenant2's bare ID token", tenant2.clone(), "tenant2"),
    ];
    let refused = [
        ("no Authorization header", None),
        (
            "another app client's token",
            Some(format!("Bearer {other_client}")),
        ),
        ("another pool's token", Some(format!("Bearer {other_pool}"))),
        (
            "tenant1's token claiming tenant2",
            Some(format!("Bearer {}", tampered(&tenant1, "tenant2"))),
        ),
        (
            "a key id the pool never had",
            Some(format!("Bearer {}", with_key_id(&tenant1, "made-up"))),
        ),
        ("not a JWT", Some("Bearer garbage".to_owned())),
    ];
    let mut invocations: Vec<Invocation> = allowed
        .iter()
        .map(|(_, header, _)| Invocation::new(authorizer_event(Some(header))))
        .collect();
    invocations.extend(
        refused
            .iter()
            .map(|(_, header)| Invocation::new(authorizer_event(header.as_deref()))),
    );
    let count = invocations.len();
    let api = RuntimeApi::start(invocations).expect("the Runtime API stand-in starts");
    let mut function = api
        .function(env!("CARGO_BIN_EXE_tenant-authorizer"), "tenant-authorizer")
        .env("TOKEN_ISSUER", stack.var("STACK_JWT_ISSUER"))
        .env("TOKEN_AUDIENCE", stack.var("STACK_USER_POOL_CLIENT_ID"))
        .env("JWKS_URL", stack.var("STACK_JWKS_URL"))
        .env("USAGE_KEY_PREFIX", "tenant-access-tenant-usage-key-")
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the built tenant-authorizer starts");
    let outcomes = api.outcomes(count, Duration::from_secs(30));
    let _ = function.kill();
    let output = function.wait_with_output().expect("the function's logs");
    let logs = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        outcomes.len(),
        count,
        "every invocation answered; logs:\n{logs}"
    );

    for ((what, _, tenant), outcome) in allowed.iter().zip(&outcomes) {
        let answer = outcome
            .response
            .as_ref()
            .unwrap_or_else(|| panic!("{what}: an answer, not {:?}; logs:\n{logs}", outcome.error));
        let statement = &answer["policyDocument"]["Statement"][0];
        assert_eq!(statement["Effect"], "Allow", "{what}: {answer}");
        assert_eq!(statement["Action"], "execute-api:Invoke", "{what}");
        assert_eq!(
            statement["Resource"], "arn:aws:execute-api:us-east-1:123456789012:tenantrest/api/*",
            "{what}: the whole stage, as a cached answer serves every method"
        );
        assert_eq!(answer["context"]["tenantId"], *tenant, "{what}: {answer}");
        assert_eq!(answer["context"]["custom:tenant_id"], *tenant, "{what}");
        // The tenant's own API key: its usage plan throttles it.
        assert_eq!(
            answer["usageIdentifierKey"],
            format!("tenant-access-tenant-usage-key-{tenant}"),
            "{what}: the tenant's own usage key"
        );
        assert!(
            answer["principalId"]
                .as_str()
                .is_some_and(|p| !p.is_empty())
        );
    }
    for ((what, _), outcome) in refused.iter().zip(&outcomes[allowed.len()..]) {
        assert!(
            outcome.response.is_none(),
            "{what}: refused, not {:?}",
            outcome.response
        );
        let error: Value = serde_json::from_str(outcome.error.as_deref().unwrap_or("{}"))
            .unwrap_or_else(|_| panic!("{what}: a JSON error report"));
        assert_eq!(
            error["errorMessage"], "Unauthorized",
            "{what}: the exact message API Gateway answers 401 for"
        );
    }
    assert!(!logs.contains(&tenant1), "no token in the logs");
    assert!(
        logs.contains("fetched the issuer's signing keys"),
        "the keys came from the pool's JWKS:\n{logs}"
    );
}

/// When the issuer's keys cannot be fetched (here, nothing listens at the
/// key set's address), no token can be checked: the authorizer fails with
/// its own message, which API Gateway answers 500, never `Unauthorized`
/// (the caller's token is not at fault), and within its fetch bound.
#[test]
fn unreachable_keys_are_the_deployment_s_fault_not_the_caller_s() {
    // A port nothing listens on: bound, then released.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port");
    let header = B64.encode(r#"{"alg":"RS256","kid":"k1"}"#);
    let payload = B64.encode(r#"{"iss":"http://127.0.0.1/pool","custom:tenant_id":"tenant1"}"#);
    let token = format!("{header}.{payload}.c2ln");
    let api = RuntimeApi::start(vec![Invocation::new(authorizer_event(Some(&format!(
        "Bearer {token}"
    ))))])
    .expect("the Runtime API stand-in starts");
    let started = std::time::Instant::now();
    let mut function = api
        .function(env!("CARGO_BIN_EXE_tenant-authorizer"), "tenant-authorizer")
        .env("TOKEN_ISSUER", "http://127.0.0.1/pool")
        .env("TOKEN_AUDIENCE", "client")
        .env("JWKS_URL", format!("http://{closed}/keys"))
        .env("JWKS_REFRESH_SECONDS", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the built tenant-authorizer starts");
    let outcome = api.outcome(Duration::from_secs(30));
    let _ = function.kill();
    let output = function.wait_with_output().expect("the function's logs");
    let logs = String::from_utf8_lossy(&output.stdout);
    let outcome = outcome.expect("an answer");
    assert!(
        outcome.response.is_none(),
        "no policy: {:?}",
        outcome.response
    );
    let error: Value = serde_json::from_str(outcome.error.as_deref().unwrap_or("{}")).unwrap();
    assert_eq!(
        error["errorMessage"],
        "the issuer's signing keys are unavailable"
    );
    assert_ne!(error["errorMessage"], "Unauthorized");
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "bounded by the fetch time-out"
    );
    assert!(
        logs.contains("could not be fetched") && !logs.contains(&token),
        "the fetch failure is logged, the token is not:\n{logs}"
    );
}
