//! Tenant-scoped items in the shared DynamoDB table.
//!
//! Every tenant's items live in one table whose partition key
//! ([`PARTITION_KEY`]) is the tenant id and whose sort key ([`SORT_KEY`]) is
//! the item's id. Every key is built here from the *session's* tenant,
//! never from the request: a request names only an [`ItemId`]. The calls are
//! signed with the tenant session's credentials, whose policy allows item
//! calls only where `dynamodb:LeadingKeys` is that tenant, so even a bug
//! that built another tenant's key would be refused by IAM. Scan is never
//! allowed; listing is a `Query` on the tenant's own partition.
//!
//! Writes are optimistic: every write gives the item a new random entity
//! tag ([`Item::etag`], 128 bits, never derived from a counter), and a
//! write or delete can be made conditional on it ([`Precondition`]),
//! answered [`Error::PreconditionFailed`] when another writer got there
//! first. Since a tag never repeats, an `If-Match` from before a delete
//! cannot match the item created after it. A conditional put whose answer
//! was lost and which the SDK retried is recognised by its own new tag on
//! the item, and answered as the success it was, not 412. (A retried
//! delete that had committed still answers 404 or 412: nothing is left to
//! recognise it by.) An item written before tags existed has the tag
//! `v<version>`, which preconditions honour, until its next write.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure};
use aws_smithy_types::DateTime;
use aws_smithy_types::date_time::Format;

use aws_sdk_dynamodb::operation::update_item::UpdateItemError;

use crate::config::DynamoDbConfig;
use crate::credentials::TenantSession;
use crate::{Error, upstream};

mod item;

pub use item::{Item, ItemId, ItemPage, Precondition};

/// The partition key attribute: the tenant id.
pub const PARTITION_KEY: &str = "tenant_id";
/// The sort key attribute: the item id.
pub const SORT_KEY: &str = "item_id";
/// The longest item id, in bytes.
pub const MAX_ITEM_ID_LEN: usize = 128;
/// The longest entity tag accepted in `If-Match` (between its quotes).
pub const MAX_ETAG_LEN: usize = 64;

/// The attribute holding an item's entity tag.
const ETAG: &str = "etag";

/// The tag of an item written before tags existed (no `etag` attribute):
/// `v<version>`, which no random tag (hex) can equal.
fn legacy_tag(version: u64) -> String {
    format!("v{version}")
}

/// The version a legacy tag names, if `tag` is one.
fn legacy_version(tag: &str) -> Option<u64> {
    tag.strip_prefix('v')?.parse().ok()
}

/// The condition that the item's tag is `expected` (its `etag`, or, for
/// an item written before tags existed, its version), over the names `#e`
/// (`etag`) and, for a legacy tag, `#v` (`version`); and its values.
fn tag_condition(expected: &str) -> (&'static str, Vec<(&'static str, AttributeValue)>) {
    match legacy_version(expected) {
        Some(version) => (
            "#e = :expected OR (attribute_not_exists(#e) AND #v = :legacy)",
            vec![(":expected", s(expected)), (":legacy", n(version))],
        ),
        None => ("#e = :expected", vec![(":expected", s(expected))]),
    }
}

/// A new entity tag: 128 random bits, hex.
fn new_tag() -> Result<String, Error> {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; 16];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| Error::Unavailable {
            service: "dynamodb",
            detail: "no randomness for an entity tag".to_owned(),
        })?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// The shared table, seen through one tenant's session at a time.
///
/// ```
/// use tenant_access::config::DynamoDbConfig;
/// use tenant_access::dynamodb::TenantTable;
///
/// let config = DynamoDbConfig::from_lookup(|name: &str| {
///     (name == "TENANT_TABLE").then(|| "tenant-items".to_owned())
/// }).unwrap();
/// let table = TenantTable::new(&config);
/// assert_eq!(table.name(), "tenant-items");
/// ```
#[derive(Debug, Clone)]
pub struct TenantTable {
    table: String,
    /// The one DynamoDB client of the table, built at its first call from
    /// the function's configuration, with no credentials of its own: every
    /// call passes its session's ([`TenantTable::as_tenant`]).
    shared: std::sync::OnceLock<aws_sdk_dynamodb::Client>,
}

