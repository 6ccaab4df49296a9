//! Tenant-scoped reads and writes in the shared bucket.
//!
//! A client asks for a key *relative to its tenant's home prefix*; the final
//! key is always `<tenant prefix>/<key>`, built here and nowhere else, and the
//! request is signed with the tenant session's credentials, so even a bug
//! that built a wrong key would be refused by IAM.
//!
//! Reads that S3 denies (403 `AccessDenied`) answer [`Error::NotFound`],
//! exactly like a missing key, so a tenant cannot tell another tenant's
//! object from no object at all. A 403 that refuses the credentials
//! themselves (`ExpiredToken`, `InvalidAccessKeyId`, `SignatureDoesNotMatch`,
//! `RequestTimeTooSkewed`, ...) is no denial: it invalidates the session and
//! answers 503 `credentials_rejected`, so the next request gets a new one.
//!
//! Every write is SSE-KMS with the tenant's own key (`alias/tenant/<tenant>`
//! by default), named here and nowhere else: the tenant policies allow
//! `kms:GenerateDataKey` and `kms:Decrypt` only on keys tagged with the
//! session's tenant, so an object encrypted with another tenant's key stays
//! unreadable even if it lands under this tenant's prefix. A key that is
//! disabled or pending deletion answers 403 `key_unavailable`.

use std::time::{Duration, SystemTime};

use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::presigning::PresigningConfig;

use crate::config::{S3Config, TenantTemplate};
use crate::credentials::TenantSession;
use crate::identity::TenantId;
use crate::session_policy::USER_AREA;
use crate::{Error, upstream};

mod key;
mod object;
mod write;

pub use key::{KeyPrefix, ListPosition, MAX_KEY_LEN, MAX_S3_KEY_LEN, ObjectKey};
pub use object::{
    ByteRange, Fetched, ListedObject, Listing, Object, ObjectMeta, PresignedGet, Read, ReadOptions,
};
pub use write::{PresignedPut, WriteCondition};

/// The metadata of a GetObject or HeadObject output: the two share these
/// accessors but no trait.
macro_rules! object_meta {
    ($output:expr) => {
        ObjectMeta {
            content_type: $output.content_type().map(str::to_owned),
            content_length: $output.content_length().unwrap_or(0).max(0) as u64,
            etag: $output.e_tag().map(str::to_owned),
            last_modified: $output.last_modified().copied(),
            content_range: $output.content_range().map(str::to_owned),
        }
    };
}

/// A GetObject or HeadObject request for `key` in the session tenant's
/// prefix, with the read options: the two builders share these setters but
/// no trait.
macro_rules! read_request {
    ($bucket:expr, $session:expr, $full_key:expr, $options:expr, $operation:ident) => {
        $bucket
            .shared($session)
            .$operation()
            .bucket(&$bucket.bucket)
            .key($full_key)
            .set_if_none_match($options.if_none_match.clone())
            .set_range($options.range.map(|r| r.to_string()))
    };
}

/// The shared bucket, seen through one tenant's prefix at a time.
///
/// ```
/// use tenant_access::config::S3Config;
/// use tenant_access::s3::{ObjectKey, TenantBucket};
///
/// let config = S3Config::from_lookup(|name: &str| (name == "TENANT_BUCKET").then(|| "shared".to_owned())).unwrap();
/// let bucket = TenantBucket::new(&config);
/// let key = ObjectKey::parse("a/b.txt").unwrap();
/// assert_eq!(bucket.full_key(&"tenant1".parse().unwrap(), &key), "tenant1_home/a/b.txt");
/// ```
#[derive(Debug, Clone)]
pub struct TenantBucket {
    bucket: String,
    prefix_template: TenantTemplate,
    kms_key_template: TenantTemplate,
    force_path_style: bool,
    inline_max_bytes: u64,
    /// The one S3 client of the bucket, built at its first operation from
    /// the function's configuration, with no credentials of its own: every
    /// operation passes its session's ([`TenantBucket::as_tenant`]), so a
    /// cached session costs its credentials only, never a client.
    shared: std::sync::OnceLock<aws_sdk_s3::Client>,
}

