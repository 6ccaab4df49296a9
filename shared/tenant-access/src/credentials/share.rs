//! What a cache's session calls hold while they run: one of their tenant's
//! share ([`MAX_SESSION_CALLS_PER_TENANT`](super::MAX_SESSION_CALLS_PER_TENANT))
//! and of the cache's ([`MAX_SESSION_CALLS_IN_FLIGHT`](super::MAX_SESSION_CALLS_IN_FLIGHT)),
//! and a place in the count of calls in flight.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::{MAX_SESSION_CALLS_IN_FLIGHT, MAX_SESSION_CALLS_PER_TENANT, Source};
use crate::identity::TenantId;

/// The calls running, per tenant and in all.
#[derive(Default)]
pub(super) struct Shares {
    per_tenant: std::collections::HashMap<TenantId, u32>,
    total: u32,
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
/// cache's [`MAX_SESSION_CALLS_IN_FLIGHT`], held until dropped, however its
/// task ends.
pub(super) struct TenantCall(Arc<Source>, TenantId);

impl TenantCall {
    /// One more call of `tenant`, if both its share and the cache's allow.
    pub(super) fn new(source: &Arc<Source>, tenant: &TenantId) -> Result<Self, Full> {
        let mut shares = source.shares.lock().expect("tenant calls lock poisoned");
        if shares.per_tenant.get(tenant).copied().unwrap_or(0) >= MAX_SESSION_CALLS_PER_TENANT {
            return Err(Full::Tenant);
        }
        if shares.total >= MAX_SESSION_CALLS_IN_FLIGHT {
            return Err(Full::Cache);
        }
        *shares.per_tenant.entry(tenant.clone()).or_insert(0) += 1;
        shares.total += 1;
        Ok(TenantCall(source.clone(), tenant.clone()))
    }
}

impl Drop for TenantCall {
    fn drop(&mut self) {
        let mut shares = self.0.shares.lock().expect("tenant calls lock poisoned");
        if let Some(n) = shares.per_tenant.get_mut(&self.1) {
            *n -= 1;
            if *n == 0 {
                shares.per_tenant.remove(&self.1);
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
