//! A tenant's lifecycle state, read from one registry before any AWS call
//! and cached briefly.
//!
//! Every function asks the registry whether the caller's tenant is
//! [`TenantState::Active`] before it gets the tenant's session
//! ([`TenantSessions::with_registry`](crate::TenantSessions::with_registry)),
//! so before any AWS call made for the tenant, and an
//! offboarded or suspended tenant is refused in code at once, beside the
//! platform's own refusals (its role deleted or denied, its key disabled,
//! its database login dropped), which hold even where this check is
//! skipped.
//!
//! The registry is a DynamoDB table (`TENANT_REGISTRY_TABLE`), one item per
//! tenant keyed by `tenant_id`, with its `state`: every function can read
//! it with its own execution role (s3-fetch has no database), a read is a
//! single-digit-millisecond `GetItem`, and the onboarding and offboarding
//! commands write it. The functions may only read it.
//!
//! A tenant's state is cached for `TENANT_STATE_TTL_MS` (30 s by default),
//! so a warm request of a tenant seen within that time makes no network
//! call; at most one read per tenant is in flight, and every request that
//! needs it waits on it. When the registry cannot be read past the cache's
//! life, the request fails closed: 503, and the failure is remembered for
//! [`FAILURE_MEMORY`] so an unreachable registry sees at most one read per
//! tenant per second. An offboarded tenant and one never onboarded get the
//! same answer (403 `tenant_not_onboarded`); only the log tells them apart.

use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_config::SdkConfig;
use aws_sdk_dynamodb::types::AttributeValue;
use lru::LruCache;
use tokio::time::Instant;

use crate::config::AccessConfig;
use crate::{Error, TenantId};

/// How long a failed read is the answer for its tenant: an unreachable
/// registry is asked at most once per tenant per this period.
pub const FAILURE_MEMORY: Duration = Duration::from_secs(1);

/// The registry item's key attribute.
pub const KEY: &str = "tenant_id";
/// The registry item's state attribute.
pub const STATE: &str = "state";

/// Where a tenant is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TenantState {
    /// Served.
    Active,
    /// Refused for now (403 `tenant_suspended`); its data and access are
    /// kept, and it may be made active again.
    Suspended,
    /// Gone for good (403 `tenant_not_onboarded`): its access is revoked at
    /// every layer, and its id is never onboarded again.
    Offboarded,
}

impl TenantState {
    /// The state as the registry stores it.
    pub fn as_str(self) -> &'static str {
        match self {
            TenantState::Active => "active",
            TenantState::Suspended => "suspended",
            TenantState::Offboarded => "offboarded",
        }
    }
}

impl std::str::FromStr for TenantState {
    type Err = String;

    /// ```
    /// use tenant_access::registry::TenantState;
    /// assert_eq!("offboarded".parse(), Ok(TenantState::Offboarded));
    /// assert!("gone".parse::<TenantState>().is_err());
    /// ```
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "active" => Ok(TenantState::Active),
            "suspended" => Ok(TenantState::Suspended),
            "offboarded" => Ok(TenantState::Offboarded),
            other => Err(format!("`{other}` is not a tenant state")),
        }
    }
}

/// What a read found: the tenant's state, or no item at all.
type Found = Option<TenantState>;

/// The registry item's tier attribute: which limits the tenant gets
/// ([`crate::limits`]); absent for the defaults.
pub const TIER: &str = "tier";

/// The cached answer for one tenant, and until when it is the answer.
struct Cached {
    answer: Result<Found, Error>,
    until: Instant,
}

/// One tenant's slot: its answer, locked across its read so one read is in
/// flight, and its tier as last read, never locked across a read (so a
/// request's limits do not fall back to the defaults while the tenant's
/// state is read again).
#[derive(Default)]
struct Slot {
    cached: tokio::sync::Mutex<Option<Cached>>,
    /// The tier the tenant's item named at its last successful read.
    tier: Mutex<Option<String>>,
}

/// Where the states are read from.
enum Source {
    Table {
        client: aws_sdk_dynamodb::Client,
        table: String,
    },
    /// Tests' answer and tier; each read first takes a permit of `gate`
    /// (a test holds them back to keep a read under way).
    #[cfg(test)]
    Fixed {
        answer: Arc<Mutex<Result<Found, ()>>>,
        tier: Option<String>,
        gate: Arc<tokio::sync::Semaphore>,
    },
}

