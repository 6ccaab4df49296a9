//! Tenant sessions when STS fails or is slow, through the local front, with
//! a clock the test moves: a still-valid session is served while a refresh
//! fails or takes long, a failure is remembered with a back-off (one STS
//! call per tenant per period, not one per request), STS refusals are told
//! apart by strategy, and S3's refusal of a session's credentials on HEAD
//! or a download URL replaces the session as on GET.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_smithy_async::time::{SharedTimeSource, TimeSource};
use local_front::{HttpFault, HttpFront, HttpRule, Service};
use tenant_access::config::{FunctionConfig, S3Config};
use tenant_access::credentials::{
    FAILURE_MEMORY, MAX_BACKOFF, MIN_REMAINING, REFRESH_AHEAD, REFRESH_BUFFER,
};
use tenant_access::{Caller, Error, TenantSessions};
use test_support::{Clock, Stack, as_tenant, body_json, event, request_until};
use tokio::time::timeout;

fn caller(tenant: &str) -> Caller {
    Caller::new(tenant.parse().unwrap(), "session-test")
}

/// A front before moto, the stack's environment pointing at it (plus
/// `overrides`), and an SDK configuration signing at `clock`'s time with
/// one attempt per call (so each STS call the code makes is one the front
/// sees).
async fn through_front(
    stack: &Stack,
    overrides: &[(&str, &str)],
    clock: Clock,
) -> (HttpFront, Stack, aws_config::SdkConfig) {
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
    let sdk = env
        .sdk_config()
        .await
        .into_builder()
        .time_source(SharedTimeSource::new(clock))
        .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(1))
        .build();
    (front, env, sdk)
}

/// Sessions whose STS calls go through a front, signed at `clock`'s time.
async fn sessions(
    stack: &Stack,
    overrides: &[(&str, &str)],
    clock: Clock,
) -> (HttpFront, TenantSessions) {
    let (front, env, sdk) = through_front(stack, overrides, clock).await;
    let config = FunctionConfig::<S3Config>::from_lookup(&env.lookup()).unwrap();
    // s3-fetch's sessions: the tenant role's trust policy takes them only
    // with the job's Scope tag, as STS does.
    let scope = tenant_access::session_policy::SessionScope::S3 {
        bucket: config.service.bucket.clone(),
        prefix_template: config.service.prefix_template.clone(),
    };
    (
        front,
        TenantSessions::new(&sdk, &config.access).with_scope(scope),
    )
}

/// Wait until the front has seen `n` injected answers and every call
/// `sessions` started has recorded its outcome.
async fn injected(front: &HttpFront, sessions: &TenantSessions, n: u64) {
    settled(sessions).await;
    assert_eq!(front.injected(), n, "injected answers");
}

