//! Tenant sessions when STS fails, through the local front, with a clock
//! the test moves: a still-valid session is served while a refresh fails,
//! a failure is remembered briefly (one STS call for a burst of requests),
//! and STS refusals are told apart by strategy.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use aws_smithy_async::time::{SharedTimeSource, TimeSource};
use local_front::{HttpFault, HttpFront, HttpRule, Service};
use tenant_access::config::{FunctionConfig, S3Config};
use tenant_access::credentials::{FAILURE_MEMORY, MIN_REMAINING, REFRESH_AHEAD, REFRESH_BUFFER};
use tenant_access::{Caller, Error, TenantSessions};
use test_support::Stack;
use tokio::time::timeout;

/// The system clock plus an offset the test moves forward.
#[derive(Debug, Default, Clone)]
struct Clock(Arc<AtomicU64>);

impl Clock {
    fn advance(&self, by: Duration) {
        self.0.fetch_add(by.as_millis() as u64, Ordering::SeqCst);
    }
}

impl TimeSource for Clock {
    fn now(&self) -> SystemTime {
        SystemTime::now() + Duration::from_millis(self.0.load(Ordering::SeqCst))
    }
}

fn caller(tenant: &str) -> Caller {
    Caller::new(tenant.parse().unwrap(), "session-test")
}

/// Sessions whose STS calls go through a front, signed at `clock`'s time.
async fn sessions(
    stack: &Stack,
    overrides: &[(&str, &str)],
    clock: Clock,
) -> (HttpFront, TenantSessions) {
    let moto = stack
        .var("AWS_ENDPOINT_URL")
        .trim_start_matches("http://")
        .parse()
        .unwrap();
    let front = HttpFront::start("127.0.0.1:0".parse().unwrap(), moto)
        .await
        .unwrap();
    let endpoint = front.endpoint();
    let mut vars = vec![("AWS_ENDPOINT_URL", endpoint.as_str())];
    vars.extend_from_slice(overrides);
    let env = stack.with(&vars);
    let config = FunctionConfig::<S3Config>::from_lookup(&env.lookup()).unwrap();
    let sdk = env
        .sdk_config()
        .await
        .into_builder()
        .time_source(SharedTimeSource::new(clock))
        .build();
    (front, TenantSessions::new(&sdk, &config.access))
}

#[tokio::test]
async fn a_valid_session_outlives_a_failed_refresh_and_the_failure_is_remembered() {
    let stack = Stack::load();
    let clock = Clock::default();
    let (front, sessions) = sessions(&stack, &[], clock.clone()).await;
    let me = caller("fault011");
    let first = sessions.session(&me).await.expect("a session");
    assert_eq!(sessions.assume_role_calls(), 1);
    let expiry = first.credentials().expiry().expect("STS sessions expire");
    let left = expiry.duration_since(clock.now()).unwrap();

    // Into the refresh window, with minutes still left: STS throttles.
    clock.advance(left - REFRESH_BUFFER + Duration::from_secs(60));
    front.inject(HttpRule::new(HttpFault::Throttle).service(Service::Sts));
    let during = sessions.session(&me).await.expect("the current session");
    assert!(
        Arc::ptr_eq(&first, &during),
        "the still-valid session is served"
    );
    assert_eq!(sessions.assume_role_calls(), 2, "a refresh was tried");
    let tried = front.injected();
    assert!(tried >= 1, "STS was asked (and retried by the SDK)");

    // Within FAILURE_MEMORY, nothing asks STS again.
    let again = sessions.session(&me).await.unwrap();
    assert!(Arc::ptr_eq(&first, &again));
    assert_eq!(front.injected(), tried, "the failure was remembered");
    assert_eq!(sessions.assume_role_calls(), 2);

    // Less than MIN_REMAINING left: the failure is the answer.
    let left = expiry.duration_since(clock.now()).unwrap();
    clock.advance(left - MIN_REMAINING + Duration::from_secs(1));
    let err = sessions.session(&me).await.unwrap_err();
    assert!(matches!(err, Error::Throttled { .. }), "{err:?}");
    assert_eq!(err.status().as_u16(), 503);

    // STS is back: once the memory lapses, a new session.
    front.clear();
    clock.advance(FAILURE_MEMORY);
    let fresh = sessions.session(&me).await.expect("a new session");
    assert!(!Arc::ptr_eq(&first, &fresh));
}