impl TenantBucket {
    /// The bucket described by `config`.
    pub fn new(config: &S3Config) -> Self {
        TenantBucket {
            bucket: config.bucket.clone(),
            prefix_template: config.prefix_template.clone(),
            kms_key_template: config.kms_key_template.clone(),
            force_path_style: config.force_path_style,
            inline_max_bytes: config.inline_max_bytes,
            shared: std::sync::OnceLock::new(),
        }
    }

    /// The largest object answered inline; larger ones are too big for a
    /// Lambda response once base64-encoded.
    pub fn inline_max_bytes(&self) -> u64 {
        self.inline_max_bytes
    }

    /// The bucket name.
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// The tenant's home prefix, without a trailing `/`.
    pub fn prefix(&self, tenant: &TenantId) -> String {
        self.prefix_template.render(tenant)
    }

    /// The tenant's KMS key, as S3's SSE-KMS key id.
    pub fn kms_key(&self, tenant: &TenantId) -> String {
        self.kms_key_template.render(tenant)
    }

    /// The full key: `<tenant prefix>/<key>`.
    pub fn full_key(&self, tenant: &TenantId, key: &ObjectKey) -> String {
        format!("{}/{}", self.prefix(tenant), key.as_str())
    }

    /// The prefix `session` reads and writes under, without a trailing `/`:
    /// the tenant's home, or a user session's own area in it,
    /// `<home>/users/<user>`.
    ///
    /// ```
    /// use aws_credential_types::Credentials;
    /// use tenant_access::TenantSession;
    /// use tenant_access::config::S3Config;
    /// use tenant_access::s3::TenantBucket;
    ///
    /// let config = S3Config::from_lookup(|name: &str| (name == "TENANT_BUCKET").then(|| "shared".to_owned())).unwrap();
    /// let bucket = TenantBucket::new(&config);
    /// let creds = Credentials::new("AKID", "secret", None, None, "doc");
    /// let base = aws_config::SdkConfig::builder().build();
    /// let session = TenantSession::new("tenant1".parse().unwrap(), creds, &base);
    /// assert_eq!(bucket.area(&session), "tenant1_home");
    /// let mine = session.for_user(Some("user-a".parse().unwrap()));
    /// assert_eq!(bucket.area(&mine), "tenant1_home/users/user-a");
    /// ```
    pub fn area(&self, session: &TenantSession) -> String {
        let home = self.prefix(session.tenant());
        match session.user() {
            Some(user) => format!("{home}/{USER_AREA}/{user}"),
            None => home,
        }
    }

    /// `key`'s full key in `session`'s area. In the tenant's shared area a
    /// key under `users/` is refused (400): that folder holds the users'
    /// own areas, which only their own sessions reach.
    fn area_key(&self, session: &TenantSession, key: &ObjectKey) -> Result<String, Error> {
        if session.user().is_none() && in_user_areas(key.as_str()) {
            return Err(user_areas_refused());
        }
        Ok(format!("{}/{}", self.area(session), key.as_str()))
    }

    /// An S3 client that signs with `session`'s credentials only, built
    /// anew: for one-off calls outside this type (tests, tools). The
    /// bucket's own operations share one client instead, each passing its
    /// session's credentials.
    pub fn client(&self, session: &TenantSession) -> aws_sdk_s3::Client {
        let config = aws_sdk_s3::config::Builder::from(&session.sdk_config())
            .force_path_style(self.force_path_style)
            .interceptor(crate::metrics::CountCalls)
            .build();
        aws_sdk_s3::Client::from_conf(config)
    }