fn s(value: &str) -> AttributeValue {
    AttributeValue::S(value.to_owned())
}

fn n(value: u64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn is_code<E: aws_sdk_dynamodb::error::ProvideErrorMetadata>(err: &E, code: &str) -> bool {
    err.code() == Some(code)
}

impl TenantTable {
    /// The table `config` names.
    pub fn new(config: &DynamoDbConfig) -> Self {
        TenantTable {
            table: config.table.clone(),
            shared: std::sync::OnceLock::new(),
        }
    }

    /// The table's name.
    pub fn name(&self) -> &str {
        &self.table
    }

    /// A DynamoDB client that signs with `session`'s credentials only,
    /// built anew: for one-off calls outside this type (tests, tools). The
    /// table's own calls share one client, each passing its session's
    /// credentials.
    pub fn client(&self, session: &TenantSession) -> aws_sdk_dynamodb::Client {
        let config = aws_sdk_dynamodb::config::Builder::from(&session.sdk_config())
            .interceptor(crate::metrics::CountCalls)
            .build();
        aws_sdk_dynamodb::Client::from_conf(config)
    }

    /// The table's one client, built from the first session's
    /// configuration (the function's region, endpoint and HTTP client)
    /// with its credentials taken out: a call that did not pass its
    /// session's would be refused, never signed as another tenant.
    fn shared(&self, session: &TenantSession) -> &aws_sdk_dynamodb::Client {
        self.shared.get_or_init(|| {
            let mut config = aws_sdk_dynamodb::config::Builder::from(&session.sdk_config());
            config.set_credentials_provider(None);
            aws_sdk_dynamodb::Client::from_conf(
                config
                    .identity_cache(aws_sdk_dynamodb::config::IdentityCache::no_cache())
                    .interceptor(crate::metrics::CountCalls)
                    .build(),
            )
        })
    }

    /// The per-call configuration that signs with `session`'s credentials.
    fn as_tenant(session: &TenantSession) -> aws_sdk_dynamodb::config::Builder {
        let mut config = aws_sdk_dynamodb::config::Builder::default();
        config.set_credentials_provider(Some(session.credentials_provider()));
        config
    }

    /// The partition `session` reads and writes: its tenant's, or a user
    /// session's own, `<tenant>#<user>`
    /// ([`user_partition`](crate::session_policy::user_partition)).
    ///
    /// ```
    /// use aws_credential_types::Credentials;
    /// use tenant_access::TenantSession;
    /// use tenant_access::dynamodb::TenantTable;
    ///
    /// let creds = Credentials::new("AKID", "secret", None, None, "doc");
    /// let base = aws_config::SdkConfig::builder().build();
    /// let session = TenantSession::new("tenant1".parse().unwrap(), creds, &base);
    /// assert_eq!(TenantTable::partition(&session), "tenant1");
    /// let mine = session.for_user(Some("user-a".parse().unwrap()));
    /// assert_eq!(TenantTable::partition(&mine), "tenant1#user-a");
    /// ```
    pub fn partition(session: &TenantSession) -> String {
        match session.user() {
            Some(user) => crate::session_policy::user_partition(session.tenant(), user),
            None => session.tenant().as_str().to_owned(),
        }
    }

    /// The item's full key: the session's partition, and the id.
    fn key(session: &TenantSession, id: &ItemId) -> HashMap<String, AttributeValue> {
        HashMap::from([
            (PARTITION_KEY.to_owned(), s(&Self::partition(session))),
            (SORT_KEY.to_owned(), s(id.as_str())),
        ])
    }

    /// One item of the session's tenant; [`Error::NotFound`] when it has none
    /// by that id.
    pub async fn get(&self, session: &TenantSession, id: &ItemId) -> Result<Item, Error> {
        let output = self
            .shared(session)
            .get_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(session, id)))
            .consistent_read(true)
            .customize()
            .config_override(Self::as_tenant(session))
            .send()
            .await
            .map_err(|e| session.refused(upstream("dynamodb", e)))?;
        output.item().map(item).transpose()?.ok_or(Error::NotFound)
    }

    /// Up to `limit` items of the session's tenant in id order, after
    /// `after`: a `Query` on the tenant's partition, never a `Scan`.
    pub async fn list(
        &self,
        session: &TenantSession,
        limit: u16,
        after: Option<&ItemId>,
    ) -> Result<ItemPage, Error> {
        let output = self
            .shared(session)
            .query()
            .table_name(&self.table)
            .key_condition_expression("#pk = :tenant")
            .expression_attribute_names("#pk", PARTITION_KEY)
            .expression_attribute_values(":tenant", s(&Self::partition(session)))
            .limit(i32::from(limit))
            .set_exclusive_start_key(after.map(|id| Self::key(session, id)))
            .consistent_read(true)
            .customize()
            .config_override(Self::as_tenant(session))
            .send()
            .await
            .map_err(|e| session.refused(upstream("dynamodb", e)))?;
        let items = output
            .items()
            .iter()
            .map(item)
            .collect::<Result<Vec<_>, _>>()?;
        let last = match output.last_evaluated_key() {
            Some(key) => Some(
                key.get(SORT_KEY)
                    .and_then(|v| v.as_s().ok())
                    .map(|id| ItemId::parse(id))
                    .transpose()?
                    .ok_or_else(|| malformed("a page ended on a key without an item id"))?,
            ),
            None => None,
        };
        Ok(ItemPage { items, last })
    }

    /// Write `data` as the item `id` of the session's tenant, creating it or
    /// replacing it, if `condition` holds, with a new entity tag; its
    /// version is incremented atomically. Returns the item as written and
    /// whether it was created. When the condition fails because this very
    /// write already committed (its answer was lost and the SDK sent it
    /// again), the item carries this write's tag, and that is the success
    /// answered.
    pub async fn put(
        &self,
        session: &TenantSession,
        id: &ItemId,
        data: &serde_json::Value,
        condition: Precondition,
    ) -> Result<(Item, bool), Error> {
        let now = DateTime::from(session.now())
            .fmt(Format::DateTime)
            .map_err(|e| malformed(&format!("the clock: {e}")))?;
        let tag = new_tag()?;
        let request = self
            .shared(session)
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(session, id)))
            .update_expression(
                "SET #v = if_not_exists(#v, :zero) + :one, #d = :data, #u = :now, #e = :tag",
            )
            .expression_attribute_names("#v", "version")
            .expression_attribute_names("#d", "data")
            .expression_attribute_names("#u", "updated_at")
            .expression_attribute_names("#e", ETAG)
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":data", s(&data.to_string()))
            .expression_attribute_values(":now", s(&now))
            .expression_attribute_values(":tag", s(&tag))
            .return_values(ReturnValue::AllNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        let request = match &condition {
            Precondition::None => request,
            Precondition::Tag(expected) => {
                let (expression, values) = tag_condition(expected);
                values.into_iter().fold(
                    request.condition_expression(expression),
                    |request, (name, value)| request.expression_attribute_values(name, value),
                )
            }
            Precondition::Absent => request
                .condition_expression("attribute_not_exists(#id)")
                .expression_attribute_names("#id", SORT_KEY),
        };
        let attributes = match request
            .customize()
            .config_override(Self::as_tenant(session))
            .send()
            .await
        {
            Ok(output) => output
                .attributes()
                .ok_or_else(|| malformed("UpdateItem returned no attributes"))?
                .clone(),
            // This write, committed by an earlier attempt whose answer was
            // lost: the item holds its tag.
            Err(e) if committed_earlier(&e, &tag) => {
                tracing::info!("a retried conditional write had already committed");
                match e.into_service_error() {
                    UpdateItemError::ConditionalCheckFailedException(failed) => failed.item,
                    _ => None,
                }
                .ok_or_else(|| malformed("a failed condition without the item"))?
            }
            Err(e) => return Err(conditional(session, e, Error::PreconditionFailed)),
        };
        let written = item(&attributes)?;
        let created = written.version == 1;
        Ok((written, created))
    }

    /// Delete the item `id` of the session's tenant if `condition` holds:
    /// [`Error::NotFound`] when there is no such item (without a
    /// precondition), [`Error::PreconditionFailed`] when the precondition
    /// fails (a missing item fails `If-Match`).
    pub async fn delete(
        &self,
        session: &TenantSession,
        id: &ItemId,
        condition: Precondition,
    ) -> Result<(), Error> {
        if condition == Precondition::Absent {
            // "Delete it only if it does not exist" can never delete.
            return Err(Error::PreconditionFailed);
        }
        let request = self
            .shared(session)
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(session, id)));
        let (request, missing) = match condition {
            Precondition::None | Precondition::Absent => (
                request
                    .condition_expression("attribute_exists(#id)")
                    .expression_attribute_names("#id", SORT_KEY),
                Error::NotFound,
            ),
            Precondition::Tag(expected) => {
                let (expression, values) = tag_condition(&expected);
                let mut request = request
                    .condition_expression(expression)
                    .expression_attribute_names("#e", ETAG);
                if legacy_version(&expected).is_some() {
                    request = request.expression_attribute_names("#v", "version");
                }
                (
                    values.into_iter().fold(request, |request, (name, value)| {
                        request.expression_attribute_values(name, value)
                    }),
                    Error::PreconditionFailed,
                )
            }
        };
        request
            .customize()
            .config_override(Self::as_tenant(session))
            .send()
            .await
            .map_err(|e| conditional(session, e, missing))?;
        Ok(())
    }
}

