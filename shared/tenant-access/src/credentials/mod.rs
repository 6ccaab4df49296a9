//! Per-tenant sessions, cached and bounded.
//!
//! A request for tenant `T` runs on credentials confined to `T`, and those
//! credentials are the only ones that reach S3, DynamoDB or the database,
//! so IAM itself confines the request to `T`'s data. They come from one of
//! two places, with the same cache in front of both:
//!
//! - **STS `AssumeRole`** by the function (every strategy but
//!   `identity-pool`): the tenant's own role, or the shared role with the
//!   tenant as a session tag and/or an inline session policy.
//! - **A Cognito identity pool** (`identity-pool`): the caller's own ID
//!   token is exchanged (`GetId`, then `GetCredentialsForIdentity` with
//!   `Logins`) for credentials of the pool's authenticated role, tagged by
//!   the pool from the token's claims. The function's own role takes no
//!   part, so an event with forged claims gets nothing: no valid token, no
//!   credentials. Sessions are cached per user (by the token's issuer and
//!   subject), and a cached session is served only to a request whose
//!   token Cognito accepted for that user (up to [`MAX_ACCEPTED_TOKENS`] of
//!   them, each by its SHA-256) and only while that token is alive: a
//!   forged token naming the user gets an exchange, which Cognito refuses,
//!   and its refusal is that token's alone. A user's new token adds one
//!   exchange and replaces the user's session; it never adds a second
//!   slot, so one user rotating tokens evicts nobody else.
//!
//! Sessions are cached per tenant (and per user for `/me` and under
//! `identity-pool`) in an LRU map bounded by `TENANT_CACHE_CAPACITY`, or by
//! [`PER_TENANT_SESSION_CAPACITY`] in an environment of Lambda's tenant
//! isolation mode. Each tenant's slot is locked only for a moment,
//! never across a call: at most one `AssumeRole` per tenant is in flight,
//! it runs in its own task, and every request that needs its result waits
//! on it. A request cancelled while it waits (its deadline passed) leaves
//! the call to finish and record what it got; other tenants never wait.
//!
//! A session is served while it has at least [`MIN_REMAINING`] left, so a
//! request never waits on STS while its tenant's session has more than a
//! minute to live. It is replaced ahead of expiry, in the background: the
//! first request that finds it within [`REFRESH_BUFFER`] plus its share of
//! [`REFRESH_AHEAD`] (jittered per session) of expiry starts the call and
//! goes on with the current session; at most [`MAX_BACKGROUND_REFRESHES`]
//! run at once, and at most [`MAX_BACKGROUND_REFRESHES_PER_TENANT`] of one
//! tenant's (a tenant whose users' sessions fall due together never takes
//! every refresh). One tenant never holds more than its share of the calls:
//! at most [`MAX_SESSION_CALLS_PER_TENANT`] of its sessions' calls run at
//! once (its users' own sessions under `/me`, its tokens under
//! `identity-pool`, its refreshes); a request that would start one more is
//! refused with [`Error::RateLimited`] (429, `Retry-After`) without a call,
//! so a tenant with a thousand users signing in at once cannot take the
//! STS or Cognito quota every other tenant shares. A tenant with steady
//! traffic never waits on STS after its first request. (In Lambda a background task runs while an invocation is
//! in flight; one frozen between invocations finishes, or fails and is
//! tried again, on the next.)
//!
//! On a bad day:
//! - a failed call is remembered per tenant with a jittered back-off: a
//!   transient failure (throttling, STS unavailable or slow) for
//!   [`FAILURE_MEMORY`], doubling for each one in a row up to
//!   [`MAX_BACKOFF`]; a refusal (the tenant's role is missing or does not
//!   trust the function) for [`REFUSAL_MEMORY`]. Meanwhile no request of the
//!   tenant calls STS, so a slow, throttling or refusing STS sees at most
//!   one call per tenant per back-off period;
//! - throttling is the account's, not the tenant's: after a throttled call
//!   no new call of any tenant starts from this cache for the first
//!   back-off period, and at most [`MAX_SESSION_CALLS_IN_FLIGHT`] run at
//!   once; a request that would start one gets [`Error::Throttled`] (503,
//!   `Retry-After`) at once, while cached sessions are served as ever;
//! - during a transient failure the current session is still served while
//!   it has [`MIN_REMAINING`] left, so an STS outage shorter than the
//!   refresh window is invisible; after a refusal it is served no longer
//!   than [`REFRESH_BUFFER`] before its expiry;
//! - a session whose credentials a service refused
//!   ([`TenantSession::invalidate`]) is never served again.
//!
//! The cache is this module's; a call on its way (the task that makes it,
//! the hold after throttling) is `call`'s, the shares it holds `share`'s;
//! each provider is a room of its own: `sts` (`AssumeRole`) and
//! `identity_pool` (the token exchange), each behind the one trait the
//! cache knows (`provider`).
//!
//! Why not the SDK identity cache: it belongs to one client's runtime, while
//! one tenant session feeds both an S3 client and the RDS auth-token
//! generator. A session here is an immutable value (credentials plus an
//! `SdkConfig` holding them) replaced whole on expiry, so both consumers share
//! one `AssumeRole`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use aws_config::SdkConfig;
use lru::LruCache;

