//! What each isolation strategy sends to STS, captured from the wire.
//!
//! moto accepts session tags and session policies but enforces neither, so
//! what matters locally is that the exact request leaves the process: the
//! STS client is pointed at the local front before moto, which records each
//! form-encoded `AssumeRole` body as STS receives it.
//!
//! Every strategy passes a session policy: the tenant's own under the
//! session-policy strategies, else the function policy, which confines an
//! s3-fetch session to S3 and an aurora-query session to `rds-db:connect`.

use std::collections::BTreeMap;

use local_front::HttpFront;

use tenant_access::config::{DbConfig, FunctionConfig, S3Config};
use tenant_access::session_policy::SessionScope;
use tenant_access::{Caller, TenantSessions};
use test_support::Stack;

/// The shared roles, one per job: s3-fetch assumes `...-shared-s3`. This is
/// the session-policy variant, whose trust policy takes no session tags.
const SHARED_ROLE: &str = "arn:aws:iam::123456789012:role/tenant-access-shared-{scope}";
/// The session-tags variant: its trust policy requires the TenantID tag.
const TAGGED_SHARED_ROLE: &str =
    "arn:aws:iam::123456789012:role/tenant-access-shared-{scope}-tagged";

/// The shared role `isolation` deploys, as the template does.
fn shared_role(isolation: &str) -> &'static str {
    if isolation.contains("session-tags") {
        TAGGED_SHARED_ROLE
    } else {
        SHARED_ROLE
    }
}

fn caller(tenant: &str) -> Caller {
    Caller::new(tenant.parse().unwrap(), "wire-test")
}

/// The AssumeRole body for tenant1 and tenant2 under `isolation`, with the
/// sessions of a function whose scope is `scope`.
async fn captured(
    stack: &Stack,
    isolation: &str,
    scope: impl Fn(&Stack) -> Option<SessionScope>,
) -> Vec<BTreeMap<String, String>> {
    let moto = stack
        .var("AWS_ENDPOINT_URL")
        .trim_start_matches("http://")
        .parse()
        .expect("moto's address");
    let front = HttpFront::start("127.0.0.1:0".parse().unwrap(), moto)
        .await
        .expect("the front starts");
    let env = stack.with(&[
        ("TENANT_ISOLATION", isolation),
        ("TENANT_SHARED_ROLE_ARN", shared_role(isolation)),
        ("DB_RESOURCE_ID", "cluster-LOCALSTACK0TENANTACCESS"),
        ("AWS_ENDPOINT_URL", &front.endpoint()),
    ]);
    let config =
        FunctionConfig::<S3Config>::from_lookup(&env.lookup()).expect("the strategy's config");
    let mut sessions = TenantSessions::new(&env.sdk_config().await, &config.access);
    if let Some(scope) = scope(&env) {
        sessions = sessions.with_scope(scope);
    }
    for tenant in ["tenant1", "tenant2", "tenant1"] {
        sessions
            .session(&caller(tenant))
            .await
            .expect("STS answers");
    }
    assert_eq!(
        sessions.assume_role_calls(),
        2,
        "tenant1's session is reused"
    );
    front.assume_role_requests()
}

/// aurora-query's scope, as its `App::new` builds it.
fn db_scope(stack: &Stack) -> Option<SessionScope> {
    let db = DbConfig::from_lookup(stack.lookup()).unwrap();
    Some(SessionScope::Db {
        resource_id: db.resource_id.unwrap(),
        user_template: db.user_template,
        region: stack.var("AWS_REGION"),
        account: stack.var("AWS_ACCOUNT_ID"),
    })
}

#[tokio::test]
async fn an_aurora_query_session_under_role_per_tenant_may_only_connect() {
    let stack = Stack::load();
    let sent = captured(&stack, "role-per-tenant", db_scope).await;
    assert_eq!(sent.len(), 2);
    for request in &sent {
        assert_eq!(
            request["Policy"],
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"rds-db:connect","Resource":"arn:aws:rds-db:us-east-1:123456789012:dbuser:cluster-LOCALSTACK0TENANTACCESS/*"}]}"#,
            "no S3 action: this session cannot read the bucket"
        );
    }
}

/// s3-fetch's scope, as its `App::new` builds it.
fn s3_scope(stack: &Stack) -> Option<SessionScope> {
    let s3 = S3Config::from_lookup(stack.lookup()).unwrap();
    Some(SessionScope::S3 {
        bucket: s3.bucket,
        prefix_template: s3.prefix_template,
    })
}

