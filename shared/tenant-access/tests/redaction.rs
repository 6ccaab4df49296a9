//! Every public type that holds a credential, a token or a presigned URL
//! formats with `{:?}` without the secret in it, so no log line can leak one
//! by formatting the value. `TenantSessions` holding real sessions is
//! checked against the local stack, in
//! `system-tests/tests/enforcement.rs` (here its cache would be empty).

use std::time::{Duration, SystemTime};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use aws_smithy_async::time::StaticTimeSource;
use tenant_access::config::{AccessConfig, DbConfig, S3Config};
use tenant_access::db::TenantDatabase;
use tenant_access::s3::{ObjectKey, TenantBucket};
use tenant_access::{TenantSession, TenantSessions};

const SECRET: &str = "wJalrXUtnFEMI0K7MDENG0bPxRfiCYSECRETKEY";
const SESSION_TOKEN: &str = "IQoJb3JpZ2luX2VjSESSIONTOKENxyz";

fn base() -> SdkConfig {
    SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .time_source(StaticTimeSource::new(
            SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_323_045),
        ))
        .build()
}

fn session() -> TenantSession {
    let creds = Credentials::new(
        "ASIAEXAMPLEREDACT01",
        SECRET,
        Some(SESSION_TOKEN.to_owned()),
        Some(SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_323_045 + 900)),
        "test",
    );
    TenantSession::new("tenant1".parse().unwrap(), creds, &base())
}

fn assert_redacted(what: &str, shown: &str, secrets: &[&str]) {
    for secret in secrets {
        assert!(!shown.contains(secret), "{what} shows a secret: {shown}");
    }
}

#[tokio::test]
async fn no_public_type_formats_a_secret() {
    let session = session();
    assert_redacted(
        "TenantSession",
        &format!("{session:?}"),
        &[SECRET, SESSION_TOKEN],
    );
    assert_redacted(
        "Credentials",
        &format!("{:?}", session.credentials()),
        &[SECRET, SESSION_TOKEN],
    );

    let env = |name: &str| match name {
        "AWS_ACCOUNT_ID" => Some("123456789012".to_owned()),
        "TENANT_BUCKET" => Some("shared-bucket".to_owned()),
        "DB_HOST" => Some("db.example.com".to_owned()),
        "DB_NAME" => Some("saas".to_owned()),
        "DB_CA_BUNDLE" => Some(
            concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/fixtures/unrelated-ca.pem"
            )
            .to_owned(),
        ),
        _ => None,
    };
    let access = AccessConfig::from_lookup(env).unwrap();
    let sessions = TenantSessions::new(&base(), &access);
    assert_redacted(
        "TenantSessions",
        &format!("{sessions:?}"),
        &[SECRET, SESSION_TOKEN],
    );

    let db = TenantDatabase::new(&DbConfig::from_lookup(env).unwrap()).unwrap();
    let token = db.auth_token(&session).await.unwrap();
    let signature = token
        .expose()
        .split("X-Amz-Signature=")
        .nth(1)
        .expect("a signed token")
        .to_owned();
    assert_eq!(format!("{token:?}"), "DbToken(<redacted>)");
    assert_redacted(
        "DbToken",
        &format!("{token:?}"),
        &[&signature, "X-Amz-Security-Token", token.expose()],
    );

    let bucket = TenantBucket::new(&S3Config::from_lookup(env).unwrap());
    let key = ObjectKey::parse("reports/q1.csv").unwrap();
    let presigned = bucket
        .presign_get(&session, &key, Duration::from_secs(60))
        .await
        .unwrap();
    let signature = presigned
        .url
        .split("X-Amz-Signature=")
        .nth(1)
        .expect("a signed URL")
        .to_owned();
    let shown = format!("{presigned:?}");
    assert_redacted(
        "PresignedGet",
        &shown,
        &[&signature, "X-Amz-Security-Token", "X-Amz-Credential"],
    );
    assert!(
        shown.contains("tenant1_home/reports/q1.csv?<redacted>"),
        "{shown}"
    );
}
