//! Writes: conditional, SSE-KMS with the tenant's own key, deletes and
//! upload URLs.

use std::fmt;
use std::time::{Duration, SystemTime};

use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};

use super::{KEY_CODES, ObjectKey, TenantBucket, presigning};
use crate::credentials::TenantSession;
use crate::{Error, upstream};

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
        body: impl Into<aws_sdk_s3::primitives::ByteStream>,
        content_type: Option<&str>,
        condition: &WriteCondition,
    ) -> Result<Option<String>, Error> {
        let request = self
            .sse_kms_put(session, key)?
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
    ) -> Result<aws_sdk_s3::operation::put_object::builders::PutObjectFluentBuilder, Error> {
        Ok(self
            .shared(session)
            .put_object()
            .bucket(&self.bucket)
            .key(self.area_key(session, key)?)
            .server_side_encryption(aws_sdk_s3::types::ServerSideEncryption::AwsKms)
            .ssekms_key_id(self.kms_key(session.tenant()))
            .bucket_key_enabled(false))
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
            .key(self.area_key(session, key)?)
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
            .apply(self.sse_kms_put(session, key)?.content_length(length))
            .customize()
            .config_override(Self::as_tenant(session))
            .presigned(presigning)
            .await
            .map_err(|e| session.refused(upstream("s3", e)))?;
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
        _ => session.refused(upstream("s3", err)),
    }
}
