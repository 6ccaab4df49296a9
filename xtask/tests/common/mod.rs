//! What the offline proofs share: the templates as deployed, their
//! intrinsics resolved for one set of parameters and conditions, and the
//! one local IAM evaluator's session.

#![allow(dead_code)]

use std::collections::HashMap;
use std::path::PathBuf;

use serde_json::{Value as Json, json};
use serde_norway::Value;

pub const ACCOUNT: &str = "123456789012";
pub const REGION: &str = "us-east-1";
pub const BUCKET: &str = "tenant-bucket";
pub const DB: &str = "cluster-PROOF0RESOURCE0ID";
pub const TABLE: &str = "tenant-items";
pub const DOMAIN: &str = "tenant-docs";
pub const POOL: &str = "us-east-1:00000000-0000-4000-8000-000000000000";

pub fn load(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(name);
    serde_norway::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Resolve the intrinsics the policies use, for one set of parameters and
/// conditions. `${!x}` stays a policy variable `${x}`.
pub struct Resolver<'a> {
    pub params: HashMap<&'a str, String>,
    pub conditions: HashMap<&'a str, bool>,
}

impl Resolver<'_> {
    fn sub(&self, template: &str, locals: &HashMap<String, String>) -> String {
        let mut out = String::new();
        let mut rest = template;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let end = rest[start..].find('}').expect("closed ${") + start;
            let name = &rest[start + 2..end];
            match name.strip_prefix('!') {
                Some(literal) => out.push_str(&format!("${{{literal}}}")),
                None => out.push_str(
                    locals
                        .get(name)
                        .or_else(|| self.params.get(name))
                        .unwrap_or_else(|| panic!("no value for ${{{name}}}")),
                ),
            }
            rest = &rest[end + 1..];
        }
        out + rest
    }

    /// `None` for `AWS::NoValue`.
    pub fn resolve(&self, value: &Value) -> Option<Json> {
        Some(match value {
            Value::Null => Json::Null,
            Value::Bool(b) => json!(b),
            Value::Number(n) => serde_json::from_str(&n.to_string()).unwrap(),
            Value::String(s) => json!(s),
            Value::Sequence(items) => {
                Json::Array(items.iter().filter_map(|i| self.resolve(i)).collect())
            }
            Value::Mapping(map) => Json::Object(
                map.iter()
                    .filter_map(|(k, v)| Some((k.as_str().unwrap().to_owned(), self.resolve(v)?)))
                    .collect(),
            ),
            Value::Tagged(tagged) => {
                let inner = &tagged.value;
                if tagged.tag == "Sub" {
                    match inner {
                        Value::String(s) => json!(self.sub(s, &HashMap::new())),
                        Value::Sequence(parts) => {
                            let locals = parts[1]
                                .as_mapping()
                                .unwrap()
                                .iter()
                                .map(|(k, v)| {
                                    let v = self.resolve(v).unwrap();
                                    (
                                        k.as_str().unwrap().to_owned(),
                                        v.as_str().unwrap().to_owned(),
                                    )
                                })
                                .collect();
                            json!(self.sub(parts[0].as_str().unwrap(), &locals))
                        }
                        other => panic!("!Sub {other:?}"),
                    }
                } else if tagged.tag == "If" {
                    let parts = inner.as_sequence().unwrap();
                    let condition = parts[0].as_str().unwrap();
                    let chosen = if self.conditions[condition] {
                        &parts[1]
                    } else {
                        &parts[2]
                    };
                    return self.resolve(chosen);
                } else if tagged.tag == "Ref" {
                    let name = inner.as_str().unwrap();
                    if name == "AWS::NoValue" {
                        return None;
                    }
                    if name == "OffboardedTenants" {
                        // A CommaDelimitedList used as a list: "" is [""].
                        let list = &self.params[name];
                        return Some(json!(list.split(',').collect::<Vec<_>>()));
                    }
                    json!(
                        self.params
                            .get(name)
                            .unwrap_or_else(|| panic!("no value for {name}"))
                    )
                } else if tagged.tag == "Select" {
                    let parts = inner.as_sequence().unwrap();
                    let index = parts[0].as_u64().unwrap() as usize;
                    // A CommaDelimitedList parameter is a string here.
                    return match self.resolve(&parts[1]).unwrap() {
                        Json::String(list) => list.split(',').nth(index).map(|v| json!(v)),
                        other => other.get(index).cloned(),
                    };
                } else if tagged.tag == "Join" {
                    let parts = inner.as_sequence().unwrap();
                    let values = self.resolve(&parts[1]).unwrap();
                    let values: Vec<&str> = values
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|v| v.as_str().unwrap())
                        .collect();
                    json!(values.join(parts[0].as_str().unwrap()))
                } else if tagged.tag == "Split" {
                    let parts = inner.as_sequence().unwrap();
                    let value = self.resolve(&parts[1]).unwrap();
                    json!(
                        value
                            .as_str()
                            .unwrap()
                            .split(parts[0].as_str().unwrap())
                            .collect::<Vec<_>>()
                    )
                } else if tagged.tag == "GetAtt" && inner.as_str() == Some("TenantTable.Arn") {
                    json!(table())
                } else if tagged.tag == "GetAtt" {
                    json!(format!(
                        "arn:aws:iam::{ACCOUNT}:role/{}",
                        inner.as_str().unwrap().trim_end_matches(".Arn")
                    ))
                } else {
                    panic!("unsupported intrinsic !{} in a policy", tagged.tag)
                }
            }
        })
    }
}

