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

use std::fmt;
use std::time::{Duration, SystemTime};

use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::presigning::PresigningConfig;
use aws_smithy_types::DateTime;

use crate::config::{S3Config, TenantTemplate};
use crate::credentials::TenantSession;
use crate::identity::TenantId;
use crate::{Error, upstream};

/// The longest relative key accepted, in bytes. S3 allows 1024 for the full
/// key; this leaves room for the tenant prefix.
pub const MAX_KEY_LEN: usize = crate::config::MAX_RELATIVE_KEY_BYTES;

/// A validated object key relative to a tenant's home prefix.
///
/// Refused: empty keys, a leading `/`, empty, `.` or `..` segments, a
/// backslash, control characters, and keys over [`MAX_KEY_LEN`] bytes.
///
/// ```
/// use tenant_access::s3::ObjectKey;
///
/// assert!(ObjectKey::parse("reports/2026/q1.csv").is_ok());
/// assert!(ObjectKey::parse("../tenant2_home/secret").is_err());
/// assert!(ObjectKey::parse("/tenant2_home/secret").is_err());
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct ObjectKey(String);

impl ObjectKey {
    /// Validate a relative key.
    pub fn parse(key: &str) -> Result<Self, Error> {
        check_relative("object key", key)?;
        Ok(ObjectKey(key.to_owned()))
    }

    /// The relative key.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn check_relative(what: &str, key: &str) -> Result<(), Error> {
    let bad = |why: &str| Err(Error::BadRequest(format!("invalid {what}: {why}")));
    if key.is_empty() {
        return bad("it is empty");
    }
    if key.len() > MAX_KEY_LEN {
        return bad("it is longer than 900 bytes");
    }
    if key.starts_with('/') {
        return bad("it must be relative (no leading '/')");
    }
    if key.chars().any(|c| c == '\\' || c.is_control()) {
        return bad("it contains a backslash or a control character");
    }
    for segment in key.split('/') {
        match segment {
            "" => return bad("it contains an empty segment"),
            "." | ".." => return bad("it contains a '.' or '..' segment"),
            _ => {}
        }
    }
    Ok(())
}

/// A validated listing prefix relative to a tenant's home prefix: empty
/// (everything), or the same rules as [`ObjectKey`] with one trailing `/`
/// allowed.
///
/// ```
/// use tenant_access::s3::KeyPrefix;
///
/// assert!(KeyPrefix::parse("").is_ok());
/// assert!(KeyPrefix::parse("docs/").is_ok());
/// assert!(KeyPrefix::parse("../tenant2_home/").is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KeyPrefix(String);

impl KeyPrefix {
    /// Validate a relative prefix.
    pub fn parse(prefix: &str) -> Result<Self, Error> {
        if !prefix.is_empty() {
            check_relative("prefix", prefix.strip_suffix('/').unwrap_or(prefix))?;
        }
        Ok(KeyPrefix(prefix.to_owned()))
    }

    /// The relative prefix.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A single byte range from a `Range` header: `bytes=a-b`, `bytes=a-` or
/// `bytes=-n` (the last `n` bytes).
///
/// ```
/// use tenant_access::s3::ByteRange;
///
/// assert_eq!(ByteRange::parse("bytes=0-99").unwrap().to_string(), "bytes=0-99");
/// assert!(ByteRange::parse("bytes=5-1").is_err());
/// assert!(ByteRange::parse("bytes=0-1,5-6").is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ByteRange {
    /// `bytes=first-last`, both inclusive.
    Closed(u64, u64),
    /// `bytes=first-`.
    From(u64),
    /// `bytes=-n`.
    Suffix(u64),
}