use crate::Error;
use crate::config::{AccessConfig, Isolation, Tenancy, TenantRole};
use crate::identity::{Caller, UserId};
use crate::session_policy::SessionScope;

mod call;
mod identity_pool;
mod provider;
mod request;
mod session;
mod share;
mod slot;
mod sts;

pub use sts::session_name;

use call::Call;
use provider::{Proof, Provider, ProviderKind};
pub use request::SessionRequest;
pub use session::TenantSession;
use share::TenantCall;
pub use slot::MAX_ACCEPTED_TOKENS;
use slot::Slot;
#[cfg(feature = "postgres")]
pub(crate) use slot::jitter;

/// A session is replaced from this long before it expires (in the
/// background, while it is still served), so a request never starts with
/// credentials that lapse half-way.
pub const REFRESH_BUFFER: Duration = Duration::from_secs(300);

/// A session is served while it has at least this long left, even inside
/// [`REFRESH_BUFFER`] (where its replacement is on the way): a request waits
/// on STS only when its tenant has no session with a minute left.
pub const MIN_REMAINING: Duration = Duration::from_secs(60);

/// How long a transient `AssumeRole` failure (throttling, STS unavailable,
/// too slow) is first remembered per tenant; each further failure in a row
/// doubles it, up to [`MAX_BACKOFF`]. Meanwhile no request of the tenant
/// calls STS: they get the same answer at once, or the current session
/// while it is servable.
pub const FAILURE_MEMORY: Duration = Duration::from_secs(1);

/// The longest back-off after transient failures in a row.
pub const MAX_BACKOFF: Duration = Duration::from_secs(16);

/// How long a refusal (the tenant's role is missing or does not trust this
/// function, or the token was refused) is remembered: an offboarded
/// tenant's clients cost at most one STS call per tenant per this period.
pub const REFUSAL_MEMORY: Duration = Duration::from_secs(60);

/// How long before [`REFRESH_BUFFER`] a session is replaced in the
/// background, at the most: each session starts between half of this and
/// all of it before, spread by its access key, so sessions assumed together
/// are not refreshed together.
pub const REFRESH_AHEAD: Duration = Duration::from_secs(300);

/// A session at least this old that S3, KMS (through S3) or DynamoDB
/// denies is dropped, and its request retried once on a new one
/// ([`TenantSessions::retrying`]): it may predate a change to its role (a
/// role recreated, a deny lifted). A younger one is kept, since its denial
/// is the policy's own answer: a legitimate denial costs at most one STS
/// call per tenant per this period, never one per request.
pub const STALE_AFTER: Duration = Duration::from_secs(5);

/// Refreshes ahead of expiry running at once, per cache: STS sees a bounded
/// trickle, never a burst.
pub const MAX_BACKGROUND_REFRESHES: usize = 4;

