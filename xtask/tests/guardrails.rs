//! Offline proof of the IAM guardrails (template.yaml's `TenantBoundary`
//! and `TenantOnboardingRole`), with the local stack's one IAM evaluator:
//!
//! - the onboarding role may create a role only under `/tenant/`, only with
//!   the tenant boundary, only with a `TenantID` tag and no tag beyond the
//!   tenant ones; it can never remove the boundary, change a role's tenant,
//!   edit the boundary policy or pass a role; and it may create a KMS key
//!   only tagged with its tenant, whose tenant it can then never change;
//! - a tenant role carrying the boundary reaches only its own tenant's
//!   objects, key, items and DB user, however broad its own policy is,
//!   even one written for another tenant's prefix.
//!
//! moto evaluates no condition and no boundary, so these are decided here,
//! on the policies as deployed.

mod common;

use std::collections::HashMap;

use common::*;
use serde_json::{Value as Json, json};

/// The onboarding role's policies, resolved (the stack with its user pool).
fn onboarding() -> Session {
    let resolver = Resolver {
        params: main_params(),
        conditions: HashMap::from([
            ("MakeProxy", false),
            ("MakeCluster", false),
            ("MakeUserPool", true),
        ]),
    };
    let role = resolver
        .resolve(&load("template.yaml")["Resources"]["TenantOnboardingRole"]["Properties"])
        .unwrap();
    Session {
        policies: policies_of(&role),
        session_policy: None,
        boundary: None,
        tags: Default::default(),
        userid: None,
    }
}

fn role(path_and_name: &str) -> String {
    format!("arn:aws:iam::{ACCOUNT}:role/{path_and_name}")
}

/// Tag keys, as `aws:TagKeys` lists them.
fn keys(keys: &[&str]) -> Vec<String> {
    keys.iter().map(|k| (*k).to_owned()).collect()
}

/// What IAM decides when the onboarding role calls `action` on `resource`
/// with these single-valued and tag-key context values.
fn verdict(
    action: &str,
    resource: &str,
    context: &[(&str, &str)],
    tag_keys: &[&str],
) -> local_iam::Verdict {
    let tag_keys = keys(tag_keys);
    let lists: Vec<(&str, &[String])> = if tag_keys.is_empty() {
        Vec::new()
    } else {
        vec![("aws:TagKeys", &tag_keys)]
    };
    onboarding().decide_with(action, resource, context, &lists)
}

/// Whether the onboarding role may call `action` on `resource`.
fn may(action: &str, resource: &str, context: &[(&str, &str)], tag_keys: &[&str]) -> bool {
    verdict(action, resource, context, tag_keys) == local_iam::Verdict::Allow
}

/// Whether a statement of the onboarding role denies it outright (not
/// merely no statement allowing it): what no later grant can undo.
fn denied(action: &str, resource: &str, context: &[(&str, &str)], tag_keys: &[&str]) -> bool {
    verdict(action, resource, context, tag_keys) == local_iam::Verdict::ExplicitDeny
}

const TENANT_TAGS: [&str; 3] = ["TenantID", "s3_home", "dbuser"];

#[test]
fn tenant_roles_are_created_only_under_the_tenant_path_with_the_boundary_and_the_tag() {
    // Whether `action` is allowed for a role at `path` created with this
    // boundary, TenantID tag and tag keys. (A role created with tags needs
    // both iam:CreateRole and iam:TagRole; each is refused on its own here,
    // so that neither statement leans on the other.)
    let allowed = |action: &str,
                   path: &str,
                   boundary: Option<&str>,
                   tenant: Option<&str>,
                   tag_keys: &[&str]| {
        let mut context = Vec::new();
        if let Some(boundary) = boundary {
            context.push(("iam:PermissionsBoundary", boundary));
        }
        if let Some(tenant) = tenant {
            context.push(("aws:RequestTag/TenantID", tenant));
        }
        may(action, &role(path), &context, tag_keys)
    };
    let create = |path: &str, boundary: Option<&str>, tenant: Option<&str>, tag_keys: &[&str]| {
        allowed("iam:CreateRole", path, boundary, tenant, tag_keys)
    };
    let path = "tenant/assumeRole-acme";
    assert!(create(path, Some(BOUNDARY), Some("acme"), &TENANT_TAGS));
    assert!(allowed(
        "iam:TagRole",
        path,
        None,
        Some("acme"),
        &TENANT_TAGS
    ));
    for (what, tenant, tag_keys) in [
        ("no TenantID", None, &["s3_home", "dbuser"][..]),
        (
            "a tag beyond the tenant's",
            Some("acme"),
            &["TenantID", "Admin"][..],
        ),
    ] {
        assert!(
            !allowed("iam:TagRole", path, None, tenant, tag_keys),
            "the onboarding role may tag a new role with {what}"
        );
    }
    assert!(!allowed(
        "iam:TagRole",
        "admin/acme",
        None,
        Some("acme"),
        &TENANT_TAGS
    ));
    assert!(!may(
        "iam:CreateRole",
        &role(path),
        &[("aws:RequestTag/TenantID", "acme")],
        &TENANT_TAGS
    ));
    let other_policy = format!("arn:aws:iam::{ACCOUNT}:policy/AdministratorAccess");
    for (what, refused) in [
        (
            "without a boundary",
            create(path, None, Some("acme"), &TENANT_TAGS),
        ),
        (
            "with another boundary",
            create(path, Some(&other_policy), Some("acme"), &TENANT_TAGS),
        ),
        (
            "without its TenantID tag",
            create(path, Some(BOUNDARY), None, &["s3_home", "dbuser"]),
        ),
        (
            "with a tag beyond the tenant's",
            create(path, Some(BOUNDARY), Some("acme"), &["TenantID", "Admin"]),
        ),
        (
            "outside /tenant/",
            create(
                "assumeRole-acme",
                Some(BOUNDARY),
                Some("acme"),
                &TENANT_TAGS,
            ),
        ),
        (
            "on another path",
            create("admin/acme", Some(BOUNDARY), Some("acme"), &TENANT_TAGS),
        ),
    ] {
        assert!(!refused, "the onboarding role may create a role {what}");
    }
}

