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

/// A caller's token, as the session cache keys and checks it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Proof {
    /// Whose sessions these are: the SHA-256 of the token's issuer and
    /// subject, part of the cache key, so a user's new token finds (and
    /// replaces) that user's session, not a second one.
    pub(super) principal: [u8; 32],
    /// The SHA-256 of the token itself: a cached session is served only to
    /// a token the pool accepted, never to one that merely names the same
    /// user.
    pub(super) token: [u8; 32],
    /// The token's own expiry.
    pub(super) expires: SystemTime,
}

impl ProviderKind {
    /// The service its calls go to, for errors.
    pub(super) fn service(self) -> &'static str {
        match self {
            ProviderKind::Sts => "sts",
            ProviderKind::IdentityPool => "cognito-identity",
        }
    }
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

    /// What `caller`'s token proves, after the provider's own check of the
    /// caller: `None` for a provider whose sessions are the tenant's (STS);
    /// the identity pool's are the token's user's, served only to tokens
    /// the pool accepted for that user.
    fn proof(
        &self,
        _caller: &Caller,
        _claim: &str,
        _now: SystemTime,
    ) -> Result<Option<Proof>, Error> {
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