/// One tenant's share of [`MAX_BACKGROUND_REFRESHES`]: a tenant with many
/// sessions due together (one per user) refreshes them one at a time, and
/// the other tenants' refreshes still run.
pub const MAX_BACKGROUND_REFRESHES_PER_TENANT: u32 = 1;

/// One tenant's share of the session calls (STS `AssumeRole`, identity-pool
/// exchanges) running at once from one cache, refreshes included.
pub const MAX_SESSION_CALLS_PER_TENANT: u32 = 4;

/// Sessions one execution environment keeps under Lambda's tenant
/// isolation mode (`LAMBDA_TENANT_ISOLATION=per-tenant`), where it serves
/// one tenant: the tenant's own and its users' (`/me`, and every session
/// under `identity-pool`), so two users of the tenant do not evict each
/// other's sessions on every request.
pub const PER_TENANT_SESSION_CAPACITY: std::num::NonZeroUsize =
    std::num::NonZeroUsize::new(64).expect("64 is not zero");

/// Session calls running at once from one cache, all tenants' together: a
/// request that would start one more is answered [`Error::Throttled`] (503,
/// `Retry-After`) without a call, so a burst of new tenants in one
/// container cannot spend the account's STS or Cognito quota alone.
pub const MAX_SESSION_CALLS_IN_FLIGHT: u32 = 16;

/// The cache of per-tenant STS sessions. Build once at cold start.
///
/// # Example
///
/// ```no_run
/// # async fn run(sdk: aws_config::SdkConfig, request: lambda_http::Request) -> Result<(), tenant_access::Error> {
/// use tenant_access::{Caller, TenantSessions};
/// use tenant_access::config::AccessConfig;
///
/// let config = AccessConfig::from_env().expect("valid configuration");
/// let sessions = TenantSessions::new(&sdk, &config);
/// let caller = Caller::from_request(&request, &config.tenant_claim)?;
/// let session = sessions.session(&caller).await?;
/// assert_eq!(session.tenant(), &caller.tenant);
/// # Ok(()) }
/// ```
pub struct TenantSessions {
    source: Arc<Source>,
    role: TenantRole,
    tag_key: String,
    claim: String,
    scope: Option<SessionScope>,
    /// Tiers served under a strategy of their own
    /// (`TENANT_TIER_ISOLATION`): each a cache of its own.
    tiers: Vec<(String, TenantSessions)>,
    slots: Mutex<LruCache<SessionRequest, Slot>>,
    /// Permits for refreshes ahead of expiry running at once.
    refreshes: Arc<tokio::sync::Semaphore>,
    hits: AtomicU64,
    misses: AtomicU64,
    evictions: AtomicU64,
    /// The registry a tenant must be active in to get a session.
    #[cfg(feature = "registry")]
    registry: Option<Arc<crate::registry::TenantRegistry>>,
}

/// Where sessions come from: shared with refreshes running in the
/// background.
struct Source {
    provider: Box<dyn Provider>,
    /// The function's configuration, shared by every session it makes.
    base: Arc<SdkConfig>,
    isolation: Isolation,
    duration: Duration,
    calls: AtomicU64,
    /// Calls started and not yet recorded in their slot.
    in_flight: AtomicU64,
    /// Calls in flight per tenant ([`MAX_SESSION_CALLS_PER_TENANT`]) and
    /// in all ([`MAX_SESSION_CALLS_IN_FLIGHT`]).
    shares: Mutex<share::Shares>,
    /// Until when no new call starts, after a throttled one: throttling is
    /// the account's, not one tenant's.
    held_until: Mutex<Option<SystemTime>>,
}

impl std::fmt::Debug for TenantSessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TenantSessions")
            .field("role", &self.role)
            .field("isolation", &self.source.isolation)
            .field("duration", &self.source.duration)
            .finish_non_exhaustive()
    }
}