impl ByteRange {
    /// Parse a `Range` header value. Several ranges in one header are
    /// refused: S3 serves only one.
    pub fn parse(header: &str) -> Result<Self, Error> {
        let bad = || {
            Error::BadRequest(
                "invalid Range: use one range, `bytes=first-last`, `bytes=first-` or `bytes=-count`"
                    .to_owned(),
            )
        };
        let spec = header.trim().strip_prefix("bytes=").ok_or_else(bad)?;
        let (first, last) = spec.split_once('-').ok_or_else(bad)?;
        let num = |s: &str| {
            (!s.is_empty() && s.len() <= 19 && s.bytes().all(|b| b.is_ascii_digit()))
                .then(|| s.parse::<u64>().ok())
                .flatten()
        };
        match (first, last) {
            ("", n) => num(n).filter(|n| *n > 0).map(ByteRange::Suffix),
            (a, "") => num(a).map(ByteRange::From),
            (a, b) => match (num(a), num(b)) {
                (Some(a), Some(b)) if a <= b => Some(ByteRange::Closed(a, b)),
                _ => None,
            },
        }
        .ok_or_else(bad)
    }
}

impl fmt::Display for ByteRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ByteRange::Closed(a, b) => write!(f, "bytes={a}-{b}"),
            ByteRange::From(a) => write!(f, "bytes={a}-"),
            ByteRange::Suffix(n) => write!(f, "bytes=-{n}"),
        }
    }
}

/// Conditions and range of a read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReadOptions {
    /// `If-None-Match`: answer "not modified" when the ETag matches.
    pub if_none_match: Option<String>,
    /// `Range`: read only these bytes.
    pub range: Option<ByteRange>,
}

/// An object's metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectMeta {
    /// Its `Content-Type`, if S3 has one.
    pub content_type: Option<String>,
    /// Bytes in this response: the whole object, or the range asked for.
    pub content_length: u64,
    /// Its `ETag`.
    pub etag: Option<String>,
    /// When it was last written.
    pub last_modified: Option<DateTime>,
    /// `Content-Range` of a ranged read.
    pub content_range: Option<String>,
}

/// The outcome of a conditional read.
#[derive(Debug)]
pub enum Read<T> {
    /// The object (or its metadata).
    Found(T),
    /// `If-None-Match` matched: the client's copy is current.
    NotModified {
        /// The current ETag.
        etag: Option<String>,
    },
}

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
    ($bucket:expr, $session:expr, $key:expr, $options:expr, $operation:ident) => {
        $bucket
            .shared($session)
            .$operation()
            .bucket(&$bucket.bucket)
            .key($bucket.full_key($session.tenant(), $key))
            .set_if_none_match($options.if_none_match.clone())
            .set_range($options.range.map(|r| r.to_string()))
    };
}

/// What [`TenantBucket::get_object`] returns.
#[derive(Debug)]
pub enum Fetched {
    /// The bytes, small enough to answer inline.
    Inline(Object),
    /// More than the inline limit: the body was not read.
    TooLarge(ObjectMeta),
}

/// One object of a listing.
#[derive(Debug, Clone, PartialEq)]
pub struct ListedObject {
    /// Its key relative to the tenant's home prefix.
    pub key: String,
    /// Its size in bytes.
    pub size: u64,
    /// Its `ETag`.
    pub etag: Option<String>,
    /// When it was last written.
    pub last_modified: Option<DateTime>,
}

/// One page of a listing.
#[derive(Debug, Clone, PartialEq)]
pub struct Listing {
    /// The objects, in key order.
    pub objects: Vec<ListedObject>,
    /// Where the next page starts (after this relative key), when there is
    /// one. Any key S3 holds under the prefix, folder markers (`docs/`),
    /// empty segments (`a//b`) and long keys included.
    pub next_after: Option<ListPosition>,
}

/// A position in a tenant's listing: the relative key the previous page
/// ended at. Unlike an [`ObjectKey`], it may be any key S3 can hold under
/// the prefix, since listings show every key. It only ever becomes S3's
/// `StartAfter`, a position in key order, while `Prefix` still confines the
/// listing to the tenant's home, so no value can reach another prefix.
///
/// ```
/// use tenant_access::s3::ListPosition;
///
/// assert!(ListPosition::parse("docs/").is_ok());
/// assert!(ListPosition::parse("a//b").is_ok());
/// assert!(ListPosition::parse("").is_err());
/// assert!(ListPosition::parse(&"k".repeat(1025)).is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListPosition(String);

