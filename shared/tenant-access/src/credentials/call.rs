//! A session call on its way: what starts it (the shares it holds, or the
//! answer when they are taken), the task that makes it and records its
//! outcome in the slot, and the hold after a throttled call.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::SystemTime;

use super::provider::{Proof, ProviderKind};
use super::share::{self, InFlight, TenantCall};
use super::slot::{self, Failure, Outcome, Slot, SlotState, backoff, jitter};
use super::{
    MAX_SESSION_CALLS_IN_FLIGHT, MAX_SESSION_CALLS_PER_TENANT, SessionRequest, Source,
    TenantSession, TenantSessions, now,
};
use crate::Error;
use crate::identity::Caller;

/// A new session call: for whom, what it asks, what the caller's token
/// proves, and the tenant's share of calls it holds.
pub(super) struct Call<'a> {
    pub(super) caller: &'a Caller,
    pub(super) request: SessionRequest,
    pub(super) proof: Option<Proof>,
    pub(super) share: TenantCall,
}

impl TenantSessions {
    /// What a call the shares did not allow is answered.
    pub(super) fn refusal(&self, full: share::Full) -> Error {
        match full {
            share::Full::Tenant => {
                crate::metrics::record(|c| c.rate_limited += 1);
                Error::RateLimited {
                    retry_after: 1,
                    detail: format!(
                        "{MAX_SESSION_CALLS_PER_TENANT} session calls of this tenant are in flight"
                    ),
                }
            }
            share::Full::Cache => Error::Throttled {
                service: self.source.provider.kind().service(),
                detail: format!(
                    "{MAX_SESSION_CALLS_IN_FLIGHT} session calls are in flight in this function"
                ),
            },
        }
    }

    /// Start a call for a new session in its own task, which records the
    /// outcome in the slot (the session and the token it was exchanged for,
    /// or the failure with its back-off) whether or not anyone still waits,
    /// holding one of its tenant's share of calls until then. With a
    /// `permit`, it is a refresh ahead of expiry.
    pub(super) fn start(
        &self,
        slot: &Slot,
        state: &mut SlotState,
        call: Call<'_>,
        permit: Option<tokio::sync::OwnedSemaphorePermit>,
    ) -> tokio::sync::watch::Receiver<Outcome> {
        use tracing::Instrument;
        let Call {
            caller,
            request,
            proof,
            share,
        } = call;
        let (tx, rx) = tokio::sync::watch::channel(None);
        state.inflight = Some(rx.clone());
        state.inflight_token = proof.map(|p| p.token);
        // Counted here, in the request that caused the call.
        self.source.calls.fetch_add(1, Ordering::Relaxed);
        let counted = InFlight::new(&self.source);
        let identity_pool = self.source.provider.kind() == ProviderKind::IdentityPool;
        crate::metrics::record(|c| {
            if identity_pool {
                c.identity_pool_calls += 1;
            } else {
                c.assume_role_calls += 1;
            }
        });
        let (slot, source, caller) = (slot.clone(), self.source.clone(), caller.clone());
        let task = async move {
            let counted = counted;
            let result = source.assume(&caller, &request).await.map(Arc::new);
            let ahead = permit.is_some();
            drop(permit);
            let seen = now(&source.base);
            if let Err(err @ Error::Throttled { .. }) = &result {
                source.hold(err, seen);
            }
            {
                let mut state = slot.lock().expect("session slot lock poisoned");
                state.inflight = None;
                state.inflight_token = None;
                match &result {
                    Ok(session) => {
                        state.session = Some(session.clone());
                        state.failure = None;
                        state.failures = 0;
                        if let Some(proof) = proof {
                            state.accept(proof.token, proof.expires, seen);
                        }
                    }
                    Err(err) => {
                        // Remembered from when the failure was seen: the
                        // call itself (with the SDK's retries) may have
                        // taken longer than the back-off.
                        match proof {
                            // A refusal of an exchange is its token's
                            // answer alone: it neither replaces the user's
                            // own failure nor lengthens the user's
                            // back-off, so a bad token locks nobody out.
                            Some(proof) if !slot::transient(err) => {
                                if state.failure.as_ref().is_none_or(|f| f.token.is_some()) {
                                    state.failure = Some(Failure {
                                        until: seen + backoff(err, 1, jitter()),
                                        error: err.clone(),
                                        token: Some(proof.token),
                                    });
                                }
                            }
                            _ => {
                                state.failures = state.failures.saturating_add(1);
                                state.failure = Some(Failure {
                                    until: seen + backoff(err, state.failures, jitter()),
                                    error: err.clone(),
                                    token: None,
                                });
                            }
                        }
                        if ahead || state.servable(seen, None).is_some() {
                            tracing::warn!(
                                error.code = err.code(),
                                "refreshing the tenant session failed; serving the current one while it may be, and backing off"
                            );
                        }
                    }
                }
            }
            drop(counted);
            drop(share);
            // Nobody waiting is fine: the slot has the outcome.
            let _ = tx.send(Some(result));
        };
        tokio::spawn(task.instrument(tracing::Span::current()));
        rx
    }
}

impl Source {
    /// Whether new calls are held at `now`, after a throttled one.
    pub(super) fn held(&self, now: SystemTime) -> bool {
        self.held_until
            .lock()
            .expect("hold lock poisoned")
            .is_some_and(|until| now < until)
    }

    /// Hold new calls after `throttled`, seen at `seen`, for the first
    /// back-off of a transient failure.
    fn hold(&self, throttled: &Error, seen: SystemTime) {
        let until = seen + backoff(throttled, 1, jitter());
        let mut held = self.held_until.lock().expect("hold lock poisoned");
        if held.is_none_or(|current| current < until) {
            *held = Some(until);
        }
        tracing::warn!(
            hold_ms = (until.duration_since(seen).unwrap_or_default().as_millis()) as u64,
            "a session call was throttled; holding this function's new session calls"
        );
    }

    /// A new session for `caller`, from wherever this cache's come from.
    async fn assume(
        &self,
        caller: &Caller,
        request: &SessionRequest,
    ) -> Result<TenantSession, Error> {
        let session = self.provider.assume(self, caller, request).await?;
        Ok(session.for_user(request.user.clone()))
    }
}