    /// The bucket's one client. Built from the first session's
    /// configuration (the function's region, endpoint and HTTP client; all
    /// sessions share them) with its credentials taken out: an operation
    /// that did not pass its session's would be unsigned and refused,
    /// never signed as another tenant.
    fn shared(&self, session: &TenantSession) -> &aws_sdk_s3::Client {
        self.shared.get_or_init(|| {
            let mut config = aws_sdk_s3::config::Builder::from(&session.sdk_config());
            config.set_credentials_provider(None);
            aws_sdk_s3::Client::from_conf(
                config
                    .force_path_style(self.force_path_style)
                    .identity_cache(aws_sdk_s3::config::IdentityCache::no_cache())
                    .interceptor(crate::metrics::CountCalls)
                    .build(),
            )
        })
    }

    /// The per-operation configuration that signs with `session`'s
    /// credentials.
    fn as_tenant(session: &TenantSession) -> aws_sdk_s3::config::Builder {
        let mut config = aws_sdk_s3::config::Builder::default();
        config.set_credentials_provider(Some(session.credentials_provider()));
        config
    }

    /// Read `key` from the session tenant's prefix: the bytes when the
    /// object (or range) is at most the inline limit, else only its
    /// metadata, without reading the body.
    ///
    /// A missing key and a key the session may not read both answer
    /// [`Error::NotFound`], so a caller cannot probe for objects it cannot read.
    pub async fn get_object(
        &self,
        session: &TenantSession,
        key: &ObjectKey,
        options: &ReadOptions,
    ) -> Result<Read<Fetched>, Error> {
        let result = read_request!(
            self,
            session,
            self.area_key(session, key)?,
            options,
            get_object
        )
        .customize()
        .config_override(Self::as_tenant(session))
        .send()
        .await;
        let output = match result {
            Ok(output) => output,
            Err(err) => return read_error(session, err),
        };
        let meta = object_meta!(output);
        if meta.content_length > self.inline_max_bytes {
            // Dropping the body closes the stream unread.
            return Ok(Read::Found(Fetched::TooLarge(meta)));
        }
        let body = output
            .body
            .collect()
            .await
            .map_err(|e| Error::Unavailable {
                service: "s3",
                detail: format!("reading the object body failed: {e}"),
            })?;
        Ok(Read::Found(Fetched::Inline(Object {
            body: body.into_bytes().to_vec(),
            meta,
        })))
    }

    /// `key`'s metadata, with the same not-found rule as
    /// [`get_object`](Self::get_object), and the same credential faults: a
    /// HEAD refusal carries no error code, so an ambiguous one is settled
    /// by a one-byte GET of the key.
    pub async fn head_object(
        &self,
        session: &TenantSession,
        key: &ObjectKey,
        options: &ReadOptions,
    ) -> Result<Read<ObjectMeta>, Error> {
        let result = read_request!(
            self,
            session,
            self.area_key(session, key)?,
            options,
            head_object
        )
        .customize()
        .config_override(Self::as_tenant(session))
        .send()
        .await;
        match result {
            Ok(output) => Ok(Read::Found(object_meta!(output))),
            // A HEAD answer has no body, so no error code: a 403 may be a
            // missing key (no s3:ListBucket) or refused credentials
            // (`ExpiredToken`, `InvalidAccessKeyId`), and a 400 may be an
            // expired token. One ranged GET of the same key, whose error
            // has a body, tells them apart (and invalidates the session
            // when S3 refused its credentials).
            Err(err)
                if err.as_service_error().and_then(|e| e.code()).is_none()
                    && matches!(
                        err.raw_response().map(|r| r.status().as_u16()),
                        Some(400 | 403)
                    ) =>
            {
                let probe = self
                    .client(session)
                    .get_object()
                    .bucket(&self.bucket)
                    .key(self.area_key(session, key)?)
                    .range("bytes=0-0")
                    .customize()
                    .config_override(Self::as_tenant(session))
                    .send()
                    .await;
                match probe {
                    Err(probe) => read_error(session, probe),
                    // The GET passed where the HEAD did not: nothing to
                    // tell the client but that S3 misbehaved.
                    Ok(_) => Err(Error::Upstream {
                        service: "s3",
                        detail: format!(
                            "HEAD refused but a GET of the same key passed: {}",
                            aws_sdk_s3::error::DisplayErrorContext(&err)
                        ),
                    }),
                }
            }
            Err(err) => read_error(session, err),
        }
    }