/// Wait until every call `sessions` started has recorded its outcome.
async fn settled(sessions: &TenantSessions) {
    timeout(Duration::from_secs(10), async {
        while sessions.calls_in_flight() > 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{} session calls still running", sessions.calls_in_flight()));
}

#[tokio::test]
async fn a_valid_session_outlives_a_failed_refresh_and_the_failure_backs_off() {
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
    let during = timeout(Duration::from_millis(500), sessions.session(&me))
        .await
        .expect("the request does not wait for the refresh")
        .expect("the current session");
    assert!(
        Arc::ptr_eq(&first, &during),
        "the still-valid session is served"
    );
    injected(&front, &sessions, 1).await;
    assert_eq!(sessions.assume_role_calls(), 2, "a refresh was tried");

    // Within the first back-off (FAILURE_MEMORY), nothing asks STS again.
    for _ in 0..5 {
        let again = sessions.session(&me).await.unwrap();
        assert!(Arc::ptr_eq(&first, &again));
    }
    assert_eq!(front.injected(), 1, "the failure was remembered");

    // Past it, one request tries again, and fails again: the next back-off
    // is twice as long, so a moment past the first period asks nothing.
    clock.advance(FAILURE_MEMORY * 3 / 2 + Duration::from_millis(1));
    assert!(Arc::ptr_eq(&first, &sessions.session(&me).await.unwrap()));
    injected(&front, &sessions, 2).await;
    clock.advance(FAILURE_MEMORY * 3 / 2 + Duration::from_millis(1));
    assert!(Arc::ptr_eq(&first, &sessions.session(&me).await.unwrap()));
    // A call would have been counted and started before the session was
    // served; none was.
    assert_eq!(sessions.calls_in_flight(), 0, "the back-off doubled");
    assert_eq!(sessions.assume_role_calls(), 3);
    assert_eq!(front.injected(), 2);

    // Less than MIN_REMAINING left: no session to serve, the failure is the
    // answer.
    let left = expiry.duration_since(clock.now()).unwrap();
    clock.advance(left - MIN_REMAINING + Duration::from_secs(1));
    let err = sessions.session(&me).await.unwrap_err();
    assert!(matches!(err, Error::Throttled { .. }), "{err:?}");
    assert_eq!(err.status().as_u16(), 503);

    // STS is back: once the back-off lapses, a new session.
    front.clear();
    clock.advance(MAX_BACKOFF * 3 / 2 + Duration::from_millis(1));
    let fresh = sessions.session(&me).await.expect("a new session");
    assert!(!Arc::ptr_eq(&first, &fresh));
}

/// The worst of a slow STS: 200 s left on the tenant's session, STS
/// answering after 4 s, each request's deadline 2 s away. Every request is
/// answered 200 from the current session, in time, and STS sees one call.
#[tokio::test]
async fn a_slow_sts_costs_one_call_and_no_request_waits_for_it() {
    let stack = Stack::load();
    let clock = Clock::default();
    let (front, env, sdk) = through_front(&stack, &[], clock.clone()).await;
    let config = s3_fetch::Config::from_lookup(&env.lookup()).unwrap();
    let app = s3_fetch::App::new(&config, &sdk);
    let get = event("s3-fetch/tenant1-get.json");
    let call = |n: u32| {
        let request = request_until(
            &as_tenant(&get, "fault016", &format!("slow-sts-{n}")),
            SystemTime::now() + Duration::from_secs(2),
        );
        let app = &app;
        async move {
            let started = std::time::Instant::now();
            let response = s3_fetch::function_handler(app, request).await.unwrap();
            (response, started.elapsed())
        }
    };
    let (warm, _) = call(0).await;
    assert_eq!(warm.status(), 200, "{:?}", body_json(&warm));
    assert_eq!(app.sessions().assume_role_calls(), 1);

    // Moto dates sessions by the real clock: move this one's to 200 s left.
    let duration = config.access.session_duration;
    clock.advance(duration - Duration::from_secs(200));
    front.inject(HttpRule::new(HttpFault::Delay { ms: 4000 }).service(Service::Sts));
    for n in 1..=8 {
        let (response, took) = call(n).await;
        assert_eq!(
            response.status(),
            200,
            "request {n}: {:?}",
            body_json(&response)
        );
        assert!(took < Duration::from_secs(2), "request {n} took {took:?}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(front.injected(), 1, "one STS call, however many requests");
    assert_eq!(app.sessions().assume_role_calls(), 2);
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
    // STS answers the refresh after 1 s; then it replaces the session.
    // (Moto dates expirations by the real clock, so by the test's clock the
    // new session is in its own refresh window: reading it starts the next
    // refresh.)
    settled(&sessions).await;
    // Counted before that read, which may start the next refresh.
    assert_eq!(
        sessions.assume_role_calls(),
        2,
        "one refresh, in the background, for every request in the window"
    );
    assert_eq!(front.injected(), 1);
    let replaced = sessions.session(&me).await.unwrap();
    assert!(
        !Arc::ptr_eq(&first, &replaced),
        "the background refresh replaced the session"
    );
    assert!(replaced.credentials().expiry().unwrap() > expiry);
}

/// S3 refuses the session's credentials on a HEAD (whose answer has no
/// body, so no error code) and on the HEAD behind a download URL: both are
/// 503 `credentials_rejected`, not 404, and the session is replaced.
#[tokio::test]
async fn head_and_download_urls_tell_refused_credentials_from_a_missing_key() {
    let stack = Stack::load();
    let (front, env, sdk) = through_front(&stack, &[], Clock::default()).await;
    let config = s3_fetch::Config::from_lookup(&env.lookup()).unwrap();
    let app = s3_fetch::App::new(&config, &sdk);
    let tenant = "fault017";
    for (n, fixture) in [
        "s3-fetch/tenant1-head.json",
        "s3-fetch/tenant1-download-url.json",
    ]
    .into_iter()
    .enumerate()
    {
        let event = as_tenant(&event(fixture), tenant, &format!("head-{n}"));
        let request = || request_until(&event, SystemTime::now() + Duration::from_secs(5));
        let ok = s3_fetch::function_handler(&app, request()).await.unwrap();
        assert_eq!(ok.status(), 200, "{fixture}");
        let assumed = app.sessions().assume_role_calls();

        front.inject(
            HttpRule::new(HttpFault::ExpiredToken)
                .service(Service::S3)
                .contains(format!("/{tenant}_home/"))
                .times(2),
        );
        let refused = s3_fetch::function_handler(&app, request()).await.unwrap();
        assert_eq!(
            (
                refused.status().as_u16(),
                body_json(&refused)["error"].clone()
            ),
            (503, "credentials_rejected".into()),
            "{fixture}"
        );
        assert_eq!(refused.headers()["retry-after"], "1");
        front.clear();
        let again = s3_fetch::function_handler(&app, request()).await.unwrap();
        assert_eq!(again.status(), 200, "{fixture}");
        assert_eq!(
            app.sessions().assume_role_calls(),
            assumed + 1,
            "{fixture}: the refused session was replaced"
        );
    }
    // A key that is really missing is still 404.
    let mut missing = as_tenant(
        &event("s3-fetch/tenant1-missing.json"),
        tenant,
        "head-missing",
    );
    missing["requestContext"]["http"]["method"] = "HEAD".into();
    let response = s3_fetch::function_handler(
        &app,
        request_until(&missing, SystemTime::now() + Duration::from_secs(5)),
    )
    .await
    .unwrap();
    assert_eq!(response.status(), 404);
}

/// A user's own sessions (`/me` routes) live in the same cache, under the
/// same bounds as tenant sessions: a burst of one user's requests makes one
/// STS call, a refused user's burst one call and a remembered refusal, each
/// user has a session of its own (and the tenant its own), and the cap
/// holds them all.
#[tokio::test]
async fn user_sessions_are_bounded_like_tenant_sessions() {
    let stack = Stack::load();
    let (front, sessions) =
        sessions(&stack, &[("TENANT_CACHE_CAPACITY", "3")], Clock::default()).await;
    let sessions = Arc::new(sessions);
    let user = |tenant: &str, user: &str| caller(tenant).with_user(user.parse().unwrap());
    let burst = |caller: Caller| -> Vec<_> {
        (0..10)
            .map(|_| {
                let (sessions, caller) = (sessions.clone(), caller.clone());
                tokio::spawn(async move { sessions.user_session(&caller).await })
            })
            .collect()
    };
    // Single flight, per user: STS held 300 ms, ten requests of user A.
    front.inject(
        HttpRule::new(HttpFault::Delay { ms: 300 })
            .service(Service::Sts)
            .times(1),
    );
    for request in burst(user("fault020", "user-a")) {
        let session = request.await.unwrap().expect("user A's session");
        assert_eq!(session.user().map(|u| u.as_str()), Some("user-a"));
    }
    assert_eq!(sessions.assume_role_calls(), 1, "one call for ten requests");
    // A user of its own, and the tenant's own session: one call each.
    sessions
        .user_session(&user("fault020", "user-b"))
        .await
        .expect("user B's session");
    let shared = sessions
        .session(&caller("fault020"))
        .await
        .expect("the tenant's session");
    assert!(shared.user().is_none());
    assert_eq!(sessions.assume_role_calls(), 3);
    assert_eq!(sessions.cached(), 3);
    // Failure memory, per user: STS refuses user C's session once; a burst
    // costs that one call, and gets the remembered refusal.
    front.inject(
        HttpRule::new(HttpFault::AccessDenied)
            .service(Service::Sts)
            .contains("user-c"),
    );
    for request in burst(user("fault020", "user-c")) {
        let err = request.await.unwrap().unwrap_err();
        assert_eq!(err.status().as_u16(), 403, "{err:?}");
    }
    assert_eq!(
        sessions.assume_role_calls(),
        4,
        "one call for the refused burst"
    );
    // The cap: three entries, whoever they belong to.
    assert_eq!(sessions.cached(), 3);
    // No user, no session and no call.
    let err = sessions
        .user_session(&caller("fault020"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "user_unknown");
    assert_eq!(sessions.assume_role_calls(), 4);
}

/// One tenant's share of the session calls: with STS held, ten users of one
/// tenant asking for their own sessions at once start at most
/// `MAX_SESSION_CALLS_PER_TENANT` calls, and the rest are refused at once
/// (429, no call), while another tenant's session is still made, and each
/// of the first tenant's users gets one once the calls are done.
#[tokio::test]
async fn one_tenant_never_holds_more_than_its_share_of_the_session_calls() {
    let stack = Stack::load();
    let (front, sessions) = sessions(&stack, &[], Clock::default()).await;
    let sessions = Arc::new(sessions);
    front.inject(HttpRule::new(HttpFault::Delay { ms: 1000 }).service(Service::Sts));
    let share = tenant_access::credentials::MAX_SESSION_CALLS_PER_TENANT as usize;
    let users: Vec<_> = (0..10)
        .map(|n| {
            let sessions = sessions.clone();
            let caller = caller("fault028").with_user(format!("user-{n}").parse().unwrap());
            tokio::spawn(async move { sessions.user_session(&caller).await })
        })
        .collect();
    // Another tenant, while the first one's share is taken.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let other = sessions.session(&caller("fault029")).await;
    assert!(other.is_ok(), "another tenant is served: {other:?}");
    let mut served = 0;
    for user in users {
        match user.await.unwrap() {
            Ok(_) => served += 1,
            Err(err) => {
                assert_eq!(err.status().as_u16(), 429, "{err:?}");
                assert_eq!(err.code(), "rate_limited");
                assert_eq!(err.retry_after(), Some(1));
            }
        }
    }
    assert_eq!(served, share, "the tenant's share of calls, no more");
    settled(&sessions).await;
    assert_eq!(
        sessions.assume_role_calls() as usize,
        share + 1,
        "no call for a refused request"
    );
    // Once its calls are done, the tenant's other users are served.
    front.clear();
    for n in share..10 {
        let caller = caller("fault028").with_user(format!("user-{n}").parse().unwrap());
        sessions
            .user_session(&caller)
            .await
            .expect("a user's session once the share is free");
    }
}

/// One tenant's share of the refreshes ahead of expiry: with STS slow,
/// `MAX_BACKGROUND_REFRESHES` users of one tenant whose sessions fall due
/// together start `MAX_BACKGROUND_REFRESHES_PER_TENANT` refreshes between
/// them, and another tenant's session due at the same time still gets its
/// own (without the tenant's share its users would take every refresh the
/// cache runs, and the other tenant's session would wait for its expiry).
#[tokio::test]
async fn one_tenant_never_holds_more_than_its_share_of_the_refreshes() {
    use tenant_access::credentials::{
        MAX_BACKGROUND_REFRESHES, MAX_BACKGROUND_REFRESHES_PER_TENANT,
    };
    let stack = Stack::load();
    let clock = Clock::default();
    let (front, sessions) = sessions(&stack, &[], clock.clone()).await;
    let users: Vec<Caller> = (0..MAX_BACKGROUND_REFRESHES)
        .map(|n| caller("fault018").with_user(format!("user-{n}").parse().unwrap()))
        .collect();
    let mut first_expiry = None;
    for user in &users {
        let session = sessions.user_session(user).await.expect("a user's session");
        let expiry = session.credentials().expiry().unwrap();
        first_expiry = Some(first_expiry.map_or(expiry, |e: SystemTime| e.min(expiry)));
    }
    let other = caller("fault019");
    let other_first = sessions.session(&other).await.expect("a session");
    let made = sessions.assume_role_calls();
    // Every session inside its refresh-ahead window, and still fresh.
    let left = first_expiry.unwrap().duration_since(clock.now()).unwrap();
    clock.advance(left - REFRESH_BUFFER - REFRESH_AHEAD / 2 + Duration::from_secs(10));
    front.inject(HttpRule::new(HttpFault::Delay { ms: 1000 }).service(Service::Sts));
    for user in &users {
        timeout(Duration::from_millis(500), sessions.user_session(user))
            .await
            .expect("a request does not wait for a refresh")
            .expect("the current session serves it");
    }
    let served = timeout(Duration::from_millis(500), sessions.session(&other))
        .await
        .expect("nor does the other tenant's")
        .unwrap();
    assert!(Arc::ptr_eq(&other_first, &served));
    assert_eq!(
        sessions.calls_in_flight(),
        u64::from(MAX_BACKGROUND_REFRESHES_PER_TENANT) + 1,
        "the tenant's share of refreshes, and the other tenant's refresh"
    );
    settled(&sessions).await;
    assert_eq!(
        sessions.assume_role_calls(),
        made + u64::from(MAX_BACKGROUND_REFRESHES_PER_TENANT) + 1
    );
    front.clear();
    let replaced = sessions.session(&other).await.unwrap();
    assert!(
        !Arc::ptr_eq(&other_first, &replaced),
        "the other tenant's session was refreshed"
    );
}

/// Throttling is the account's: after one tenant's call is throttled, no
/// new call of any tenant starts from the cache for the first back-off
/// (503 `throttled` at once, no call), while a tenant with a cached session
/// is served from it; once the hold lapses, calls start again.
#[tokio::test]
async fn a_throttled_call_holds_every_tenant_s_new_calls_but_not_their_sessions() {
    let stack = Stack::load();
    let clock = Clock::default();
    let (front, sessions) = sessions(&stack, &[], clock.clone()).await;
    let warm = sessions
        .session(&caller("fault032"))
        .await
        .expect("a session");
    front.inject(HttpRule::new(HttpFault::Throttle).service(Service::Sts));
    let err = sessions.session(&caller("fault033")).await.unwrap_err();
    assert!(matches!(err, Error::Throttled { .. }), "{err:?}");
    injected(&front, &sessions, 1).await;
    let calls = sessions.assume_role_calls();

    // Another tenant, new to the cache: held, no call.
    let err = sessions.session(&caller("fault034")).await.unwrap_err();
    assert_eq!((err.status().as_u16(), err.code()), (503, "throttled"));
    assert_eq!(err.retry_after(), Some(2));
    assert_eq!(sessions.assume_role_calls(), calls, "no call while held");
    assert_eq!(front.injected(), 1);
    // A cached session is served as ever.
    let again = sessions.session(&caller("fault032")).await.unwrap();
    assert!(Arc::ptr_eq(&warm, &again));

    // Past the hold (the first back-off, with its jitter), STS is asked.
    front.clear();
    clock.advance(FAILURE_MEMORY * 3 / 2 + Duration::from_millis(1));
    sessions
        .session(&caller("fault034"))
        .await
        .expect("a session once the hold lapsed");
    assert_eq!(sessions.assume_role_calls(), calls + 1);
}

/// The cache's own share: with STS held, four tenants' users take
/// `MAX_SESSION_CALLS_IN_FLIGHT` calls between them, each tenant within
/// its share, and a fifth tenant's first request is answered 503 at once,
/// with no call; once the calls are done it is served.
#[tokio::test]
async fn the_calls_in_flight_are_bounded_across_tenants() {
    use tenant_access::credentials::{MAX_SESSION_CALLS_IN_FLIGHT, MAX_SESSION_CALLS_PER_TENANT};
    let stack = Stack::load();
    let (front, sessions) = sessions(&stack, &[], Clock::default()).await;
    let sessions = Arc::new(sessions);
    front.inject(HttpRule::new(HttpFault::Delay { ms: 1500 }).service(Service::Sts));
    let per_tenant = MAX_SESSION_CALLS_PER_TENANT as usize;
    let tenants = MAX_SESSION_CALLS_IN_FLIGHT as usize / per_tenant;
    assert_eq!(tenants, 4, "fault035..fault038 fill the cache's share");
    let calls: Vec<_> = (0..tenants)
        .flat_map(|t| (0..per_tenant).map(move |u| (t, u)))
        .map(|(t, u)| {
            let sessions = sessions.clone();
            let caller = caller(&format!("fault0{}", 35 + t))
                .with_user(format!("user-{u}").parse().unwrap());
            tokio::spawn(async move { sessions.user_session(&caller).await })
        })
        .collect();
    timeout(Duration::from_secs(5), async {
        while sessions.calls_in_flight() < MAX_SESSION_CALLS_IN_FLIGHT as u64 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the calls start");
    let err = sessions.session(&caller("fault039")).await.unwrap_err();
    assert_eq!(
        (err.status().as_u16(), err.code()),
        (503, "throttled"),
        "{err:?}"
    );
    assert_eq!(
        sessions.assume_role_calls(),
        MAX_SESSION_CALLS_IN_FLIGHT as u64,
        "no call for the refused request"
    );
    for call in calls {
        call.await
            .unwrap()
            .expect("each call within the shares is served");
    }
    front.clear();
    sessions
        .session(&caller("fault039"))
        .await
        .expect("served once the calls are done");
}

/// Under Lambda's tenant isolation mode an environment serves one tenant,
/// and its session cache keeps that tenant's users' sessions too: two
/// users taking turns cost one session each, not one per request.
#[tokio::test]
async fn in_a_tenant_s_own_environment_its_users_keep_their_sessions() {
    let stack = Stack::load();
    let (_front, sessions) = sessions(
        &stack,
        &[("LAMBDA_TENANT_ISOLATION", "per-tenant")],
        Clock::default(),
    )
    .await;
    for _ in 0..3 {
        for user in ["user-a", "user-b"] {
            let caller = caller("fault040").with_user(user.parse().unwrap());
            sessions
                .user_session(&caller)
                .await
                .expect("a user session");
        }
    }
    sessions
        .session(&caller("fault040"))
        .await
        .expect("the tenant's");
    assert_eq!(
        sessions.assume_role_calls(),
        3,
        "one per user and the tenant's"
    );
    assert_eq!(sessions.cached(), 3);
}
