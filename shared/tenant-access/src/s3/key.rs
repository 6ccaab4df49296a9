//! Keys a tenant names: validated relative to its home prefix, so no
//! key, prefix or listing position can reach another tenant's.

use std::fmt;

use crate::Error;

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
pub struct ListPosition(pub(super) String);

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

impl fmt::Debug for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ObjectKey({:?})", self.0)
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
    fn prefixes_follow_the_key_rules_with_a_trailing_slash() {
        for good in ["", "docs", "docs/", "a/b/"] {
            assert_eq!(KeyPrefix::parse(good).unwrap().as_str(), good);
        }
        for bad in ["/", "/docs", "..", "../", "docs//", "a/../", "a\\b/"] {
            assert!(KeyPrefix::parse(bad).is_err(), "{bad:?}");
        }
    }
}