    /// Up to `limit` objects under `prefix` in the session tenant's home,
    /// in key order, starting after `after`. Keys come back relative to the
    /// home prefix.
    pub async fn list_objects(
        &self,
        session: &TenantSession,
        prefix: &KeyPrefix,
        limit: u16,
        after: Option<&ListPosition>,
    ) -> Result<Listing, Error> {
        let home = format!("{}/", self.area(session));
        if after.is_some_and(|a| home.len() + a.as_str().len() > MAX_S3_KEY_LEN) {
            return Err(Error::BadRequest("`cursor` is not valid".to_owned()));
        }
        let shared_area = session.user().is_none();
        if shared_area && in_user_areas(prefix.as_str()) {
            return Err(user_areas_refused());
        }
        // The users' own areas are not the tenant's to list: IAM keeps their
        // contents from a tenant session, and their names stay out of its
        // listings here (a listing is by prefix, which IAM cannot subtract a
        // folder from). They are one range of keys, `users/...`: a page that
        // runs into it goes on past it, so pages stay full, in at most two
        // calls.
        let past_user_areas = format!("{USER_AREA}/{}", char::MAX);
        let mut start = match after {
            Some(key) => format!("{home}{}", key.as_str()),
            // Just past the home's own folder marker (`<home>/`, an empty
            // relative key): it is no object of the tenant's, and a page
            // ending on it would have no cursor to give.
            None => home.clone(),
        };
        let mut objects = Vec::new();
        let mut next_after = None;
        for _ in 0..2 {
            let wanted = usize::from(limit) - objects.len();
            let output = self
                .client(session)
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(format!("{home}{}", prefix.as_str()))
                .max_keys(wanted as i32)
                .start_after(&start)
                .customize()
                .config_override(Self::as_tenant(session))
                .send()
                .await
                .map_err(|e| session.refused(upstream("s3", e)))?;
            let mut skipped = false;
            let mut last_listed = None;
            for object in output.contents() {
                let Some(relative) = object.key().and_then(|k| k.strip_prefix(&home)) else {
                    // S3 honours Prefix; a key outside it would be a bug upstream.
                    tracing::error!("s3 listed a key outside the tenant prefix; dropped");
                    continue;
                };
                last_listed = Some(relative);
                if shared_area && in_user_areas(relative) {
                    skipped = true;
                    continue;
                }
                objects.push(ListedObject {
                    key: relative.to_owned(),
                    size: object.size().unwrap_or(0).max(0) as u64,
                    etag: object.e_tag().map(str::to_owned),
                    last_modified: object.last_modified().copied(),
                });
            }
            if output.is_truncated() != Some(true) {
                next_after = None;
                break;
            }
            let Some(last) = last_listed else { break };
            // Whatever follows a user's key in that range is theirs too.
            let position = if shared_area && in_user_areas(last) {
                past_user_areas.clone()
            } else {
                last.to_owned()
            };
            next_after = Some(ListPosition(position.clone()));
            if skipped && objects.len() < usize::from(limit) {
                start = format!("{home}{position}");
                continue;
            }
            break;
        }
        Ok(Listing {
            objects,
            next_after,
        })
    }

    /// A presigned GET URL for `key`, signed with the session's credentials
    /// (so it carries the session's IAM limits) and valid for `ttl` or until
    /// the credentials expire, whichever is sooner. Presigning is local: it
    /// does not check that the object exists (see
    /// [`head_object`](Self::head_object)).
    pub async fn presign_get(
        &self,
        session: &TenantSession,
        key: &ObjectKey,
        ttl: Duration,
    ) -> Result<PresignedGet, Error> {
        let (presigning, expires_at) = presigning(session, ttl)?;
        let request = self
            .shared(session)
            .get_object()
            .bucket(&self.bucket)
            .key(self.area_key(session, key)?)
            .customize()
            .config_override(Self::as_tenant(session))
            .presigned(presigning)
            .await
            .map_err(|e| session.refused(upstream("s3", e)))?;
        Ok(PresignedGet {
            url: request.uri().to_owned(),
            expires_at,
        })
    }
}

