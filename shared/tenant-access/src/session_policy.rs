//! Inline session policies: the scope-down half of the `session-policy`
//! isolation strategies.
//!
//! A session policy is passed to `AssumeRole`; the session may then do only
//! what both the role's policies *and* this policy allow. The policy is built
//! per tenant and per function from typed statements, serialized
//! deterministically (same tenant, same bytes, so the session cache can key
//! on it), minimal (only what the function does), and checked against STS's
//! limit of [`MAX_POLICY_CHARS`] characters before any call.
//!
//! The strategies that pass no tenant policy (`role-per-tenant`,
//! `session-tags`) still pass a [function policy](SessionScope::function_policy):
//! the same for every tenant, it confines the session to the function's own
//! job, so an s3-fetch session cannot log into the database and an
//! aurora-query session cannot read S3, whatever the tenant's role allows.

use serde::Serialize;

use crate::Error;
use crate::config::TenantTemplate;
use crate::identity::{TenantId, UserId};

/// STS refuses inline session policies longer than this many characters.
pub const MAX_POLICY_CHARS: usize = 2048;

/// What a function's tenant session needs, to build its session policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionScope {
    /// s3-fetch: read and list under the tenant's prefix of one bucket.
    S3 {
        /// The shared bucket.
        bucket: String,
        /// A tenant's home prefix (`TENANT_S3_PREFIX_TEMPLATE`).
        prefix_template: TenantTemplate,
    },
    /// aurora-query: `rds-db:connect` as the tenant's DB user.
    Db {
        /// `cluster-...` or `prx-...`, the resource the token is for
        /// (`DB_RESOURCE_ID`).
        resource_id: String,
        /// A tenant's DB user (`DB_USER_TEMPLATE`).
        user_template: TenantTemplate,
        /// The database's region.
        region: String,
        /// The database's account.
        account: String,
    },
    /// dynamodb-items: item calls on the tenant's partition of one table.
    Table {
        /// The shared table (`TENANT_TABLE`).
        table: String,
        /// The table's region.
        region: String,
        /// The table's account.
        account: String,
    },
    /// search-docs: documents and searches in the tenant's own index of
    /// one OpenSearch domain ([`tenant_index`]).
    Search {
        /// The domain's name (`SEARCH_DOMAIN`).
        domain: String,
        /// The domain's region.
        region: String,
        /// The domain's account.
        account: String,
    },
}

/// The session tag naming a session's job under role-per-tenant, which the
/// tenant role's trust policy pins per execution role and its statements
/// require: a session assumed without it, or by another function, can do
/// nothing, or only that function's job.
pub const SCOPE_TAG: &str = "Scope";

/// The session tag naming the user of a user-area session (`/me` routes),
/// which the template's policies confine to that user's area. The identity
/// pool's principal tag of the same name carries the token's `sub`.
pub const USER_TAG: &str = "username";

/// The folder of a tenant's home prefix that holds its users' own areas,
/// `<home>/users/<user>/`: a tenant-area session may not read, write or
/// list under it, and a user-area session nothing else.
pub const USER_AREA: &str = "users";

/// The DynamoDB partition of `user`'s own items in `tenant`:
/// `<tenant>#<user>`. A tenant id has no `#`, so no tenant's partition is
/// another's user partition, and `dynamodb:LeadingKeys` names it exactly.
///
/// ```
/// let tenant = "tenant1".parse().unwrap();
/// let user = "user-a".parse().unwrap();
/// assert_eq!(tenant_access::session_policy::user_partition(&tenant, &user), "tenant1#user-a");
/// ```
pub fn user_partition(tenant: &TenantId, user: &UserId) -> String {
    format!("{tenant}#{user}")
}

/// What follows a tenant id in its search index's name: a `.`, which no
/// tenant id holds, so no tenant's index name starts with another's
/// (`t1.docs` is not under `t10`'s, nor `t10.docs` under `t1.`).
pub const INDEX_SUFFIX: &str = ".docs";

/// The tenant's one search index: `<tenant>.docs` ([`INDEX_SUFFIX`]).
///
/// ```
/// let tenant = "tenant1".parse().unwrap();
/// assert_eq!(tenant_access::session_policy::tenant_index(&tenant), "tenant1.docs");
/// ```
pub fn tenant_index(tenant: &TenantId) -> String {
    format!("{tenant}{INDEX_SUFFIX}")
}

