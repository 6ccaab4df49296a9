//! What a cache's session calls hold while they run: one of their tenant's
//! share ([`MAX_SESSION_CALLS_PER_TENANT`](super::MAX_SESSION_CALLS_PER_TENANT))
//! and of the cache's ([`MAX_SESSION_CALLS_IN_FLIGHT`](super::MAX_SESSION_CALLS_IN_FLIGHT)),
//! a refresh ahead of expiry also one of its tenant's
//! [`MAX_BACKGROUND_REFRESHES_PER_TENANT`](super::MAX_BACKGROUND_REFRESHES_PER_TENANT),
//! and a place in the count of calls in flight.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::{
    MAX_BACKGROUND_REFRESHES_PER_TENANT, MAX_SESSION_CALLS_IN_FLIGHT, MAX_SESSION_CALLS_PER_TENANT,
    Source,
};
use crate::identity::TenantId;

/// The calls running, per tenant (all of them, and the refreshes among
/// them) and in all.
#[derive(Default)]
pub(super) struct Shares {
    per_tenant: std::collections::HashMap<TenantId, Running>,
    total: u32,
}

/// One tenant's calls running.
#[derive(Default)]
struct Running {
    calls: u32,
    refreshes: u32,
}

/// Which share was full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Full {
    /// The tenant's ([`MAX_SESSION_CALLS_PER_TENANT`]).
    Tenant,
    /// The cache's ([`MAX_SESSION_CALLS_IN_FLIGHT`]).
    Cache,
}

/// One of a tenant's [`MAX_SESSION_CALLS_PER_TENANT`] calls, and one of the
/// cache's [`MAX_SESSION_CALLS_IN_FLIGHT`] (a refresh ahead of expiry also
/// one of the tenant's [`MAX_BACKGROUND_REFRESHES_PER_TENANT`]), held until
/// dropped, however its task ends.
pub(super) struct TenantCall {
    source: Arc<Source>,
    tenant: TenantId,
    refresh: bool,
}

impl TenantCall {
    /// One more call of `tenant`, if both its share and the cache's allow.
    pub(super) fn new(source: &Arc<Source>, tenant: &TenantId) -> Result<Self, Full> {
        Self::take(source, tenant, false)
    }

    /// One more refresh ahead of expiry of `tenant`, if its share of calls
    /// and of refreshes and the cache's share allow: a tenant with many
    /// sessions (one per user) never takes every refresh the cache runs.
    pub(super) fn refresh(source: &Arc<Source>, tenant: &TenantId) -> Result<Self, Full> {
        Self::take(source, tenant, true)
    }

    fn take(source: &Arc<Source>, tenant: &TenantId, refresh: bool) -> Result<Self, Full> {
        let mut shares = source.shares.lock().expect("tenant calls lock poisoned");
        let (calls, refreshes) = shares
            .per_tenant
            .get(tenant)
            .map_or((0, 0), |r| (r.calls, r.refreshes));
        if calls >= MAX_SESSION_CALLS_PER_TENANT
            || (refresh && refreshes >= MAX_BACKGROUND_REFRESHES_PER_TENANT)
        {
            return Err(Full::Tenant);
        }
        if shares.total >= MAX_SESSION_CALLS_IN_FLIGHT {
            return Err(Full::Cache);
        }
        let running = shares.per_tenant.entry(tenant.clone()).or_default();
        running.calls += 1;
        running.refreshes += u32::from(refresh);
        shares.total += 1;
        Ok(TenantCall {
            source: source.clone(),
            tenant: tenant.clone(),
            refresh,
        })
    }
}

impl Drop for TenantCall {
    fn drop(&mut self) {
        let mut shares = self
            .source
            .shares
            .lock()
            .expect("tenant calls lock poisoned");
        if let Some(running) = shares.per_tenant.get_mut(&self.tenant) {
            running.calls -= 1;
            running.refreshes -= u32::from(self.refresh);
            if running.calls == 0 {
                shares.per_tenant.remove(&self.tenant);
            }
            shares.total -= 1;
        }
    }
}

/// A session call counted in flight until dropped, however its task ends
/// (recorded, panicked, or dropped unpolled at shutdown).
pub(super) struct InFlight(Arc<Source>);

impl InFlight {
    pub(super) fn new(source: &Arc<Source>) -> Self {
        source.in_flight.fetch_add(1, Ordering::AcqRel);
        InFlight(source.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}
