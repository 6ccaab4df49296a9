//! The one tenant-id rule, shared by the functions and the tooling that
//! onboards tenants, with no dependencies so both can use it.
//!
//! A tenant id is lowercase ASCII letters, digits, `_` and `-`, starting
//! with a letter or digit: safe as an S3 key segment, in an IAM role name,
//! as a session-tag value and in a Postgres role name. How long it may be
//! depends on the names built from it: `assumeRole-<id>` must fit IAM's
//! 64-character role names and `<id>_dbuser` Postgres' 63-byte identifiers.
//! [`max_len`] derives the bound from the templates in use.
//!
//! ```
//! let max = tenant_id::max_len(&tenant_id::DEFAULT_TEMPLATES);
//! assert_eq!(max, 53); // assumeRole-<id> within 64
//! assert!(tenant_id::check("tenant1", max).is_ok());
//! assert!(tenant_id::check(&"a".repeat(54), max).is_err());
//! assert!(tenant_id::check("../tenant2", max).is_err());
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::fmt;

/// The longest id the alphabet rule alone allows (a DNS label's length).
pub const ABSOLUTE_MAX_LEN: usize = 63;

/// The placeholder a template holds.
pub const PLACEHOLDER: &str = "{tenant}";

/// IAM's limit on a role name.
pub const IAM_ROLE_NAME_MAX: usize = 64;
/// Postgres' limit on an identifier, in bytes.
pub const POSTGRES_NAME_MAX: usize = 63;
/// STS's limit on a session-tag value.
pub const TAG_VALUE_MAX: usize = 256;

/// A name built from a tenant id, and the longest that name may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Template<'a> {
    /// The name with [`PLACEHOLDER`] where the id goes.
    pub pattern: &'a str,
    /// The longest the whole name may be.
    pub limit: usize,
}

/// The reference design's names: the tenant role `assumeRole-{tenant}` and
/// the DB user `{tenant}_dbuser`.
pub const DEFAULT_TEMPLATES: [Template<'static>; 2] = [
    Template {
        pattern: "assumeRole-{tenant}",
        limit: IAM_ROLE_NAME_MAX,
    },
    Template {
        pattern: "{tenant}_dbuser",
        limit: POSTGRES_NAME_MAX,
    },
];

/// The longest id for which every template's name fits its limit (and at
/// most [`ABSOLUTE_MAX_LEN`]). A template without the placeholder does not
/// bound the id.
pub fn max_len(templates: &[Template<'_>]) -> usize {
    templates
        .iter()
        .filter(|t| t.pattern.contains(PLACEHOLDER))
        .map(|t| {
            let fixed =
                t.pattern.len() - PLACEHOLDER.len() * t.pattern.matches(PLACEHOLDER).count();
            t.limit.saturating_sub(fixed) / t.pattern.matches(PLACEHOLDER).count()
        })
        .fold(ABSOLUTE_MAX_LEN, usize::min)
}

/// Why a string is not a tenant id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidTenantId {
    max: usize,
}

impl fmt::Display for InvalidTenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "a tenant id is 1 to {} characters of a-z, 0-9, '_' and '-', starting with a letter or digit",
            self.max
        )
    }
}

impl std::error::Error for InvalidTenantId {}

/// Whether `id` is a tenant id of at most `max` characters.
pub fn check(id: &str, max: usize) -> Result<(), InvalidTenantId> {
    let valid = !id.is_empty()
        && id.len() <= max.min(ABSOLUTE_MAX_LEN)
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
        && id
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    if valid {
        Ok(())
    } else {
        Err(InvalidTenantId {
            max: max.min(ABSOLUTE_MAX_LEN),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bound_is_the_tightest_template() {
        assert_eq!(max_len(&[]), ABSOLUTE_MAX_LEN);
        let role = Template {
            pattern: "assumeRole-{tenant}",
            limit: IAM_ROLE_NAME_MAX,
        };
        let user = Template {
            pattern: "{tenant}_dbuser",
            limit: POSTGRES_NAME_MAX,
        };
        assert_eq!(max_len(&[user]), 56);
        assert_eq!(max_len(&[role, user]), 53);
        let long = Template {
            pattern: "a-very-long-prefix-for-every-tenant-role-name-{tenant}",
            limit: IAM_ROLE_NAME_MAX,
        };
        assert_eq!(max_len(&[long]), 64 - 46);
        let fixed = Template {
            pattern: "shared-role",
            limit: IAM_ROLE_NAME_MAX,
        };
        assert_eq!(max_len(&[fixed]), ABSOLUTE_MAX_LEN);
    }

    #[test]
    fn the_alphabet_and_the_length() {
        for ok in ["t", "tenant1", "a-b_c", "0abc"] {
            assert!(check(ok, 53).is_ok(), "{ok}");
        }
        for bad in ["", "-a", "_a", "Tenant1", "a.b", "a/b", "ä", "a b"] {
            assert!(check(bad, 53).is_err(), "{bad}");
        }
        assert!(check(&"a".repeat(53), 53).is_ok());
        assert!(check(&"a".repeat(54), 53).is_err());
        assert!(check(&"a".repeat(64), 100).is_err(), "never past 63");
        assert!(
            check(&"a".repeat(54), 53)
                .unwrap_err()
                .to_string()
                .contains("1 to 53")
        );
    }
}