impl SessionScope {
    /// The job's name: `s3`, `db` or `dynamodb`. It is the [`SCOPE_TAG`]
    /// value, and fills `{scope}` in `TENANT_SHARED_ROLE_ARN`, so each
    /// function assumes a shared role that can do only its job.
    ///
    /// ```
    /// use tenant_access::session_policy::SessionScope;
    /// let scope = SessionScope::Table {
    ///     table: "tenant-items".into(),
    ///     region: "us-east-1".into(),
    ///     account: "123456789012".into(),
    /// };
    /// assert_eq!(scope.name(), "dynamodb");
    /// ```
    pub fn name(&self) -> &'static str {
        match self {
            SessionScope::S3 { .. } => "s3",
            SessionScope::Db { .. } => "db",
            SessionScope::Table { .. } => "dynamodb",
            SessionScope::Search { .. } => "search",
        }
    }
}

/// What s3-fetch does with objects under the tenant's prefix.
pub const OBJECT_ACTIONS: [&str; 3] = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"];

/// What S3 asks KMS for on the tenant's behalf, for SSE-KMS objects.
pub const KEY_ACTIONS: [&str; 2] = ["kms:Decrypt", "kms:GenerateDataKey"];

/// The tag every tenant key carries, naming its tenant.
pub const KEY_TENANT_TAG: &str = "TenantID";

/// The item calls dynamodb-items makes, and the only ones a tenant session
/// may make on the table: never `Scan`, never a batch or transaction.
pub const TABLE_ACTIONS: [&str; 5] = [
    "dynamodb:GetItem",
    "dynamodb:Query",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
];

/// The calls search-docs makes on a document of the tenant's index.
pub const DOCUMENT_ACTIONS: [&str; 3] = ["es:ESHttpGet", "es:ESHttpPut", "es:ESHttpDelete"];

/// The one call search-docs makes to search the tenant's index.
pub const SEARCH_ACTION: &str = "es:ESHttpGet";

#[derive(Serialize)]
struct Document {
    #[serde(rename = "Version")]
    version: &'static str,
    #[serde(rename = "Statement")]
    statement: Vec<Statement>,
}

#[derive(Serialize)]
struct Statement {
    #[serde(rename = "Effect")]
    effect: &'static str,
    #[serde(rename = "Action")]
    action: Action,
    #[serde(rename = "Resource")]
    resource: String,
    #[serde(rename = "Condition", skip_serializing_if = "Option::is_none")]
    condition: Option<serde_json::Value>,
}

#[derive(Serialize)]
#[serde(untagged)]
enum Action {
    One(&'static str),
    Many(&'static [&'static str]),
}

fn allow(action: &'static str, resource: String) -> Statement {
    Statement {
        effect: "Allow",
        action: Action::One(action),
        resource,
        condition: None,
    }
}

fn deny(action: &'static str, resource: String) -> Statement {
    Statement {
        effect: "Deny",
        ..allow(action, resource)
    }
}

/// Tenant keys, used through S3 only: `tenant` names the one key (by its
/// tag) under the session-policy strategies; `None` (the function policy)
/// any key, which the role's own ABAC condition narrows.
fn keys_through_s3(p: &str, tenant: Option<&TenantId>) -> Statement {
    let mut condition = serde_json::json!({
        "StringLike": {"kms:ViaService": "s3.*.amazonaws.com"}
    });
    if let Some(tenant) = tenant {
        condition["StringEquals"] =
            serde_json::json!({ format!("aws:ResourceTag/{KEY_TENANT_TAG}"): tenant.as_str() });
    }
    Statement {
        action: Action::Many(&KEY_ACTIONS),
        condition: Some(condition),
        ..allow("", format!("arn:{p}:kms:*:*:key/*"))
    }
}

