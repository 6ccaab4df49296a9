//! The container's budget of new logins: a token bucket of
//! `DB_LOGINS_PER_SECOND` turns a second, a tenth of them at once, so that after a
//! failover (every connection dropped) a container's tenants log in again
//! spread over seconds rather than in one. RDS takes 200 new IAM logins per
//! second per cluster, over every container.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::limits::TokenBucket;

/// The longest a login waits for its turn; past it, the request is answered
/// 503 with `Retry-After` and takes no turn.
pub const MAX_LOGIN_WAIT: Duration = Duration::from_secs(1);

/// Turns to log in, refilled at a steady rate.
#[derive(Debug)]
pub(super) struct LoginBudget {
    per_second: f64,
    /// Turns that may be taken at once.
    burst: f64,
    turns: Mutex<TokenBucket>,
}

impl LoginBudget {
    /// `per_second` turns a second, a tenth of them at once (at least one),
    /// so no second sees much more than the pace; `None` for 0 (no bound).
    pub(super) fn new(per_second: u32, now: Instant) -> Option<Self> {
        (per_second > 0).then(|| {
            let burst = (f64::from(per_second) / 10.0).max(1.0);
            LoginBudget {
                per_second: f64::from(per_second),
                burst,
                turns: Mutex::new(TokenBucket::full(burst, now)),
            }
        })
    }

    /// A turn at `now`: `Ok` with how long to wait for it (zero when one is
    /// free), or `Err` with how long until one would be, when that is past
    /// [`MAX_LOGIN_WAIT`] (no turn is taken then).
    pub(super) fn reserve(&self, now: Instant) -> Result<Duration, Duration> {
        self.turns
            .lock()
            .expect("login budget lock poisoned")
            .reserve(now, self.per_second, self.burst, MAX_LOGIN_WAIT)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn turns_are_spread_over_time_and_none_is_promised_past_a_second() {
        let start = Instant::now();
        assert!(LoginBudget::new(0, start).is_none(), "0: no bound");
        let budget = LoginBudget::new(50, start).unwrap();
        // A tenth of a second's turns at once.
        for _ in 0..5 {
            assert_eq!(budget.reserve(start), Ok(Duration::ZERO));
        }
        // Then one every 20 ms, promised up to a second ahead.
        let waits: Vec<Duration> = (0..50).map(|_| budget.reserve(start).unwrap()).collect();
        for (n, wait) in waits.iter().enumerate() {
            let expected = 0.02 * (n + 1) as f64;
            assert!(
                (wait.as_secs_f64() - expected).abs() < 1e-6,
                "{n}: {wait:?}"
            );
        }
        // The next would wait past a second: refused, and it takes no turn.
        let refused = budget.reserve(start).unwrap_err();
        assert!(refused > MAX_LOGIN_WAIT);
        assert_eq!(budget.reserve(start).unwrap_err(), refused);
        // Long idle: the bucket is full again, never more than a tenth.
        let idle = start + Duration::from_secs(60);
        for _ in 0..5 {
            assert_eq!(budget.reserve(idle), Ok(Duration::ZERO));
        }
        assert!(budget.reserve(idle).unwrap() > Duration::ZERO);
        // A slow pace still lets one log in at once.
        let slow = LoginBudget::new(5, start).unwrap();
        assert_eq!(slow.reserve(start), Ok(Duration::ZERO));
        assert!(slow.reserve(start).unwrap() > Duration::ZERO);
    }
}
