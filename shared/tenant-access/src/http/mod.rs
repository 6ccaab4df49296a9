//! The request envelope both functions share.

use std::future::Future;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};

use lambda_http::{Body, Request, RequestExt, Response};
use tokio::time::Instant;
use tracing::Instrument;

use crate::config::{AccessConfig, Tenancy};
use crate::{Caller, Error, TenantId};

mod request;

pub use request::{Area, cursor, json_body, limit, only_query, query, segments};

/// How every request is served: who the caller is (the tenant claim) and
/// how long it may take (the deadline). Build once at cold start.
///
/// ```
/// # async fn run() {
/// use lambda_http::Request;
/// use tenant_access::config::AccessConfig;
/// use tenant_access::http::Envelope;
///
/// let config = AccessConfig::from_lookup(|name: &str| {
///     (name == "AWS_ACCOUNT_ID").then(|| "123456789012".to_owned())
/// }).unwrap();
/// let envelope = Envelope::new(&config);
/// // No authorizer context: refused with 401 before the closure runs.
/// let response = envelope.serve(&Request::default(), |_caller| async {
///     unreachable!("not called without a verified tenant")
/// })
/// .await;
/// assert_eq!(response.status().as_u16(), 401);
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct Envelope {
    claim: String,
    max_tenant_len: usize,
    #[cfg(feature = "metrics")]
    metrics: Option<(String, &'static str)>,
    margin: Duration,
    fallback: Duration,
    tenancy: Tenancy,
    /// Under [`Tenancy::PerTenant`], the one tenant this execution
    /// environment serves: the first one it served.
    served: Arc<OnceLock<TenantId>>,
    /// Each tenant's limits, when any are configured.
    limits: Option<Arc<crate::limits::TenantLimits>>,
    /// Where a tenant's tier is known from (its cached registry item).
    #[cfg(feature = "registry")]
    tiers: Option<Arc<crate::registry::TenantRegistry>>,
}

impl Envelope {
    /// The envelope `config` describes: `TENANT_CLAIM`, the longest tenant
    /// id, `REQUEST_DEADLINE_MARGIN_MS` and `REQUEST_TIMEOUT_MS`.
    pub fn new(config: &AccessConfig) -> Self {
        Envelope {
            claim: config.tenant_claim.clone(),
            max_tenant_len: config.max_tenant_len,
            #[cfg(feature = "metrics")]
            metrics: None,
            margin: config.deadline_margin,
            fallback: config.request_timeout,
            tenancy: config.tenancy,
            served: Arc::default(),
            limits: config
                .limits
                .limits_anything()
                .then(|| Arc::new(crate::limits::TenantLimits::new(config.limits.clone()))),
            #[cfg(feature = "registry")]
            tiers: None,
        }
    }

    /// Take each tenant's tier, for its limits, from `registry`'s cache
    /// (the tier its item names, as last read for the tenant's session).
    /// Without one, or before a tenant's first read, the default limits
    /// apply.
    #[cfg(feature = "registry")]
    pub fn with_tiers(mut self, registry: Option<Arc<crate::registry::TenantRegistry>>) -> Self {
        self.tiers = registry;
        self
    }

    /// Admit `caller`'s request under its tenant's limits, or refuse it
    /// ([`Error::RateLimited`]) before anything is done for it.
    fn admit(&self, caller: &Caller) -> Result<Option<crate::limits::Admission>, Error> {
        let Some(limits) = &self.limits else {
            return Ok(None);
        };
        #[cfg(feature = "registry")]
        let tier = self
            .tiers
            .as_ref()
            .and_then(|registry| registry.cached_tier(&caller.tenant));
        #[cfg(not(feature = "registry"))]
        let tier: Option<String> = None;
        limits
            .admit(&caller.tenant, tier.as_deref(), std::time::Instant::now())
            .map(Some)
    }

    /// Check the caller against Lambda's tenant isolation mode: an
    /// invocation that carries a tenant id (`runtime_tenant`, the execution
    /// environment's tenant) must carry the caller's verified tenant; under
    /// [`Tenancy::PerTenant`] it must carry one, and the environment serves
    /// no tenant but the first it served. The tenant id Lambda routes by is
    /// set by whoever invokes the function, so it is never trusted as the
    /// identity: only checked against it.
    ///
    /// ```
    /// use tenant_access::config::{AccessConfig, Tenancy};
    /// use tenant_access::http::Envelope;
    /// use tenant_access::{Caller, Error};
    ///
    /// let config = AccessConfig::builder().tenancy(Tenancy::PerTenant).account("123456789012").build().unwrap();
    /// let envelope = Envelope::new(&config);
    /// let caller = Caller::new("tenant1".parse().unwrap(), "req-1");
    /// assert!(envelope.check_tenancy(&caller, Some("tenant1")).is_ok());
    /// assert!(matches!(envelope.check_tenancy(&caller, Some("tenant2")), Err(Error::TenantMismatch)));
    /// assert!(matches!(envelope.check_tenancy(&caller, None), Err(Error::TenantMismatch)));
    /// ```
    pub fn check_tenancy(
        &self,
        caller: &Caller,
        runtime_tenant: Option<&str>,
    ) -> Result<(), Error> {
        let mismatch = |why: &'static str| {
            // Neither the other tenant's id nor the invocation's is logged.
            tracing::warn!(why, "invocation refused under tenant isolation");
            Err(Error::TenantMismatch)
        };
        match (runtime_tenant, self.tenancy) {
            (Some(id), _) if id != caller.tenant.as_str() => {
                return mismatch("the invocation's tenant id is not the caller's tenant");
            }
            (None, Tenancy::PerTenant) => {
                return mismatch("the invocation carries no tenant id");
            }
            _ => {}
        }
        if self.tenancy == Tenancy::PerTenant
            && self.served.get_or_init(|| caller.tenant.clone()) != &caller.tenant
        {
            return mismatch("this execution environment serves another tenant");
        }
        Ok(())
    }

    /// Emit one EMF metrics line per request served by
    /// [`serve_measured`](Self::serve_measured), for `function`, unless
    /// `METRICS_NAMESPACE` is `none`.
    #[cfg(feature = "metrics")]
    pub fn with_metrics(mut self, config: &AccessConfig, function: &'static str) -> Self {
        self.metrics = config
            .metrics_namespace
            .clone()
            .map(|namespace| (namespace, function));
        self
    }

    /// [`serve`](Self::serve), then one EMF line ([`crate::metrics`]) with
    /// the answer's status, the latency, and what serving it caused in the
    /// caches (this request's own counts, under concurrency too).
    pub async fn serve_measured<F, Fut>(&self, request: &Request, handle: F) -> Response<Body>
    where
        F: FnOnce(Caller) -> Fut,
        Fut: Future<Output = Result<Response<Body>, Error>>,
    {
        let (response, line) = self.serve_and_measure(request, handle).await;
        if let Some(line) = line {
            use std::io::Write;
            let _ = writeln!(std::io::stdout().lock(), "{line}");
        }
        response
    }

    /// The answer and its EMF line (none when metrics are off).
    async fn serve_and_measure<F, Fut>(
        &self,
        request: &Request,
        handle: F,
    ) -> (Response<Body>, Option<String>)
    where
        F: FnOnce(Caller) -> Fut,
        Fut: Future<Output = Result<Response<Body>, Error>>,
    {
        let started = std::time::Instant::now();
        let (response, counts) = crate::metrics::measure(self.serve(request, handle)).await;
        #[cfg(not(feature = "metrics"))]
        let line = {
            let _ = (started, counts);
            None
        };
        #[cfg(feature = "metrics")]
        let line = self.metrics.as_ref().map(|(namespace, function)| {
            let caller = Caller::from_request(request, &self.claim).ok();
            crate::metrics::line(
                namespace,
                SystemTime::now(),
                &crate::metrics::Measured {
                    function,
                    tenant: caller.as_ref().map(|c| c.tenant.as_str()),
                    request_id: caller.as_ref().map(|c| c.request_id.as_str()),
                    route: route_of(request).as_deref(),
                    bytes_in: body_len(request.body()),
                    bytes_out: body_len(response.body()),
                    status: response.status().as_u16(),
                    latency: started.elapsed(),
                    counts,
                },
            )
        });
        (response, line)
    }

    /// The claim holding the tenant id.
    pub fn claim(&self) -> &str {
        &self.claim
    }

    /// When `request` must be answered: the invocation's Lambda deadline
    /// less the margin, or the fallback budget from now when the invocation
    /// carries no deadline. Lambda never hands over an invocation already
    /// past its deadline, so such a deadline is not one (`cargo lambda
    /// watch` 1.9 sends 600000, ten minutes after the epoch) and the
    /// fallback applies.
    pub fn deadline(&self, request: &Request) -> Instant {
        let now = Instant::now();
        let lambda = request
            .lambda_context_ref()
            .filter(|context| context.deadline > 0)
            .map(|context| context.deadline())
            .filter(|deadline| *deadline > SystemTime::now());
        match lambda {
            Some(deadline) => {
                let left = deadline
                    .duration_since(SystemTime::now())
                    .unwrap_or_default();
                now + left.saturating_sub(self.margin)
            }
            None => now + self.fallback,
        }
    }

    /// Serve one request: identify the caller from the verified request
    /// context, run `handle` inside a span carrying tenant and request id,
    /// bounded by [`deadline`](Self::deadline), and turn any [`Error`] into
    /// its JSON response. A request without a valid tenant is answered here,
    /// before `handle` (and so before any AWS call) runs. A request still
    /// running at its deadline is dropped there, which cancels every call
    /// in flight, and answered 504 `deadline_exceeded`.
    pub async fn serve<F, Fut>(&self, request: &Request, handle: F) -> Response<Body>
    where
        F: FnOnce(Caller) -> Fut,
        Fut: Future<Output = Result<Response<Body>, Error>>,
    {
        let deadline = self.deadline(request);
        let lambda = request.lambda_context_ref();
        let caller = Caller::from_request(request, &self.claim).and_then(|caller| {
            if caller.tenant.as_str().len() > self.max_tenant_len {
                // Its role or DB user could not exist: refused before any call.
                return Err(Error::InvalidTenant);
            }
            let runtime_tenant = lambda.and_then(|context| context.tenant_id.as_deref());
            self.check_tenancy(&caller, runtime_tenant)?;
            Ok(caller)
        });
        let caller = match caller {
            Ok(caller) => caller,
            Err(err) => {
                err.log();
                return err.to_response();
            }
        };
        // Held until the answer: the request counts as in flight till then.
        let _admission = match self.admit(&caller) {
            Ok(admission) => admission,
            Err(err) => {
                err.log();
                return err.to_response();
            }
        };
        let span = tracing::info_span!(
            "request",
            tenant = %caller.tenant,
            request_id = %caller.request_id,
            lambda_request_id = lambda.map_or("", |c| c.request_id.as_str()),
            trace_id = lambda.and_then(|c| c.xray_trace_id.as_deref()).unwrap_or(""),
        );
        async move {
            // Boxed: the handler's future is deep (STS, S3, Postgres), and a
            // caller's future holding it inline can exceed the compiler's
            // query depth when its layout is computed. One allocation.
            let result = tokio::time::timeout_at(deadline, Box::pin(handle(caller)))
                .await
                .unwrap_or(Err(Error::DeadlineExceeded));
            match result {
                Ok(response) => {
                    tracing::info!(status = response.status().as_u16(), "request served");
                    response
                }
                Err(err) => {
                    err.log();
                    err.to_response()
                }
            }
        }
        .instrument(span)
        .await
    }
}