/// The item calls on `table`: on `tenant`'s partition only (every key must
/// lead with it) under the session-policy strategies; `None` (the function
/// policy) any partition, which the role's own condition narrows.
fn items_on_table(
    p: &str,
    region: &str,
    account: &str,
    table: &str,
    partition: Option<&str>,
) -> Statement {
    Statement {
        action: Action::Many(&TABLE_ACTIONS),
        condition: partition.map(|partition| {
            serde_json::json!({
                "ForAllValues:StringEquals": {"dynamodb:LeadingKeys": [partition]}
            })
        }),
        ..allow(
            "",
            format!("arn:{p}:dynamodb:{region}:{account}:table/{table}"),
        )
    }
}

/// The domain calls on `index` (`None`, the function policy: any index,
/// which the role's own statements narrow): its documents, and its search.
/// Each names one path exactly, so no index expression (`_all`, `*`, a
/// comma list, an alias) and no multi-index API (`_bulk`, `_mget`,
/// `_msearch`) is ever granted.
fn calls_on_index(
    p: &str,
    region: &str,
    account: &str,
    domain: &str,
    index: Option<&str>,
) -> Vec<Statement> {
    let domain = format!("arn:{p}:es:{region}:{account}:domain/{domain}");
    match index {
        Some(index) => vec![
            Statement {
                action: Action::Many(&DOCUMENT_ACTIONS),
                ..allow("", format!("{domain}/{index}/_doc/*"))
            },
            allow(SEARCH_ACTION, format!("{domain}/{index}/_search")),
        ],
        None => vec![Statement {
            action: Action::Many(&DOCUMENT_ACTIONS),
            ..allow("", format!("{domain}/*"))
        }],
    }
}

pub use crate::aws::partition;

fn document(statement: Vec<Statement>) -> String {
    serde_json::to_string(&Document {
        version: "2012-10-17",
        statement,
    })
    .expect("policy documents serialize")
}

impl SessionScope {
    /// The function policy: this function's actions on its own resources,
    /// for every tenant alike. Passed by the strategies without a tenant
    /// session policy, it intersects with the tenant's role (or the shared
    /// role and its tag), so the tenant confinement is the role's and the
    /// function confinement is this policy's.
    ///
    /// ```
    /// use tenant_access::config::TenantTemplate;
    /// use tenant_access::session_policy::SessionScope;
    ///
    /// let scope = SessionScope::S3 {
    ///     bucket: "shared".into(),
    ///     prefix_template: TenantTemplate::parse("{tenant}_home").unwrap(),
    /// };
    /// let policy = scope.function_policy("aws");
    /// assert!(policy.contains(r#""Resource":"arn:aws:s3:::shared/*""#));
    /// assert!(!policy.contains("tenant1") && !policy.contains("rds-db"));
    /// ```
    pub fn function_policy(&self, p: &str) -> String {
        document(match self {
            SessionScope::S3 { bucket, .. } => vec![
                Statement {
                    action: Action::Many(&OBJECT_ACTIONS),
                    ..allow("", format!("arn:{p}:s3:::{bucket}/*"))
                },
                allow("s3:ListBucket", format!("arn:{p}:s3:::{bucket}")),
                keys_through_s3(p, None),
            ],
            SessionScope::Table {
                table,
                region,
                account,
            } => vec![items_on_table(p, region, account, table, None)],
            SessionScope::Search {
                domain,
                region,
                account,
            } => calls_on_index(p, region, account, domain, None),
            SessionScope::Db {
                resource_id,
                region,
                account,
                ..
            } => vec![allow(
                "rds-db:connect",
                format!("arn:{p}:rds-db:{region}:{account}:dbuser:{resource_id}/*"),
            )],
        })
    }

    /// The session policy for one tenant, as the JSON STS receives.
    /// `partition` is the partition of the bucket's or database's region.
    ///
    /// ```
    /// use tenant_access::config::TenantTemplate;
    /// use tenant_access::session_policy::SessionScope;
    ///
    /// let scope = SessionScope::S3 {
    ///     bucket: "shared".into(),
    ///     prefix_template: TenantTemplate::parse("{tenant}_home").unwrap(),
    /// };
    /// let policy = scope.policy(&"tenant1".parse().unwrap(), "aws").unwrap();
    /// assert!(policy.contains(r#""Resource":"arn:aws:s3:::shared/tenant1_home/*""#));
    /// assert!(policy.contains(r#""s3:prefix":"tenant1_home/*""#));
    /// ```
    pub fn policy(&self, tenant: &TenantId, p: &str) -> Result<String, Error> {
        self.policy_for(tenant, None, p)
    }

