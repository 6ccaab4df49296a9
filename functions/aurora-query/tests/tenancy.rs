//! Lambda's tenant isolation mode end to end: the built function, with
//! `LAMBDA_TENANT_ISOLATION=per-tenant`, under a Runtime API stand-in that
//! sends each invocation's tenant id in `Lambda-Runtime-Aws-Tenant-Id` as
//! Lambda does for a function deployed with `TenancyConfig: PER_TENANT`.
//! The events are the REST API's (v1, Cognito authorizer claims): HTTP APIs
//! cannot pass a tenant id, so the template's isolation mode serves the
//! functions through a REST API (`LambdaTenantIsolation=per-tenant`).
//! `cargo lambda watch` cannot send the header, hence the stand-in.

use std::process::Stdio;
use std::time::Duration;

use test_support::runtime_api::{Invocation, RuntimeApi};
use test_support::{Stack, event};

#[test]
fn an_isolated_environment_serves_its_tenant_and_refuses_every_other_invocation() {
    let stack = Stack::load();
    let tenant1 = event("aurora-query/tenant1-tenant-v1.json").to_string();
    let tenant2 = event("aurora-query/tenant2-tenant-v1.json").to_string();
    let api = RuntimeApi::start(vec![
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
    ])
    .expect("the Runtime API stand-in starts");
    let mut function = api
        .function(env!("CARGO_BIN_EXE_aurora-query"), "aurora-query")
        .envs(stack.function_env())
        .env("LAMBDA_TENANT_ISOLATION", "per-tenant")
        .env("METRICS_NAMESPACE", "none")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the built aurora-query starts");

    let mut answers = Vec::new();
    for _ in 0..6 {
        match api.outcome(Duration::from_secs(30)) {
            Some(outcome) => answers.push(outcome),
            None => break,
        }
    }
    let _ = function.kill();
    let output = function.wait_with_output().expect("the function's logs");
    let logs = String::from_utf8_lossy(&output.stderr);
    let summary: Vec<(Option<u16>, Option<String>)> = answers
        .iter()
        .map(|a| {
            let body = a.response.as_ref().and_then(|r| r["body"].as_str());
            let code = body
                .and_then(|b| serde_json::from_str::<serde_json::Value>(b).ok())
                .and_then(|b| b["error"].as_str().map(str::to_owned));
            (a.status, code)
        })
        .collect();
    let mismatch = (Some(403), Some("tenant_mismatch".to_owned()));
    assert_eq!(
        summary,
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
    let tenant1_answer = answers[0].response.as_ref().expect("a response")["body"]
        .as_str()
        .expect("a body");
    assert!(tenant1_answer.contains("tenant1"), "{tenant1_answer}");
    for refused in &answers[1..5] {
        let body = refused.response.as_ref().expect("a response").to_string();
        assert!(!body.contains("tenant2"), "no other tenant named: {body}");
    }
}