impl ListPosition {
    /// A position: 1 to 1024 bytes (S3's longest key).
    pub fn parse(key: &str) -> Result<Self, Error> {
        if key.is_empty() || key.len() > MAX_S3_KEY_LEN {
            return Err(Error::BadRequest("`cursor` is not valid".to_owned()));
        }
        Ok(ListPosition(key.to_owned()))
    }

    /// The relative key.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// S3's longest key, in bytes.
pub const MAX_S3_KEY_LEN: usize = crate::config::MAX_S3_KEY_BYTES;

/// A presigned GET URL and when it stops working.
///
/// The URL is a bearer credential (it carries the session's access key,
/// session token and signature), so `Debug` shows it only up to its query.
#[derive(Clone)]
pub struct PresignedGet {
    /// The URL; it carries the tenant session's credentials and limits.
    pub url: String,
    /// When it expires: never after the session's credentials do.
    pub expires_at: SystemTime,
}

impl fmt::Debug for PresignedGet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let without_query = self.url.split('?').next().unwrap_or_default();
        f.debug_struct("PresignedGet")
            .field("url", &format_args!("{without_query}?<redacted>"))
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

impl fmt::Debug for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ObjectKey({:?})", self.0)
    }
}

/// An object read from a tenant's prefix.
#[derive(Debug, Clone)]
pub struct Object {
    /// The object's bytes (or the range asked for).
    pub body: Vec<u8>,
    /// Its metadata.
    pub meta: ObjectMeta,
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

/// What a write requires of the object already at its key: S3's
/// conditional writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteCondition {
    /// Write whatever is there.
    Any,
    /// `If-Match: <etag>`: only over this version.
    IfMatch(String),
    /// `If-None-Match: *`: only if there is no object yet.
    IfNoneMatch,
}

impl WriteCondition {
    /// `request` with this condition's header.
    fn apply(
        &self,
        request: aws_sdk_s3::operation::put_object::builders::PutObjectFluentBuilder,
    ) -> aws_sdk_s3::operation::put_object::builders::PutObjectFluentBuilder {
        match self {
            WriteCondition::Any => request,
            WriteCondition::IfMatch(etag) => request.if_match(etag),
            WriteCondition::IfNoneMatch => request.if_none_match("*"),
        }
    }

    /// From a request's `If-Match` and `If-None-Match` headers (S3 takes
    /// only `*` for the latter on writes).
    ///
    /// ```
    /// use tenant_access::s3::WriteCondition;
    /// assert_eq!(WriteCondition::from_headers(None, Some("*")).unwrap(), WriteCondition::IfNoneMatch);
    /// assert!(WriteCondition::from_headers(None, Some("\"abc\"")).is_err());
    /// ```
    pub fn from_headers(
        if_match: Option<&str>,
        if_none_match: Option<&str>,
    ) -> Result<Self, Error> {
        match (if_match.map(str::trim), if_none_match.map(str::trim)) {
            (None, None) => Ok(WriteCondition::Any),
            (None, Some("*")) => Ok(WriteCondition::IfNoneMatch),
            (Some(etag), None) if !etag.is_empty() && etag.is_ascii() => {
                Ok(WriteCondition::IfMatch(etag.to_owned()))
            }
            (Some(_), Some(_)) => Err(Error::BadRequest(
                "`If-Match` and `If-None-Match` cannot be combined".to_owned(),
            )),
            _ => Err(Error::BadRequest(
                "`If-None-Match` accepts only `*` on writes, and `If-Match` an ETag".to_owned(),
            )),
        }
    }
}

