//! Per-request metrics as CloudWatch Embedded Metric Format (EMF) lines.
//!
//! After each request the function writes one JSON line to stdout that
//! CloudWatch Logs turns into metrics in `METRICS_NAMESPACE` (default
//! `TenantAccess`; `none` turns them off), under the dimension sets
//! `[Function]` and `[Function, StatusClass]`:
//!
//! | metric | unit | what |
//! |---|---|---|
//! | `Requests` | Count | 1 per request |
//! | `Latency` | Milliseconds | from the envelope's start to the answer |
//! | `AssumeRoleCalls` | Count | STS calls the request caused (background refreshes included) |
//! | `IdentityPoolCalls` | Count | Cognito identity-pool exchanges (`GetId` + `GetCredentialsForIdentity`) the request caused |
//! | `SessionCacheHits`, `SessionCacheMisses`, `SessionCacheEvictions` | Count | the tenant-session cache |
//! | `DbConnects`, `DbTokens`, `DbConnectionReuses` | Count | aurora-query's connections |
//! | `RegistryReads` | Count | reads of the tenant registry (0 while the tenant's state is cached) |
//! | `StaleSessionsDropped` | Count | sessions a service denied when older than `STALE_AFTER`, dropped and retried once |
//! | `RateLimited` | Count | requests refused by the tenant's own limits (429 `rate_limited`, [`crate::limits`]) |
//!
//! The tenant is a property of the line (searchable in Logs Insights), not a
//! dimension: a dimension per tenant would be a metric per tenant. The line
//! is also the request's usage record, for metering per tenant without a
//! per-tenant metric: besides `tenant`, `status` and the counts above it
//! carries `route` (API Gateway's route), `bytesIn` and `bytesOut` (the
//! request's and the answer's bodies), `dbMs` (time spent in database
//! statements and logins) and `awsCalls` (the AWS calls counted above, and
//! the S3, DynamoDB and search requests the services answered).
//! The template's Contributor Insights rules rank tenants by it, and
//! `cargo xtask usage` sums it per tenant.
//! Counts are the request's own, also when the environment serves several
//! invocations at once (`run_concurrent` on Lambda Managed Instances): each
//! request is measured in its own task-local scope ([`measure`]), and a
//! call started for it in the background is counted when it starts.

use std::cell::RefCell;
use std::ops::{Add, Sub};
#[cfg(feature = "metrics")]
use std::time::{Duration, SystemTime};

#[cfg(feature = "metrics")]
use serde_json::{Map, Value, json};

/// Totals of what the caches did since cold start.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// `AssumeRole` calls.
    pub assume_role_calls: u64,
    /// Identity-pool exchanges (`GetId` then `GetCredentialsForIdentity`).
    pub identity_pool_calls: u64,
    /// Requests served a cached session.
    pub session_hits: u64,
    /// Requests that had to get a session (or a remembered failure).
    pub session_misses: u64,
    /// Tenants dropped from the full session cache.
    pub session_evictions: u64,
    /// DB logins.
    pub db_connects: u64,
    /// RDS auth tokens signed.
    pub db_tokens: u64,
    /// Requests served on an open connection.
    pub db_reuses: u64,
    /// Reads of the tenant registry ([`crate::registry`]).
    pub registry_reads: u64,
    /// Sessions dropped because a service denied them when they were
    /// older than [`crate::credentials::STALE_AFTER`].
    pub stale_sessions: u64,
    /// Requests refused by the tenant's own limits ([`crate::limits`]).
    pub rate_limited: u64,
    /// Microseconds spent in database logins and statements.
    pub db_time_us: u64,
    /// Requests to the tenant's data services answered by them (S3,
    /// DynamoDB, the search domain), retries included; the KMS calls S3
    /// makes for SSE-KMS are S3's own and not seen here.
    pub data_calls: u64,
}

/// Counts each request an SDK client sends that the service answers
/// (each attempt, retries included; a presigned URL is never sent) as one
/// of the current request's [`Counts::data_calls`]: the S3 and DynamoDB
/// clients carry it.
#[cfg(any(feature = "s3", feature = "dynamodb"))]
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct CountCalls;

