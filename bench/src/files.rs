//! s3-fetch's writes and the KMS layer's cost.
//!
//! - **PUT warm vs floor**: `PUT /files/bench-put/<n>.bin` (1 KiB) through
//!   the handler, each paired with the same `PutObject` (SSE-KMS, the
//!   tenant's key) on a client built on held credentials.
//! - **GET SSE-KMS vs SSE-S3**: the same 1 KiB object under each, read
//!   through the handler, interleaved: the ratio is what the KMS layer
//!   costs locally (the front's KMS check; on AWS, S3's call to KMS).
//! - **KMS calls per 1,000 requests**: from the local front's counters.

use std::time::{Duration, Instant};

use aws_sdk_s3::primitives::ByteStream;
use serde_json::{Value, json};
use test_support::{Stack, event, request, with_key};

use crate::stats::percentiles;
use crate::{progress, tenant};

fn file_event(tenant: &str, key: &str, method: &str, body: Option<&str>) -> Value {
    let mut e = with_key(&event("s3-fetch/tenant1-get.json"), key);
    e["requestContext"]["authorizer"]["jwt"]["claims"]["custom:tenant_id"] = tenant.into();
    e["requestContext"]["requestId"] = format!("bench-{tenant}").into();
    e["requestContext"]["http"]["method"] = method.into();
    if let Some(body) = body {
        e["headers"]["content-type"] = "application/octet-stream".into();
        e["body"] = body.into();
    }
    e
}

/// One s3-fetch request, which must answer 200; how long it took.
pub(crate) async fn serve(app: &s3_fetch::App, e: &Value) -> Duration {
    let start = Instant::now();
    let response = s3_fetch::function_handler(app, request(e))
        .await
        .expect("handlers answer every request");
    let took = start.elapsed();
    assert_eq!(response.status(), 200, "bench file request failed");
    took
}

async fn kms_calls(stack: &Stack) -> u64 {
    let url = format!("{}/__front/counters", stack.var("AWS_ENDPOINT_URL"));
    let (status, body) = test_support::http_get(&url).await;
    assert_eq!(status, 200, "the front's counters");
    let counters: Value = serde_json::from_slice(&body).expect("JSON counters");
    counters["kms_calls"].as_u64().unwrap_or(0)
}

/// The write and KMS scenarios; each result carries `targets_missed`.
pub(crate) async fn files(stack: &Stack, requests: usize, tenants: usize) -> Vec<Value> {
    progress(&format!(
        "s3-fetch writes and KMS: {tenants} tenants, {requests} PUTs paired with PutObject, {requests} GETs of each encryption"
    ));
    let config = s3_fetch::Config::from_lookup(&stack.lookup()).expect("config");
    let app = s3_fetch::App::new(&config, &stack.sdk_config().await);
    let names: Vec<String> = (0..tenants).map(tenant).collect();
    let body = "b".repeat(1024);
    // The floor: each tenant's own session, held, and a client built once.
    let mut clients = Vec::new();
    for name in &names {
        let caller = stack.caller(name, "role-per-tenant", "bench-floor").await;
        let session = app.sessions().session(&caller).await.expect("session");
        clients.push(aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&session.sdk_config())
                .force_path_style(true)
                .build(),
        ));
    }
    let bucket = config.service.bucket.clone();
    let kms_key = |name: &str| {
        config
            .service
            .kms_key_template
            .render(&name.parse().expect("id"))
    };
    let floor = |i: usize| {
        let (client, name) = (&clients[i % tenants], &names[i % tenants]);
        let (bucket, body, key_id) = (&bucket, &body, kms_key(name));
        async move {
            let start = Instant::now();
            client
                .put_object()
                .bucket(bucket)
                .key(format!("{name}_home/bench-put/floor.bin"))
                .server_side_encryption(aws_sdk_s3::types::ServerSideEncryption::AwsKms)
                .ssekms_key_id(key_id)
                .bucket_key_enabled(false)
                .body(ByteStream::from(body.clone().into_bytes()))
                .send()
                .await
                .expect("PutObject");
            start.elapsed()
        }
    };
    let puts: Vec<Value> = names
        .iter()
        .map(|n| file_event(n, "bench-put/handler.bin", "PUT", Some(&body)))
        .collect();
    for (i, e) in puts.iter().enumerate() {
        serve(&app, e).await;
        floor(i).await;
    }
    let kms_before = kms_calls(stack).await;
    let (mut handler, mut raw) = (Vec::new(), Vec::new());
    for i in 0..requests {
        raw.push(floor(i).await);
        handler.push(serve(&app, &puts[i % tenants]).await);
    }
    let put_kms = kms_calls(stack).await - kms_before;
    let (h, f) = (percentiles(&handler), percentiles(&raw));
    let overhead = h.p50 / f.p50;
    let mut misses = Vec::new();
    if overhead > 1.15 {
        misses.push(format!("overhead {overhead:.2} > 1.15"));
    }
    let put = json!({
        "function": "s3-fetch", "scenario": "put_warm", "tenants": tenants, "requests": requests,
        "p50_us": h.p50, "p90_us": h.p90, "p99_us": h.p99,
        "floor_p50_us": f.p50, "floor_p99_us": f.p99, "overhead": overhead,
        "kms_calls_per_1000_pairs": put_kms as f64 * 1000.0 / requests as f64,
        "targets_missed": misses,
    });

    let kms_gets: Vec<Value> = names
        .iter()
        .map(|n| file_event(n, "bench-1k.bin", "GET", None))
        .collect();
    let s3_gets: Vec<Value> = names
        .iter()
        .map(|n| file_event(n, "bench-1k-sse-s3.bin", "GET", None))
        .collect();
    let kms_before = kms_calls(stack).await;
    let (mut with_kms, mut without) = (Vec::new(), Vec::new());
    for i in 0..requests {
        with_kms.push(serve(&app, &kms_gets[i % tenants]).await);
        without.push(serve(&app, &s3_gets[i % tenants]).await);
    }
    let get_kms = kms_calls(stack).await - kms_before;
    let (k, s) = (percentiles(&with_kms), percentiles(&without));
    let ratio = k.p50 / s.p50;
    let mut misses = Vec::new();
    if ratio > 1.1 {
        misses.push(format!("SSE-KMS GET p50 {ratio:.2} x SSE-S3 > 1.1"));
    }
    let get = json!({
        "function": "s3-fetch", "scenario": "get_sse_kms_vs_sse_s3", "tenants": tenants, "requests": requests,
        "sse_kms_p50_us": k.p50, "sse_kms_p99_us": k.p99,
        "sse_s3_p50_us": s.p50, "sse_s3_p99_us": s.p99, "ratio_p50": ratio,
        "kms_calls_per_1000_sse_kms_gets": get_kms as f64 * 1000.0 / requests as f64,
        "targets_missed": misses,
    });
    vec![put, get]
}