/// A presigned PUT URL: a credential until it expires (its `Debug` leaves
/// the URL out), bound to the tenant's key, its length and its condition by
/// the signed headers the uploader must send with it.
#[derive(Clone)]
pub struct PresignedPut {
    /// The URL.
    pub url: String,
    /// The headers the upload must carry, exactly (they are signed).
    pub headers: Vec<(String, String)>,
    /// When it stops working.
    pub expires_at: SystemTime,
}

impl fmt::Debug for PresignedPut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PresignedPut")
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
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

    /// An S3 client that signs with `session`'s credentials only, built
    /// anew: for one-off calls outside this type (tests, tools). The
    /// bucket's own operations share one client instead, each passing its
    /// session's credentials.
    pub fn client(&self, session: &TenantSession) -> aws_sdk_s3::Client {
        let config = aws_sdk_s3::config::Builder::from(session.sdk_config())
            .force_path_style(self.force_path_style)
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
            let mut config = aws_sdk_s3::config::Builder::from(session.sdk_config());
            config.set_credentials_provider(None);
            aws_sdk_s3::Client::from_conf(
                config
                    .force_path_style(self.force_path_style)
                    .identity_cache(aws_sdk_s3::config::IdentityCache::no_cache())
                    .build(),
            )
        })
    }

    /// The per-operation configuration that signs with `session`'s
    /// credentials.
    fn as_tenant(session: &TenantSession) -> aws_sdk_s3::config::Builder {
        let mut config = aws_sdk_s3::config::Builder::default();
        config.set_credentials_provider(session.sdk_config().credentials_provider());
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
        let result = read_request!(self, session, key, options, get_object)
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
        let result = read_request!(self, session, key, options, head_object)
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
                    .key(self.full_key(session.tenant(), key))
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
        let home = format!("{}/", self.prefix(session.tenant()));
        if after.is_some_and(|a| home.len() + a.as_str().len() > MAX_S3_KEY_LEN) {
            return Err(Error::BadRequest("`cursor` is not valid".to_owned()));
        }
        let output = self
            .client(session)
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(format!("{home}{}", prefix.as_str()))
            .max_keys(i32::from(limit))
            // From the position given, else just past the home's own
            // folder marker (`<home>/`, an empty relative key): it is no
            // object of the tenant's, and a page ending on it would have no
            // cursor to give.
            .start_after(match after {
                Some(key) => format!("{home}{}", key.as_str()),
                None => home.clone(),
            })
            .customize()
            .config_override(Self::as_tenant(session))
            .send()
            .await
            .map_err(|e| refused(session, upstream("s3", e)))?;
        let mut objects = Vec::new();
        for object in output.contents() {
            let Some(relative) = object.key().and_then(|k| k.strip_prefix(&home)) else {
                // S3 honours Prefix; a key outside it would be a bug upstream.
                tracing::error!("s3 listed a key outside the tenant prefix; dropped");
                continue;
            };
            objects.push(ListedObject {
                key: relative.to_owned(),
                size: object.size().unwrap_or(0).max(0) as u64,
                etag: object.e_tag().map(str::to_owned),
                last_modified: object.last_modified().copied(),
            });
        }
        let next_after = match (output.is_truncated(), objects.last()) {
            (Some(true), Some(last)) => Some(ListPosition(last.key.clone())),
            _ => None,
        };
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
            .key(self.full_key(session.tenant(), key))
            .customize()
            .config_override(Self::as_tenant(session))
            .presigned(presigning)
            .await
            .map_err(|e| refused(session, upstream("s3", e)))?;
        Ok(PresignedGet {
            url: request.uri().to_owned(),
            expires_at,
        })
    }
}