#[tokio::test]
async fn a_refused_tenant_costs_one_sts_call_for_a_burst_of_requests() {
    let stack = Stack::load();
    let clock = Clock::default();
    let (front, sessions) = sessions(&stack, &[], clock.clone()).await;
    front.inject(
        HttpRule::new(HttpFault::AccessDenied)
            .service(Service::Sts)
            .contains("assumeRole-fault012"),
    );
    let sessions = Arc::new(sessions);
    let burst: Vec<_> = (0..20)
        .map(|_| {
            let sessions = sessions.clone();
            tokio::spawn(async move { sessions.session(&caller("fault012")).await })
        })
        .collect();
    for request in burst {
        let err = request.await.unwrap().unwrap_err();
        assert!(matches!(err, Error::TenantNotOnboarded { .. }), "{err:?}");
        assert_eq!(
            (err.status().as_u16(), err.code()),
            (403, "tenant_not_onboarded")
        );
    }
    assert_eq!(front.injected(), 1, "one AssumeRole for 20 requests");
    assert_eq!(sessions.assume_role_calls(), 1);
    // Other tenants are not held up by it.
    sessions
        .session(&caller("fault013"))
        .await
        .expect("another tenant");
}

#[tokio::test]
async fn a_refused_shared_role_is_the_deployments_fault() {
    let stack = Stack::load();
    let (front, sessions) = sessions(
        &stack,
        &[
            ("TENANT_ISOLATION", "session-tags"),
            (
                "TENANT_SHARED_ROLE_ARN",
                "arn:aws:iam::123456789012:role/tenant-access-shared-tenant",
            ),
        ],
        Clock::default(),
    )
    .await;
    front.inject(HttpRule::new(HttpFault::AccessDenied).service(Service::Sts));
    let err = sessions.session(&caller("fault014")).await.unwrap_err();
    assert_eq!((err.status().as_u16(), err.code()), (500, "misconfigured"));
}

/// In the window before the refresh point, a request starts a refresh in
/// the background and goes on with the current session: with STS taking 1 s
/// to answer, the request is answered at once, a second one starts no second
/// refresh, and the new session replaces the old one when STS answers.
#[tokio::test]
async fn sessions_are_replaced_ahead_of_expiry_while_requests_go_on() {
    let stack = Stack::load();
    let clock = Clock::default();
    let (front, sessions) = sessions(&stack, &[], clock.clone()).await;
    let me = caller("fault015");
    let first = sessions.session(&me).await.expect("a session");
    let expiry = first.credentials().expiry().unwrap();
    let left = expiry.duration_since(clock.now()).unwrap();
    // Still fresh, and just inside every session's refresh-ahead window
    // (which opens between REFRESH_AHEAD/2 and REFRESH_AHEAD before the
    // refresh point), leaving the refreshed session fresh by this clock too.
    clock.advance(left - REFRESH_BUFFER - REFRESH_AHEAD / 2 + Duration::from_secs(1));
    front.inject(
        HttpRule::new(HttpFault::Delay { ms: 1000 })
            .service(Service::Sts)
            .times(1),
    );
    let during = timeout(Duration::from_millis(500), sessions.session(&me))
        .await
        .expect("the request does not wait for STS")
        .unwrap();
    assert!(
        Arc::ptr_eq(&first, &during),
        "the current session serves it"
    );
    let again = timeout(Duration::from_millis(500), sessions.session(&me))
        .await
        .expect("nor does the next")
        .unwrap();
    assert!(Arc::ptr_eq(&first, &again));
    // STS answers the refresh after 1 s; then it replaces the session. (Read
    // once: moto dates expirations by the real clock, so by the test's clock
    // the new session is in its own refresh window and the next request
    // would start the next refresh.)
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let replaced = sessions.session(&me).await.unwrap();
    assert!(
        !Arc::ptr_eq(&first, &replaced),
        "the background refresh replaced the session"
    );
    assert!(replaced.credentials().expiry().unwrap() > expiry);
    assert_eq!(
        sessions.assume_role_calls(),
        2,
        "one refresh, in the background, for every request in the window"
    );
    assert_eq!(front.injected(), 1);
}
