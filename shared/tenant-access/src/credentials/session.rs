//! One tenant's session: its credentials, the function's configuration it
//! signs with (shared, never copied per session), and whether a service has
//! refused it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use aws_config::SdkConfig;
use aws_config::identity::IdentityCache;
use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;

use super::{REFRESH_AHEAD, REFRESH_BUFFER, STALE_AFTER, now};
use crate::identity::{TenantId, UserId};

/// One tenant's STS session: its credentials, and the function's
/// configuration (region, endpoint, HTTP client, time source) to sign with
/// them. A cached session costs its credentials: the configuration is one
/// `Arc` shared by every session of the cache.
#[derive(Debug)]
pub struct TenantSession {
    tenant: TenantId,
    /// The user whose own area the session is for; `None`: the tenant's.
    user: Option<UserId>,
    credentials: Credentials,
    /// The same credentials, as the SDK's per-operation override takes them.
    provider: SharedCredentialsProvider,
    base: Arc<SdkConfig>,
    pub(super) obtained: std::time::Instant,
    invalid: AtomicBool,
}

impl TenantSession {
    /// A session from credentials obtained elsewhere; `base` supplies region,
    /// endpoint, HTTP client and time source.
    ///
    /// ```
    /// use aws_credential_types::Credentials;
    /// use tenant_access::TenantSession;
    ///
    /// let base = aws_config::SdkConfig::builder().build();
    /// let creds = Credentials::new("AKID", "secret", None, None, "doc");
    /// let session = TenantSession::new("tenant1".parse().unwrap(), creds, &base);
    /// assert_eq!(session.tenant().as_str(), "tenant1");
    /// ```
    pub fn new(tenant: TenantId, credentials: Credentials, base: &SdkConfig) -> Self {
        Self::sharing(tenant, credentials, Arc::new(base.clone()))
    }

    /// A session on the cache's shared `base`.
    pub(crate) fn sharing(
        tenant: TenantId,
        credentials: Credentials,
        base: Arc<SdkConfig>,
    ) -> Self {
        TenantSession {
            tenant,
            user: None,
            provider: SharedCredentialsProvider::new(credentials.clone()),
            credentials,
            base,
            obtained: std::time::Instant::now(),
            invalid: AtomicBool::new(false),
        }
    }

    /// The same session, for `user`'s own area of the tenant (or, with
    /// `None`, the tenant's shared one): where the stores put what it reads
    /// and writes. The cache makes user sessions itself
    /// ([`TenantSessions::user_session`](super::TenantSessions::user_session)),
    /// whose credentials IAM confines to that area too.
    ///
    /// ```
    /// use aws_credential_types::Credentials;
    /// use tenant_access::TenantSession;
    ///
    /// let base = aws_config::SdkConfig::builder().build();
    /// let creds = Credentials::new("AKID", "secret", None, None, "doc");
    /// let session = TenantSession::new("tenant1".parse().unwrap(), creds, &base)
    ///     .for_user(Some("user-a".parse().unwrap()));
    /// assert_eq!(session.user().unwrap().as_str(), "user-a");
    /// ```
    pub fn for_user(mut self, user: Option<UserId>) -> Self {
        self.user = user;
        self
    }

    /// The user whose own area this session is for; `None` for the
    /// tenant's shared area.
    pub fn user(&self) -> Option<&UserId> {
        self.user.as_ref()
    }

    /// The same credentials, for `user`'s own area: a second handle on
    /// them, not a new call.
    pub(crate) fn in_area(&self, user: Option<UserId>) -> Self {
        TenantSession {
            tenant: self.tenant.clone(),
            user,
            credentials: self.credentials.clone(),
            provider: self.provider.clone(),
            base: self.base.clone(),
            obtained: self.obtained,
            invalid: AtomicBool::new(self.is_invalidated()),
        }
    }

    /// Mark the session unusable: a service refused its credentials
    /// (expired, unknown, or signed with a skewed clock). The cache never
    /// serves it again; the tenant's next request assumes its role anew.
    pub fn invalidate(&self) {
        self.invalid.store(true, Ordering::Relaxed);
    }

    /// When this session was obtained (by the monotonic clock): a request
    /// whose fresh session was refused has nothing to gain from another.
    pub fn obtained(&self) -> std::time::Instant {
        self.obtained
    }

    /// A service denied this session (`AccessDenied` from S3, KMS or
    /// DynamoDB). One obtained at least [`STALE_AFTER`] ago is invalidated,
    /// and the request it served may be retried once on a new one
    /// ([`TenantSessions::retrying`](super::TenantSessions::retrying)); a younger one is kept. Whether it
    /// was dropped.
    pub fn denied(&self) -> bool {
        if self.obtained.elapsed() < STALE_AFTER || self.is_invalidated() {
            return false;
        }
        self.invalidate();
        crate::metrics::record(|c| c.stale_sessions += 1);
        true
    }