impl TenantBucket {
    /// Write `body` at `key` in the session tenant's prefix, SSE-KMS with
    /// the tenant's own key, if `condition` holds. Returns the new ETag.
    ///
    /// A failed condition is [`Error::PreconditionFailed`] (an `If-Match`
    /// on a missing key too); a concurrent conditional write to the same key
    /// is [`Error::Conflict`]; a refused key is [`Error::KeyUnavailable`] or
    /// [`Error::AccessDenied`].
    pub async fn put_object(
        &self,
        session: &TenantSession,
        key: &ObjectKey,
        body: Vec<u8>,
        content_type: Option<&str>,
        condition: &WriteCondition,
    ) -> Result<Option<String>, Error> {
        let request = self
            .sse_kms_put(session, key)
            .set_content_type(content_type.map(str::to_owned))
            .body(body.into());
        match condition
            .apply(request)
            .customize()
            .config_override(Self::as_tenant(session))
            .send()
            .await
        {
            Ok(output) => Ok(output.e_tag().map(str::to_owned)),
            Err(err) => Err(write_error(session, err)),
        }
    }

    /// A PutObject of `key` in the session tenant's prefix, SSE-KMS with the
    /// tenant's own key: the one way this crate writes. Bucket Keys off, so
    /// KMS authorizes every read and write against the caller's own session
    /// (docs/api.md: Bucket Keys).
    fn sse_kms_put(
        &self,
        session: &TenantSession,
        key: &ObjectKey,
    ) -> aws_sdk_s3::operation::put_object::builders::PutObjectFluentBuilder {
        self.shared(session)
            .put_object()
            .bucket(&self.bucket)
            .key(self.full_key(session.tenant(), key))
            .server_side_encryption(aws_sdk_s3::types::ServerSideEncryption::AwsKms)
            .ssekms_key_id(self.kms_key(session.tenant()))
            .bucket_key_enabled(false)
    }

    /// Delete `key` from the session tenant's prefix; with `if_match`,
    /// only that version ([`Error::PreconditionFailed`] otherwise). Deleting
    /// a missing key succeeds, as in S3.
    pub async fn delete_object(
        &self,
        session: &TenantSession,
        key: &ObjectKey,
        if_match: Option<&str>,
    ) -> Result<(), Error> {
        self.shared(session)
            .delete_object()
            .bucket(&self.bucket)
            .key(self.full_key(session.tenant(), key))
            .set_if_match(if_match.map(str::to_owned))
            .customize()
            .config_override(Self::as_tenant(session))
            .send()
            .await
            .map(|_| ())
            .map_err(|err| write_error(session, err))
    }

    /// A presigned PUT URL for `key`, signed with the session's credentials
    /// for exactly `size` bytes under `condition`, and bound to the tenant's
    /// key. The SSE-KMS headers, `Content-Length` and the condition's
    /// `If-Match`/`If-None-Match` are all signed, so the upload must send
    /// them as given: another length or no condition does not verify, and
    /// the condition is S3's to check when the upload comes. Valid for `ttl`
    /// or until the credentials expire.
    pub async fn presign_put(
        &self,
        session: &TenantSession,
        key: &ObjectKey,
        ttl: Duration,
        size: u64,
        condition: &WriteCondition,
    ) -> Result<PresignedPut, Error> {
        let (presigning, expires_at) = presigning(session, ttl)?;
        let length = i64::try_from(size)
            .map_err(|_| Error::BadRequest(format!("an upload of {size} bytes")))?;
        let request = condition
            .apply(self.sse_kms_put(session, key).content_length(length))
            .customize()
            .config_override(Self::as_tenant(session))
            .presigned(presigning)
            .await
            .map_err(|e| refused(session, upstream("s3", e)))?;
        let headers = request
            .headers()
            .filter(|(name, _)| {
                name.starts_with("x-amz-server-side-encryption")
                    || matches!(*name, "content-length" | "if-match" | "if-none-match")
            })
            .map(|(name, value)| (name.to_owned(), value.to_owned()))
            .collect();
        Ok(PresignedPut {
            url: request.uri().to_owned(),
            headers,
            expires_at,
        })
    }
}

