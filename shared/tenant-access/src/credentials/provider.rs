//! What the session cache asks of a credential provider. Each provider
//! is a room of its own (`sts.rs`, `identity_pool.rs`).

use std::time::SystemTime;

use super::{SessionRequest, Source, TenantSession};
use crate::Error;
use crate::identity::Caller;

/// What a provider's calls are, for the counts and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ProviderKind {
    /// `AssumeRole`.
    Sts,
    /// `GetId` then `GetCredentialsForIdentity`.
    IdentityPool,
}

/// A session, on its way.
pub(super) type Assuming<'a> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<TenantSession, Error>> + Send + 'a>>;

/// Where a cache's sessions come from. Each provider is a room of its own
/// (`sts.rs`, `identity_pool.rs`); the cache knows them only through this,
/// so a new provider is a new room and one line in
/// [`TenantSessions::new`](super::TenantSessions::new).
pub(super) trait Provider: Send + Sync {
    /// What its calls are counted as.
    fn kind(&self) -> ProviderKind;

    /// Whether its sessions are replaced ahead of expiry. A session bound
    /// to the caller's token could not outlive the token by a new call.
    fn refreshes_ahead(&self) -> bool {
        true
    }

    /// What `caller` adds to its session's cache key, after the provider's
    /// own check of the caller (the identity pool: a token that stands
    /// behind the verified claims, and its digest).
    fn key(
        &self,
        _caller: &Caller,
        _claim: &str,
        _now: SystemTime,
    ) -> Result<Option<[u8; 32]>, Error> {
        Ok(None)
    }

    /// A new session for `caller`, as `request` describes it.
    fn assume<'a>(
        &'a self,
        source: &'a Source,
        caller: &'a Caller,
        request: &'a SessionRequest,
    ) -> Assuming<'a>;
}