    /// What a service's refusal `err` means for this session, which it
    /// returns: refused credentials are never served again
    /// ([`invalidate`](Self::invalidate)), and a denial drops the session
    /// when it is stale ([`denied`](Self::denied)).
    #[cfg(any(feature = "s3", feature = "dynamodb", feature = "search"))]
    pub(crate) fn refused(&self, err: crate::Error) -> crate::Error {
        match err {
            crate::Error::CredentialsRejected { .. } => self.invalidate(),
            crate::Error::AccessDenied { .. } => {
                self.denied();
            }
            _ => {}
        }
        err
    }

    /// Whether [`invalidate`](Self::invalidate) was called.
    pub fn is_invalidated(&self) -> bool {
        self.invalid.load(Ordering::Relaxed)
    }

    /// The tenant this session belongs to.
    pub fn tenant(&self) -> &TenantId {
        &self.tenant
    }

    /// The session's credentials.
    pub fn credentials(&self) -> &Credentials {
        &self.credentials
    }

    /// The session's credentials as a provider, for an operation's
    /// `config_override` on a client shared by every session.
    pub fn credentials_provider(&self) -> SharedCredentialsProvider {
        self.provider.clone()
    }

    /// An `SdkConfig` whose only credentials are this session's, built on
    /// each call (for a one-off client; the stores pass
    /// [`credentials_provider`](Self::credentials_provider) per operation
    /// instead).
    pub fn sdk_config(&self) -> SdkConfig {
        self.base
            .to_builder()
            .credentials_provider(self.provider.clone())
            // The credentials are static for this session's life: nothing to cache.
            .identity_cache(IdentityCache::no_cache())
            .build()
    }

    /// The time by the session's time source (the system clock unless the
    /// base configuration set another).
    pub fn now(&self) -> SystemTime {
        now(&self.base)
    }

    pub(super) fn is_fresh_at(&self, now: SystemTime) -> bool {
        self.is_valid_for(now, REFRESH_BUFFER)
    }

    /// Whether `now` is in this session's window for a refresh ahead of
    /// expiry: within [`REFRESH_BUFFER`] plus its share of
    /// [`REFRESH_AHEAD`] of its expiry.
    pub(super) fn refresh_ahead_at(&self, now: SystemTime) -> bool {
        let Some(expiry) = self.credentials.expiry() else {
            return false;
        };
        // Jitter from the access key: half of REFRESH_AHEAD, plus up to half.
        let spread = self
            .credentials
            .access_key_id()
            .bytes()
            .fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)))
            % 1000;
        let ahead = REFRESH_AHEAD / 2 + REFRESH_AHEAD / 2 * spread / 1000;
        now + REFRESH_BUFFER + ahead >= expiry
    }

    /// Not invalidated, and valid for at least `remaining` after `now`.
    pub(super) fn is_valid_for(&self, now: SystemTime, remaining: Duration) -> bool {
        !self.is_invalidated()
            && match self.credentials.expiry() {
                None => true,
                Some(expiry) => now + remaining < expiry,
            }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credentials::REFRESH_AHEAD;

    fn tenant(s: &str) -> TenantId {
        s.parse().unwrap()
    }

    #[test]
    fn sessions_are_refreshed_before_expiry() {
        let base = SdkConfig::builder().build();
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let creds = Credentials::new(
            "a",
            "s",
            Some("t".into()),
            Some(now + Duration::from_secs(900)),
            "t",
        );
        let session = TenantSession::new(tenant("tenant1"), creds, &base);
        assert!(session.is_fresh_at(now));
        assert!(session.is_fresh_at(now + Duration::from_secs(599)));
        assert!(!session.is_fresh_at(now + Duration::from_secs(600)));
        assert!(!session.is_fresh_at(now + Duration::from_secs(901)));
    }

    /// The refresh-ahead window opens between REFRESH_AHEAD/2 and
    /// REFRESH_AHEAD before the refresh point, spread by access key.
    #[test]
    fn the_refresh_ahead_window_is_jittered_within_its_bounds() {
        let base = SdkConfig::builder().build();
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let expiry = now + Duration::from_secs(3600);
        let point = expiry - REFRESH_BUFFER;
        let mut opens = std::collections::BTreeSet::new();
        for i in 0..50 {
            let creds = Credentials::new(
                format!("ASIAKEY{i:04}"),
                "s",
                Some("t".into()),
                Some(expiry),
                "t",
            );
            let session = TenantSession::new(tenant("tenant1"), creds, &base);
            assert!(!session.refresh_ahead_at(point - REFRESH_AHEAD - Duration::from_secs(1)));
            assert!(session.refresh_ahead_at(point - REFRESH_AHEAD / 2));
            let open = (0..=REFRESH_AHEAD.as_secs())
                .find(|s| session.refresh_ahead_at(point - REFRESH_AHEAD + Duration::from_secs(*s)))
                .unwrap();
            opens.insert(open);
        }
        assert!(
            opens.len() > 10,
            "sessions open their windows at different times: {opens:?}"
        );
    }
}