#[test]
fn a_tenant_role_keeps_its_boundary_and_its_tenant() {
    let acme = role("tenant/assumeRole-acme");
    let tagged = [("aws:ResourceTag/TenantID", "acme")];
    // Its policies change only under the boundary.
    assert!(may(
        "iam:PutRolePolicy",
        &acme,
        &[("iam:PermissionsBoundary", BOUNDARY)],
        &[]
    ));
    assert!(!may("iam:PutRolePolicy", &acme, &[], &[]));
    assert!(!may(
        "iam:PutRolePermissionsBoundary",
        &acme,
        &[(
            "iam:PermissionsBoundary",
            &format!("arn:aws:iam::{ACCOUNT}:policy/AdministratorAccess")
        )],
        &[]
    ));
    assert!(denied("iam:DeleteRolePermissionsBoundary", &acme, &[], &[]));
    // Its tenant is set once: no retagging, no untagging.
    let retag = [
        ("aws:ResourceTag/TenantID", "acme"),
        ("aws:RequestTag/TenantID", "globex"),
    ];
    assert!(!may("iam:TagRole", &acme, &retag, &["TenantID"]));
    assert!(denied("iam:UntagRole", &acme, &tagged, &["TenantID"]));
    // The boundary itself stays as deployed, and no role is passed.
    for action in [
        "iam:CreatePolicyVersion",
        "iam:SetDefaultPolicyVersion",
        "iam:DeletePolicy",
    ] {
        assert!(
            denied(action, BOUNDARY, &[], &[]),
            "{action} on the boundary"
        );
    }
    assert!(denied("iam:PassRole", &acme, &tagged, &[]));
    assert!(may("iam:DeleteRole", &acme, &tagged, &[]), "offboarding");
}

#[test]
fn tenant_keys_are_created_tagged_and_keep_their_tenant() {
    let any = format!("arn:aws:kms:{REGION}:{ACCOUNT}:key/*");
    let new_key = [("aws:RequestTag/TenantID", "acme")];
    assert!(may("kms:CreateKey", &any, &new_key, &["TenantID"]));
    assert!(may("kms:TagResource", &any, &new_key, &["TenantID"]));
    assert!(!may("kms:CreateKey", &any, &[], &[]), "an untagged key");
    assert!(
        !may("kms:CreateKey", &any, &new_key, &["TenantID", "Admin"]),
        "a tag beyond the tenant's"
    );
    let key = format!("arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab");
    let retag = [
        ("aws:ResourceTag/TenantID", "acme"),
        ("aws:RequestTag/TenantID", "globex"),
    ];
    assert!(denied("kms:TagResource", &key, &retag, &["TenantID"]));
    assert!(denied(
        "kms:UntagResource",
        &key,
        &[("aws:ResourceTag/TenantID", "acme")],
        &["TenantID"]
    ));
    assert!(may(
        "kms:ScheduleKeyDeletion",
        &key,
        &[("aws:ResourceTag/TenantID", "acme")],
        &[]
    ));
    assert!(
        !may("kms:ScheduleKeyDeletion", &key, &[], &[]),
        "a key of no tenant (the items table's)"
    );
}