/// The tenant registry, with its cache: build once at cold start and check
/// each request's tenant with [`check`](Self::check).
///
/// ```no_run
/// # async fn run() -> Result<(), tenant_access::Error> {
/// use tenant_access::config::AccessConfig;
/// use tenant_access::registry::TenantRegistry;
///
/// let config = AccessConfig::from_env().unwrap();
/// let sdk = aws_config::load_from_env().await;
/// if let Some(registry) = TenantRegistry::new(&sdk, &config) {
///     registry.check(&"tenant1".parse().unwrap()).await?; // Err unless active
/// }
/// # Ok(()) }
/// ```
pub struct TenantRegistry {
    source: Source,
    ttl: Duration,
    slots: Mutex<LruCache<TenantId, Arc<Slot>>>,
    reads: AtomicU64,
}

impl std::fmt::Debug for TenantRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TenantRegistry")
            .field("ttl", &self.ttl)
            .field("reads", &self.reads())
            .finish_non_exhaustive()
    }
}

impl TenantRegistry {
    /// The registry `config` names (`TENANT_REGISTRY_TABLE`), read with the
    /// function's own credentials in `sdk`; `None` when none is configured.
    pub fn new(sdk: &SdkConfig, config: &AccessConfig) -> Option<Self> {
        let table = config.registry_table.clone()?;
        Some(Self::with_source(
            Source::Table {
                client: aws_sdk_dynamodb::Client::new(sdk),
                table,
            },
            config.state_ttl,
            config.tenant_cache_capacity,
        ))
    }

    fn with_source(source: Source, ttl: Duration, capacity: NonZeroUsize) -> Self {
        TenantRegistry {
            source,
            ttl,
            slots: Mutex::new(LruCache::new(capacity)),
            reads: AtomicU64::new(0),
        }
    }

    /// Reads of the registry since cold start.
    pub fn reads(&self) -> u64 {
        self.reads.load(Ordering::Relaxed)
    }

    /// `Ok` when `tenant` is active; otherwise the error its request is
    /// answered with: [`Error::TenantNotOnboarded`] (offboarded, or never
    /// onboarded: the same body, told apart in the log),
    /// [`Error::TenantSuspended`], or [`Error::Unavailable`] when the
    /// registry cannot be read (fail closed).
    pub async fn check(&self, tenant: &TenantId) -> Result<(), Error> {
        match self.state(tenant).await? {
            Some(TenantState::Active) => Ok(()),
            Some(TenantState::Suspended) => Err(Error::TenantSuspended {
                detail: "the registry holds the tenant suspended".to_owned(),
            }),
            Some(TenantState::Offboarded) => Err(Error::TenantNotOnboarded {
                detail: "the registry holds the tenant offboarded".to_owned(),
            }),
            None => Err(Error::TenantNotOnboarded {
                detail: "the registry holds no such tenant (never onboarded)".to_owned(),
            }),
        }
    }

    /// The tenant's state (`None`: the registry holds no such tenant), from
    /// the cache while it is fresh, else read once for every request
    /// waiting on it.
    pub async fn state(&self, tenant: &TenantId) -> Result<Found, Error> {
        let slot = {
            let mut slots = self.slots.lock().expect("registry cache lock poisoned");
            match slots.get(tenant) {
                Some(slot) => Arc::clone(slot),
                None => {
                    let slot = Arc::new(Slot::default());
                    slots.put(tenant.clone(), Arc::clone(&slot));
                    slot
                }
            }
        };
        let mut cached = slot.cached.lock().await;
        if let Some(entry) = cached.as_ref()
            && Instant::now() < entry.until
        {
            return entry.answer.clone();
        }
        self.reads.fetch_add(1, Ordering::Relaxed);
        crate::metrics::record(|c| c.registry_reads += 1);
        let answer = match self.read(tenant).await {
            Ok((found, tier)) => {
                *slot.tier.lock().expect("tier lock poisoned") = tier;
                Ok(found)
            }
            // A failed read says nothing of the tier: the last one stands.
            Err(err) => Err(err),
        };
        let life = if answer.is_ok() {
            self.ttl
        } else {
            FAILURE_MEMORY
        };
        *cached = Some(Cached {
            answer: answer.clone(),
            until: Instant::now() + life,
        });
        answer
    }

    /// The tenant's tier as last read, without reading or waiting: `None`
    /// when its item names none or it has not been read yet (its first
    /// request is limited by the defaults). While its state is read again
    /// the last tier read stands.
    pub fn cached_tier(&self, tenant: &TenantId) -> Option<String> {
        let slot = {
            let mut slots = self.slots.lock().expect("registry cache lock poisoned");
            Arc::clone(slots.get(tenant)?)
        };
        slot.tier.lock().expect("tier lock poisoned").clone()
    }