/// Whether relative key (or listing prefix) `key` is in the users' own
/// areas, `users/...`. (A shorter prefix, such as `us`, still lists the
/// tenant's own keys; the users' are dropped from its answer.)
fn in_user_areas(key: &str) -> bool {
    key.strip_prefix(USER_AREA)
        .is_some_and(|rest| rest.starts_with('/'))
}

/// The refusal of a tenant-area request into the users' own areas.
fn user_areas_refused() -> Error {
    Error::BadRequest(format!(
        "`{USER_AREA}/` holds the users' own areas, which `/me/files` serves"
    ))
}

fn presigning(
    session: &TenantSession,
    ttl: Duration,
) -> Result<(PresigningConfig, SystemTime), Error> {
    let now = session.now();
    let remaining = session
        .credentials()
        .expiry()
        .and_then(|expiry| expiry.duration_since(now).ok())
        .unwrap_or(ttl);
    let ttl = ttl.min(remaining);
    if ttl < Duration::from_secs(1) {
        return Err(Error::Unavailable {
            service: "sts",
            detail: "the tenant session expires too soon to presign".to_owned(),
        });
    }
    let config = PresigningConfig::builder()
        .start_time(now)
        .expires_in(ttl)
        .build()
        .map_err(|e| Error::Upstream {
            service: "s3",
            detail: format!("presigning config: {e}"),
        })?;
    Ok((config, now + ttl))
}

/// KMS refusals S3 passes on: the tenant's key cannot be used.
const KEY_CODES: &[&str] = &[
    "KMS.DisabledException",
    "KMS.KMSInvalidStateException",
    "KMS.NotFoundException",
    "KMS.InvalidStateException",
];

/// Map a failed write.
/// Map a failed read: 304 is "not modified"; 404, and 403 `AccessDenied`
/// (or a 403 without a code, as HEAD answers), are "not found"; 416 is an
/// unsatisfiable range; the rest go through [`upstream`] and [`TenantSession::refused`].
fn read_error<T, E>(
    session: &TenantSession,
    err: SdkError<E, HttpResponse>,
) -> Result<Read<T>, Error>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let status = err.raw_response().map(|r| r.status().as_u16());
    let code = err.as_service_error().and_then(|e| e.code());
    match (status, code) {
        (Some(304), _) => Ok(Read::NotModified {
            etag: err
                .raw_response()
                .and_then(|r| r.headers().get("etag"))
                .map(str::to_owned),
        }),
        (Some(404), _) => Err(Error::NotFound),
        (Some(403), None | Some("AccessDenied")) => {
            session.denied();
            tracing::warn!(error.detail = %aws_sdk_s3::error::DisplayErrorContext(&err), "s3 denied the tenant session; answering not found");
            Err(Error::NotFound)
        }
        (Some(416), _) => Err(Error::RangeNotSatisfiable),
        (_, Some(c)) if KEY_CODES.contains(&c) => {
            session.denied();
            Err(Error::KeyUnavailable {
                detail: aws_sdk_s3::error::DisplayErrorContext(&err).to_string(),
            })
        }
        _ => Err(session.refused(upstream("s3", err))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_full_key_is_always_under_the_tenant_prefix() {
        let config = S3Config::from_lookup(|n: &str| match n {
            "TENANT_BUCKET" => Some("shared".to_owned()),
            "TENANT_S3_PREFIX_TEMPLATE" => Some("tenants/{tenant}".to_owned()),
            _ => None,
        })
        .unwrap();
        let bucket = TenantBucket::new(&config);
        let t: TenantId = "tenant1".parse().unwrap();
        let key = ObjectKey::parse("tenant2/x").unwrap();
        assert_eq!(bucket.full_key(&t, &key), "tenants/tenant1/tenant2/x");
    }
}
