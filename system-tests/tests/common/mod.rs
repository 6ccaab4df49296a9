//! Raw calls with a session's credentials, around the crate, as a bug in a
//! handler could make them, and who refused them: the local front (which
//! decides with the deployed policies) or moto.

#![allow(dead_code)]

use aws_sdk_s3::error::ProvideErrorMetadata;
use tenant_access::TenantSession;

pub fn s3(session: &TenantSession) -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&session.sdk_config())
            .force_path_style(true)
            .build(),
    )
}

/// What S3 answered: `Ok` or the error code, and whether the local front
/// (not moto) answered it.
pub async fn get(session: &TenantSession, bucket: &str, key: &str) -> Result<(), (String, bool)> {
    s3(session)
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .map(|_| ())
        .map_err(refusal)
}

pub async fn list(
    session: &TenantSession,
    bucket: &str,
    prefix: &str,
) -> Result<(), (String, bool)> {
    s3(session)
        .list_objects_v2()
        .bucket(bucket)
        .prefix(prefix)
        .send()
        .await
        .map(|_| ())
        .map_err(refusal)
}

pub fn refusal<E: ProvideErrorMetadata>(
    e: aws_sdk_s3::error::SdkError<E, aws_sdk_s3::config::http::HttpResponse>,
) -> (String, bool) {
    let from_front = e
        .raw_response()
        .and_then(|r| r.body().bytes())
        .is_some_and(|b| String::from_utf8_lossy(b).contains("<RequestId>local-front</RequestId>"));
    let code = e.code().unwrap_or("<no code>").to_owned();
    (code, from_front)
}

pub fn denied_by_front() -> Result<(), (String, bool)> {
    Err(("AccessDenied".to_owned(), true))
}

/// What DynamoDB answered: `Ok` or the error code, and whether the local
/// front (not moto) answered it.
pub fn item_refusal<E: aws_sdk_dynamodb::error::ProvideErrorMetadata>(
    e: aws_sdk_dynamodb::error::SdkError<E, aws_sdk_dynamodb::config::http::HttpResponse>,
) -> (String, bool) {
    let from_front = e
        .raw_response()
        .and_then(|r| r.headers().get("x-amzn-requestid"))
        == Some("local-front");
    (e.code().unwrap_or("<no code>").to_owned(), from_front)
}

pub fn item_denied_by_front() -> Result<(), (String, bool)> {
    Err(("AccessDeniedException".to_owned(), true))
}

/// `tenant`'s registry item: active, in `tier` (none: no tier).
pub async fn set_tier(stack: &test_support::Stack, tenant: &str, tier: Option<&str>) {
    let _paused = stack.pause_iam_enforcement();
    let moto = stack.with(&[("AWS_ENDPOINT_URL", &stack.var("STACK_MOTO_URL"))]);
    let sdk = moto
        .sdk_config_with(aws_sdk_dynamodb::config::Credentials::new(
            "seed",
            "seed",
            None,
            None,
            "tiers-test",
        ))
        .await;
    let mut put = aws_sdk_dynamodb::Client::new(&sdk)
        .put_item()
        .table_name(stack.var("TENANT_REGISTRY_TABLE"))
        .item(
            "tenant_id",
            aws_sdk_dynamodb::types::AttributeValue::S(tenant.into()),
        )
        .item(
            "state",
            aws_sdk_dynamodb::types::AttributeValue::S("active".into()),
        );
    if let Some(tier) = tier {
        put = put.item(
            "tier",
            aws_sdk_dynamodb::types::AttributeValue::S(tier.into()),
        );
    }
    put.send().await.expect("the registry takes the tier");
}
