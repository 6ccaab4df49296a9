//! Per-tenant limits inside one container, so one noisy tenant cannot take
//! what every tenant shares: requests in flight at once, and a token bucket
//! of requests per second.
//!
//! A request over either is refused with [`Error::RateLimited`] (429
//! `rate_limited`, with `Retry-After`) before any AWS call is made for it.
//! The limits are the tenant's tier's ([`TierLimits`], from the tenant's
//! registry item), else the defaults (`TENANT_MAX_IN_FLIGHT`,
//! `TENANT_REQUESTS_PER_SECOND`, `TENANT_BURST`). They hold per container:
//! across containers, API Gateway's throttling is the limit
//! (docs/capacity.md).
//!
//! ```
//! use std::time::{Duration, Instant};
//! use tenant_access::limits::{Limits, TenantLimits, TierLimits};
//!
//! let limits = TenantLimits::new(TierLimits::new(Limits::new(2, 10.0, 1)));
//! let tenant = "tenant1".parse().unwrap();
//! let now = Instant::now();
//! let first = limits.admit(&tenant, None, now).unwrap();
//! // The burst is one request: the next must wait for a token (100 ms at 10/s).
//! let refused = limits.admit(&tenant, None, now).unwrap_err();
//! assert_eq!(refused.status().as_u16(), 429);
//! let later = limits.admit(&tenant, None, now + Duration::from_millis(100)).unwrap();
//! drop((first, later));
//! ```

use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lru::LruCache;

use crate::Error;
use crate::identity::TenantId;

/// One tier's limits, per container. Zero means no limit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// A tenant's requests in flight at once.
    pub in_flight: u32,
    /// A tenant's sustained requests per second (the bucket's refill).
    pub per_second: f64,
    /// A tenant's burst (the bucket's size).
    pub burst: u32,
}

impl Limits {
    /// Limits of `in_flight` requests at once, `per_second` sustained and a
    /// burst of `burst`; 0 for no limit.
    pub fn new(in_flight: u32, per_second: f64, burst: u32) -> Self {
        Limits {
            in_flight,
            per_second,
            burst,
        }
    }

    /// No limit at all.
    pub const NONE: Limits = Limits {
        in_flight: 0,
        per_second: 0.0,
        burst: 0,
    };

    /// `in_flight:per_second:burst`, as `TENANT_TIER_LIMITS` writes them.
    ///
    /// ```
    /// use tenant_access::limits::Limits;
    /// assert_eq!("8:50:100".parse::<Limits>().unwrap(), Limits::new(8, 50.0, 100));
    /// assert!("8:50".parse::<Limits>().is_err());
    /// assert!("100001:50:100".parse::<Limits>().is_err(), "the defaults' bounds");
    /// ```
    fn parse_triple(text: &str) -> Result<Limits, String> {
        let parts: Vec<&str> = text.split(':').map(str::trim).collect();
        let [in_flight, per_second, burst] = parts[..] else {
            return Err(format!("`{text}` is not in_flight:per_second:burst"));
        };
        // The bounds of the defaults (`TENANT_MAX_IN_FLIGHT`,
        // `TENANT_REQUESTS_PER_SECOND`, `TENANT_BURST`).
        let number = |v: &str, max: u32| match v.parse::<u32>() {
            Ok(n) if n <= max => Ok(n),
            Ok(_) => Err(format!("`{v}` is over {max}")),
            Err(_) => Err(format!("`{v}` is not a whole number")),
        };
        let limits = Limits::new(
            number(in_flight, 100_000)?,
            f64::from(number(per_second, 1_000_000)?),
            number(burst, 1_000_000)?,
        );
        if limits.per_second > 0.0 && limits.burst == 0 {
            return Err(format!("`{text}`: a rate needs a burst of at least 1"));
        }
        Ok(limits)
    }
}

impl std::str::FromStr for Limits {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Limits::parse_triple(s)
    }
}

/// The limits of each tier, and the defaults for a tenant whose tier is
/// unknown or has none of its own.
#[derive(Debug, Clone, PartialEq)]
pub struct TierLimits {
    default: Limits,
    tiers: HashMap<String, Limits>,
}

impl TierLimits {
    /// Every tenant with `default`.
    pub fn new(default: Limits) -> Self {
        TierLimits {
            default,
            tiers: HashMap::new(),
        }
    }

    /// `tier`'s tenants with `limits`.
    pub fn with_tier(mut self, tier: impl Into<String>, limits: Limits) -> Self {
        self.tiers.insert(tier.into(), limits);
        self
    }