impl TenantSessions {
    /// A cache whose `AssumeRole` calls are made with `sdk`'s (the execution
    /// role's) credentials; under `identity-pool`, whose identity-pool
    /// calls carry only the caller's token.
    pub fn new(sdk: &SdkConfig, config: &AccessConfig) -> Self {
        let provider: Box<dyn Provider> = match &config.role {
            TenantRole::IdentityPool(pool) => Box::new(identity_pool::Exchange::new(sdk, pool)),
            _ => Box::new(sts::AssumeRole::new(sdk)),
        };
        TenantSessions {
            source: Arc::new(Source {
                provider,
                base: Arc::new(sdk.clone()),
                isolation: config.isolation,
                duration: config.session_duration,
                calls: AtomicU64::new(0),
                in_flight: AtomicU64::new(0),
                shares: Mutex::default(),
                held_until: Mutex::default(),
            }),
            role: config.role.clone(),
            tag_key: config.tag_key.clone(),
            claim: config.tenant_claim.clone(),
            scope: None,
            tiers: config
                .tiers
                .iter()
                .map(|(tier, config)| (tier.clone(), TenantSessions::new(sdk, config)))
                .collect(),
            slots: Mutex::new(LruCache::new(match config.tenancy {
                Tenancy::PerTenant => PER_TENANT_SESSION_CAPACITY,
                Tenancy::Shared => config.tenant_cache_capacity,
            })),
            refreshes: Arc::new(tokio::sync::Semaphore::new(MAX_BACKGROUND_REFRESHES)),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            evictions: AtomicU64::new(0),
            #[cfg(feature = "registry")]
            registry: None,
        }
    }

    /// Serve a session only to a tenant `registry` holds active
    /// ([`TenantRegistry::check`](crate::registry::TenantRegistry::check)),
    /// checked on every request before the cache or any AWS call with the
    /// tenant's credentials, and after the caller's own checks (a request
    /// with no valid token under `identity-pool` reads nothing). `None`
    /// (no `TENANT_REGISTRY_TABLE`) checks nothing, and says so once.
    #[cfg(feature = "registry")]
    pub fn with_registry(mut self, registry: Option<crate::registry::TenantRegistry>) -> Self {
        if registry.is_none() {
            tracing::warn!(
                "no tenant registry (TENANT_REGISTRY_TABLE): an offboarded tenant is refused by IAM, KMS and the database only"
            );
        }
        self.registry = registry.map(Arc::new);
        self
    }

    /// The tenant registry, for counting its reads.
    #[cfg(feature = "registry")]
    pub fn registry(&self) -> Option<&crate::registry::TenantRegistry> {
        self.registry.as_deref()
    }

    /// The tenant registry, shared: for the envelope's tiers
    /// ([`Envelope::with_tiers`](crate::http::Envelope::with_tiers)).
    #[cfg(feature = "registry")]
    pub fn registry_handle(&self) -> Option<Arc<crate::registry::TenantRegistry>> {
        self.registry.clone()
    }

    /// What this function's sessions may do. Each function sets its own:
    /// every AssumeRole then carries a session policy, the tenant's under
    /// the session-policy strategies, else the
    /// [function policy](SessionScope::function_policy), so a session can do
    /// only its function's job. Without a scope, only the session-policy
    /// strategies pass a policy (and they fail without one).
    pub fn with_scope(mut self, scope: SessionScope) -> Self {
        for (_, tier) in &mut self.tiers {
            tier.scope = Some(scope.clone());
        }
        self.scope = Some(scope);
        self
    }

    /// The cache of the caller's tier when its tier has a strategy of its
    /// own (`TENANT_TIER_ISOLATION`), by the tenant's registry item, read
    /// (and its state checked) here: `None` for every other tenant.
    async fn tier_for(&self, caller: &Caller) -> Result<Option<&TenantSessions>, Error> {
        #[cfg(feature = "registry")]
        if !self.tiers.is_empty()
            && let Some(registry) = &self.registry
        {
            registry.check(&caller.tenant).await?;
            if let Some(tier) = registry.tier(&caller.tenant).await {
                return Ok(self
                    .tiers
                    .iter()
                    .find(|(name, _)| *name == tier)
                    .map(|(_, sessions)| sessions));
            }
        }
        let _ = caller;
        Ok(None)
    }

