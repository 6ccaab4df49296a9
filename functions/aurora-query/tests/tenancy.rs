//! Lambda's tenant isolation mode end to end: the built function, with
//! `LAMBDA_TENANT_ISOLATION=per-tenant`, under a Runtime API stand-in that
//! sends each invocation's tenant id in `Lambda-Runtime-Aws-Tenant-Id` as
//! Lambda does for a function deployed with `TenancyConfig: PER_TENANT`.
//! The events are the REST API's (v1): HTTP APIs cannot pass a tenant id, so
//! the template's isolation mode serves the functions through a REST API
//! (`LambdaTenantIsolation=per-tenant`) whose Lambda authorizer (the
//! workspace's `tenant-authorizer`) verifies the caller's token and answers
//! with the tenant, which the API maps to the invocation's tenant id.
//! `cargo lambda watch` cannot send the header, hence the stand-in.

use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};
use tenant_access::authorizer::{AuthorizerRequest, TENANT_ID_KEY};
use tenant_access::config::AuthorizerConfig;
use test_support::runtime_api::{Invocation, RuntimeApi};
use test_support::{Stack, event};

/// One invocation's answer: its status, error code and body, and the
/// whole response as text.
struct Answer {
    status: Option<u16>,
    code: Option<String>,
    body: String,
    whole: String,
}

/// Run the built aurora-query in one tenant-isolated environment through
/// `invocations`; the answers, and the function's logs.
fn serve(stack: &Stack, invocations: Vec<Invocation>) -> (Vec<Answer>, String) {
    let count = invocations.len();
    let api = RuntimeApi::start(invocations).expect("the Runtime API stand-in starts");
    let mut function = api
        .function(env!("CARGO_BIN_EXE_aurora-query"), "aurora-query")
        .envs(stack.function_env())
        .env("LAMBDA_TENANT_ISOLATION", "per-tenant")
        .env("METRICS_NAMESPACE", "none")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the built aurora-query starts");
    let outcomes = api.outcomes(count, Duration::from_secs(30));
    let _ = function.kill();
    let output = function.wait_with_output().expect("the function's logs");
    let answers = outcomes
        .iter()
        .map(|a| {
            let body = a
                .response
                .as_ref()
                .and_then(|r| r["body"].as_str())
                .unwrap_or_default()
                .to_owned();
            let code = serde_json::from_str::<Value>(&body)
                .ok()
                .and_then(|b| b["error"].as_str().map(str::to_owned));
            Answer {
                status: a.status,
                code,
                body,
                whole: a
                    .response
                    .as_ref()
                    .map(Value::to_string)
                    .unwrap_or_default(),
            }
        })
        .collect();
    (
        answers,
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Each answer's status and error code.
fn codes(answers: &[Answer]) -> Vec<(Option<u16>, Option<String>)> {
    answers.iter().map(|a| (a.status, a.code.clone())).collect()
}

/// The whole REST path of tenant isolation mode: the authorizer verifies a
/// real token of the stack's user pool and answers with its tenant; API
/// Gateway passes that context to the integration as
/// `requestContext.authorizer` and maps `context.authorizer.tenantId` to
/// the invocation's tenant id (the template's mapping, checked by the
/// template tests); the function serves it. The same verified context with
/// any other tenant id is refused.
#[tokio::test]
async fn the_authorizer_s_tenant_routes_the_invocation_and_the_function_serves_it() {
    let stack = Stack::load();
    let config = AuthorizerConfig::from_lookup(|name: &str| match name {
        "TOKEN_ISSUER" => Some(stack.var("STACK_JWT_ISSUER")),
        "TOKEN_AUDIENCE" => Some(stack.var("STACK_USER_POOL_CLIENT_ID")),
        "JWKS_URL" => Some(stack.var("STACK_JWKS_URL")),
        _ => None,
    })
    .expect("the authorizer's settings");
    let authorizer = tenant_authorizer::App::new(config).await;
    let token = stack.id_token("tenant1@example.com").await;
    let request: AuthorizerRequest = serde_json::from_value(json!({
        "type": "REQUEST",
        "methodArn": "arn:aws:execute-api:us-east-1:123456789012:tenantrest/api/GET/tenant",
        "headers": {"Authorization": format!("Bearer {token}")},
    }))
    .unwrap();
    let answer = tenant_authorizer::function_handler(&authorizer, request)
        .await
        .expect("tenant1's token is allowed");
    // What API Gateway gives the integration after a Lambda authorizer:
    // its context, and the principal, under `requestContext.authorizer`.
    let mut event = event("aurora-query/tenant1-tenant-v1.json");
    let mut context = answer.context.clone();
    context.insert("principalId".into(), answer.principal_id.clone().into());
    event["requestContext"]["authorizer"] = Value::Object(context);
    event["headers"]["Authorization"] = format!("Bearer {token}").into();
    let mapped = answer.context[TENANT_ID_KEY]
        .as_str()
        .expect("the tenant id mapping's source");
    assert_eq!(mapped, "tenant1");
    let event = event.to_string();
    let (answers, logs) = serve(
        &stack,
        vec![
            Invocation::new(event.clone()).with_tenant_id(mapped),
            // The verified context with a tenant id mapped from anything
            // else (here, another tenant's).
            Invocation::new(event).with_tenant_id("tenant2"),
        ],
    );
    assert_eq!(
        codes(&answers),
        vec![
            (Some(200), None),
            (Some(403), Some("tenant_mismatch".into()))
        ],
        "function logs:\n{logs}"
    );
    assert!(
        answers[0].body.contains("tenant1_dbuser"),
        "{}",
        answers[0].body
    );
    assert!(
        !answers[1].body.contains("tenant1_dbuser"),
        "{}",
        answers[1].body
    );
}

#[test]
fn an_isolated_environment_serves_its_tenant_and_refuses_every_other_invocation() {
    let stack = Stack::load();
    let tenant1 = event("aurora-query/tenant1-tenant-v1.json").to_string();
    let tenant2 = event("aurora-query/tenant2-tenant-v1.json").to_string();
    let (answers, logs) = serve(
        &stack,
        vec![
            // The environment Lambda made for tenant1, serving tenant1.
            Invocation::new(tenant1.clone()).with_tenant_id("tenant1"),
            // tenant2's verified caller, routed by a tenant id of tenant1 (an
            // integration that maps the tenant id from anything but the
            // verified claim).
            Invocation::new(tenant2.clone()).with_tenant_id("tenant1"),
            // tenant1's caller with another tenant's id.
            Invocation::new(tenant1.clone()).with_tenant_id("tenant2"),
            // No tenant id: the function is not deployed as configured.
            Invocation::new(tenant1.clone()),
            // tenant2 with its own id, in tenant1's environment.
            Invocation::new(tenant2).with_tenant_id("tenant2"),
            Invocation::new(tenant1).with_tenant_id("tenant1"),
        ],
    );
    let mismatch = (Some(403), Some("tenant_mismatch".to_owned()));
    assert_eq!(
        codes(&answers),
        vec![
            (Some(200), None),
            mismatch.clone(),
            mismatch.clone(),
            mismatch.clone(),
            mismatch,
            (Some(200), None),
        ],
        "function logs:\n{logs}"
    );
    assert!(answers[0].body.contains("tenant1"), "{}", answers[0].body);
    for refused in &answers[1..5] {
        assert!(
            !refused.whole.is_empty() && !refused.whole.contains("tenant2"),
            "no other tenant named: {}",
            refused.whole
        );
    }
}
