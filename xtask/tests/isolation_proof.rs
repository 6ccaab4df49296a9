//! Offline proof of isolation, for every strategy and every pair of tenants.
//!
//! moto enforces only literal role policies: no policy variables, no
//! conditions, no session policies. So the policies as deployed (read from
//! template.yaml and tenant-template.yaml) are evaluated here with the local
//! stack's one IAM evaluator (`local-iam`, on iam-rs), the one the local
//! front and the token verifier use, together with the session policy the
//! crate really generates, intersected as STS intersects them: a request is
//! allowed when the role's policies allow it and, if there is a session
//! policy, that policy allows it too.
//!
//! For tenants A and B, A's session must be allowed A's objects, A's prefix
//! in ListBucket, `rds-db:connect` as A's DB user and item calls on A's
//! partition (`dynamodb:LeadingKeys` = A), and denied B's objects, B's
//! prefix, the bucket root, B's DB user, any item call whose keys include
//! B's partition, and Scan.
//!
//! `identity-pool` is proved the same way: the pool's authenticated role
//! with the tags the pool sets from the token (`TenantID`, `username`), and
//! no session policy (the function sends none).
//!
//! And per function: the session policy is the one `TenantSessions` really
//! builds for each function's scope, so an s3-fetch session must be denied
//! `rds-db:connect` and item calls, an aurora-query session every S3 and
//! item call, and a dynamodb-items session S3 and the database, even as its
//! own tenant, under every strategy that assumes roles; and still without
//! its session policy, since each function assumes a role (or, under
//! role-per-tenant, carries a `Scope` tag its trust policy pins) that can do
//! only its job. (Under `identity-pool` a session is the user's, one for
//! every function.)

mod common;

use std::collections::HashMap;

use common::*;
use serde_json::Value as Json;
use tenant_access::TenantSessions;
use tenant_access::config::{AccessConfig, TenantTemplate};
use tenant_access::session_policy::SessionScope;

const TENANTS: [&str; 6] = ["tenant1", "tenant2", "acme", "a", "a-b", "ab"];
const STRATEGIES: [&str; 5] = [
    "role-per-tenant",
    "session-tags",
    "session-policy",
    "session-tags+session-policy",
    "identity-pool",
];
/// The strategies in which the function assumes the role (and so sends a
/// session policy): every one but `identity-pool`.
const ASSUMING: [&str; 4] = [
    "role-per-tenant",
    "session-tags",
    "session-policy",
    "session-tags+session-policy",
];

/// Each function's job (its `SessionScope::name`), its execution role and
/// its shared role's logical id.
const JOBS: [(&str, &str, &str); 4] = [
    ("s3", "S3FetchRole", "SharedS3Role"),
    ("db", "AuroraQueryRole", "SharedDbRole"),
    ("dynamodb", "DynamoDbItemsRole", "SharedDynamoDbRole"),
    ("search", "SearchDocsRole", "SharedSearchRole"),
];

/// The job (`SessionScope::name`) of a function as this file names them.
fn job(function: &str) -> &'static str {
    match function {
        "s3" => "s3",
        "db" => "db",
        "search" => "search",
        _ => "dynamodb",
    }
}