    /// `TENANT_TIER_LIMITS`: `tier=in_flight:per_second:burst`, comma
    /// separated, over `default`.
    ///
    /// ```
    /// use tenant_access::limits::{Limits, TierLimits};
    /// let tiers = TierLimits::parse("basic=4:20:40, premium=32:500:1000", Limits::NONE).unwrap();
    /// assert_eq!(tiers.of(Some("premium")), Limits::new(32, 500.0, 1000));
    /// assert_eq!(tiers.of(Some("gold")), Limits::NONE);
    /// ```
    pub fn parse(text: &str, default: Limits) -> Result<Self, String> {
        let mut limits = TierLimits::new(default);
        for (tier, triple) in crate::tier::tier_entries(text, "in_flight:per_second:burst")? {
            limits = limits.with_tier(tier, triple.parse()?);
        }
        Ok(limits)
    }

    /// The limits of a tenant of `tier`.
    pub fn of(&self, tier: Option<&str>) -> Limits {
        tier.and_then(|t| self.tiers.get(t))
            .copied()
            .unwrap_or(self.default)
    }

    /// Whether any tier, or the default, limits anything.
    pub fn limits_anything(&self) -> bool {
        let any = |l: &Limits| l.in_flight > 0 || l.per_second > 0.0;
        any(&self.default) || self.tiers.values().any(any)
    }
}

/// Tokens refilled at a steady rate up to a burst: the one token bucket,
/// behind each tenant's rate here and the database's login pace
/// (`DB_LOGINS_PER_SECOND`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct TokenBucket {
    /// Tokens left (below zero: tokens already promised to waiters).
    tokens: f64,
    refilled: Instant,
}

impl TokenBucket {
    /// A full bucket of `burst` at `now`.
    pub(crate) fn full(burst: f64, now: Instant) -> Self {
        TokenBucket {
            tokens: burst,
            refilled: now,
        }
    }

    /// A token at `now`, refilled at `per_second` up to `burst`: `Ok` with
    /// how long to wait for it (zero when one is there), the token taken
    /// (promised ahead when waiting); `Err` with how long until one would
    /// be, when that is past `max_wait` (nothing taken).
    pub(crate) fn reserve(
        &mut self,
        now: Instant,
        per_second: f64,
        burst: f64,
        max_wait: Duration,
    ) -> Result<Duration, Duration> {
        let elapsed = now.saturating_duration_since(self.refilled).as_secs_f64();
        self.tokens = (self.tokens + elapsed * per_second).min(burst);
        self.refilled = now.max(self.refilled);
        let wait = Duration::from_secs_f64(((1.0 - self.tokens) / per_second).max(0.0));
        if wait > max_wait {
            return Err(wait);
        }
        self.tokens -= 1.0;
        Ok(wait)
    }
}

/// One tenant's counters, under the limits they were filled for.
struct Bucket {
    limits: Limits,
    in_flight: Arc<AtomicU32>,
    rate: TokenBucket,
}

/// Tenants whose counters one container keeps; the least recently seen
/// is forgotten first (its bucket starts full again, which only errs on the
/// side of serving).
const TRACKED_TENANTS: usize = 10_000;

/// The per-tenant limits of one container. Build once at cold start.
pub struct TenantLimits {
    tiers: TierLimits,
    buckets: Mutex<LruCache<TenantId, Bucket>>,
}

impl std::fmt::Debug for TenantLimits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TenantLimits")
            .field("tiers", &self.tiers)
            .finish_non_exhaustive()
    }
}

/// A request admitted: it counts as in flight for its tenant until dropped.
#[derive(Debug)]
pub struct Admission(Option<Arc<AtomicU32>>);

