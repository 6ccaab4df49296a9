//! A budget of open connections and the tenants' pools that spend it:
//! `DB_CONNECTION_CAPACITY` for the pooled tenants, and one per tier named
//! in `DB_TIER_CONNECTIONS`. A new connection takes a free place in its
//! tenant's budget, else closes the least recently used idle connection
//! of that budget, never of another.

use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex, Weak};

use lru::LruCache;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};

use super::connection::Pool;
use crate::identity::TenantId;

/// One budget: its places, its tenants' pools, and the signal that a
/// connection of it went back idle or closed.
pub(super) struct Budget {
    capacity: NonZeroUsize,
    pools: Mutex<LruCache<TenantId, Arc<Pool>>>,
    /// Pools pushed out while some of their connections were in use, kept
    /// until those come back: a tenant's next pool shares its permits.
    retired: Mutex<HashMap<TenantId, Weak<Pool>>>,
    /// Permits for open connections, `capacity` in all.
    open: Arc<Semaphore>,
    /// Signalled when a connection goes back idle or closes.
    pub(super) returned: Arc<Notify>,
}

impl Budget {
    pub(super) fn new(capacity: NonZeroUsize) -> Self {
        Budget {
            capacity,
            pools: Mutex::new(LruCache::new(capacity)),
            retired: Mutex::new(HashMap::new()),
            open: Arc::new(Semaphore::new(capacity.get())),
            returned: Arc::new(Notify::new()),
        }
    }

    /// Connections open now, idle or in use.
    pub(super) fn open_connections(&self) -> usize {
        self.capacity.get() - self.open.available_permits()
    }

    /// `tenant`'s pool, made with `per_tenant` connections when new; a new
    /// one pushes out the least recently used tenant's pool when the budget
    /// holds as many pools as places, whose connections then close as they
    /// come back (their places to whoever waits for one).
    pub(super) fn pool(&self, tenant: &TenantId, per_tenant: NonZeroUsize) -> Arc<Pool> {
        let mut pools = self.pools.lock().expect("connection cache lock poisoned");
        if let Some(pool) = pools.get(tenant) {
            return pool.clone();
        }
        let mut retired = self.retired.lock().expect("retired pools lock poisoned");
        // A pool is gone once its last connection in use came back.
        retired.retain(|_, pool| pool.strong_count() > 0);
        // The tenant's connections still in use in a pushed-out pool count
        // against its share here too.
        let in_use = retired
            .remove(tenant)
            .and_then(|pool| pool.upgrade())
            .map(|pool| pool.in_use.clone());
        let pool = Pool::new(per_tenant, in_use);
        if let Some((pushed_tenant, pushed_out)) = pools.push(tenant.clone(), pool.clone()) {
            for _ in 0..pushed_out.retire() {
                self.returned.notify_one();
            }
            retired.insert(pushed_tenant, Arc::downgrade(&pushed_out));
        }
        pool
    }

    /// A place for one more open connection: a free one, else the least
    /// recently used tenant's idle connection is closed for it, else (every
    /// connection is in use) the next that comes back is.
    pub(super) async fn place(&self) -> OwnedSemaphorePermit {
        loop {
            let returned = self.returned.notified();
            if let Ok(place) = self.open.clone().try_acquire_owned() {
                return place;
            }
            let closed = {
                let pools = self.pools.lock().expect("connection cache lock poisoned");
                // Least recently used first.
                pools.iter().rev().find_map(|(_, pool)| pool.idle().pop())
            };
            if closed.is_none() {
                returned.await;
            }
        }
    }
}
