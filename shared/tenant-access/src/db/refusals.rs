//! The memory of refused logins: a refused tenant's requests cost no STS
//! call and no login until its next try is due, and a refusal is told
//! apart from a failure of the login path (see the module docs of
//! [`crate::db`]).

use std::time::{Duration, Instant};

use super::TenantDatabase;
use crate::Error;
use crate::identity::TenantId;

/// A tenant whose login the database refused.
#[derive(Debug, Clone, Copy)]
pub(super) struct Refused {
    /// The first refusal of the run (a success clears it).
    since: Instant,
    /// When the next login may be tried.
    retry_at: Instant,
}

impl TenantDatabase {
    /// An error while the database refused `tenant`'s last login and its
    /// next try is not due: check it before asking STS for a session, so a
    /// refused tenant's requests cost neither. 403 `access_denied` once the
    /// refusal is the tenant's (see [`with_registry`](Self::with_registry)),
    /// else 503. When the next try is due, one request goes through and the
    /// others keep waiting; a login that succeeds clears it.
    pub fn refused_login(&self, tenant: &TenantId) -> Result<(), Error> {
        let now = Instant::now();
        let mut refused = self.refused.lock().expect("refusal memory lock poisoned");
        let Some(entry) = refused.get_mut(tenant) else {
            return Ok(());
        };
        if now >= entry.retry_at {
            // This request tries; the others wait for its answer's turn.
            entry.retry_at = now + self.retry_delay();
            return Ok(());
        }
        Err(self.refusal(entry, now))
    }

    /// The next try after a refusal: 0.5 to 1 s, jittered per container, so
    /// a fleet's retries after a storm spread out (and are paced by
    /// `DB_LOGINS_PER_SECOND`), yet a client that waits the answer's
    /// `Retry-After` (1 s) always finds the login tried again.
    fn retry_delay(&self) -> Duration {
        Duration::from_secs_f64(0.5 + 0.5 * crate::credentials::jitter())
    }

    /// What a refusal recorded in `entry` is answered with at `now`.
    fn refusal(&self, entry: &Refused, now: Instant) -> Error {
        let persistent = now.duration_since(entry.since) >= self.refused_login_memory;
        if !self.registry_checked || persistent {
            Error::AccessDenied {
                detail: "the database refuses this tenant's login".to_owned(),
            }
        } else {
            Error::Unavailable {
                service: "db",
                detail: "the database refused the login of a tenant the registry holds active: a login storm, a failover or a fault of the login path, until it persists".to_owned(),
            }
        }
    }

    /// Record that the database refused `tenant`'s login at `now`, and
    /// answer with what it means.
    pub(super) fn record_refusal(&self, tenant: &TenantId, now: Instant) -> Error {
        let mut refused = self.refused.lock().expect("refusal memory lock poisoned");
        let since = refused.get(tenant).map_or(now, |entry| entry.since);
        let mut entry = Refused {
            since,
            retry_at: now + self.retry_delay(),
        };
        let error = self.refusal(&entry, now);
        if matches!(error, Error::AccessDenied { .. }) {
            // The tenant's own refusal: remembered the whole period.
            entry.retry_at = now + self.refused_login_memory;
        }
        refused.put(tenant.clone(), entry);
        error
    }
}