fn session(strategy: &str, tenant: &str, function: &str) -> Session {
    let tags_strategy = strategy.contains("session-tags");
    let pool = strategy == "identity-pool";
    let conditions = HashMap::from([
        ("TagSessions", tags_strategy),
        ("SharedRole", strategy != "role-per-tenant" && !pool),
        ("MakeProxy", false),
        ("MakeCluster", false),
        ("AssumesRoles", !pool),
        ("IdentityPoolStrategy", pool),
        ("MakeIdentityPool", pool),
    ]);
    let mut role_boundary = None;
    let (identity, tags) = if pool {
        let resolver = Resolver {
            params: main_params(),
            conditions,
        };
        let role = resolver
            .resolve(
                &load("template.yaml")["Resources"]["IdentityPoolAuthenticatedRole"]["Properties"],
            )
            .unwrap();
        // What the pool's attributes for access control set from the token.
        let tags = [
            ("TenantID".to_owned(), tenant.to_owned()),
            ("username".to_owned(), format!("sub-of-{tenant}")),
        ]
        .into();
        (policies_of(&role), tags)
    } else if strategy == "role-per-tenant" {
        let mut params = main_params();
        params.insert("TenantId", tenant.to_owned());
        let resolver = Resolver { params, conditions };
        let role = resolver
            .resolve(&load("tenant-template.yaml")["Resources"]["TenantRole"]["Properties"])
            .unwrap();
        let mut tags: std::collections::BTreeMap<String, String> = role["Tags"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| {
                (
                    t["Key"].as_str().unwrap().to_owned(),
                    t["Value"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        // The session tag the function sends: its job.
        for (key, value) in sent_tags(strategy, tenant, function) {
            tags.insert(key, value);
        }
        // Every tenant role carries the main stack's boundary.
        assert_eq!(role["PermissionsBoundary"], BOUNDARY);
        role_boundary = Some(boundary());
        (policies_of(&role), tags)
    } else {
        let resolver = Resolver {
            params: main_params(),
            conditions,
        };
        let shared = JOBS
            .iter()
            .find(|(j, _, _)| *j == job(function))
            .map(|(_, _, role)| *role)
            .unwrap();
        let role = resolver
            .resolve(&load("template.yaml")["Resources"][shared]["Properties"])
            .unwrap();
        let tags = if tags_strategy {
            [("TenantID".to_owned(), tenant.to_owned())].into()
        } else {
            Default::default()
        };
        (policies_of(&role), tags)
    };
    let session_policy = sent_policy(strategy, tenant, function)
        .map(|policy| serde_json::from_str(&policy).unwrap());
    // `<role id>:<session name>`: the function names an STS session
    // `<tenant>@<request id>`; the identity pool, by the identity.
    let userid = if pool {
        "AROAPROOFROLE:CognitoIdentityCredentials".to_owned()
    } else {
        format!(
            "AROAPROOFROLE:{}",
            tenant_access::credentials::session_name(&tenant.parse().unwrap(), "proof-1")
        )
    };
    Session {
        policies: identity,
        session_policy,
        boundary: role_boundary,
        tags,
        userid: Some(userid),
    }
}

/// The template's OffboardedTenantsDeny with `offboarded` listed, as
/// CloudFormation renders it.
fn offboarded_deny(offboarded: &[&str]) -> Json {
    let mut params = main_params();
    params.insert("OffboardedTenants", offboarded.join(","));
    Resolver {
        params,
        conditions: HashMap::new(),
    }
    .resolve(&load("template.yaml")["Resources"]["OffboardedTenantsDeny"]["Properties"]["PolicyDocument"])
    .unwrap()
}

/// Under every strategy whose roles tenants share, the deny the
/// offboarding adds ends the offboarded tenants' sessions for every job
/// (tagged ones by their tag, session-policy ones by their session name)
/// and no other tenant's: not `ab` or `a-b` when `a` is offboarded. Each
/// session was allowed its own data before, so the check can fail. Only
/// the tenants' shared roles carry it: role-per-tenant deletes the role.
#[test]
fn an_offboarded_tenant_is_denied_by_every_role_tenants_share_and_no_other_tenant_is() {
    let offboarded = ["a", "acme"];
    let shared_roles = [
        "SharedS3Role",
        "SharedDbRole",
        "SharedDynamoDbRole",
        "SharedSearchRole",
    ];
    let template = load("template.yaml");
    for role in shared_roles
        .iter()
        .chain(&["IdentityPoolAuthenticatedRole"])
    {
        let attached = &template["Resources"][*role]["Properties"]["ManagedPolicyArns"];
        assert_eq!(
            serde_norway::to_string(attached).unwrap().trim(),
            "- !Ref OffboardedTenantsDeny",
            "{role} carries the deny"
        );
    }
    let empty = offboarded_deny(&[]);
    for strategy in STRATEGIES.iter().filter(|s| **s != "role-per-tenant") {
        for function in ["s3", "db", "items", "search"] {
            for tenant in TENANTS {
                let own_data = |session: &Session| match function {
                    "s3" => session.allows("s3:GetObject", &object(tenant), &[]),
                    "db" => session.allows("rds-db:connect", &db_user(tenant), &[]),
                    "search" => {
                        session.allows("es:ESHttpGet", &search_path(tenant, "_search"), &[])
                    }
                    _ => items(session, "dynamodb:GetItem", &[tenant]),
                };
                let mut session = session(strategy, tenant, function);
                session.policies.push(empty.clone());
                assert!(own_data(&session), "{strategy} {function} {tenant}: served");
                *session.policies.last_mut().unwrap() = offboarded_deny(&offboarded);
                assert_eq!(
                    own_data(&session),
                    !offboarded.contains(&tenant),
                    "{strategy} {function} {tenant} with {offboarded:?} offboarded"
                );
            }
        }
    }
}

/// The session policy the crate sends for `tenant` from `function`
/// (`s3`, `db` or `items`), with the scope that function's `App::new` sets:
/// built by `TenantSessions::request_for`, offline.
fn sent_policy(strategy: &str, tenant: &str, function: &str) -> Option<String> {
    sent(strategy, tenant, function).policy
}

/// The session tags the crate sends, likewise.
fn sent_tags(strategy: &str, tenant: &str, function: &str) -> Vec<(String, String)> {
    sent(strategy, tenant, function).tags
}

/// The AssumeRole request the crate builds for `tenant` from `function`.
fn sent(
    strategy: &str,
    tenant: &str,
    function: &str,
) -> tenant_access::credentials::SessionRequest {
    sent_in(strategy, tenant, None, function)
}

/// The AssumeRole request the crate builds for `tenant` from `function`,
/// for `user`'s own area when given.
fn sent_in(
    strategy: &str,
    tenant: &str,
    user: Option<&str>,
    function: &str,
) -> tenant_access::credentials::SessionRequest {
    let shared_role = format!("arn:aws:iam::{ACCOUNT}:role/tenant-access-shared-{{scope}}");
    let vars = HashMap::from([
        ("TENANT_ISOLATION", strategy.to_owned()),
        ("TENANT_SHARED_ROLE_ARN", shared_role),
        ("AWS_ACCOUNT_ID", ACCOUNT.to_owned()),
        ("TENANT_IDENTITY_POOL_ID", POOL.to_owned()),
        (
            "TENANT_IDENTITY_PROVIDER",
            "cognito-idp.us-east-1.amazonaws.com/us-east-1_proof".to_owned(),
        ),
    ]);
    let config = AccessConfig::from_lookup(|name: &str| vars.get(name).cloned())
        .expect("the strategy's configuration");
    let sdk = aws_config::SdkConfig::builder()
        .region(aws_config::Region::new(REGION))
        .behavior_version(aws_config::BehaviorVersion::latest())
        .build();
    let scope = match function {
        "s3" => SessionScope::S3 {
            bucket: BUCKET.to_owned(),
            prefix_template: TenantTemplate::parse("{tenant}_home").unwrap(),
        },
        "db" => SessionScope::Db {
            resource_id: DB.to_owned(),
            user_template: TenantTemplate::parse("{tenant}_dbuser").unwrap(),
            region: REGION.to_owned(),
            account: ACCOUNT.to_owned(),
        },
        "search" => SessionScope::Search {
            domain: DOMAIN.to_owned(),
            region: REGION.to_owned(),
            account: ACCOUNT.to_owned(),
        },
        _ => SessionScope::Table {
            table: TABLE.to_owned(),
            region: REGION.to_owned(),
            account: ACCOUNT.to_owned(),
        },
    };
    let sessions = TenantSessions::new(&sdk, &config).with_scope(scope);
    let tenant = tenant.parse().unwrap();
    match user {
        Some(user) => sessions.request_for_user(&tenant, &user.parse().unwrap()),
        None => sessions.request_for(&tenant),
    }
    .expect("a request")
}

/// `user`'s own session of `tenant` from `function`, as IAM sees it: the
/// tenant's session, with the tags and policy the crate sends for the user
/// (under `identity-pool`, the pool's `username` tag, the token's sub).
fn user_session(strategy: &str, tenant: &str, user: &str, function: &str) -> Session {
    let mut session = session(strategy, tenant, function);
    if strategy == "identity-pool" {
        session.tags.insert("username".to_owned(), user.to_owned());
        return session;
    }
    let request = sent_in(strategy, tenant, Some(user), function);
    session.tags.extend(request.tags);
    session.session_policy = request
        .policy
        .map(|policy| serde_json::from_str(&policy).unwrap());
    session
}

/// Under every strategy, a user's own items (`<tenant>#<sub>`) only to that
/// user's session; under every strategy that assumes a role, its own files
/// (`<home>/users/<sub>/`) likewise, and the tenant's session to none of
/// its users' files. Under `identity-pool` the users of one tenant share
/// the tenant's files (docs/isolation.md): pinned here, so a change shows.
#[test]
fn a_user_s_session_reaches_only_its_own_area() {
    let file = |tenant: &str, user: &str| {
        format!("arn:aws:s3:::{BUCKET}/{tenant}_home/users/{user}/notes.txt")
    };
    for strategy in STRATEGIES {
        let a = user_session(strategy, "tenant1", "user-a", "items");
        let shared = session(strategy, "tenant1", "items");
        for call in ITEM_CALLS {
            assert!(
                items(&a, call, &["tenant1#user-a"]),
                "{strategy}: {call} own"
            );
            for others in [
                &["tenant1#user-b"][..],
                &["tenant2#user-a"],
                &["tenant1#user-a", "tenant1#user-b"],
                &["tenant1#user-a#x"],
            ] {
                assert!(!items(&a, call, others), "{strategy}: {call} {others:?}");
            }
            assert!(
                !items(&shared, call, &["tenant1#user-a"]),
                "{strategy}: the tenant's session {call} a user's partition"
            );
        }
        let a = user_session(strategy, "tenant1", "user-a", "s3");
        let b = user_session(strategy, "tenant1", "user-b", "s3");
        let elsewhere = user_session(strategy, "tenant2", "user-a", "s3");
        let shared = session(strategy, "tenant1", "s3");
        assert!(
            a.allows("s3:GetObject", &file("tenant1", "user-a"), &[]),
            "{strategy}"
        );
        assert!(
            a.allows("s3:PutObject", &file("tenant1", "user-a"), &[]),
            "{strategy}"
        );
        assert!(
            !elsewhere.allows("s3:GetObject", &file("tenant1", "user-a"), &[]),
            "{strategy}: another tenant's user with the same sub"
        );
        if strategy == "identity-pool" {
            assert!(
                b.allows("s3:GetObject", &file("tenant1", "user-a"), &[]),
                "the documented limit has moved: update docs/isolation.md"
            );
            continue;
        }
        for (who, session) in [("user B", &b), ("the tenant's session", &shared)] {
            for action in ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"] {
                assert!(
                    !session.allows(action, &file("tenant1", "user-a"), &[]),
                    "{strategy}: {who} {action} user A's file"
                );
            }
        }
        let bucket = format!("arn:aws:s3:::{BUCKET}");
        let lists = |session: &Session, prefix: &str| {
            session.allows("s3:ListBucket", &bucket, &[("s3:prefix", prefix)])
        };
        assert!(lists(&a, "tenant1_home/users/user-a/"), "{strategy}");
        assert!(!lists(&b, "tenant1_home/users/user-a/"), "{strategy}");
        assert!(!lists(&shared, "tenant1_home/users/"), "{strategy}");
        assert!(
            !lists(&a, "tenant1_home/"),
            "{strategy}: a user lists the home"
        );
        assert!(
            !a.allows("s3:GetObject", &object("tenant1"), &[]),
            "{strategy}: a user's session reads the tenant's files"
        );
    }
}

fn object(tenant: &str) -> String {
    format!("arn:aws:s3:::{BUCKET}/{tenant}_home/report.csv")
}

/// A tenant's KMS key (tagged `TenantID`).
fn key(tenant: &str) -> String {
    format!("arn:aws:kms:{REGION}:{ACCOUNT}:key/key-of-{tenant}")
}

/// Whether `session` may have S3 use `owner`'s key for `action`; with
/// `through_s3` false, as a direct KMS call.
fn uses_key(session: &Session, action: &str, owner: &str, through_s3: bool) -> bool {
    let via = format!("s3.{REGION}.amazonaws.com");
    let mut context = vec![("aws:ResourceTag/TenantID", owner)];
    if through_s3 {
        context.push(("kms:ViaService", via.as_str()));
    }
    session.allows(action, &key(owner), &context)
}

/// Whether `session` may make item call `action` whose keys lead with
/// `keys` (none: a Scan).
fn items(session: &Session, action: &str, keys: &[&str]) -> bool {
    let keys: Vec<String> = keys.iter().map(|k| (*k).to_owned()).collect();
    let lists: Vec<(&str, &[String])> = if keys.is_empty() {
        vec![]
    } else {
        vec![("dynamodb:LeadingKeys", &keys)]
    };
    session.decide_with(action, &table(), &[], &lists) == local_iam::Verdict::Allow
}

const ITEM_CALLS: [&str; 5] = [
    "dynamodb:GetItem",
    "dynamodb:Query",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
];

/// The resource of a request to `<tenant>.docs/<rest>` on the domain.
fn search_path(tenant: &str, rest: &str) -> String {
    format!("{}/{tenant}.docs/{rest}", domain())
}

/// Under every strategy, for every pair of tenants A and B (ids that are
/// prefixes of each other among them: `a`, `ab`, `a-b`): A's search session
/// may index, read and delete A's documents and search A's index, and
/// nothing else on the domain: not B's index, no index expression (`_all`,
/// `*`, `A*`, `A.*`, a comma list naming B), no multi-index API (`_bulk`,
/// `_mget`, `_msearch`, with or without A's index in the path), no alias,
/// no `_cat`, no index creation, no POST. And the other functions' sessions
/// reach no index at all.
#[test]
fn a_search_session_reaches_only_its_own_index() {
    let domain = domain();
    let mut checked = 0;
    for strategy in STRATEGIES {
        for (a, bounded) in TENANTS.iter().flat_map(|a| [(*a, true), (*a, false)]) {
            // Under role-per-tenant the tenant role's boundary holds as
            // well: each layer must hold alone, so the role's own
            // statements are proved without it too.
            let mut session = session(strategy, a, "search");
            if !bounded {
                if session.boundary.is_none() {
                    continue;
                }
                session.boundary = None;
            }
            for action in ["es:ESHttpGet", "es:ESHttpPut", "es:ESHttpDelete"] {
                assert!(
                    session.allows(action, &search_path(a, "_doc/note-1"), &[]),
                    "{strategy} {a}: {action} on its own document"
                );
            }
            assert!(
                session.allows("es:ESHttpGet", &search_path(a, "_search"), &[]),
                "{strategy} {a}: its own search"
            );
            let own_refused = [
                ("es:ESHttpPost", search_path(a, "_search")),
                ("es:ESHttpPut", format!("{domain}/{a}.docs")),
                ("es:ESHttpDelete", format!("{domain}/{a}.docs")),
                ("es:ESHttpPost", search_path(a, "_bulk")),
                ("es:ESHttpGet", search_path(a, "_mget")),
                ("es:ESHttpPost", search_path(a, "_msearch")),
                ("es:ESHttpPut", search_path(a, "_alias/x")),
                ("es:ESHttpPost", format!("{domain}/_bulk")),
                ("es:ESHttpGet", format!("{domain}/_mget")),
                ("es:ESHttpGet", format!("{domain}/_msearch")),
                ("es:ESHttpPost", format!("{domain}/_aliases")),
                ("es:ESHttpGet", format!("{domain}/_cat/indices")),
                ("es:ESHttpGet", format!("{domain}/_all/_search")),
                ("es:ESHttpGet", format!("{domain}/*/_search")),
                ("es:ESHttpGet", format!("{domain}/{a}*/_search")),
                ("es:ESHttpGet", format!("{domain}/{a}.*/_search")),
                ("es:ESHttpGet", format!("{domain}/_search")),
            ];
            for (action, resource) in &own_refused {
                assert!(
                    !session.allows(action, resource, &[]),
                    "{strategy} {a}: {action} on {resource}"
                );
                checked += 1;
            }
            for b in TENANTS.iter().filter(|b| **b != a) {
                for (action, resource) in [
                    ("es:ESHttpGet", search_path(b, "_doc/note-1")),
                    ("es:ESHttpPut", search_path(b, "_doc/note-1")),
                    ("es:ESHttpDelete", search_path(b, "_doc/note-1")),
                    ("es:ESHttpGet", search_path(b, "_search")),
                    (
                        "es:ESHttpGet",
                        format!("{domain}/{a}.docs,{b}.docs/_search"),
                    ),
                ] {
                    assert!(
                        !session.allows(action, &resource, &[]),
                        "{strategy} {a}: {action} on {resource}"
                    );
                    checked += 1;
                }
            }
            if strategy != "identity-pool" {
                // The other functions' sessions of A reach no index.
                for other in ["s3", "db", "items"] {
                    let session = self::session(strategy, a, other);
                    assert!(
                        !session.allows("es:ESHttpGet", &search_path(a, "_search"), &[]),
                        "{strategy} {a}: a {other} session searching"
                    );
                }
                // And a search session no object, DB user or item.
                assert!(
                    !session.allows("s3:GetObject", &object(a), &[]),
                    "{strategy} {a}"
                );
                assert!(
                    !session.allows("rds-db:connect", &db_user(a), &[]),
                    "{strategy} {a}"
                );
                assert!(!items(&session, "dynamodb:GetItem", &[a]), "{strategy} {a}");
            }
        }
    }
    // Every strategy's sessions, and role-per-tenant's once more unbounded.
    assert_eq!(
        checked,
        (STRATEGIES.len() + 1) * TENANTS.len() * (17 + 5 * 5)
    );
}

fn db_user(tenant: &str) -> String {
    format!("arn:aws:rds-db:{REGION}:{ACCOUNT}:dbuser:{DB}/{tenant}_dbuser")
}

#[test]
fn every_strategy_confines_every_tenant_to_its_own_data() {
    let bucket = format!("arn:aws:s3:::{BUCKET}");
    let mut checked = 0;
    for strategy in STRATEGIES {
        for a in TENANTS {
            let s3 = session(strategy, a, "s3");
            let db = session(strategy, a, "db");
            let item = session(strategy, a, "items");
            let own_prefix = format!("{a}_home/");
            assert!(
                s3.allows("s3:GetObject", &object(a), &[]),
                "{strategy}: {a} reads its object"
            );
            for call in ITEM_CALLS {
                assert!(
                    items(&item, call, &[a]),
                    "{strategy}: {a} {call} on its partition"
                );
            }
            for action in ["s3:PutObject", "s3:DeleteObject"] {
                assert!(
                    s3.allows(action, &object(a), &[]),
                    "{strategy}: {a} {action}"
                );
            }
            for action in ["kms:Decrypt", "kms:GenerateDataKey"] {
                assert!(
                    uses_key(&s3, action, a, true),
                    "{strategy}: {a} {action} own key"
                );
                assert!(
                    !uses_key(&s3, action, a, false),
                    "{strategy}: {a} {action} outside S3"
                );
            }
            // A call without keys satisfies `ForAllValues:` vacuously (as on
            // AWS), so only the action list keeps Scan and batches out.
            for call in ["dynamodb:Scan", "dynamodb:BatchGetItem"] {
                assert!(!items(&item, call, &[]), "{strategy}: {a} {call}");
            }
            assert!(
                s3.allows("s3:ListBucket", &bucket, &[("s3:prefix", &own_prefix)]),
                "{strategy}: {a} lists its prefix"
            );
            assert!(
                db.allows("rds-db:connect", &db_user(a), &[]),
                "{strategy}: {a} connects as itself"
            );
            assert!(
                !s3.allows("s3:ListBucket", &bucket, &[("s3:prefix", "")]),
                "{strategy}: {a} may not list the bucket root"
            );
            for b in TENANTS.iter().filter(|b| **b != a) {
                let their_prefix = format!("{b}_home/");
                assert!(
                    !s3.allows("s3:GetObject", &object(b), &[]),
                    "{strategy}: {a} reads {b}'s object"
                );
                assert!(
                    !s3.allows("s3:ListBucket", &bucket, &[("s3:prefix", &their_prefix)]),
                    "{strategy}: {a} lists {b}'s prefix"
                );
                assert!(
                    !db.allows("rds-db:connect", &db_user(b), &[]),
                    "{strategy}: {a} connects as {b}"
                );
                for action in ["s3:PutObject", "s3:DeleteObject"] {
                    assert!(
                        !s3.allows(action, &object(b), &[]),
                        "{strategy}: {a} {action} {b}'s"
                    );
                }
                for action in ["kms:Decrypt", "kms:GenerateDataKey"] {
                    assert!(
                        !uses_key(&s3, action, b, true),
                        "{strategy}: {a} {action} with {b}'s key"
                    );
                }
                for call in ITEM_CALLS {
                    assert!(
                        !items(&item, call, &[b]),
                        "{strategy}: {a} {call} on {b}'s partition"
                    );
                    assert!(
                        !items(&item, call, &[a, b]),
                        "{strategy}: {a} {call} on its and {b}'s"
                    );
                }
                checked += 4;
            }
        }
    }
    assert_eq!(checked, 5 * 6 * 5 * 4);
}

/// Each function's session does only its own job: an s3-fetch session may
/// not log into the database, an aurora-query session may not touch S3,
/// not even the tenant's own data, under every strategy.
#[test]
fn every_strategy_confines_each_function_s_session_to_its_own_job() {
    let bucket = format!("arn:aws:s3:::{BUCKET}");
    let mut checked = 0;
    for strategy in ASSUMING {
        for a in TENANTS {
            let s3 = session(strategy, a, "s3");
            let db = session(strategy, a, "db");
            let item = session(strategy, a, "items");
            let own_prefix = format!("{a}_home/");
            for call in ITEM_CALLS {
                assert!(
                    !items(&s3, call, &[a]),
                    "{strategy}: {a}'s s3-fetch session {call}"
                );
                assert!(
                    !items(&db, call, &[a]),
                    "{strategy}: {a}'s aurora-query session {call}"
                );
            }
            assert!(
                !item.allows("s3:GetObject", &object(a), &[]),
                "{strategy}: {a}'s dynamodb-items session reads S3"
            );
            assert!(
                !item.allows("rds-db:connect", &db_user(a), &[]),
                "{strategy}: {a}'s dynamodb-items session connects to the database"
            );
            assert!(
                !s3.allows("rds-db:connect", &db_user(a), &[]),
                "{strategy}: {a}'s s3-fetch session connects to the database"
            );
            assert!(
                !db.allows("s3:GetObject", &object(a), &[]),
                "{strategy}: {a}'s aurora-query session reads S3"
            );
            assert!(
                !db.allows("s3:ListBucket", &bucket, &[("s3:prefix", &own_prefix)]),
                "{strategy}: {a}'s aurora-query session lists S3"
            );
            checked += 3;
        }
    }
    assert_eq!(checked, 4 * 6 * 3);
}

/// Under role-per-tenant the functions may assume tenant roles under the
/// `/tenant/` path only: a role named like a tenant's at any other path (made
/// for something else, later, by anyone) is out of their reach.
#[test]
fn execution_roles_assume_only_roles_under_the_tenant_path() {
    let resolver = assuming(false, false, false);
    let template = load("template.yaml");
    for name in ["S3FetchRole", "AuroraQueryRole", "DynamoDbItemsRole"] {
        let role = resolver
            .resolve(&template["Resources"][name]["Properties"])
            .unwrap();
        let execution = acting_as(&role);
        let role_arn = |path_and_name: &str| format!("arn:aws:iam::{ACCOUNT}:role/{path_and_name}");
        let tagged = [("iam:ResourceTag/TenantID", "tenant1")];
        assert!(execution.allows(
            "sts:AssumeRole",
            &role_arn("tenant/assumeRole-tenant1"),
            &tagged
        ));
        // A role under /tenant/ that carries no tenant (made around the
        // onboarding role's guardrails) is out of reach.
        assert!(
            !execution.allows(
                "sts:AssumeRole",
                &role_arn("tenant/assumeRole-tenant1"),
                &[]
            ),
            "{name} may assume an untagged tenant role"
        );
        for outside in [
            "assumeRole-tenant1",
            "admin/assumeRole-tenant1",
            "tenant/admin",
            "tenant-access-shared-tenant",
        ] {
            assert!(
                !execution.allows("sts:AssumeRole", &role_arn(outside), &tagged),
                "{name} may assume {outside}"
            );
        }
    }
}

/// The identity of a resolved execution role: its own policies, nothing
/// else.
fn acting_as(role: &Json) -> Session {
    Session {
        policies: policies_of(role),
        session_policy: None,
        boundary: None,
        tags: Default::default(),
        userid: None,
    }
}

/// The main template resolved for a shared strategy, with session tags or
/// without.
fn shared_strategy(tags: bool) -> Resolver<'static> {
    assuming(true, tags, false)
}

/// The main template resolved for a strategy that assumes roles: shared
/// roles or the tenants' own, session tags or none, and with a dedicated
/// tier (`DedicatedTier`: its tenants' own roles beside the shared one) or
/// without.
fn assuming(shared: bool, tags: bool, dedicated: bool) -> Resolver<'static> {
    Resolver {
        params: main_params(),
        conditions: HashMap::from([
            ("TagSessions", tags),
            ("SharedRole", shared),
            ("MakeProxy", false),
            ("MakeCluster", false),
            ("AssumesRoles", true),
            ("DedicatedTierRoles", shared && dedicated),
        ]),
    }
}

/// With a dedicated tier beside a shared strategy, each execution role may
/// assume its own shared role and the tenants' own roles under `/tenant/`
/// that carry their tenant, and nothing else: not another job's shared
/// role, not an untagged tenant role, not a role outside the path. Without
/// the tier, no tenant role at all.
#[test]
fn a_dedicated_tier_adds_the_tenants_own_roles_and_nothing_else() {
    let template = load("template.yaml");
    for tags in [false, true] {
        for dedicated in [false, true] {
            let resolver = assuming(true, tags, dedicated);
            for (job, execution, _) in JOBS {
                let role = resolver
                    .resolve(&template["Resources"][execution]["Properties"])
                    .unwrap();
                let caller = acting_as(&role);
                let arn = |name: &str| format!("arn:aws:iam::{ACCOUNT}:role/{name}");
                let tagged = [("iam:ResourceTag/TenantID", "tenant1")];
                assert_eq!(
                    caller.allows("sts:AssumeRole", &arn("tenant/assumeRole-tenant1"), &tagged),
                    dedicated,
                    "{execution}, dedicated tier {dedicated}: a tenant's own role"
                );
                assert_eq!(
                    caller.allows("sts:TagSession", &arn("tenant/assumeRole-tenant1"), &tagged),
                    dedicated,
                    "{execution}: the Scope tag it passes"
                );
                assert!(
                    !caller.allows("sts:AssumeRole", &arn("tenant/assumeRole-tenant1"), &[]),
                    "{execution}: an untagged tenant role"
                );
                for outside in ["assumeRole-tenant1", "admin/assumeRole-tenant1"] {
                    assert!(
                        !caller.allows("sts:AssumeRole", &arn(outside), &tagged),
                        "{execution} may assume {outside}"
                    );
                }
                for (other, _, _) in JOBS {
                    assert_eq!(
                        caller.allows(
                            "sts:AssumeRole",
                            &arn(&format!("tenant-access-shared-{other}")),
                            &[]
                        ),
                        job == other,
                        "{execution} assuming the {other} shared role"
                    );
                }
            }
        }
    }
}

/// Under the shared strategies each execution role's own policy names only
/// its function's shared role (the other side of the trust policies).
#[test]
fn execution_roles_assume_only_their_own_shared_role() {
    for tags in [false, true] {
        let resolver = shared_strategy(tags);
        for (job, execution, _) in JOBS {
            let role = resolver
                .resolve(&load("template.yaml")["Resources"][execution]["Properties"])
                .unwrap();
            let caller = acting_as(&role);
            for (other, _, _) in JOBS {
                let arn = format!("arn:aws:iam::{ACCOUNT}:role/tenant-access-shared-{other}");
                assert_eq!(
                    caller.allows("sts:AssumeRole", &arn, &[]),
                    job == other,
                    "{execution} assuming {arn}"
                );
            }
        }
    }
}

/// Without its session policy (a compromised function skipping it), a
/// session still does only its function's job: the shared strategies give
/// each function its own role, and under role-per-tenant every statement of
/// the tenant's role requires the session's `Scope` tag. A session assumed
/// without the tag can do nothing at all.
#[test]
fn without_its_session_policy_a_session_still_does_only_its_function_s_job() {
    for strategy in ASSUMING {
        let mut s3 = session(strategy, "tenant1", "s3");
        let mut db = session(strategy, "tenant1", "db");
        let mut item = session(strategy, "tenant1", "items");
        for session in [&mut s3, &mut db, &mut item] {
            session.session_policy = None;
        }
        assert!(
            s3.allows("s3:GetObject", &object("tenant1"), &[]),
            "{strategy}"
        );
        assert!(
            !s3.allows("rds-db:connect", &db_user("tenant1"), &[]),
            "{strategy}"
        );
        assert!(!items(&s3, "dynamodb:GetItem", &["tenant1"]), "{strategy}");
        assert!(
            db.allows("rds-db:connect", &db_user("tenant1"), &[]),
            "{strategy}"
        );
        assert!(
            !db.allows("s3:GetObject", &object("tenant1"), &[]),
            "{strategy}"
        );
        assert!(!uses_key(&db, "kms:Decrypt", "tenant1", true), "{strategy}");
        assert!(!items(&db, "dynamodb:GetItem", &["tenant1"]), "{strategy}");
        assert!(items(&item, "dynamodb:GetItem", &["tenant1"]), "{strategy}");
        assert!(
            !item.allows("s3:GetObject", &object("tenant1"), &[]),
            "{strategy}"
        );
        assert!(
            !item.allows("rds-db:connect", &db_user("tenant1"), &[]),
            "{strategy}"
        );
    }
    // Role-per-tenant: the tag decides. Without it, nothing; with another
    // job's, that job (which the trust policy keeps from this function:
    // `each_execution_role_may_assume_only_for_its_own_job`).
    let mut untagged = session("role-per-tenant", "tenant1", "db");
    untagged.session_policy = None;
    untagged.tags.remove("Scope");
    assert!(!untagged.allows("rds-db:connect", &db_user("tenant1"), &[]));
    assert!(!untagged.allows("s3:GetObject", &object("tenant1"), &[]));
    untagged.tags.insert("Scope".into(), "s3".into());
    assert!(untagged.allows("s3:GetObject", &object("tenant1"), &[]));
}

/// The trust policies, evaluated with the one evaluator as STS would for
/// each execution role: a function may assume its own shared role and no
/// other function's, and a tenant's role only with the `Scope` tag of its
/// own job, and nothing else in the tag set.
#[test]
fn each_execution_role_may_assume_only_for_its_own_job() {
    use local_iam::{Caller, Verdict, trust_decision};
    // STS's decision for `caller`'s AssumeRole of `role` with `tags`:
    // `sts:AssumeRole`, and `sts:TagSession` when tagged.
    let assume = |trust: &Json, role: &str, caller: &str, tags: &[(&str, &str)]| {
        let keys: Vec<String> = tags.iter().map(|(k, _)| (*k).to_owned()).collect();
        let context: Vec<(String, &str)> = tags
            .iter()
            .map(|(k, v)| (format!("aws:RequestTag/{k}"), *v))
            .collect();
        let context: Vec<(&str, &str)> = context.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        let actions: &[&str] = if tags.is_empty() {
            &["sts:AssumeRole"]
        } else {
            &["sts:AssumeRole", "sts:TagSession"]
        };
        trust_decision(
            trust,
            role,
            Caller::Aws(caller),
            actions,
            &context,
            &[("aws:TagKeys", &keys)],
        ) == Verdict::Allow
    };
    let mut checked = 0;
    for tags in [false, true] {
        let resolver = shared_strategy(tags);
        for (job, _, shared) in JOBS {
            let role = resolver
                .resolve(&load("template.yaml")["Resources"][shared]["Properties"])
                .unwrap();
            let arn = format!(
                "arn:aws:iam::{ACCOUNT}:role/{}",
                role["RoleName"].as_str().unwrap()
            );
            assert!(arn.ends_with(&format!("-shared-{job}")));
            let trust = &role["AssumeRolePolicyDocument"];
            for (other_job, execution, _) in JOBS {
                let caller = format!("arn:aws:iam::{ACCOUNT}:role/{execution}");
                // Under session-tags a session carries its tenant, and the
                // trust policy itself refuses one without it.
                let tenant: &[(&str, &str)] = if tags {
                    &[("TenantID", "tenant1")]
                } else {
                    &[]
                };
                assert_eq!(
                    assume(trust, &arn, &caller, tenant),
                    job == other_job,
                    "{execution} assuming {arn}"
                );
                checked += 1;
            }
            let own = format!(
                "arn:aws:iam::{ACCOUNT}:role/{}",
                JOBS.iter().find(|j| j.0 == job).unwrap().1
            );
            if tags {
                assert!(!assume(trust, &arn, &own, &[]), "{arn} untagged");
                assert!(
                    !assume(trust, &arn, &own, &[("TenantID", "")]),
                    "{arn} with an empty TenantID"
                );
                assert!(
                    !assume(
                        trust,
                        &arn,
                        &own,
                        &[("TenantID", "tenant1"), ("Scope", "s3")]
                    ),
                    "{arn} with another tag beside TenantID"
                );
                checked += 3;
            }
        }
    }
    let mut params = main_params();
    params.insert("TenantId", "tenant1".to_owned());
    let resolver = Resolver {
        params,
        conditions: HashMap::from([("MakeRole", true)]),
    };
    let role = resolver
        .resolve(&load("tenant-template.yaml")["Resources"]["TenantRole"]["Properties"])
        .unwrap();
    let arn = format!("arn:aws:iam::{ACCOUNT}:role/tenant/assumeRole-tenant1");
    let trust = &role["AssumeRolePolicyDocument"];
    for ((job, _, _), execution) in JOBS.iter().zip(EXECUTION_ROLES) {
        for (tag, _, _) in JOBS {
            assert_eq!(
                assume(trust, &arn, execution, &[("Scope", tag)]),
                *job == tag,
                "{execution} with Scope={tag}"
            );
            checked += 1;
        }
        // No tag: refused; and no other tag may ride along.
        assert!(!assume(trust, &arn, execution, &[]), "{execution} untagged");
        assert!(
            !assume(
                trust,
                &arn,
                execution,
                &[("Scope", job), ("TenantID", "tenant2")]
            ),
            "{execution} with an extra tag"
        );
    }
    assert_eq!(checked, 2 * 16 + 4 * 3 + 16);
}

/// What the strategies rely on from each other: without its session policy,
/// the session-policy strategy's shared role alone spans every tenant (so the
/// proof above really exercises the intersection), and the tag is what
/// confines session-tags (a session tagged with B reads B's data).
#[test]
fn the_proof_depends_on_the_policy_and_the_tag() {
    let mut shared = session("session-policy", "tenant1", "s3");
    shared.session_policy = None;
    assert!(shared.allows("s3:GetObject", &object("tenant2"), &[]));
    let mut tagged = session("session-tags", "tenant1", "db");
    assert!(!tagged.allows("rds-db:connect", &db_user("tenant2"), &[]));
    tagged.tags.insert("TenantID".into(), "tenant2".into());
    assert!(tagged.allows("rds-db:connect", &db_user("tenant2"), &[]));
    // The identity pool's tag is what confines its role, and the
    // LeadingKeys condition what confines items (without it, any partition).
    let mut pooled = session("identity-pool", "tenant1", "items");
    assert!(!items(&pooled, "dynamodb:GetItem", &["tenant2"]));
    pooled.tags.insert("TenantID".into(), "tenant2".into());
    assert!(items(&pooled, "dynamodb:GetItem", &["tenant2"]));
    let mut unconditioned = session("identity-pool", "tenant1", "items");
    for policy in &mut unconditioned.policies {
        for statement in policy["Statement"].as_array_mut().unwrap() {
            statement.as_object_mut().unwrap().remove("Condition");
        }
    }
    assert!(items(&unconditioned, "dynamodb:GetItem", &["tenant2"]));
}