/// Whether `err` is a failed condition over an item that already holds
/// `tag`, the tag this write was to give it: only this write makes it.
fn committed_earlier(
    err: &aws_sdk_dynamodb::error::SdkError<
        UpdateItemError,
        aws_sdk_dynamodb::config::http::HttpResponse,
    >,
    tag: &str,
) -> bool {
    matches!(
        err.as_service_error(),
        Some(UpdateItemError::ConditionalCheckFailedException(failed))
            if failed
                .item()
                .and_then(|item| item.get(ETAG))
                .and_then(|v| v.as_s().ok())
                .is_some_and(|held| held == tag)
    )
}

/// A conditional write's failure: `unmet` when DynamoDB found its
/// condition false, else the upstream error ([`TenantSession::refused`]).
fn conditional<E>(
    session: &TenantSession,
    err: aws_sdk_dynamodb::error::SdkError<E, aws_sdk_dynamodb::config::http::HttpResponse>,
    unmet: Error,
) -> Error
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    if err
        .as_service_error()
        .is_some_and(|se| is_code(se, "ConditionalCheckFailedException"))
    {
        unmet
    } else {
        session.refused(upstream("dynamodb", err))
    }
}

fn malformed(detail: &str) -> Error {
    Error::Upstream {
        service: "dynamodb",
        detail: detail.to_owned(),
    }
}