#[cfg(any(feature = "s3", feature = "dynamodb"))]
impl aws_smithy_runtime_api::client::interceptors::Intercept for CountCalls {
    fn name(&self) -> &'static str {
        "CountCalls"
    }

    fn read_before_deserialization(
        &self,
        _: &aws_smithy_runtime_api::client::interceptors::context::BeforeDeserializationInterceptorContextRef<'_>,
        _: &aws_smithy_runtime_api::client::runtime_components::RuntimeComponents,
        _: &mut aws_smithy_types::config_bag::ConfigBag,
    ) -> Result<(), aws_smithy_runtime_api::box_error::BoxError> {
        record(|c| c.data_calls += 1);
        Ok(())
    }
}

tokio::task_local! {
    static REQUEST: RefCell<Counts>;
}

/// Run `work` and return, with its output, what it alone caused: the
/// counts recorded by the caches while it ran, not those of requests
/// running next to it. Measures nest: what an inner one counted counts in
/// the one around it too (a test measuring a handler that measures its
/// request sees the request's counts).
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use tenant_access::metrics::{Counts, measure};
/// let (answer, counts) = measure(async { 42 }).await;
/// assert_eq!((answer, counts), (42, Counts::default()));
/// let ((_, inner), outer) = measure(measure(async {})).await;
/// assert_eq!(inner, outer);
/// # });
/// ```
pub async fn measure<F: Future>(work: F) -> (F::Output, Counts) {
    let (output, counts) = REQUEST
        .scope(RefCell::new(Counts::default()), async {
            let output = work.await;
            (output, REQUEST.with(|counts| *counts.borrow()))
        })
        .await;
    record(|outer| *outer = *outer + counts);
    (output, counts)
}

/// Run `work` and return, with its output, what it caused: counted straight
/// into the enclosing measure when there is one (so what a request did
/// before its deadline cut it off is never lost), the difference read off
/// it; else in a measure of its own.
pub(crate) async fn observe<F: Future>(work: F) -> (F::Output, Counts) {
    match REQUEST.try_with(|counts| *counts.borrow()) {
        Ok(before) => {
            let output = work.await;
            let after = REQUEST.with(|counts| *counts.borrow());
            (output, after - before)
        }
        Err(_) => measure(work).await,
    }
}

/// Count something for the request being [`measure`]d, if any.
pub(crate) fn record(count: impl FnOnce(&mut Counts)) {
    let _ = REQUEST.try_with(|counts| count(&mut counts.borrow_mut()));
}

macro_rules! fieldwise {
    ($trait:ident, $method:ident, $op:ident) => {
        impl $trait for Counts {
            type Output = Counts;
            fn $method(self, other: Counts) -> Counts {
                Counts {
                    assume_role_calls: self.assume_role_calls.$op(other.assume_role_calls),
                    identity_pool_calls: self.identity_pool_calls.$op(other.identity_pool_calls),
                    session_hits: self.session_hits.$op(other.session_hits),
                    session_misses: self.session_misses.$op(other.session_misses),
                    session_evictions: self.session_evictions.$op(other.session_evictions),
                    db_connects: self.db_connects.$op(other.db_connects),
                    db_tokens: self.db_tokens.$op(other.db_tokens),
                    db_reuses: self.db_reuses.$op(other.db_reuses),
                    registry_reads: self.registry_reads.$op(other.registry_reads),
                    stale_sessions: self.stale_sessions.$op(other.stale_sessions),
                    rate_limited: self.rate_limited.$op(other.rate_limited),
                    db_time_us: self.db_time_us.$op(other.db_time_us),
                    data_calls: self.data_calls.$op(other.data_calls),
                }
            }
        }
    };
}
fieldwise!(Add, add, wrapping_add);
fieldwise!(Sub, sub, saturating_sub);

/// One request, as measured.
#[cfg(feature = "metrics")]
#[derive(Debug, Clone)]
pub struct Measured<'a> {
    /// The function's name, a dimension.
    pub function: &'a str,
    /// The verified tenant, when there was one: a property.
    pub tenant: Option<&'a str>,
    /// API Gateway's request id: a property.
    pub request_id: Option<&'a str>,
    /// API Gateway's route (`GET /files/{key+}`), when known: a property.
    pub route: Option<&'a str>,
    /// The request body's bytes.
    pub bytes_in: u64,
    /// The answer body's bytes.
    pub bytes_out: u64,
    /// The answer's HTTP status.
    pub status: u16,
    /// How long it took.
    pub latency: Duration,
    /// What the caches did for it.
    pub counts: Counts,
}

