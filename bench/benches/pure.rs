//! Micro-benchmarks of the pure parts of the request path (`cargo bench -p bench`).

use std::hint::black_box;
use std::time::SystemTime;

use criterion::{Criterion, criterion_group, criterion_main};
use tenant_access::Caller;
use tenant_access::s3::ObjectKey;

fn claim_extraction(c: &mut Criterion) {
    let event = test_support::event("s3-fetch/tenant1-get.json");
    let request = test_support::request(&event);
    c.bench_function("claim extraction (HTTP API v2 JWT)", |b| {
        b.iter(|| Caller::from_request(black_box(&request), "custom:tenant_id").expect("tenant"))
    });
}

fn key_validation(c: &mut Criterion) {
    let key = "reports/2026/q1/summary-of-the-quarter.csv";
    c.bench_function("object key validation", |b| {
        b.iter(|| ObjectKey::parse(black_box(key)).expect("valid"))
    });
}

fn token_generation(c: &mut Criterion) {
    use aws_config::{BehaviorVersion, Region, SdkConfig};
    use aws_credential_types::Credentials;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let base = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .time_source(aws_smithy_async::time::StaticTimeSource::new(
            SystemTime::now(),
        ))
        .build();
    let creds = Credentials::new("ASIAEXAMPLE", "secret", Some("token".into()), None, "bench");
    let session =
        tenant_access::TenantSession::new("tenant1".parse().expect("tenant"), creds, &base);
    let config = tenant_access::config::DbConfig::from_lookup(|name: &str| match name {
        "DB_HOST" => Some("db.cluster-x.us-east-1.rds.amazonaws.com".to_owned()),
        "DB_NAME" => Some("saas".to_owned()),
        "DB_CA_BUNDLE" => Some(
            test_support::root()
                .join("shared/tenant-access/tests/fixtures/unrelated-ca.pem")
                .display()
                .to_string(),
        ),
        _ => None,
    })
    .expect("config");
    let db = tenant_access::db::TenantDatabase::new(&config).expect("CA");
    c.bench_function("RDS IAM auth token generation", |b| {
        b.iter(|| {
            runtime
                .block_on(db.auth_token(black_box(&session)))
                .expect("token")
        })
    });
}

criterion_group!(benches, claim_extraction, key_validation, token_generation);
criterion_main!(benches);