    /// The cache key of `caller`'s session ([`request_for`](Self::request_for)
    /// its tenant, and under `identity-pool` its token's user) and what its
    /// token proves. A caller without a token valid for the pool gets
    /// [`Error::Unauthenticated`].
    fn key_for(
        &self,
        caller: &Caller,
        user: Option<&UserId>,
    ) -> Result<(SessionRequest, Option<Proof>), Error> {
        let mut request = self.request_in(&caller.tenant, user)?;
        let proof = self
            .source
            .provider
            .proof(caller, &self.claim, self.now())?;
        request.principal = proof.map(|p| p.principal);
        Ok((request, proof))
    }

    /// How many `AssumeRole` calls this cache has made.
    pub fn assume_role_calls(&self) -> u64 {
        self.calls_of(ProviderKind::Sts)
    }

    /// How many identity-pool exchanges (`GetId` then
    /// `GetCredentialsForIdentity`) this cache has made.
    pub fn identity_pool_calls(&self) -> u64 {
        self.calls_of(ProviderKind::IdentityPool)
    }

    /// The calls made, if this cache's provider makes `kind`'s, and its
    /// tiers'.
    fn calls_of(&self, kind: ProviderKind) -> u64 {
        let own = if self.source.provider.kind() == kind {
            self.source.calls.load(Ordering::Relaxed)
        } else {
            0
        };
        own + self
            .tiers
            .iter()
            .map(|(_, tier)| tier.calls_of(kind))
            .sum::<u64>()
    }

    /// How many session calls (`AssumeRole` or an identity-pool exchange)
    /// are running now, ahead of expiry or for waiting requests. A call
    /// counts until its outcome (the session, or the failure and its
    /// back-off) is recorded in the cache.
    pub fn calls_in_flight(&self) -> u64 {
        self.source.in_flight.load(Ordering::Acquire)
            + self
                .tiers
                .iter()
                .map(|(_, tier)| tier.calls_in_flight())
                .sum::<u64>()
    }

    /// How many sessions are cached now (at most `TENANT_CACHE_CAPACITY`).
    pub fn cached(&self) -> usize {
        self.slots
            .lock()
            .expect("session cache lock poisoned")
            .len()
            + self
                .tiers
                .iter()
                .map(|(_, tier)| tier.cached())
                .sum::<usize>()
    }

    /// This cache's totals since cold start, for metrics.
    pub fn counts(&self) -> crate::metrics::Counts {
        crate::metrics::Counts {
            assume_role_calls: self.assume_role_calls(),
            identity_pool_calls: self.identity_pool_calls(),
            session_hits: self.hits.load(Ordering::Relaxed),
            session_misses: self.misses.load(Ordering::Relaxed),
            session_evictions: self.evictions.load(Ordering::Relaxed),
            ..Default::default()
        }
    }

    /// Run `op` (which gets the caller's session from this cache), and once
    /// more if it failed after dropping a stale session a service denied
    /// ([`TenantSession::denied`]): the retry runs on a new session, so a
    /// role recreated or a deny lifted takes effect at once in a warm
    /// function. Never more than one retry.
    pub async fn retrying<T, F, Fut>(&self, op: F) -> Result<T, Error>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<T, Error>>,
    {
        // Observed to see a stale session's denial; its calls count in the
        // request's measure as they happen.
        let (first, counts) = crate::metrics::observe(op()).await;
        if first.is_ok() || counts.stale_sessions == 0 {
            return first;
        }
        tracing::info!("a stale tenant session was denied; retrying once on a new one");
        op().await
    }

    /// The caller's tenant session: the cached one while it is servable,
    /// else a new `AssumeRole` whose session name carries the tenant and
    /// request id. See the module docs for what happens when STS fails. A
    /// tenant whose registry item names a tier with a strategy of its own
    /// (`TENANT_TIER_ISOLATION`) gets its session from that tier's cache,
    /// under that strategy.
    pub async fn session(&self, caller: &Caller) -> Result<Arc<TenantSession>, Error> {
        match self.tier_for(caller).await? {
            Some(tier) => tier.session_in(caller, None).await,
            None => self.session_in(caller, None).await,
        }
    }