/// How long a URL presigned now by `session` may live: `ttl`, or until the
/// session's credentials expire, whichever is sooner (at least a second);
/// its presigning settings and its expiry.
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
fn write_error<E>(session: &TenantSession, err: SdkError<E, HttpResponse>) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let status = err.raw_response().map(|r| r.status().as_u16());
    let code = err.as_service_error().and_then(|e| e.code());
    let detail = || aws_sdk_s3::error::DisplayErrorContext(&err).to_string();
    match (status, code) {
        (Some(412), _) | (_, Some("PreconditionFailed")) => Error::PreconditionFailed,
        // If-Match on a key that has no object.
        (Some(404), _) => Error::PreconditionFailed,
        (Some(409), _) => Error::Conflict(
            "another conditional write to this key is in progress; retry".to_owned(),
        ),
        (_, Some(c)) if KEY_CODES.contains(&c) => {
            session.denied();
            Error::KeyUnavailable { detail: detail() }
        }
        _ => refused(session, upstream("s3", err)),
    }
}

/// Map a failed read: 304 is "not modified"; 404, and 403 `AccessDenied`
/// (or a 403 without a code, as HEAD answers), are "not found"; 416 is an
/// unsatisfiable range; the rest go through [`upstream`] and [`refused`].
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
        _ => Err(refused(session, upstream("s3", err))),
    }
}

/// Invalidate `session` when `err` says S3 refused its credentials, or
/// denied it while stale ([`TenantSession::denied`]).
fn refused(session: &TenantSession, err: Error) -> Error {
    match err {
        Error::CredentialsRejected { .. } => session.invalidate(),
        Error::AccessDenied { .. } => {
            session.denied();
        }
        _ => {}
    }
    err
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_that_could_leave_the_prefix_are_refused() {
        for bad in [
            "",
            "/abs",
            "..",
            "../x",
            "a/../b",
            "a/./b",
            ".",
            "a//b",
            "a/",
            "a\\b",
            "..\\x",
            "a\nb",
            "a\u{0}b",
            "a\u{7f}b",
            &"k".repeat(MAX_KEY_LEN + 1),
        ] {
            let err = ObjectKey::parse(bad).unwrap_err();
            assert_eq!(err.status().as_u16(), 400, "{bad:?}");
        }
        for good in [
            "a",
            "a.txt",
            "dir/a.txt",
            "..a",
            "a..",
            "a/.hidden",
            "%2e%2e/x",
            "ünïcode/ok",
            &"k".repeat(MAX_KEY_LEN),
        ] {
            assert!(ObjectKey::parse(good).is_ok(), "{good:?}");
        }
    }

    #[test]
    fn ranges_are_single_and_well_formed() {
        for (header, range) in [
            ("bytes=0-0", ByteRange::Closed(0, 0)),
            ("bytes=10-", ByteRange::From(10)),
            ("bytes=-5", ByteRange::Suffix(5)),
        ] {
            assert_eq!(ByteRange::parse(header).unwrap(), range);
            assert_eq!(range.to_string(), header);
        }
        for bad in [
            "",
            "bytes=",
            "bytes=-",
            "bytes=-0",
            "bytes=3-2",
            "bytes=a-b",
            "items=0-1",
            "bytes=0-1,3-4",
            "bytes=+1-2",
            "bytes=99999999999999999999-",
        ] {
            let err = ByteRange::parse(bad).unwrap_err();
            assert_eq!(err.status().as_u16(), 400, "{bad:?}");
        }
    }

    #[test]
    fn prefixes_follow_the_key_rules_with_a_trailing_slash() {
        for good in ["", "docs", "docs/", "a/b/"] {
            assert_eq!(KeyPrefix::parse(good).unwrap().as_str(), good);
        }
        for bad in ["/", "/docs", "..", "../", "docs//", "a/../", "a\\b/"] {
            assert!(KeyPrefix::parse(bad).is_err(), "{bad:?}");
        }
    }

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