/// A tenant's session as IAM would see it: the one local evaluator, which
/// the local front and the token verifier use too.
pub type Session = local_iam::Session;

pub fn main_params() -> HashMap<&'static str, String> {
    HashMap::from([
        ("AWS::Partition", "aws".to_owned()),
        ("AWS::Region", REGION.to_owned()),
        ("AWS::AccountId", ACCOUNT.to_owned()),
        ("AWS::StackName", "tenant-access".to_owned()),
        (
            "AWS::StackId",
            format!("arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/tenant-access/1"),
        ),
        ("TenantBucket", BUCKET.to_owned()),
        ("BucketName", BUCKET.to_owned()),
        ("DbResourceId", DB.to_owned()),
        ("TenantRolePrefix", "assumeRole-".to_owned()),
        ("TableName", TABLE.to_owned()),
        ("SearchDomainName", DOMAIN.to_owned()),
        ("IdentityPool", POOL.to_owned()),
        ("ExecutionRoleArns", EXECUTION_ROLES.join(",")),
        (
            "OffboardedTenantsDeny",
            format!("arn:aws:iam::{ACCOUNT}:policy/offboarded-tenants"),
        ),
        ("OffboardedTenants", String::new()),
        ("TenantBoundary", BOUNDARY.to_owned()),
        ("PermissionsBoundaryArn", BOUNDARY.to_owned()),
    ])
}

/// The tenant boundary's ARN, as `!Ref TenantBoundary` gives it and the
/// onboarding passes it to tenant-template.yaml.
pub const BOUNDARY: &str = "arn:aws:iam::123456789012:policy/tenant-access-TenantBoundary-X";

/// The main stack's tenant boundary, resolved.
pub fn boundary() -> Json {
    Resolver {
        params: main_params(),
        conditions: HashMap::from([("MakeProxy", false), ("MakeCluster", false)]),
    }
    .resolve(&load("template.yaml")["Resources"]["TenantBoundary"]["Properties"]["PolicyDocument"])
    .unwrap()
}

/// The execution roles as the main stack's `ExecutionRoleArns` output lists
/// them (s3-fetch, aurora-query, dynamodb-items, search-docs), as resolved
/// by `!GetAtt`.
pub const EXECUTION_ROLES: [&str; 4] = [
    "arn:aws:iam::123456789012:role/S3FetchRole",
    "arn:aws:iam::123456789012:role/AuroraQueryRole",
    "arn:aws:iam::123456789012:role/DynamoDbItemsRole",
    "arn:aws:iam::123456789012:role/SearchDocsRole",
];

/// The search domain's ARN; a request's resource is this and its path.
pub fn domain() -> String {
    format!("arn:aws:es:{REGION}:{ACCOUNT}:domain/{DOMAIN}")
}

pub fn table() -> String {
    format!("arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{TABLE}")
}

pub fn policies_of(role: &Json) -> Vec<Json> {
    role["Policies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["PolicyDocument"].clone())
        .collect()
}
