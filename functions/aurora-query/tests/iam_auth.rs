//! The database refuses every login that RDS IAM authentication would
//! refuse: the local verifier checks each token (see tools/rds-iam-verifier).
//! These tests craft tokens as an attacker or a buggy handler could and log
//! in with them directly. Run with `cargo xtask test`.

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use test_support::Stack;

async fn token(
    stack: &Stack,
    creds: Credentials,
    host: &str,
    port: u16,
    user: &str,
    signed_at: SystemTime,
) -> String {
    stack.auth_token(creds, host, port, user, signed_at).await
}

fn exec_credentials(stack: &Stack) -> Credentials {
    Credentials::new(
        stack.var("AWS_ACCESS_KEY_ID"),
        stack.var("AWS_SECRET_ACCESS_KEY"),
        None,
        None,
        "test",
    )
}

async fn assert_refused(stack: &Stack, user: &str, password: &str, reason: &str) {
    stack.assert_login_refused(user, password, reason).await
}

/// A token signed by tenant1's own session (assumed directly).
async fn tenant1_token(
    stack: &Stack,
    host: Option<&str>,
    port_offset: u16,
    user: &str,
    signed_at: SystemTime,
) -> String {
    let ep = endpoint(stack);
    let creds = stack.raw_tenant_credentials_as("tenant1", Some("db")).await;
    token(
        stack,
        creds,
        host.unwrap_or(&ep.host),
        ep.port + port_offset,
        user,
        signed_at,
    )
    .await
}

struct Endpoint {
    host: String,
    port: u16,
}

fn endpoint(stack: &Stack) -> Endpoint {
    Endpoint {
        host: stack.var("DB_HOST"),
        port: stack.var("DB_PORT").parse().unwrap(),
    }
}

#[tokio::test]
async fn a_valid_token_of_the_tenants_own_session_logs_in() {
    let stack = Stack::load();
    let password = tenant1_token(&stack, None, 0, "tenant1_dbuser", SystemTime::now()).await;
    let client = stack
        .connect("tenant1_dbuser", &password)
        .await
        .expect("a valid token is accepted");
    let who: String = client
        .query_one("SELECT current_user::text", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(who, "tenant1_dbuser");
}

#[tokio::test]
async fn tenant1_session_cannot_log_in_as_tenant2() {
    let stack = Stack::load();
    let password = tenant1_token(&stack, None, 0, "tenant2_dbuser", SystemTime::now()).await;
    assert_refused(
        &stack,
        "tenant2_dbuser",
        &password,
        "is not allowed rds-db:connect",
    )
    .await;
}

#[tokio::test]
async fn a_token_for_one_user_is_not_a_password_for_another() {
    let stack = Stack::load();
    let password = tenant1_token(&stack, None, 0, "tenant1_dbuser", SystemTime::now()).await;
    assert_refused(&stack, "tenant2_dbuser", &password, "another DB user").await;
}

#[tokio::test]
async fn a_tampered_signature_is_refused() {
    let stack = Stack::load();
    let password = tenant1_token(&stack, None, 0, "tenant1_dbuser", SystemTime::now()).await;
    // Change one character of the signature itself (the SDK does not put it last).
    let at = password.find("X-Amz-Signature=").expect("signature param") + "X-Amz-Signature=".len();
    let mut password = password.into_bytes();
    password[at] = if password[at] == b'a' { b'b' } else { b'a' };
    let password = String::from_utf8(password).unwrap();
    assert_refused(
        &stack,
        "tenant1_dbuser",
        &password,
        "signature does not match",
    )
    .await;
}

#[tokio::test]
async fn a_token_older_than_15_minutes_is_refused() {
    let stack = Stack::load();
    let past = SystemTime::now() - Duration::from_secs(16 * 60);
    let password = tenant1_token(&stack, None, 0, "tenant1_dbuser", past).await;
    assert_refused(&stack, "tenant1_dbuser", &password, "expired").await;
}

#[tokio::test]
async fn a_token_for_another_host_or_port_is_refused() {
    let stack = Stack::load();
    let now = SystemTime::now();
    let other_host = tenant1_token(
        &stack,
        Some("db.other.example.com"),
        0,
        "tenant1_dbuser",
        now,
    )
    .await;
    assert_refused(&stack, "tenant1_dbuser", &other_host, "not this server").await;
    // The port after the front's: neither the server's nor the front's.
    let front: u16 = stack.var("STACK_PG_FRONT_PORT").parse().unwrap();
    let pg: u16 = stack.var("DB_PORT").parse().unwrap();
    let offset = front.max(pg) + 1 - pg;
    let other_port = tenant1_token(&stack, None, offset, "tenant1_dbuser", now).await;
    assert_refused(&stack, "tenant1_dbuser", &other_port, "not this server").await;
}

#[tokio::test]
async fn a_plain_password_is_refused() {
    let stack = Stack::load();
    assert_refused(
        &stack,
        "tenant1_dbuser",
        "tenant1-password",
        "not a valid RDS IAM auth token",
    )
    .await;
}

#[tokio::test]
async fn the_execution_identity_cannot_log_in_as_a_tenant() {
    let stack = Stack::load();
    let ep = endpoint(&stack);
    let password = token(
        &stack,
        exec_credentials(&stack),
        &ep.host,
        ep.port,
        "tenant1_dbuser",
        SystemTime::now(),
    )
    .await;
    assert_refused(
        &stack,
        "tenant1_dbuser",
        &password,
        "user/lambda-exec is not allowed rds-db:connect",
    )
    .await;
}

/// A session for another function's job logs in as nobody, even with no
/// session policy to stop it: tenant1's role assumed with s3-fetch's or
/// dynamodb-items' `Scope` tag (which the trust policy keeps from
/// aurora-query on AWS), and the shared roles of the other jobs, assumed
/// with no session policy at all. Without the tag the trust policy refuses
/// the session itself.
#[tokio::test]
async fn a_session_for_another_job_cannot_log_in() {
    let stack = Stack::load();
    let ep = endpoint(&stack);
    // Without the Scope tag the role's trust policy refuses the session.
    let role = format!(
        "arn:aws:iam::{}:role/tenant/assumeRole-tenant1",
        stack.var("AWS_ACCOUNT_ID")
    );
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
    for scope in [Some("s3"), Some("dynamodb")] {
        sessions.push(stack.raw_tenant_credentials_as("tenant1", scope).await);
    }
    for job in ["s3", "dynamodb"] {
        let role = format!(
            "arn:aws:iam::{}:role/tenant-access-shared-{job}",
            stack.var("AWS_ACCOUNT_ID")
        );
        sessions.push(stack.raw_role_credentials(&role, None).await);
    }
    for creds in sessions {
        let password = token(
            &stack,
            creds,
            &ep.host,
            ep.port,
            "tenant1_dbuser",
            SystemTime::now(),
        )
        .await;
        assert_refused(
            &stack,
            "tenant1_dbuser",
            &password,
            "is not allowed rds-db:connect",
        )
        .await;
    }
}