/// An item as stored, as the API shows it.
fn item(attributes: &HashMap<String, AttributeValue>) -> Result<Item, Error> {
    let text = |name: &str| {
        attributes
            .get(name)
            .and_then(|v| v.as_s().ok())
            .ok_or_else(|| malformed(&format!("an item without `{name}`")))
    };
    let version = attributes
        .get("version")
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| malformed("an item without a numeric `version`"))?;
    let data = serde_json::from_str(text("data")?)
        .map_err(|e| malformed(&format!("an item whose `data` is not JSON: {e}")))?;
    Ok(Item {
        id: text(SORT_KEY)?.clone(),
        version,
        data,
        updated_at: text("updated_at")?.clone(),
        // An item written before tags existed: its version stands in,
        // marked so that no random tag (hex) can ever equal it.
        tag: match attributes.get(ETAG) {
            Some(_) => text(ETAG)?.clone(),
            None => legacy_tag(version),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn item_ids_are_safe_segments() {
        for good in ["a", "A-b_c.d", &"x".repeat(MAX_ITEM_ID_LEN), "..."] {
            assert!(ItemId::parse(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            ".",
            "..",
            "a/b",
            "a%2Fb",
            "tenant2#x",
            "é",
            "a b",
            &"x".repeat(MAX_ITEM_ID_LEN + 1),
        ] {
            let err = ItemId::parse(bad).unwrap_err();
            assert_eq!(err.status().as_u16(), 400, "{bad}");
        }
    }

    #[test]
    fn every_write_gets_a_tag_of_its_own() {
        let tags: std::collections::BTreeSet<String> =
            (0..100).map(|_| new_tag().unwrap()).collect();
        assert_eq!(tags.len(), 100);
        for tag in &tags {
            assert_eq!(tag.len(), 32);
            assert!(tag.bytes().all(|b| b.is_ascii_hexdigit()), "{tag}");
            let quoted = format!("\"{tag}\"");
            assert_eq!(
                Precondition::from_headers(Some(&quoted), Option::None).unwrap(),
                Precondition::Tag(tag.clone())
            );
        }
    }

    #[test]
    fn preconditions_come_from_the_headers() {
        use Precondition::{Absent, Tag};
        assert_eq!(
            Precondition::from_headers(Option::None, Option::None).unwrap(),
            Precondition::None
        );
        assert_eq!(
            Precondition::from_headers(Some(" \"9f86d081884c7d65\" "), Option::None).unwrap(),
            Tag("9f86d081884c7d65".to_owned())
        );
        assert_eq!(
            Precondition::from_headers(Option::None, Some("*")).unwrap(),
            Absent
        );
        for (m, nm) in [
            (Some("12"), Option::None),
            (Some("\"a b\""), Option::None),
            (Some("\"\""), Option::None),
            (Some("W/\"1\""), Option::None),
            (Option::None, Some("\"1\"")),
            (Some("\"1\""), Some("*")),
        ] {
            assert_eq!(
                Precondition::from_headers(m, nm)
                    .unwrap_err()
                    .status()
                    .as_u16(),
                400,
                "{m:?} {nm:?}"
            );
        }
    }

    #[test]
    fn stored_items_read_back_and_malformed_ones_are_upstream_errors() {
        let mut stored = HashMap::from([
            (PARTITION_KEY.to_owned(), s("tenant1")),
            (SORT_KEY.to_owned(), s("a")),
            ("version".to_owned(), n(2)),
            ("data".to_owned(), s(r#"{"x":1}"#)),
            ("updated_at".to_owned(), s("2026-12-01T00:00:00Z")),
            (ETAG.to_owned(), s("9f86d081884c7d65")),
        ]);
        let read = item(&stored).unwrap();
        assert_eq!(read.etag(), "\"9f86d081884c7d65\"");
        // Stored before tags existed: its version stands in, in a form no
        // random tag takes, and preconditions name it so.
        let mut legacy = stored.clone();
        legacy.remove(ETAG);
        assert_eq!(item(&legacy).unwrap().etag(), "\"v2\"");
        assert_eq!(legacy_version("v2"), Some(2));
        assert_eq!(legacy_version(&new_tag().unwrap()), None);
        assert_eq!(tag_condition("v2").1.len(), 2);
        assert_eq!(tag_condition("9f86d081").1.len(), 1);
        assert_eq!(read.id, "a");
        assert_eq!(read.version, 2);
        assert_eq!(read.data, serde_json::json!({"x": 1}));
        stored.insert("data".to_owned(), s("{not json"));
        assert_eq!(item(&stored).unwrap_err().status().as_u16(), 502);
        stored.remove("version");
        assert_eq!(item(&stored).unwrap_err().status().as_u16(), 502);
    }
}