    /// The session policy for `user`'s own area of `tenant` (or, with
    /// `None`, the tenant's shared area, which excludes every user area).
    ///
    /// ```
    /// use tenant_access::config::TenantTemplate;
    /// use tenant_access::session_policy::SessionScope;
    ///
    /// let scope = SessionScope::S3 {
    ///     bucket: "shared".into(),
    ///     prefix_template: TenantTemplate::parse("{tenant}_home").unwrap(),
    /// };
    /// let tenant = "tenant1".parse().unwrap();
    /// let mine = scope.policy_for(&tenant, Some(&"user-a".parse().unwrap()), "aws").unwrap();
    /// assert!(mine.contains(r#""Resource":"arn:aws:s3:::shared/tenant1_home/users/user-a/*""#));
    /// let shared = scope.policy_for(&tenant, None, "aws").unwrap();
    /// assert!(shared.contains(r#""Effect":"Deny","Action":["s3:GetObject","s3:PutObject","s3:DeleteObject"],"Resource":"arn:aws:s3:::shared/tenant1_home/users/*""#));
    /// ```
    pub fn policy_for(
        &self,
        tenant: &TenantId,
        user: Option<&UserId>,
        p: &str,
    ) -> Result<String, Error> {
        let statement = match self {
            SessionScope::S3 {
                bucket,
                prefix_template,
            } => {
                let home = prefix_template.render(tenant);
                let area = match user {
                    Some(user) => format!("{home}/{USER_AREA}/{user}"),
                    None => home.clone(),
                };
                let mut statements = vec![
                    Statement {
                        action: Action::Many(&OBJECT_ACTIONS),
                        ..allow("", format!("arn:{p}:s3:::{bucket}/{area}/*"))
                    },
                    keys_through_s3(p, Some(tenant)),
                    Statement {
                        condition: Some(serde_json::json!({
                            "StringLike": {"s3:prefix": format!("{area}/*")}
                        })),
                        ..allow("s3:ListBucket", format!("arn:{p}:s3:::{bucket}"))
                    },
                ];
                if user.is_none() {
                    // The tenant's shared area holds none of its users' own.
                    let users = format!("{home}/{USER_AREA}/");
                    statements.push(Statement {
                        action: Action::Many(&OBJECT_ACTIONS),
                        ..deny("", format!("arn:{p}:s3:::{bucket}/{users}*"))
                    });
                    statements.push(Statement {
                        condition: Some(serde_json::json!({
                            "StringLike": {"s3:prefix": format!("{users}*")}
                        })),
                        ..deny("s3:ListBucket", format!("arn:{p}:s3:::{bucket}"))
                    });
                }
                statements
            }
            // Only the tenant's own partition (or the user's): every key of
            // every item call must lead with it.
            SessionScope::Table {
                table,
                region,
                account,
            } => {
                let partition = match user {
                    Some(user) => user_partition(tenant, user),
                    None => tenant.as_str().to_owned(),
                };
                vec![items_on_table(p, region, account, table, Some(&partition))]
            }
            // Only the tenant's own index; search has no user areas.
            SessionScope::Search {
                domain,
                region,
                account,
            } => {
                if user.is_some() {
                    return Err(Error::Misconfigured {
                        detail: "the search store has no user areas".to_owned(),
                    });
                }
                calls_on_index(p, region, account, domain, Some(&tenant_index(tenant)))
            }
            SessionScope::Db {
                resource_id,
                user_template,
                region,
                account,
            } => vec![allow(
                "rds-db:connect",
                format!(
                    "arn:{p}:rds-db:{region}:{account}:dbuser:{resource_id}/{}",
                    user_template.render(tenant)
                ),
            )],
        };
        let json = document(statement);
        let chars = json.chars().count();
        if chars > MAX_POLICY_CHARS {
            return Err(Error::Misconfigured {
                detail: format!(
                    "the session policy is {chars} characters; STS accepts at most {MAX_POLICY_CHARS}"
                ),
            });
        }
        Ok(json)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s3(prefix: &str) -> SessionScope {
        SessionScope::S3 {
            bucket: "shared".into(),
            prefix_template: TenantTemplate::parse(prefix).unwrap(),
        }
    }

    fn db() -> SessionScope {
        SessionScope::Db {
            resource_id: "cluster-ABC".into(),
            user_template: TenantTemplate::parse("{tenant}_dbuser").unwrap(),
            region: "us-east-1".into(),
            account: "123456789012".into(),
        }
    }

    fn tenant(id: &str) -> TenantId {
        id.parse().unwrap()
    }

    #[test]
    fn policies_are_minimal_and_deterministic() {
        let policy = s3("{tenant}_home")
            .policy(&tenant("tenant1"), "aws")
            .unwrap();
        assert_eq!(
            policy,
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:GetObject","s3:PutObject","s3:DeleteObject"],"Resource":"arn:aws:s3:::shared/tenant1_home/*"},{"Effect":"Allow","Action":["kms:Decrypt","kms:GenerateDataKey"],"Resource":"arn:aws:kms:*:*:key/*","Condition":{"StringEquals":{"aws:ResourceTag/TenantID":"tenant1"},"StringLike":{"kms:ViaService":"s3.*.amazonaws.com"}}},{"Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:s3:::shared","Condition":{"StringLike":{"s3:prefix":"tenant1_home/*"}}},{"Effect":"Deny","Action":["s3:GetObject","s3:PutObject","s3:DeleteObject"],"Resource":"arn:aws:s3:::shared/tenant1_home/users/*"},{"Effect":"Deny","Action":"s3:ListBucket","Resource":"arn:aws:s3:::shared","Condition":{"StringLike":{"s3:prefix":"tenant1_home/users/*"}}}]}"#
        );
        assert_eq!(
            policy,
            s3("{tenant}_home")
                .policy(&tenant("tenant1"), "aws")
                .unwrap()
        );
        let db = db();
        assert_eq!(
            db.policy(&tenant("tenant2"), "aws").unwrap(),
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"rds-db:connect","Resource":"arn:aws:rds-db:us-east-1:123456789012:dbuser:cluster-ABC/tenant2_dbuser"}]}"#
        );
    }

    #[test]
    fn function_policies_name_no_tenant_and_only_the_function_s_service() {
        assert_eq!(
            s3("{tenant}_home").function_policy("aws"),
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:GetObject","s3:PutObject","s3:DeleteObject"],"Resource":"arn:aws:s3:::shared/*"},{"Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:s3:::shared"},{"Effect":"Allow","Action":["kms:Decrypt","kms:GenerateDataKey"],"Resource":"arn:aws:kms:*:*:key/*","Condition":{"StringLike":{"kms:ViaService":"s3.*.amazonaws.com"}}}]}"#
        );
        let db = db();
        assert_eq!(
            db.function_policy("aws"),
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"rds-db:connect","Resource":"arn:aws:rds-db:us-east-1:123456789012:dbuser:cluster-ABC/*"}]}"#
        );
    }

    #[test]
    fn table_policies_lead_with_the_tenant_and_never_scan() {
        let table = SessionScope::Table {
            table: "items".into(),
            region: "us-east-1".into(),
            account: "123456789012".into(),
        };
        assert_eq!(
            table.policy(&tenant("tenant1"), "aws").unwrap(),
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["dynamodb:GetItem","dynamodb:Query","dynamodb:PutItem","dynamodb:UpdateItem","dynamodb:DeleteItem"],"Resource":"arn:aws:dynamodb:us-east-1:123456789012:table/items","Condition":{"ForAllValues:StringEquals":{"dynamodb:LeadingKeys":["tenant1"]}}}]}"#
        );
        let function = table.function_policy("aws");
        assert!(!function.contains("tenant1") && !function.contains("Scan"));
        assert!(function.contains("arn:aws:dynamodb:us-east-1:123456789012:table/items"));
    }

    #[test]
    fn policies_over_the_sts_limit_are_refused_before_any_call() {
        let long = format!("{}/{{tenant}}", "p".repeat(1000));
        let err = s3(&long).policy(&tenant("tenant1"), "aws").unwrap_err();
        assert!(
            matches!(&err, Error::Misconfigured { detail } if detail.contains("2048")),
            "{err:?}"
        );
    }
}