/// API Gateway's route of `request`: the HTTP API's route key
/// (`GET /files/{key+}`), or the REST API's method and resource path.
#[cfg(feature = "metrics")]
fn route_of(request: &Request) -> Option<String> {
    use lambda_http::request::RequestContext;
    match request.request_context_ref()? {
        RequestContext::ApiGatewayV2(ctx) => ctx.route_key.clone(),
        RequestContext::ApiGatewayV1(ctx) => ctx
            .resource_path
            .as_ref()
            .map(|path| format!("{} {path}", request.method())),
        #[allow(unreachable_patterns)]
        _ => None,
    }
}

/// A body's length in bytes.
#[cfg(feature = "metrics")]
fn body_len(body: &Body) -> u64 {
    match body {
        Body::Empty => 0,
        Body::Text(text) => text.len() as u64,
        Body::Binary(bytes) => bytes.len() as u64,
        #[allow(unreachable_patterns)]
        _ => 0,
    }
}

/// Mark `response` `Cache-Control: private`: a tenant's data must never be
/// served to someone else from a shared cache.
///
/// ```
/// let response = tenant_access::http::private(lambda_http::Response::new(lambda_http::Body::Empty));
/// assert_eq!(response.headers()["cache-control"], "private");
/// ```
pub fn private(mut response: Response<Body>) -> Response<Body> {
    response.headers_mut().insert(
        lambda_http::http::header::CACHE_CONTROL,
        lambda_http::http::HeaderValue::from_static("private"),
    );
    response
}