/// The EMF line for one request in `namespace`, timestamped `at`.
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use tenant_access::metrics::{Counts, Measured, line};
///
/// let text = line("TenantAccess", SystemTime::UNIX_EPOCH, &Measured {
///     function: "s3-fetch", tenant: Some("tenant1"), request_id: None,
///     route: Some("GET /files/{key+}"), bytes_in: 0, bytes_out: 1024,
///     status: 200, latency: Duration::from_millis(12), counts: Counts::default(),
/// });
/// let json: serde_json::Value = serde_json::from_str(&text).unwrap();
/// assert_eq!(json["StatusClass"], "2xx");
/// assert_eq!(json["Requests"], 1);
/// assert_eq!((json["tenant"].as_str(), json["bytesOut"].as_u64()), (Some("tenant1"), Some(1024)));
/// ```
#[cfg(feature = "metrics")]
pub fn line(namespace: &str, at: SystemTime, m: &Measured<'_>) -> String {
    let c = &m.counts;
    let metrics: [(&str, &str, Value); 13] = [
        ("Requests", "Count", json!(1)),
        (
            "Latency",
            "Milliseconds",
            json!(m.latency.as_secs_f64() * 1000.0),
        ),
        ("AssumeRoleCalls", "Count", json!(c.assume_role_calls)),
        ("IdentityPoolCalls", "Count", json!(c.identity_pool_calls)),
        ("SessionCacheHits", "Count", json!(c.session_hits)),
        ("SessionCacheMisses", "Count", json!(c.session_misses)),
        ("SessionCacheEvictions", "Count", json!(c.session_evictions)),
        ("DbConnects", "Count", json!(c.db_connects)),
        ("DbTokens", "Count", json!(c.db_tokens)),
        ("DbConnectionReuses", "Count", json!(c.db_reuses)),
        ("RegistryReads", "Count", json!(c.registry_reads)),
        ("StaleSessionsDropped", "Count", json!(c.stale_sessions)),
        ("RateLimited", "Count", json!(c.rate_limited)),
    ];
    let timestamp = at
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let mut root = Map::new();
    root.insert(
        "_aws".to_owned(),
        json!({
            "Timestamp": timestamp,
            "CloudWatchMetrics": [{
                "Namespace": namespace,
                "Dimensions": [["Function"], ["Function", "StatusClass"]],
                "Metrics": metrics
                    .iter()
                    .map(|(name, unit, _)| json!({"Name": name, "Unit": unit}))
                    .collect::<Vec<_>>(),
            }],
        }),
    );
    root.insert("Function".to_owned(), json!(m.function));
    root.insert(
        "StatusClass".to_owned(),
        json!(format!("{}xx", m.status / 100)),
    );
    for (name, _, value) in metrics {
        root.insert(name.to_owned(), value);
    }
    root.insert("status".to_owned(), json!(m.status));
    // The usage record's own fields: properties, never metrics.
    if let Some(route) = m.route {
        root.insert("route".to_owned(), json!(route));
    }
    root.insert("bytesIn".to_owned(), json!(m.bytes_in));
    root.insert("bytesOut".to_owned(), json!(m.bytes_out));
    root.insert("dbMs".to_owned(), json!(c.db_time_us as f64 / 1000.0));
    root.insert(
        "awsCalls".to_owned(),
        json!(
            c.assume_role_calls
                + c.identity_pool_calls
                + c.db_connects
                + c.registry_reads
                + c.data_calls
        ),
    );
    if let Some(tenant) = m.tenant {
        root.insert("tenant".to_owned(), json!(tenant));
    }
    if let Some(id) = m.request_id {
        root.insert("requestId".to_owned(), json!(id));
    }
    Value::Object(root).to_string()
}

#[cfg(all(test, feature = "metrics"))]
mod tests {
    use super::*;

