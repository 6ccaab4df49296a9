//! One tenant's entry in the session cache: its session, its last failure
//! with the back-off that failure earns, and the call in flight.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use super::{FAILURE_MEMORY, MAX_BACKOFF, MIN_REMAINING, REFUSAL_MEMORY, TenantSession};
use crate::Error;

/// What a session request in flight ends with, once it has.
pub(super) type Outcome = Option<Result<Arc<TenantSession>, Error>>;

/// A failure and until when it is the answer.
pub(super) struct Failure {
    pub(super) until: SystemTime,
    pub(super) error: Error,
    /// The token refused, when the refusal was of one token (the identity
    /// pool's `NotAuthorized`): it is the answer to that token only, so a
    /// forged token naming a user cannot lock that user out.
    pub(super) token: Option<[u8; 32]>,
}

/// Throttling, an unavailable service or a call past its deadline: a
/// failure of the moment, not an answer about the caller.
pub(super) fn transient(error: &Error) -> bool {
    matches!(
        error,
        Error::Throttled { .. } | Error::Unavailable { .. } | Error::DeadlineExceeded
    )
}

impl Failure {
    /// Whether it is the answer to a request carrying `token`.
    pub(super) fn applies_to(&self, token: Option<&[u8; 32]>) -> bool {
        self.token.is_none() || self.token.as_ref() == token
    }

    /// Throttling or an unavailable STS: the current session may still be
    /// served. A refusal stops it at [`REFRESH_BUFFER`](super::REFRESH_BUFFER).
    fn transient(&self) -> bool {
        transient(&self.error)
    }
}

/// How long the `failures`th failure in a row is remembered: the period,
/// plus up to half of it again (`jitter` in `0..1`), so tenants that failed
/// together do not come back together. Never less than the period.
pub(super) fn backoff(error: &Error, failures: u32, jitter: f64) -> Duration {
    let period = match error {
        Error::Throttled { .. } | Error::Unavailable { .. } | Error::DeadlineExceeded => {
            FAILURE_MEMORY
                .saturating_mul(1 << failures.saturating_sub(1).min(16))
                .min(MAX_BACKOFF)
        }
        _ => REFUSAL_MEMORY,
    };
    period + period.mul_f64(jitter.clamp(0.0, 1.0) / 2.0)
}

/// A number in `0..1` that differs between calls: the back-off's jitter.
/// Not for anything secret.
pub(crate) fn jitter() -> f64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    (hasher.finish() % 10_000) as f64 / 10_000.0
}

/// The most tokens a user's slot remembers as accepted: a user signed in
/// on a few devices at once, each with its own token.
pub const MAX_ACCEPTED_TOKENS: usize = 8;

/// One tenant's cache entry (under `identity-pool`, one user's): its
/// session, its last failure and the call in flight, if any. Locked only
/// briefly, never across a call.
#[derive(Default)]
pub(super) struct SlotState {
    pub(super) session: Option<Arc<TenantSession>>,
    pub(super) failure: Option<Failure>,
    /// Failures in a row, for the back-off.
    pub(super) failures: u32,
    /// The call in flight for this slot (ahead of expiry or for a waiting
    /// request): every request that needs its result waits on it.
    pub(super) inflight: Option<tokio::sync::watch::Receiver<Outcome>>,
    /// The token the call in flight exchanges, if any.
    pub(super) inflight_token: Option<[u8; 32]>,
    /// Tokens the identity pool accepted for this slot's user, each until
    /// its own expiry: the session is served to these and no other.
    pub(super) accepted: Vec<([u8; 32], SystemTime)>,
}

impl SlotState {
    /// The session, if it may serve a request carrying `token` (`None`:
    /// a provider that takes none) at `now`: not invalidated, with at least
    /// [`MIN_REMAINING`] left, inside [`REFRESH_BUFFER`](super::REFRESH_BUFFER)
    /// only while its refresh has not been refused, and, for a token, only
    /// one the pool accepted.
    pub(super) fn servable(
        &self,
        now: SystemTime,
        token: Option<&[u8; 32]>,
    ) -> Option<Arc<TenantSession>> {
        let refused = self
            .failure
            .as_ref()
            .is_some_and(|f| !f.transient() && f.applies_to(token));
        let accepted = token.is_none_or(|t| {
            self.accepted
                .iter()
                .any(|(known, until)| known == t && now < *until)
        });
        self.session
            .as_ref()
            .filter(|s| {
                accepted && s.is_valid_for(now, MIN_REMAINING) && (s.is_fresh_at(now) || !refused)
            })
            .cloned()
    }

    /// Whether a new call may start: none in flight, no back-off running.
    pub(super) fn may_call(&self, now: SystemTime) -> bool {
        self.inflight.is_none() && self.failure.as_ref().is_none_or(|f| now >= f.until)
    }

    /// Remember `token` as accepted until `until`, forgetting tokens that
    /// have expired by `now` and, past [`MAX_ACCEPTED_TOKENS`], the one
    /// that expires first.
    pub(super) fn accept(&mut self, token: [u8; 32], until: SystemTime, now: SystemTime) {
        self.accepted
            .retain(|(known, expires)| *known != token && *expires > now);
        self.accepted.push((token, until));
        if self.accepted.len() > MAX_ACCEPTED_TOKENS {
            self.accepted
                .sort_by_key(|(_, expires)| std::cmp::Reverse(*expires));
            self.accepted.truncate(MAX_ACCEPTED_TOKENS);
        }
    }
}

pub(super) type Slot = Arc<Mutex<SlotState>>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_back_off_with_jitter_and_refusals_for_a_minute() {
        let throttled = Error::Throttled {
            service: "sts",
            detail: String::new(),
        };
        assert_eq!(backoff(&throttled, 1, 0.0), FAILURE_MEMORY);
        assert_eq!(backoff(&throttled, 2, 0.0), FAILURE_MEMORY * 2);
        assert_eq!(backoff(&throttled, 3, 0.0), FAILURE_MEMORY * 4);
        assert_eq!(backoff(&throttled, 40, 0.0), MAX_BACKOFF);
        assert_eq!(backoff(&throttled, 1, 1.0), FAILURE_MEMORY * 3 / 2);
        assert_eq!(
            backoff(&Error::DeadlineExceeded, 1, 0.5),
            FAILURE_MEMORY * 5 / 4
        );
        let refused = Error::TenantNotOnboarded {
            detail: String::new(),
        };
        assert_eq!(backoff(&refused, 1, 0.0), REFUSAL_MEMORY);
        assert_eq!(backoff(&refused, 5, 0.0), REFUSAL_MEMORY);
        let draws: std::collections::BTreeSet<u64> =
            (0..50).map(|_| (jitter() * 10_000.0) as u64).collect();
        assert!(draws.iter().all(|d| *d < 10_000));
        assert!(draws.len() > 10, "the jitter varies: {draws:?}");
    }
}