/// An HTTP API v2 request whose JWT authorizer verified `tenant`, for this
/// crate's unit tests.
#[cfg(test)]
pub(crate) fn test_request(tenant: &str, request_id: &str) -> Request {
    let event = serde_json::json!({
        "version": "2.0", "routeKey": "GET /tenant", "rawPath": "/tenant", "rawQueryString": "",
        "headers": {}, "isBase64Encoded": false,
        "requestContext": {
            "accountId": "123456789012", "apiId": "api", "domainName": "example.com",
            "domainPrefix": "api", "requestId": request_id, "routeKey": "GET /tenant",
            "stage": "$default", "time": "", "timeEpoch": 0,
            "http": {"method": "GET", "path": "/tenant", "protocol": "HTTP/1.1",
                     "sourceIp": "127.0.0.1", "userAgent": "unit"},
            "authorizer": {"jwt": {"claims": {"custom:tenant_id": tenant}, "scopes": null}}
        }
    });
    lambda_http::request::from_str(&event.to_string()).expect("a valid test event")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request_for(tenant: &str) -> Request {
        test_request(tenant, "req-1")
    }

    /// A tenant id longer than its names allow is refused with 403 before
    /// the handler (and so any AWS call) runs; one at the limit is served.
    #[tokio::test]
    async fn ids_longer_than_their_names_allow_are_refused_first() {
        let config = AccessConfig::from_lookup(|name: &str| {
            (name == "AWS_ACCOUNT_ID").then(|| "123456789012".to_owned())
        })
        .unwrap();
        let envelope = Envelope::new(&config);
        let too_long = "a".repeat(config.max_tenant_len + 1);
        let response = envelope
            .serve(&request_for(&too_long), |_| async {
                unreachable!("no handler for an id whose role cannot exist")
            })
            .await;
        assert_eq!(response.status().as_u16(), 403);
        let at_limit = "a".repeat(config.max_tenant_len);
        let response = envelope
            .serve(&request_for(&at_limit), |caller| async move {
                assert_eq!(caller.tenant.as_str().len(), 53);
                Ok(Response::new(Body::Empty))
            })
            .await;
        assert_eq!(response.status().as_u16(), 200);
    }

    /// A request still running at its deadline is answered 504 then, with
    /// Retry-After, not when it would have finished.
    #[tokio::test]
    async fn a_request_past_its_deadline_is_answered_504_in_time() {
        use lambda_http::RequestExt;
        let config = AccessConfig::from_lookup(|name: &str| match name {
            "AWS_ACCOUNT_ID" => Some("123456789012".to_owned()),
            "REQUEST_DEADLINE_MARGIN_MS" => Some("100".to_owned()),
            _ => None,
        })
        .unwrap();
        let mut context = lambda_http::Context::default();
        let deadline = SystemTime::now() + Duration::from_millis(400);
        context.deadline = deadline
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;
        let request = request_for("tenant1").with_lambda_context(context);
        let started = std::time::Instant::now();
        let response = Envelope::new(&config)
            .serve(&request, |_| async {
                tokio::time::sleep(Duration::from_secs(30)).await;
                Ok(Response::new(Body::Empty))
            })
            .await;
        let took = started.elapsed();
        assert_eq!(response.status().as_u16(), 504);
        assert_eq!(response.headers()["retry-after"], "1");
        assert!(took < Duration::from_millis(400), "answered after {took:?}");
        assert!(
            took >= Duration::from_millis(250),
            "answered early, after {took:?}"
        );
    }

    /// A deadline already past on arrival (a local emulator's) is no
    /// deadline: the request gets the fallback budget, not an instant 504.
    #[tokio::test]
    async fn a_deadline_past_on_arrival_falls_back_to_the_request_timeout() {
        use lambda_http::RequestExt;
        let config = AccessConfig::from_lookup(|name: &str| match name {
            "AWS_ACCOUNT_ID" => Some("123456789012".to_owned()),
            "REQUEST_TIMEOUT_MS" => Some("300".to_owned()),
            _ => None,
        })
        .unwrap();
        let mut context = lambda_http::Context::default();
        context.deadline = 600_000;
        let request = request_for("tenant1").with_lambda_context(context);
        let envelope = Envelope::new(&config);
        let left = envelope.deadline(&request) - tokio::time::Instant::now();
        assert!(
            left > Duration::from_millis(200) && left <= Duration::from_millis(300),
            "{left:?}"
        );
        let response = envelope
            .serve(&request, |_| async { Ok(Response::new(Body::Empty)) })
            .await;
        assert_eq!(response.status().as_u16(), 200);
    }

    /// serve_measured's line carries the function, the status class, the
    /// tenant as a property, and what the caches did for this request: not
    /// what a request running next to it did.
    #[cfg(feature = "metrics")]
    #[tokio::test]
    async fn a_measured_request_emits_its_metrics_line() {
        let config = AccessConfig::from_lookup(|name: &str| {
            (name == "AWS_ACCOUNT_ID").then(|| "123456789012".to_owned())
        })
        .unwrap();
        let envelope = Envelope::new(&config).with_metrics(&config, "s3-fetch");
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let request = request_for("tenant1");
        let measured = envelope.serve_and_measure(&request, |_| async {
            crate::metrics::record(|c| c.assume_role_calls += 1); // the request assumed a role
            rx.await.unwrap(); // ...while its neighbour runs
            Err(Error::NotFound)
        });
        let neighbour = request_for("tenant2");
        let other = envelope.serve_and_measure(&neighbour, |_| async {
            crate::metrics::record(|c| c.assume_role_calls += 3);
            tx.send(()).unwrap();
            Err(Error::NotFound)
        });
        let ((response, line), (_, other)) = tokio::join!(measured, other);
        let other: serde_json::Value = serde_json::from_str(&other.unwrap()).unwrap();
        assert_eq!(other["AssumeRoleCalls"], 3);
        assert_eq!(response.status().as_u16(), 404);
        let line: serde_json::Value = serde_json::from_str(&line.expect("a line")).unwrap();
        assert_eq!(line["Function"], "s3-fetch");
        assert_eq!(line["StatusClass"], "4xx");
        assert_eq!(line["tenant"], "tenant1");
        assert_eq!(line["AssumeRoleCalls"], 1, "its own, not its neighbour's");
        // Its usage record: the route, the bytes of its answer (the JSON
        // error body), its AWS calls.
        assert_eq!(line["route"], "GET /tenant");
        assert_eq!(line["bytesIn"], 0);
        assert_eq!(
            line["bytesOut"].as_u64(),
            Some(Error::NotFound.to_response().body().len() as u64)
        );
        assert_eq!(line["awsCalls"], 1);
        assert_eq!(
            line["_aws"]["CloudWatchMetrics"][0]["Namespace"],
            "TenantAccess"
        );

        let off = AccessConfig::from_lookup(|name: &str| match name {
            "AWS_ACCOUNT_ID" => Some("123456789012".to_owned()),
            "METRICS_NAMESPACE" => Some("none".to_owned()),
            _ => None,
        })
        .unwrap();
        let (_, line) = Envelope::new(&off)
            .with_metrics(&off, "s3-fetch")
            .serve_and_measure(&request_for("tenant1"), |_| async { Err(Error::NotFound) })
            .await;
        assert!(line.is_none(), "METRICS_NAMESPACE=none turns them off");
    }
}