    /// The caller's session for its own user area (`/me` routes): under
    /// every strategy that assumes a role, one of its own, keyed by tenant
    /// and user, whose tag or policy confines it to that user's area (see
    /// [`request_for_user`](Self::request_for_user)); under `identity-pool`
    /// the caller's own session, which is the user's already. A caller whose
    /// identity names no user gets [`Error::UserUnknown`] and no AWS call.
    pub async fn user_session(&self, caller: &Caller) -> Result<Arc<TenantSession>, Error> {
        match self.tier_for(caller).await? {
            Some(tier) => tier.user_session_here(caller).await,
            None => self.user_session_here(caller).await,
        }
    }

    /// [`user_session`](Self::user_session) from this cache itself.
    async fn user_session_here(&self, caller: &Caller) -> Result<Arc<TenantSession>, Error> {
        let user = caller.require_user()?;
        if self.source.isolation.identity_pool() {
            let session = self.session_in(caller, None).await?;
            return Ok(Arc::new(session.in_area(Some(user.clone()))));
        }
        self.session_in(caller, Some(user)).await
    }

    async fn session_in(
        &self,
        caller: &Caller,
        user: Option<&UserId>,
    ) -> Result<Arc<TenantSession>, Error> {
        let (request, proof) = self.key_for(caller, user)?;
        let token = proof.as_ref().map(|p| &p.token);
        #[cfg(feature = "registry")]
        if let Some(registry) = &self.registry {
            registry.check(&caller.tenant).await?;
        }
        let slot = {
            let mut slots = self.slots.lock().expect("session cache lock poisoned");
            if slots.len() == slots.cap().get() && !slots.contains(&request) {
                self.evictions.fetch_add(1, Ordering::Relaxed);
                crate::metrics::record(|c| c.session_evictions += 1);
            }
            slots.get_or_insert(request.clone(), Slot::default).clone()
        };
        // At most twice round: a call in flight for another token of the
        // same user is waited for, and then this token needs its own.
        for round in 0..3 {
            let (inflight, own) = {
                let mut state = slot.lock().expect("session slot lock poisoned");
                let now = self.now();
                if let Some(session) = state.servable(now, token) {
                    self.hits.fetch_add(1, Ordering::Relaxed);
                    crate::metrics::record(|c| c.session_hits += 1);
                    // A session from the identity pool is its tokens': a new
                    // exchange would need a token, which only a request has.
                    let ahead = self.source.provider.refreshes_ahead();
                    if ahead
                        && session.refresh_ahead_at(now)
                        && state.may_call(now)
                        && !self.source.held(now)
                    {
                        // Without a permit, or with the tenant's share of
                        // calls taken, a later request in the window tries.
                        if let Ok(share) = TenantCall::refresh(&self.source, &caller.tenant)
                            && let Ok(permit) = self.refreshes.clone().try_acquire_owned()
                        {
                            let call = Call {
                                caller,
                                request: request.clone(),
                                proof,
                                share,
                            };
                            self.start(&slot, &mut state, call, Some(permit));
                        }
                    }
                    return Ok(session);
                }
                if round == 0 {
                    self.misses.fetch_add(1, Ordering::Relaxed);
                    crate::metrics::record(|c| c.session_misses += 1);
                }
                match &state.inflight {
                    Some(inflight) => (inflight.clone(), state.inflight_token.as_ref() == token),
                    None => {
                        if let Some(failure) = &state.failure
                            && now < failure.until
                            && failure.applies_to(token)
                        {
                            return Err(failure.error.clone());
                        }
                        if self.source.held(now) {
                            return Err(Error::Throttled {
                                service: self.source.provider.kind().service(),
                                detail: "holding new session calls after a throttled one"
                                    .to_owned(),
                            });
                        }
                        let share = TenantCall::new(&self.source, &caller.tenant)
                            .map_err(|full| self.refusal(full))?;
                        let call = Call {
                            caller,
                            request: request.clone(),
                            proof,
                            share,
                        };
                        (self.start(&slot, &mut state, call, None), true)
                    }
                }
            };
            // The call runs in its own task: a request cancelled here (its
            // deadline passed) leaves it to finish and record what it got.
            let outcome = inflight
                .clone()
                .wait_for(Option::is_some)
                .await
                .map_err(|_| Error::Upstream {
                    service: self.source.provider.kind().service(),
                    detail: "the session request ended without an answer".to_owned(),
                })?
                .clone()
                .expect("waited for an outcome");
            if own {
                return outcome;
            }
        }
        Err(Error::Throttled {
            service: self.source.provider.kind().service(),
            detail: "the user's tokens kept replacing each other's sessions".to_owned(),
        })
    }

