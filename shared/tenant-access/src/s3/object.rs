//! What reads ask for and get back: ranges, conditions, objects, listings
//! and download URLs.

use std::fmt;
use std::time::SystemTime;

use aws_smithy_types::DateTime;

use super::ListPosition;
use crate::Error;

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

/// What [`TenantBucket::get_object`](super::TenantBucket::get_object) returns.
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

/// An object read from a tenant's prefix.
#[derive(Debug, Clone)]
pub struct Object {
    /// The object's bytes (or the range asked for).
    pub body: Vec<u8>,
    /// Its metadata.
    pub meta: ObjectMeta,
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