/// A tenant role carrying the boundary, with `policy` as its own.
fn bounded(tenant: &str, policy: Json) -> Session {
    Session {
        policies: vec![policy],
        session_policy: None,
        boundary: Some(boundary()),
        tags: [("TenantID".to_owned(), tenant.to_owned())].into(),
        userid: None,
    }
}

#[test]
fn a_tenant_role_written_too_broadly_still_reaches_only_its_own_tenant() {
    // Everything, and another tenant's prefix by name.
    let broad = json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "*", "Resource": "*"},
        {"Effect": "Allow", "Action": "s3:GetObject",
         "Resource": format!("arn:aws:s3:::{BUCKET}/globex_home/*")}]});
    let acme = bounded("acme", broad);
    let object = |tenant: &str| format!("arn:aws:s3:::{BUCKET}/{tenant}_home/report.pdf");
    assert!(acme.allows("s3:GetObject", &object("acme"), &[]));
    assert!(acme.allows("s3:PutObject", &object("acme"), &[]));
    assert_eq!(
        acme.decide("s3:GetObject", &object("globex"), &[]),
        local_iam::Verdict::NotAllowedByBoundary
    );
    // Prefix look-alikes: acme is not a prefix of acme-corp's home.
    assert!(!acme.allows("s3:GetObject", &object("acme-corp"), &[]));
    assert!(!acme.allows("s3:GetObject", "arn:aws:s3:::other-bucket/acme_home/x", &[]));
    assert!(acme.allows(
        "s3:ListBucket",
        &format!("arn:aws:s3:::{BUCKET}"),
        &[("s3:prefix", "acme_home/docs/")]
    ));
    assert!(!acme.allows(
        "s3:ListBucket",
        &format!("arn:aws:s3:::{BUCKET}"),
        &[("s3:prefix", "globex_home/")]
    ));
    let key = format!("arn:aws:kms:{REGION}:{ACCOUNT}:key/k");
    assert!(acme.allows("kms:Decrypt", &key, &[("aws:ResourceTag/TenantID", "acme")]));
    assert!(!acme.allows(
        "kms:Decrypt",
        &key,
        &[("aws:ResourceTag/TenantID", "globex")]
    ));
    let leading = |tenant: &str| vec![tenant.to_owned()];
    let item = |tenant: &str| {
        acme.decide_with(
            "dynamodb:GetItem",
            &table(),
            &[],
            &[("dynamodb:LeadingKeys", &leading(tenant))],
        ) == local_iam::Verdict::Allow
    };
    assert!(item("acme"));
    assert!(!item("globex"));
    let db_user = |user: &str| format!("arn:aws:rds-db:{REGION}:{ACCOUNT}:dbuser:{DB}/{user}");
    assert!(acme.allows("rds-db:connect", &db_user("acme_dbuser"), &[]));
    assert!(!acme.allows("rds-db:connect", &db_user("globex_dbuser"), &[]));
    assert!(!acme.allows("rds-db:connect", &db_user("postgres"), &[]));
    // Search: its own index's documents and search, no other tenant's
    // (the delimiter: acme's is not acme-corp's), no expression, no
    // multi-index API.
    let path = |rest: &str| format!("{}/{rest}", domain());
    assert!(acme.allows("es:ESHttpGet", &path("acme.docs/_search"), &[]));
    assert!(acme.allows("es:ESHttpPut", &path("acme.docs/_doc/a"), &[]));
    for (action, rest) in [
        ("es:ESHttpGet", "globex.docs/_search"),
        ("es:ESHttpGet", "acme-corp.docs/_search"),
        ("es:ESHttpPut", "globex.docs/_doc/a"),
        ("es:ESHttpGet", "_all/_search"),
        ("es:ESHttpGet", "acme*/_search"),
        ("es:ESHttpPost", "acme.docs/_bulk"),
        ("es:ESHttpPost", "_msearch"),
        ("es:ESHttpGet", "_cat/indices"),
        ("es:ESHttpPut", "acme.docs/_alias/globex.docs"),
    ] {
        assert!(!acme.allows(action, &path(rest), &[]), "{action} on {rest}");
    }
    // Nothing beyond data: no IAM, no registry, no other service.
    for (action, resource) in [
        ("iam:CreateRole", role("tenant/x")),
        ("iam:PassRole", role("tenant/x")),
        ("sts:AssumeRole", role("tenant/assumeRole-globex")),
        (
            "dynamodb:PutItem",
            format!("arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/tenant-registry"),
        ),
        (
            "secretsmanager:GetSecretValue",
            format!("arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:db-master"),
        ),
    ] {
        assert!(
            !acme.allows(action, &resource, &[]),
            "{action} on {resource}"
        );
    }
}