    fn now(&self) -> SystemTime {
        now(&self.source.base)
    }
}

/// The time by `sdk`'s time source, else the system clock.
fn now(sdk: &SdkConfig) -> SystemTime {
    sdk.time_source().map_or_else(SystemTime::now, |t| t.now())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::TenantId;
    use aws_credential_types::Credentials;

    fn tenant(s: &str) -> TenantId {
        s.parse().unwrap()
    }

    /// A session denied when older than STALE_AFTER is dropped and its
    /// request retried once on a new one; a younger one is kept and not
    /// retried, so a legitimate denial costs no STS call per request.
    #[tokio::test]
    async fn a_stale_denied_session_is_dropped_and_its_request_retried_once() {
        use std::sync::atomic::AtomicU32;
        let base = SdkConfig::builder().build();
        let session = || {
            TenantSession::new(
                tenant("tenant1"),
                Credentials::new("ASIAKEY", "s", None, None, "t"),
                &base,
            )
        };
        let stale = || {
            let mut s = session();
            s.obtained = std::time::Instant::now()
                .checked_sub(STALE_AFTER * 2)
                .expect("a monotonic clock past STALE_AFTER");
            s
        };
        let fresh = session();
        assert!(!fresh.denied() && !fresh.is_invalidated(), "kept");
        let old = stale();
        assert!(old.denied() && old.is_invalidated(), "dropped");
        assert!(!old.denied(), "dropped once");

        let config = AccessConfig::from_lookup(|name: &str| {
            (name == "AWS_ACCOUNT_ID").then(|| "123456789012".to_owned())
        })
        .unwrap();
        let sessions = TenantSessions::new(&base, &config);
        let denied = || Error::AccessDenied {
            detail: "test".to_owned(),
        };
        // Stale and denied: one retry, which is served.
        let calls = AtomicU32::new(0);
        let served = sessions
            .retrying(|| async {
                if calls.fetch_add(1, Ordering::Relaxed) == 0 {
                    stale().denied();
                    Err(denied())
                } else {
                    Ok("served")
                }
            })
            .await;
        assert_eq!(
            (served.ok(), calls.load(Ordering::Relaxed)),
            (Some("served"), 2)
        );
        // Denied again on the new session: no third try.
        let calls = AtomicU32::new(0);
        let result: Result<(), Error> = sessions
            .retrying(|| async {
                calls.fetch_add(1, Ordering::Relaxed);
                stale().denied();
                Err(denied())
            })
            .await;
        assert!(result.is_err());
        assert_eq!(calls.load(Ordering::Relaxed), 2);
        // Fresh and denied: the policy's own answer, no retry.
        let calls = AtomicU32::new(0);
        let fresh = session();
        let result: Result<(), Error> = sessions
            .retrying(|| async {
                calls.fetch_add(1, Ordering::Relaxed);
                fresh.denied();
                Err(denied())
            })
            .await;
        assert!(result.is_err());
        assert_eq!(calls.load(Ordering::Relaxed), 1);
        assert!(!fresh.is_invalidated());
    }
}