    /// The tenant's tier as last read, waiting for a read under way (a
    /// tier that picks the tenant's strategy must not flicker while its
    /// state is read again): `None` when its item names none or it has not
    /// been read.
    pub async fn tier(&self, tenant: &TenantId) -> Option<String> {
        let slot = {
            let mut slots = self.slots.lock().expect("registry cache lock poisoned");
            Arc::clone(slots.get(tenant)?)
        };
        let _read_under_way = slot.cached.lock().await;
        slot.tier.lock().expect("tier lock poisoned").clone()
    }

    async fn read(&self, tenant: &TenantId) -> Result<(Found, Option<String>), Error> {
        match &self.source {
            Source::Table { client, table } => {
                let output = client
                    .get_item()
                    .table_name(table)
                    .key(KEY, AttributeValue::S(tenant.as_str().to_owned()))
                    .projection_expression("#s, #t")
                    .expression_attribute_names("#s", STATE)
                    .expression_attribute_names("#t", TIER)
                    .send()
                    .await
                    // Whatever the failure (the function's own role refused,
                    // the table missing, the service down), the tenant's
                    // state is unknown: fail closed, as unavailable.
                    .map_err(|e| Error::Unavailable {
                        service: "registry",
                        detail: aws_sdk_dynamodb::error::DisplayErrorContext(&e).to_string(),
                    })?;
                let Some(item) = output.item() else {
                    return Ok((None, None));
                };
                let tier = item.get(TIER).and_then(|t| t.as_s().ok()).cloned();
                match item.get(STATE).map(AttributeValue::as_s) {
                    Some(Ok(state)) => {
                        state
                            .parse()
                            .map(|state| (Some(state), tier))
                            .map_err(|reason| Error::Unavailable {
                                service: "registry",
                                detail: format!("a registry item is malformed: {reason}"),
                            })
                    }
                    _ => Err(Error::Unavailable {
                        service: "registry",
                        detail: format!("a registry item has no string `{STATE}`"),
                    }),
                }
            }
            #[cfg(test)]
            Source::Fixed { answer, tier, gate } => {
                gate.acquire().await.unwrap().forget();
                let answer = *answer.lock().unwrap();
                answer
                    .map(|found| (found, tier.clone()))
                    .map_err(|()| Error::Unavailable {
                        service: "registry",
                        detail: "unreachable (test)".to_owned(),
                    })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registry(answer: Result<Found, ()>) -> (TenantRegistry, Arc<Mutex<Result<Found, ()>>>) {
        let gate = Arc::new(tokio::sync::Semaphore::new(
            tokio::sync::Semaphore::MAX_PERMITS,
        ));
        registry_of_tier(answer, None, gate)
    }

    fn registry_of_tier(
        answer: Result<Found, ()>,
        tier: Option<&str>,
        gate: Arc<tokio::sync::Semaphore>,
    ) -> (TenantRegistry, Arc<Mutex<Result<Found, ()>>>) {
        let shared = Arc::new(Mutex::new(answer));
        let source = Source::Fixed {
            answer: Arc::clone(&shared),
            tier: tier.map(str::to_owned),
            gate,
        };
        let registry = TenantRegistry::with_source(
            source,
            Duration::from_secs(30),
            NonZeroUsize::new(100).unwrap(),
        );
        (registry, shared)
    }

    /// A tenant's tier (its limits) stands while its state is read again:
    /// a request admitted beside that read gets its tier's limits, not the
    /// defaults; and a failed read leaves the tier as it was.
    #[tokio::test(start_paused = true)]
    async fn a_tier_stands_while_the_state_is_read_again() {
        let gate = Arc::new(tokio::sync::Semaphore::new(1));
        let (registry, state) = registry_of_tier(
            Ok(Some(TenantState::Active)),
            Some("premium"),
            Arc::clone(&gate),
        );
        let registry = Arc::new(registry);
        assert_eq!(registry.cached_tier(&tenant()), None, "not read yet");
        registry.check(&tenant()).await.unwrap();
        assert_eq!(registry.cached_tier(&tenant()).as_deref(), Some("premium"));
        tokio::time::advance(Duration::from_secs(31)).await;
        // The next read waits at the gate: a read under way.
        let reading = tokio::spawn({
            let registry = Arc::clone(&registry);
            async move { registry.check(&tenant()).await }
        });
        tokio::task::yield_now().await;
        assert_eq!(registry.reads(), 2, "the read is under way");
        assert!(!reading.is_finished());
        assert_eq!(registry.cached_tier(&tenant()).as_deref(), Some("premium"));
        *state.lock().unwrap() = Err(());
        gate.add_permits(1);
        assert_eq!(reading.await.unwrap().unwrap_err().status().as_u16(), 503);
        assert_eq!(registry.cached_tier(&tenant()).as_deref(), Some("premium"));
        assert_eq!(registry.tier(&tenant()).await.as_deref(), Some("premium"));
    }

    fn tenant() -> TenantId {
        "tenant1".parse().unwrap()
    }

    /// Within the cache's life a tenant's state is read once; past it, the
    /// next request reads it again and sees the change (an offboarding).
    #[tokio::test(start_paused = true)]
    async fn a_state_is_read_once_per_ttl_and_changes_are_seen_after_it() {
        let (registry, state) = registry(Ok(Some(TenantState::Active)));
        for _ in 0..100 {
            registry.check(&tenant()).await.unwrap();
        }
        assert_eq!(registry.reads(), 1, "warm requests read nothing");
        *state.lock().unwrap() = Ok(Some(TenantState::Offboarded));
        tokio::time::advance(Duration::from_secs(29)).await;
        registry.check(&tenant()).await.unwrap();
        tokio::time::advance(Duration::from_secs(2)).await;
        let err = registry.check(&tenant()).await.unwrap_err();
        assert_eq!(
            (err.status().as_u16(), err.code()),
            (403, "tenant_not_onboarded")
        );
        assert_eq!(registry.reads(), 2);
    }

    /// Never onboarded and offboarded answer alike; suspended says so.
    #[tokio::test]
    async fn each_state_is_answered_with_its_code() {
        for (found, expected) in [
            (None, Some("tenant_not_onboarded")),
            (Some(TenantState::Offboarded), Some("tenant_not_onboarded")),
            (Some(TenantState::Suspended), Some("tenant_suspended")),
            (Some(TenantState::Active), None),
        ] {
            let (registry, _) = registry(Ok(found));
            let got = registry.check(&tenant()).await.err();
            assert_eq!(got.as_ref().map(Error::code), expected, "{found:?}");
        }
        let offboarded = registry(Ok(Some(TenantState::Offboarded))).0;
        let never = registry(Ok(None)).0;
        let (a, b) = (
            offboarded.check(&tenant()).await.unwrap_err(),
            never.check(&tenant()).await.unwrap_err(),
        );
        assert_eq!(a.to_string(), b.to_string(), "the same body");
        assert_ne!(
            detail_of_any(&a),
            detail_of_any(&b),
            "told apart in the log"
        );
    }

    fn detail_of_any(err: &Error) -> String {
        match err {
            Error::TenantNotOnboarded { detail } => detail.clone(),
            other => other.to_string(),
        }
    }

    /// An unreadable registry fails closed with 503 once the cached state
    /// is past its life, and is asked again only after FAILURE_MEMORY.
    #[tokio::test(start_paused = true)]
    async fn an_unreadable_registry_fails_closed_and_is_not_hammered() {
        let (registry, state) = registry(Ok(Some(TenantState::Active)));
        registry.check(&tenant()).await.unwrap();
        *state.lock().unwrap() = Err(());
        registry.check(&tenant()).await.unwrap();
        tokio::time::advance(Duration::from_secs(31)).await;
        for _ in 0..10 {
            let err = registry.check(&tenant()).await.unwrap_err();
            assert_eq!(err.status().as_u16(), 503);
        }
        assert_eq!(registry.reads(), 2, "one read per failure memory");
        *state.lock().unwrap() = Ok(Some(TenantState::Active));
        tokio::time::advance(FAILURE_MEMORY).await;
        registry.check(&tenant()).await.unwrap();
        assert_eq!(registry.reads(), 3);
    }

    /// Requests of one tenant arriving together share one read.
    #[tokio::test]
    async fn concurrent_requests_share_one_read() {
        let (registry, _) = registry(Ok(Some(TenantState::Active)));
        let registry = Arc::new(registry);
        let tasks: Vec<_> = (0..50)
            .map(|_| {
                let registry = Arc::clone(&registry);
                tokio::spawn(async move { registry.check(&tenant()).await })
            })
            .collect();
        for task in tasks {
            task.await.unwrap().unwrap();
        }
        assert_eq!(registry.reads(), 1);
    }
}
