//! Tenant-scoped reads from the shared bucket.
//!
//! A client asks for a key *relative to its tenant's home prefix*; the final
//! key is always `<tenant prefix>/<key>`, built here and nowhere else, and the
//! request is signed with the tenant session's credentials, so even a bug
//! that built a wrong key would be refused by IAM.

use std::fmt;

use aws_sdk_s3::operation::get_object::GetObjectError;

use crate::config::{S3Config, TenantTemplate};
use crate::credentials::TenantSession;
use crate::identity::TenantId;
use crate::{Error, upstream};

/// The longest relative key accepted, in bytes. S3 allows 1024 for the full
/// key; this leaves room for the tenant prefix.
pub const MAX_KEY_LEN: usize = 900;

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
        let bad = |why: &str| Err(Error::BadRequest(format!("invalid object key: {why}")));
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
        Ok(ObjectKey(key.to_owned()))
    }

    /// The relative key.
    pub fn as_str(&self) -> &str {
        &self.0
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
    /// The object's bytes.
    pub body: Vec<u8>,
    /// Its `Content-Type`, if S3 has one.
    pub content_type: Option<String>,
    /// Its `ETag`.
    pub etag: Option<String>,
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
    force_path_style: bool,
}

impl TenantBucket {
    /// The bucket described by `config`.
    pub fn new(config: &S3Config) -> Self {
        TenantBucket {
            bucket: config.bucket.clone(),
            prefix_template: config.prefix_template.clone(),
            force_path_style: config.force_path_style,
        }
    }

    /// The bucket name.
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// The tenant's home prefix, without a trailing `/`.
    pub fn prefix(&self, tenant: &TenantId) -> String {
        self.prefix_template.render(tenant)
    }

    /// The full key: `<tenant prefix>/<key>`.
    pub fn full_key(&self, tenant: &TenantId, key: &ObjectKey) -> String {
        format!("{}/{}", self.prefix(tenant), key.as_str())
    }

    /// An S3 client that signs with the session's credentials only. Built
    /// once per session.
    pub fn client<'s>(&self, session: &'s TenantSession) -> &'s aws_sdk_s3::Client {
        session.s3.get_or_init(|| {
            let config = aws_sdk_s3::config::Builder::from(session.sdk_config())
                .force_path_style(self.force_path_style)
                .build();
            aws_sdk_s3::Client::from_conf(config)
        })
    }

    /// Read `key` from the session tenant's prefix.
    ///
    /// A missing key and a key the session may not read both answer
    /// [`Error::NotFound`], so a caller cannot probe for objects it cannot read.
    pub async fn get_object(
        &self,
        session: &TenantSession,
        key: &ObjectKey,
    ) -> Result<Object, Error> {
        let full_key = self.full_key(session.tenant(), key);
        let output = self
            .client(session)
            .get_object()
            .bucket(&self.bucket)
            .key(&full_key)
            .send()
            .await
            .map_err(|err| {
                let mapped = match err.as_service_error() {
                    Some(GetObjectError::NoSuchKey(_)) => Error::NotFound,
                    _ => upstream("s3", err),
                };
                if let Error::AccessDenied { detail } = &mapped {
                    tracing::warn!(error.detail = %detail, "s3 denied the tenant session; answering not found");
                    return Error::NotFound;
                }
                mapped
            })?;
        let content_type = output.content_type().map(str::to_owned);
        let etag = output.e_tag().map(str::to_owned);
        let body = output
            .body
            .collect()
            .await
            .map_err(|e| Error::Unavailable {
                service: "s3",
                detail: format!("reading the object body failed: {e}"),
            })?;
        Ok(Object {
            body: body.into_bytes().to_vec(),
            content_type,
            etag,
        })
    }
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