#[tokio::test]
async fn role_per_tenant_sends_the_tenant_role_and_the_function_policy() {
    let stack = Stack::load();
    let sent = captured(&stack, "role-per-tenant", s3_scope).await;
    assert_eq!(sent.len(), 2);
    for (request, tenant) in sent.iter().zip(["tenant1", "tenant2"]) {
        let expected: BTreeMap<String, String> = [
            ("Action", "AssumeRole".to_owned()),
            ("Version", "2011-06-15".to_owned()),
            (
                "RoleArn",
                format!("arn:aws:iam::123456789012:role/tenant/assumeRole-{tenant}"),
            ),
            ("RoleSessionName", format!("{tenant}@wire-test")),
            ("DurationSeconds", "900".to_owned()),
            // The function's job, which the tenant role's statements
            // require and its trust policy pins to this function's role.
            ("Tags.member.1.Key", "Scope".to_owned()),
            ("Tags.member.1.Value", "s3".to_owned()),
            // The same for every tenant: S3 only, so this session cannot
            // log into the database whatever the tenant's role allows.
            (
                "Policy",
                r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:GetObject","s3:PutObject","s3:DeleteObject"],"Resource":"arn:aws:s3:::tenant-data/*"},{"Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:s3:::tenant-data"},{"Effect":"Allow","Action":["kms:Decrypt","kms:GenerateDataKey"],"Resource":"arn:aws:kms:*:*:key/*","Condition":{"StringLike":{"kms:ViaService":"s3.*.amazonaws.com"}}}]}"#.to_owned(),
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        assert_eq!(request, &expected);
    }
}

#[tokio::test]
async fn session_tags_send_the_shared_role_and_the_tenant_tag() {
    let stack = Stack::load();
    let sent = captured(&stack, "session-tags", s3_scope).await;
    assert_eq!(sent.len(), 2);
    for (request, tenant) in sent.iter().zip(["tenant1", "tenant2"]) {
        assert_eq!(
            request["RoleArn"],
            TAGGED_SHARED_ROLE.replace("{scope}", "s3")
        );
        assert_eq!(request["RoleSessionName"], format!("{tenant}@wire-test"));
        assert_eq!(request["Tags.member.1.Key"], "TenantID");
        assert_eq!(request["Tags.member.1.Value"], tenant);
        assert!(!request.contains_key("Tags.member.2.Key"));
        // The function policy, no tenant in it: the tag confines the tenant.
        let policy: serde_json::Value = serde_json::from_str(&request["Policy"]).unwrap();
        assert_eq!(
            policy["Statement"],
            serde_json::json!([
                {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
                 "Resource": "arn:aws:s3:::tenant-data/*"},
                {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::tenant-data"},
                {"Effect": "Allow", "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
                 "Resource": "arn:aws:kms:*:*:key/*",
                 "Condition": {"StringLike": {"kms:ViaService": "s3.*.amazonaws.com"}}}
            ])
        );
        assert_eq!(request["DurationSeconds"], "900");
    }
}

#[tokio::test]
async fn session_policies_scope_each_tenant_down_to_its_own_prefix() {
    let stack = Stack::load();
    let sent = captured(&stack, "session-policy", s3_scope).await;
    assert_eq!(sent.len(), 2);
    for (request, tenant) in sent.iter().zip(["tenant1", "tenant2"]) {
        assert_eq!(request["RoleArn"], SHARED_ROLE.replace("{scope}", "s3"));
        assert!(!request.contains_key("Tags.member.1.Key"), "no session tag");
        let policy: serde_json::Value = serde_json::from_str(&request["Policy"]).unwrap();
        assert_eq!(
            policy,
            serde_json::json!({
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
                     "Resource": format!("arn:aws:s3:::tenant-data/{tenant}_home/*")},
                    // Only the tenant's own key (its TenantID tag), through S3.
                    {"Effect": "Allow", "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
                     "Resource": "arn:aws:kms:*:*:key/*",
                     "Condition": {"StringEquals": {"aws:ResourceTag/TenantID": tenant},
                                   "StringLike": {"kms:ViaService": "s3.*.amazonaws.com"}}},
                    {"Effect": "Allow", "Action": "s3:ListBucket",
                     "Resource": "arn:aws:s3:::tenant-data",
                     "Condition": {"StringLike": {"s3:prefix": format!("{tenant}_home/*")}}},
                    // None of its users' own areas.
                    {"Effect": "Deny", "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
                     "Resource": format!("arn:aws:s3:::tenant-data/{tenant}_home/users/*")},
                    {"Effect": "Deny", "Action": "s3:ListBucket",
                     "Resource": "arn:aws:s3:::tenant-data",
                     "Condition": {"StringLike": {"s3:prefix": format!("{tenant}_home/users/*")}}}
                ]
            })
        );
        assert!(request["Policy"].len() <= 2048);
    }
}

#[tokio::test]
async fn both_together_send_the_tag_and_the_database_policy() {
    let stack = Stack::load();
    let sent = captured(&stack, "session-tags+session-policy", db_scope).await;
    assert_eq!(sent.len(), 2);
    for (request, tenant) in sent.iter().zip(["tenant1", "tenant2"]) {
        assert_eq!(
            request["RoleArn"],
            TAGGED_SHARED_ROLE.replace("{scope}", "db")
        );
        assert_eq!(request["Tags.member.1.Value"], tenant);
        let policy: serde_json::Value = serde_json::from_str(&request["Policy"]).unwrap();
        assert_eq!(
            policy["Statement"],
            serde_json::json!([{
                "Effect": "Allow",
                "Action": "rds-db:connect",
                "Resource": format!(
                    "arn:aws:rds-db:us-east-1:123456789012:dbuser:cluster-LOCALSTACK0TENANTACCESS/{tenant}_dbuser"
                )
            }])
        );
    }
}

#[test]
fn a_shared_strategy_without_its_settings_fails_at_start_naming_the_variable() {
    let env = |vars: Vec<(&'static str, &'static str)>| {
        move |name: &str| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        }
    };
    let base: &[(&str, &str)] = &[
        ("TENANT_BUCKET", "b-1"),
        ("DB_HOST", "h"),
        ("DB_NAME", "d"),
        ("DB_CA_BUNDLE", "/ca.pem"),
    ];
    let missing_role = [base, &[("TENANT_ISOLATION", "session-tags")]].concat();
    let e = FunctionConfig::<S3Config>::from_lookup(&env(missing_role)).unwrap_err();
    assert_eq!(e.variable, "TENANT_SHARED_ROLE_ARN");
    let bad = [base, &[("TENANT_ISOLATION", "per-tenant")]].concat();
    let e = FunctionConfig::<S3Config>::from_lookup(&env(bad)).unwrap_err();
    assert_eq!(e.variable, "TENANT_ISOLATION");
    let no_resource = [
        base,
        &[
            ("TENANT_ISOLATION", "session-policy"),
            ("TENANT_SHARED_ROLE_ARN", SHARED_ROLE),
            ("AWS_ACCOUNT_ID", "123456789012"),
        ],
    ]
    .concat();
    let e = FunctionConfig::<DbConfig>::from_lookup(&env(no_resource)).unwrap_err();
    assert_eq!(e.variable, "DB_RESOURCE_ID");
    let bad_tag = [
        base,
        &[
            ("TENANT_ISOLATION", "session-tags"),
            ("TENANT_SHARED_ROLE_ARN", SHARED_ROLE),
            ("TENANT_TAG_KEY", "aws:tenant"),
        ],
    ]
    .concat();
    let e = FunctionConfig::<S3Config>::from_lookup(&env(bad_tag)).unwrap_err();
    assert_eq!(e.variable, "TENANT_TAG_KEY");
}

/// Every strategy serves the API end to end on the local stack: the shared
/// role exists there too (its session-policy variant; moto confines none of
/// the shared strategies, see the module docs and the offline proof).
#[tokio::test]
async fn every_strategy_serves_each_tenant_its_own_object() {
    let stack = Stack::load();
    for isolation in tenant_access::config::Isolation::ASSUME_ROLE_NAMES {
        let env = stack.with_strategy(isolation);
        let config = s3_fetch::Config::from_lookup(&env.lookup()).unwrap();
        let app = s3_fetch::App::new(&config, &env.sdk_config().await);
        for tenant in ["tenant1", "tenant2"] {
            let event = test_support::event(&format!("s3-fetch/{tenant}-get.json"));
            let response = s3_fetch::function_handler(&app, test_support::request(&event))
                .await
                .unwrap();
            assert_eq!(response.status(), 200, "{isolation} {tenant}");
            assert_eq!(
                test_support::body_bytes(&response),
                format!("{tenant} info\n").as_bytes(),
                "{isolation} {tenant}"
            );
        }
    }
}
