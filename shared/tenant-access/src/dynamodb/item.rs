//! What an item is, as the API sees it: its id, the item and a page of
//! them, and the condition a write is made under.

use std::fmt;

use super::{MAX_ETAG_LEN, MAX_ITEM_ID_LEN};
use crate::Error;

/// A validated item id: 1 to [`MAX_ITEM_ID_LEN`] characters of `A-Z`,
/// `a-z`, `0-9`, `_`, `-` and `.`, not `.` or `..`: safe as a path segment
/// and as a sort key, with nothing to decode.
///
/// ```
/// use tenant_access::dynamodb::ItemId;
///
/// assert_eq!(ItemId::parse("order-42").unwrap().as_str(), "order-42");
/// assert!(ItemId::parse("").is_err());
/// assert!(ItemId::parse("a/b").is_err());
/// assert!(ItemId::parse("..").is_err());
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ItemId(String);

impl ItemId {
    /// Validate an item id (400 `bad_request` when it is not one).
    pub fn parse(id: &str) -> Result<Self, Error> {
        let valid = (1..=MAX_ITEM_ID_LEN).contains(&id.len())
            && id != "."
            && id != ".."
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b));
        if valid {
            Ok(ItemId(id.to_owned()))
        } else {
            Err(Error::BadRequest(format!(
                "invalid item id: 1 to {MAX_ITEM_ID_LEN} characters of A-Z, a-z, 0-9, '_', '-', '.'"
            )))
        }
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ItemId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ItemId({})", self.0)
    }
}

/// One item as the API shows it: no tenant in it, since it can only be the
/// caller's.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Item {
    /// The item's id.
    pub id: String,
    /// Writes since the item was created (1 for a new one). Informative
    /// only: a deleted and recreated item counts from 1 again, so
    /// preconditions use the entity tag.
    pub version: u64,
    /// The JSON the tenant stored.
    pub data: serde_json::Value,
    /// When it was last written (RFC 3339, UTC).
    pub updated_at: String,
    /// The tag of this write, unquoted: new and random at every write
    /// (served as the `ETag` header, not in the body).
    #[serde(skip)]
    pub tag: String,
}

impl Item {
    /// The item's entity tag, quoted, as the `ETag` header carries it.
    ///
    /// ```
    /// let item = tenant_access::dynamodb::Item {
    ///     id: "a".into(), version: 3, data: serde_json::json!({}), updated_at: String::new(),
    ///     tag: "9f86d081884c7d65".into(),
    /// };
    /// assert_eq!(item.etag(), "\"9f86d081884c7d65\"");
    /// ```
    pub fn etag(&self) -> String {
        format!("\"{}\"", self.tag)
    }
}

/// One page of a tenant's items, in id order.
#[derive(Debug, Clone, PartialEq)]
pub struct ItemPage {
    /// The items.
    pub items: Vec<Item>,
    /// The id to pass as `after` for the next page, when there may be one.
    pub last: Option<ItemId>,
}

/// What a write or delete requires of the item's current state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Precondition {
    /// Nothing: write whatever is there (a delete still needs the item).
    None,
    /// `If-Match: "<tag>"`: the item exists, last written with this tag.
    Tag(String),
    /// `If-None-Match: *`: the item does not exist yet.
    Absent,
}

impl Precondition {
    /// From the request's `If-Match` and `If-None-Match` headers: a quoted
    /// tag this API issued (1 to [`MAX_ETAG_LEN`] of `A-Z`, `a-z`, `0-9`,
    /// `_`, `-`), and only `*` for `If-None-Match`.
    ///
    /// ```
    /// use tenant_access::dynamodb::Precondition;
    /// assert_eq!(
    ///     Precondition::from_headers(Some("\"9f86d081\""), None).unwrap(),
    ///     Precondition::Tag("9f86d081".into())
    /// );
    /// assert_eq!(Precondition::from_headers(None, Some("*")).unwrap(), Precondition::Absent);
    /// assert!(Precondition::from_headers(Some("9f86d081"), None).is_err());
    /// ```
    pub fn from_headers(
        if_match: Option<&str>,
        if_none_match: Option<&str>,
    ) -> Result<Self, Error> {
        match (if_match.map(str::trim), if_none_match.map(str::trim)) {
            (None, None) => Ok(Precondition::None),
            (None, Some("*")) => Ok(Precondition::Absent),
            (None, Some(_)) => Err(Error::BadRequest(
                "`If-None-Match` accepts only `*` here".to_owned(),
            )),
            (Some(tag), None) => tag
                .strip_prefix('"')
                .and_then(|t| t.strip_suffix('"'))
                .filter(|t| {
                    (1..=MAX_ETAG_LEN).contains(&t.len())
                        && t.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-".contains(&b))
                })
                .map(|t| Precondition::Tag(t.to_owned()))
                .ok_or_else(|| {
                    Error::BadRequest(
                        "`If-Match` must be an ETag this API issued, quoted, such as \"9f86d081884c7d65\""
                            .to_owned(),
                    )
                }),
            (Some(_), Some(_)) => Err(Error::BadRequest(
                "`If-Match` and `If-None-Match` cannot be combined".to_owned(),
            )),
        }
    }
}