impl Drop for Admission {
    fn drop(&mut self) {
        if let Some(counter) = &self.0 {
            counter.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

impl TenantLimits {
    /// Limits by `tiers`.
    pub fn new(tiers: TierLimits) -> Self {
        TenantLimits {
            tiers,
            buckets: Mutex::new(LruCache::new(
                NonZeroUsize::new(TRACKED_TENANTS).expect("a positive capacity"),
            )),
        }
    }

    /// The limits by tier.
    pub fn tiers(&self) -> &TierLimits {
        &self.tiers
    }

    /// Admit one request of `tenant` (of `tier`, if known) at `now`, or
    /// refuse it with [`Error::RateLimited`]: too many of its requests are
    /// in flight, or its bucket is empty. A refused request takes no token.
    pub fn admit(
        &self,
        tenant: &TenantId,
        tier: Option<&str>,
        now: Instant,
    ) -> Result<Admission, Error> {
        let limits = self.tiers.of(tier);
        if limits.in_flight == 0 && limits.per_second <= 0.0 {
            return Ok(Admission(None));
        }
        let mut buckets = self.buckets.lock().expect("limits lock poisoned");
        let bucket = buckets.get_or_insert_mut(tenant.clone(), || Bucket {
            limits,
            in_flight: Arc::new(AtomicU32::new(0)),
            rate: TokenBucket::full(f64::from(limits.burst), now),
        });
        if bucket.limits != limits {
            // Its tier became known, or changed: a full bucket of the new
            // size (requests in flight still count).
            bucket.limits = limits;
            bucket.rate = TokenBucket::full(f64::from(limits.burst), now);
        }
        if limits.in_flight > 0 && bucket.in_flight.load(Ordering::Acquire) >= limits.in_flight {
            crate::metrics::record(|c| c.rate_limited += 1);
            return Err(Error::RateLimited {
                retry_after: 1,
                detail: format!("{} requests of this tenant are in flight", limits.in_flight),
            });
        }
        if limits.per_second > 0.0
            && let Err(wait) = bucket.rate.reserve(
                now,
                limits.per_second,
                f64::from(limits.burst),
                Duration::ZERO,
            )
        {
            crate::metrics::record(|c| c.rate_limited += 1);
            return Err(Error::RateLimited {
                retry_after: wait.as_secs_f64().ceil().max(1.0) as u32,
                detail: format!(
                    "this tenant's rate is {} requests per second",
                    limits.per_second
                ),
            });
        }
        bucket.in_flight.fetch_add(1, Ordering::AcqRel);
        Ok(Admission(Some(bucket.in_flight.clone())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tenant(id: &str) -> TenantId {
        id.parse().unwrap()
    }

    #[test]
    fn the_in_flight_cap_holds_per_tenant_and_frees_on_drop() {
        let limits = TenantLimits::new(TierLimits::new(Limits::new(2, 0.0, 0)));
        let now = Instant::now();
        let a = limits.admit(&tenant("t1"), None, now).unwrap();
        let b = limits.admit(&tenant("t1"), None, now).unwrap();
        let refused = limits.admit(&tenant("t1"), None, now).unwrap_err();
        assert_eq!(
            (refused.status().as_u16(), refused.code()),
            (429, "rate_limited")
        );
        assert_eq!(refused.retry_after(), Some(1));
        // Another tenant is not held up by it.
        let other = limits.admit(&tenant("t2"), None, now).unwrap();
        drop(a);
        let c = limits.admit(&tenant("t1"), None, now).unwrap();
        drop((b, c, other));
    }

    #[test]
    fn the_bucket_refills_at_the_rate_up_to_the_burst() {
        let limits = TenantLimits::new(TierLimits::new(Limits::new(0, 10.0, 3)));
        let t = tenant("t1");
        let start = Instant::now();
        for _ in 0..3 {
            limits.admit(&t, None, start).unwrap();
        }
        let refused = limits.admit(&t, None, start).unwrap_err();
        assert_eq!(refused.code(), "rate_limited");
        // 100 ms at 10/s is one token; a refusal took none.
        limits
            .admit(&t, None, start + Duration::from_millis(100))
            .unwrap();
        assert!(
            limits
                .admit(&t, None, start + Duration::from_millis(100))
                .is_err()
        );
        // A long pause refills to the burst, no more.
        let later = start + Duration::from_secs(60);
        for _ in 0..3 {
            limits.admit(&t, None, later).unwrap();
        }
        assert!(limits.admit(&t, None, later).is_err());
        // Other tenants have buckets of their own.
        limits.admit(&tenant("t2"), None, start).unwrap();
    }

    #[test]
    fn a_tier_has_its_own_limits_and_the_default_covers_the_rest() {
        let tiers = TierLimits::parse("premium=0:100:100", Limits::new(0, 1.0, 1)).unwrap();
        let limits = TenantLimits::new(tiers);
        let now = Instant::now();
        for _ in 0..100 {
            limits.admit(&tenant("big"), Some("premium"), now).unwrap();
        }
        limits.admit(&tenant("small"), Some("basic"), now).unwrap();
        assert!(limits.admit(&tenant("small"), Some("basic"), now).is_err());
        limits.admit(&tenant("unknown"), None, now).unwrap();
        assert!(limits.admit(&tenant("unknown"), None, now).is_err());
    }

    #[test]
    fn no_limit_admits_everything() {
        let limits = TenantLimits::new(TierLimits::new(Limits::NONE));
        assert!(!limits.tiers().limits_anything());
        let now = Instant::now();
        let held: Vec<_> = (0..1000)
            .map(|_| limits.admit(&tenant("t1"), None, now).unwrap())
            .collect();
        assert_eq!(held.len(), 1000);
    }

    #[test]
    fn tier_limits_parse_or_say_why_not() {
        assert!(TierLimits::parse("basic", Limits::NONE).is_err());
        assert!(TierLimits::parse("basic=1:2", Limits::NONE).is_err());
        assert!(TierLimits::parse("basic=1:x:3", Limits::NONE).is_err());
        assert!(TierLimits::parse("basic=1:5:0", Limits::NONE).is_err());
        assert!(TierLimits::parse("", Limits::NONE).is_ok());
    }
}
