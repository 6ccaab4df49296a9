//! What a cache's session calls hold while they run: one of their tenant's
//! share ([`MAX_SESSION_CALLS_PER_TENANT`](super::MAX_SESSION_CALLS_PER_TENANT)),
//! and a place in the count of calls in flight.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::{MAX_SESSION_CALLS_PER_TENANT, Source};
use crate::identity::TenantId;

/// One of a tenant's [`MAX_SESSION_CALLS_PER_TENANT`] calls, held until
/// dropped, however its task ends.
pub(super) struct TenantCall(Arc<Source>, TenantId);

impl TenantCall {
    /// One more call of `tenant`, if its share allows.
    pub(super) fn new(source: &Arc<Source>, tenant: &TenantId) -> Option<Self> {
        let mut calls = source
            .per_tenant
            .lock()
            .expect("tenant calls lock poisoned");
        let n = calls.entry(tenant.clone()).or_insert(0);
        if *n >= MAX_SESSION_CALLS_PER_TENANT {
            return None;
        }
        *n += 1;
        Some(TenantCall(source.clone(), tenant.clone()))
    }
}

impl Drop for TenantCall {
    fn drop(&mut self) {
        let mut calls = self
            .0
            .per_tenant
            .lock()
            .expect("tenant calls lock poisoned");
        if let Some(n) = calls.get_mut(&self.1) {
            *n -= 1;
            if *n == 0 {
                calls.remove(&self.1);
            }
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