    /// The line is valid EMF (the specification's rules checked one by
    /// one), with the tenant a property and never a dimension.
    #[test]
    fn lines_follow_the_emf_specification() {
        let counts = Counts {
            assume_role_calls: 1,
            session_misses: 1,
            db_connects: 1,
            db_tokens: 1,
            db_time_us: 2_500,
            ..Counts::default()
        };
        let text = line(
            "TenantAccess",
            SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_323_045),
            &Measured {
                function: "aurora-query",
                tenant: Some("tenant1"),
                request_id: Some("req-1"),
                route: Some("GET /tenant"),
                bytes_in: 0,
                bytes_out: 57,
                status: 503,
                latency: Duration::from_micros(12_500),
                counts,
            },
        );
        assert!(!text.contains('\n'), "one line");
        let root: Value = serde_json::from_str(&text).unwrap();
        let aws = &root["_aws"];
        assert_eq!(aws["Timestamp"], 1_767_323_045_000u64, "milliseconds");
        let directives = aws["CloudWatchMetrics"].as_array().unwrap();
        assert_eq!(directives.len(), 1);
        let directive = &directives[0];
        let namespace = directive["Namespace"].as_str().unwrap();
        assert!(!namespace.is_empty() && namespace.len() <= 255);
        let sets = directive["Dimensions"].as_array().unwrap();
        for set in sets {
            let keys = set.as_array().unwrap();
            assert!(!keys.is_empty() && keys.len() <= 30);
            for key in keys {
                let key = key.as_str().unwrap();
                assert!(root[key].is_string(), "dimension {key} is a string member");
                assert_ne!(key, "tenant", "no dimension per tenant");
            }
        }
        let metrics = directive["Metrics"].as_array().unwrap();
        assert!(!metrics.is_empty() && metrics.len() <= 100);
        let units = ["Count", "Milliseconds"];
        for metric in metrics {
            let name = metric["Name"].as_str().unwrap();
            assert!(units.contains(&metric["Unit"].as_str().unwrap()));
            assert!(root[name].is_number(), "metric {name} has a number");
        }
        assert_eq!(root["StatusClass"], "5xx");
        assert_eq!(root["Latency"], 12.5);
        assert_eq!(root["AssumeRoleCalls"], 1);
        assert_eq!(root["SessionCacheHits"], 0);
        assert_eq!(root["tenant"], "tenant1");
        assert_eq!(root["requestId"], "req-1");
        // The usage record's fields are properties, never metrics.
        assert_eq!(root["route"], "GET /tenant");
        assert_eq!(
            (root["bytesIn"].as_u64(), root["bytesOut"].as_u64()),
            (Some(0), Some(57))
        );
        assert_eq!(root["dbMs"], 2.5);
        assert_eq!(root["awsCalls"], 2, "the STS call and the login");
        for usage in ["route", "bytesIn", "bytesOut", "dbMs", "awsCalls"] {
            assert!(
                !metrics.iter().any(|m| m["Name"] == usage),
                "{usage} is not a metric"
            );
        }
    }

    #[test]
    fn counts_subtract_per_field() {
        let before = Counts {
            assume_role_calls: 3,
            db_reuses: 10,
            ..Counts::default()
        };
        let after = Counts {
            assume_role_calls: 4,
            db_reuses: 12,
            session_hits: 1,
            ..Counts::default()
        };
        let delta = after - before;
        assert_eq!(
            (delta.assume_role_calls, delta.db_reuses, delta.session_hits),
            (1, 2, 1)
        );
        assert_eq!(before + delta, after);
    }

    /// What an inner measure counted counts in the one around it, and not
    /// in a measure running beside them.
    #[tokio::test]
    async fn measures_nest() {
        let ((((), inner), ()), outer) = measure(async {
            let inner = measure(async { record(|c| c.data_calls += 2) }).await;
            record(|c| c.data_calls += 1);
            (inner, ())
        })
        .await;
        assert_eq!(inner.data_calls, 2);
        assert_eq!(outer.data_calls, 3);
        let ((), beside) = measure(async {}).await;
        assert_eq!(beside.data_calls, 0);
    }

    /// What an observed piece of work does counts in the request's measure
    /// as it happens: cut off half way (a deadline), the request keeps it.
    #[tokio::test]
    async fn observed_work_cut_off_still_counts() {
        let (seen, counts) = measure(async {
            let ((), own) = observe(async { record(|c| c.data_calls += 1) }).await;
            let cut = tokio::time::timeout(std::time::Duration::from_millis(10), async {
                observe(async {
                    record(|c| c.data_calls += 1);
                    std::future::pending::<()>().await;
                })
                .await
            })
            .await;
            assert!(cut.is_err());
            own
        })
        .await;
        assert_eq!(seen.data_calls, 1, "its own");
        assert_eq!(counts.data_calls, 2, "the cut-off one's call kept");
        let ((), alone) = observe(async { record(|c| c.data_calls += 3) }).await;
        assert_eq!(alone.data_calls, 3, "a measure of its own");
    }
}
