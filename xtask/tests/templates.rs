//! The least-privilege rules of the SAM templates, checked on the templates
//! themselves: the execution roles hold no data permission, and a tenant
//! role reaches only its own prefix and its own DB user, through its tags.

use std::collections::BTreeSet;
use std::path::PathBuf;

use serde_norway::Value;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn load(name: &str) -> Value {
    let text = std::fs::read_to_string(root().join(name)).expect("template readable");
    serde_norway::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// The functions the API serves (db-admin is not one).
const API_FUNCTIONS: [&str; 4] = [
    "S3FetchFunction",
    "AuroraQueryFunction",
    "DynamoDbItemsFunction",
    "SearchDocsFunction",
];

fn resource<'t>(template: &'t Value, name: &str) -> &'t Value {
    &template["Resources"][name]
}

/// The string of a `!Sub "..."`, or a plain string.
fn text(value: &Value) -> Option<&str> {
    match value {
        Value::String(s) => Some(s),
        Value::Tagged(tagged) if tagged.tag == "Sub" => tagged.value.as_str(),
        _ => None,
    }
}

/// What a tag such as `!If` or `!Equals` holds.
fn tagged<'v>(value: &'v Value, tag: &str) -> &'v Value {
    match value {
        Value::Tagged(t) if t.tag == tag => &t.value,
        other => panic!("not a !{tag}: {other:?}"),
    }
}

/// Both branches of an `!If [condition, then, else]`, recursively; any
/// other value is its own only branch.
fn branches(value: &Value) -> Vec<&Value> {
    match value {
        Value::Tagged(tagged) if tagged.tag == "If" => {
            let parts = tagged.value.as_sequence().expect("!If takes a list");
            parts[1..].iter().flat_map(branches).collect()
        }
        other => vec![other],
    }
}

/// A list or a single value, as IAM allows for Action and Resource, across
/// the branches of any `!If`.
fn many(value: &Value) -> Vec<&Value> {
    branches(value)
        .into_iter()
        .flat_map(|v| match v {
            Value::Sequence(items) => items.iter().collect(),
            other => vec![other],
        })
        .collect()
}

/// Every statement of every inline policy of an IAM role (both branches
/// of a policy or a statement kept under `!If`).
fn statements(role: &Value) -> Vec<&Value> {
    role["Properties"]["Policies"]
        .as_sequence()
        .expect("inline policies")
        .iter()
        .flat_map(branches)
        .filter(|p| p.is_mapping())
        .flat_map(|p| {
            p["PolicyDocument"]["Statement"]
                .as_sequence()
                .expect("statements")
        })
        .flat_map(branches)
        .filter(|s| s.is_mapping())
        .collect()
}

/// A statement's `Sid`.
fn sid(statement: &Value) -> Option<&str> {
    statement["Sid"].as_str()
}

/// The statements that keep users' own areas apart (checked by
/// `user_sessions_stay_in_their_own_area_and_tenant_sessions_out_of_all`).
const USER_AREA_SIDS: [&str; 4] = [
    "TenantSessionsOutOfUserAreas",
    "UserSessionsOnlyInTheirArea",
    "TenantListingsOutOfUserAreas",
    "UserListingsOnlyOfTheirArea",
];

fn user_area(statement: &Value) -> bool {
    sid(statement).is_some_and(|sid| USER_AREA_SIDS.contains(&sid) || sid == "OwnUserPartition")
}

/// Whether a statement allows (a `Deny` grants nothing).
fn is_allow(statement: &Value) -> bool {
    text(&statement["Effect"]) == Some("Allow")
}

fn actions(statement: &Value) -> Vec<String> {
    many(&statement["Action"])
        .into_iter()
        .map(|a| a.as_str().expect("action").to_owned())
        .collect()
}

#[test]
fn execution_roles_hold_no_data_permissions() {
    let template = load("template.yaml");
    for (function, role_name) in [
        ("S3FetchFunction", "S3FetchRole"),
        ("AuroraQueryFunction", "AuroraQueryRole"),
        ("DynamoDbItemsFunction", "DynamoDbItemsRole"),
        ("SearchDocsFunction", "SearchDocsRole"),
    ] {
        let function = resource(&template, function);
        let role_ref = &function["Properties"]["Role"];
        let Value::Tagged(tagged) = role_ref else {
            panic!("{role_name}: the function names its role")
        };
        assert_eq!(tagged.value.as_str(), Some(&*format!("{role_name}.Arn")));
        assert!(
            function["Properties"]["Policies"].is_null(),
            "no SAM policy templates: they would add permissions to the role"
        );

        let role = resource(&template, role_name);
        assert!(
            role["Properties"]["ManagedPolicyArns"].is_null(),
            "{role_name}: managed policies could grant data access"
        );
        let trusted =
            &role["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"]["Service"];
        assert_eq!(trusted.as_str(), Some("lambda.amazonaws.com"));

        let allowed: BTreeSet<&str> = [
            "sts:TagSession",
            "logs:CreateLogStream",
            "logs:PutLogEvents",
            "xray:PutTraceSegments",
            "xray:PutTelemetryRecords",
            "sts:AssumeRole",
            "ec2:CreateNetworkInterface",
            "ec2:DescribeNetworkInterfaces",
            "ec2:DescribeSubnets",
            "ec2:DeleteNetworkInterface",
            "ec2:AssignPrivateIpAddresses",
            "ec2:UnassignPrivateIpAddresses",
            // The tenant registry's states, and nothing else (below).
            "dynamodb:GetItem",
        ]
        .into();
        let mut assume = 0;
        let mut registry_reads = 0;
        for statement in statements(role) {
            assert_eq!(statement["Effect"].as_str(), Some("Allow"));
            for action in actions(statement) {
                assert!(
                    allowed.contains(action.as_str()),
                    "{role_name} may {action}: not a logging, tracing, networking or assume action"
                );
                if action == "dynamodb:GetItem" {
                    registry_reads += 1;
                    let Value::Tagged(resource) = &statement["Resource"] else {
                        panic!("{role_name}: GetItem names one table")
                    };
                    assert_eq!(
                        resource.value.as_str(),
                        Some("TenantRegistry.Arn"),
                        "{role_name} reads the tenant registry only, never the items table"
                    );
                }
                if action == "sts:AssumeRole" {
                    assume += 1;
                    let resources: Vec<&str> = many(&statement["Resource"])
                        .into_iter()
                        .map(|r| text(r).expect("a resource string"))
                        .collect();
                    let job = match role_name {
                        "S3FetchRole" => "s3",
                        "AuroraQueryRole" => "db",
                        "SearchDocsRole" => "search",
                        _ => "dynamodb",
                    };
                    if statement["Sid"].as_str() == Some("AssumeDedicatedTierRoles") {
                        // Beside a shared role (DedicatedTier): the tenant
                        // roles only, each only once it carries its tenant.
                        assert_eq!(
                            resources,
                            [
                                "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/tenant/${TenantRolePrefix}*"
                            ],
                            "{role_name}: the dedicated tier's roles are the tenant roles"
                        );
                        assert_eq!(
                            statement["Condition"]["Null"]["iam:ResourceTag/TenantID"].as_str(),
                            Some("false"),
                            "{role_name}: a dedicated tier's role only once it carries its tenant"
                        );
                        continue;
                    }
                    assert_eq!(
                        resources,
                        [
                            format!("arn:${{AWS::Partition}}:iam::${{AWS::AccountId}}:role/${{AWS::StackName}}-shared-{job}").as_str(),
                            "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/tenant/${TenantRolePrefix}*"
                        ],
                        "{role_name} may assume its own shared tenant role or the tenant roles (under /tenant/) only"
                    );
                }
                if action.starts_with("ec2:") && role_name == "S3FetchRole" {
                    panic!("s3-fetch is not in a VPC and needs no network interfaces");
                }
            }
        }
        // Once in each branch of `!If [SharedRole, !If [TagSessions,
        // [AssumeRole, TagSession], AssumeRole], [AssumeRole, TagSession]]`,
        // and once in the dedicated tier's statement.
        assert_eq!(
            assume, 4,
            "{role_name} assumes tenant roles in one statement"
        );
        assert_eq!(registry_reads, 1, "{role_name} reads the tenant registry");
        // And that policy exists only while the strategy assumes roles:
        // under identity-pool the function holds no power at all.
        let conditional: Vec<&Value> = role["Properties"]["Policies"]
            .as_sequence()
            .unwrap()
            .iter()
            .filter(|p| !p.is_mapping())
            .collect();
        let [Value::Tagged(only)] = conditional.as_slice() else {
            panic!("{role_name}: the assume policy is kept under one !If")
        };
        let parts = only.value.as_sequence().unwrap();
        assert_eq!(parts[0].as_str(), Some("AssumesRoles"));
        assert_eq!(parts[1]["PolicyName"].as_str(), Some("assume-tenant-roles"));
        assert!(is_ref(&parts[2], "AWS::NoValue"), "{role_name}");
    }
}

/// db-admin, the one function that logs in as the master user: invoked by
/// operators only (no API route), inside the VPC, never tenant-isolated,
/// and its role may read the master user's secret and nothing else: no
/// tenant role, no data, no other secret.
#[test]
fn db_admin_reads_the_master_secret_and_nothing_else() {
    let template = load("template.yaml");
    let function = resource(&template, "DbAdminFunction");
    assert_eq!(function["Condition"].as_str(), Some("MakeDbAdmin"));
    let p = &function["Properties"];
    assert!(p["Events"].is_null(), "no API route reaches db-admin");
    assert!(p["Policies"].is_null(), "no SAM policy templates");
    assert!(p["TenancyConfig"].is_null());
    assert!(is_ref(&p["VpcConfig"]["SubnetIds"], "SubnetIds"));
    let secret = &p["Environment"]["Variables"]["DB_ADMIN_SECRET_ID"];
    let choice = tagged(secret, "If");
    assert_eq!(choice[0].as_str(), Some("MakeCluster"));
    assert!(is_ref(&choice[2], "DbAdminSecretName"));
    // The cluster itself: the proxy admits IAM logins only.
    let host = tagged(&p["Environment"]["Variables"]["DB_HOST"], "If");
    assert_eq!(host[0].as_str(), Some("MakeCluster"));

    let role = resource(&template, "DbAdminRole");
    assert!(role["Properties"]["ManagedPolicyArns"].is_null());
    let mut reads = Vec::new();
    for statement in statements(role) {
        assert_eq!(statement["Effect"].as_str(), Some("Allow"));
        for action in actions(statement) {
            match action.as_str() {
                "secretsmanager:GetSecretValue" => reads.push(statement["Resource"].clone()),
                "logs:CreateLogStream"
                | "logs:PutLogEvents"
                | "xray:PutTraceSegments"
                | "xray:PutTelemetryRecords" => {}
                "ec2:CreateNetworkInterface"
                | "ec2:DescribeNetworkInterfaces"
                | "ec2:DescribeSubnets"
                | "ec2:DeleteNetworkInterface"
                | "ec2:AssignPrivateIpAddresses"
                | "ec2:UnassignPrivateIpAddresses" => {}
                other => panic!("db-admin may {other}"),
            }
        }
    }
    let [resource] = reads.as_slice() else {
        panic!("one statement reads secrets: {reads:?}")
    };
    let branches = tagged(resource, "If");
    assert_eq!(branches[0].as_str(), Some("MakeCluster"));
    let Value::Tagged(managed) = &branches[1] else {
        panic!("the created cluster's own secret")
    };
    assert_eq!(managed.tag, "GetAtt");
    assert_eq!(
        managed.value.as_str(),
        Some("Cluster.MasterUserSecret.SecretArn")
    );
    assert_eq!(
        text(&branches[2]),
        Some(
            "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:${DbAdminSecretName}-??????"
        ),
        "the named secret exactly: its ARN's random suffix is six characters"
    );
    assert!(
        is_ref(
            &template["Outputs"]["DbAdminFunctionName"]["Value"],
            "DbAdminFunction"
        ),
        "the xtask finds it by this output"
    );
}

#[test]
fn a_tenant_role_reaches_only_its_own_prefix_and_db_user() {
    let template = load("tenant-template.yaml");
    let role = resource(&template, "TenantRole");
    let props = &role["Properties"];
    assert_eq!(
        text(&props["RoleName"]),
        Some("${TenantRolePrefix}${TenantId}")
    );
    // Under the path the functions' sts:AssumeRole names, and only there.
    assert_eq!(text(&props["Path"]), Some("/tenant/"));
    let tags: Vec<(&str, &str)> = props["Tags"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|t| {
            let value = &t["Value"];
            let value = if is_ref(value, "TenantId") {
                "TenantId"
            } else {
                text(value).unwrap()
            };
            (t["Key"].as_str().unwrap(), value)
        })
        .collect();
    assert_eq!(
        tags,
        [
            ("TenantID", "TenantId"),
            ("s3_home", "${TenantId}_home"),
            ("dbuser", "${TenantId}_dbuser")
        ]
    );
    // Capped by the main stack's tenant boundary, whatever its policy says.
    assert!(is_ref(
        &props["PermissionsBoundary"],
        "PermissionsBoundaryArn"
    ));
    assert!(props["MaxSessionDuration"].as_u64().unwrap() <= 3600);

    // Only the functions' execution roles may assume it, each with the
    // Scope tag of its own job and no other tag (ExecutionRoleArns lists
    // s3-fetch's, aurora-query's, dynamodb-items', search-docs' in that
    // order).
    let trust = props["AssumeRolePolicyDocument"]["Statement"]
        .as_sequence()
        .unwrap();
    assert_eq!(trust.len(), 4);
    for (index, (statement, job)) in trust
        .iter()
        .zip(["s3", "db", "dynamodb", "search"])
        .enumerate()
    {
        let Value::Tagged(principal) = &statement["Principal"]["AWS"] else {
            panic!("the trusted principal is one of a parameter's")
        };
        let parts = principal.value.as_sequence().expect("!Select [i, list]");
        assert_eq!(principal.tag.to_string(), "!Select");
        assert_eq!(parts[0].as_u64(), Some(index as u64));
        assert!(is_ref(&parts[1], "ExecutionRoleArns"));
        assert_eq!(actions(statement), ["sts:AssumeRole", "sts:TagSession"]);
        assert_eq!(
            statement["Condition"]["StringEquals"]["aws:RequestTag/Scope"].as_str(),
            Some(job)
        );
        // Its job's tag, and (for s3-fetch and dynamodb-items, which serve
        // users' own areas) the user's, nothing else.
        let keys: Vec<&str> = statement["Condition"]["ForAllValues:StringEquals"]["aws:TagKeys"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|k| k.as_str().unwrap())
            .collect();
        let expected: &[&str] = if job == "db" || job == "search" {
            &["Scope"]
        } else {
            &["Scope", "username"]
        };
        assert_eq!(keys, expected, "{job}");
    }
    // Every statement that grants serves one job, named by the session's
    // Scope tag.
    for statement in statements(role).into_iter().filter(|s| is_allow(s)) {
        let first = actions(statement)[0].clone();
        let job = match first.split(':').next().unwrap() {
            "s3" | "kms" => "s3",
            "rds-db" => "db",
            "es" => "search",
            _ => "dynamodb",
        };
        assert_eq!(
            statement["Condition"]["StringEquals"]["aws:PrincipalTag/Scope"].as_str(),
            Some(job),
            "{first} requires Scope={job}"
        );
    }

    let mut seen = BTreeSet::new();
    // The one Deny (no key without a TenantID tag) is checked by
    // every_tenant_policy_writes_its_prefix_with_its_own_key_only.
    for statement in statements(role).into_iter().filter(|s| is_allow(s)) {
        let actions = actions(statement);
        if actions[0].starts_with("kms:") || actions[0] == "s3:PutObject" {
            // every_tenant_policy_writes_its_prefix_with_its_own_key_only
            seen.insert(actions[0].clone());
            continue;
        }
        if actions[0].starts_with("dynamodb:") {
            // every_tenant_policy_confines_items_to_the_tenant_s_partition
            assert_eq!(
                text(&statement["Resource"]),
                Some(
                    "arn:${AWS::Partition}:dynamodb:${AWS::Region}:${AWS::AccountId}:table/${TableName}"
                )
            );
            seen.insert("dynamodb".to_owned());
            continue;
        }
        if actions[0].starts_with("es:") {
            // Exactly the tenant's own index, one path each: its documents
            // and its search (every_search_grant_names_one_index_path).
            let resource = text(&statement["Resource"]).expect("one resource");
            let index = "arn:${AWS::Partition}:es:${AWS::Region}:${AWS::AccountId}:domain/${SearchDomainName}/${TenantId}.docs";
            assert!(
                resource == format!("{index}/_doc/*") || resource == format!("{index}/_search"),
                "{resource}"
            );
            seen.insert(format!("es {resource}"));
            continue;
        }
        assert_eq!(actions.len(), 1, "one action per statement");
        let resource = text(&statement["Resource"]).expect("one resource");
        match actions[0].as_str() {
            "s3:GetObject" => assert_eq!(
                resource,
                "arn:${AWS::Partition}:s3:::${BucketName}/${!aws:PrincipalTag/s3_home}/*"
            ),
            "s3:ListBucket" => {
                assert_eq!(resource, "arn:${AWS::Partition}:s3:::${BucketName}");
                let prefix = &statement["Condition"]["StringLike"]["s3:prefix"];
                assert_eq!(
                    prefix.as_str(),
                    Some("${aws:PrincipalTag/s3_home}/*"),
                    "listing is confined to the tenant's prefix"
                );
            }
            "rds-db:connect" => assert_eq!(
                resource,
                "arn:${AWS::Partition}:rds-db:${AWS::Region}:${AWS::AccountId}:dbuser:${DbResourceId}/${!aws:PrincipalTag/dbuser}"
            ),
            other => panic!("a tenant role may not {other}"),
        }
        seen.insert(actions[0].clone());
    }
    assert_eq!(seen.len(), 8);
}

#[test]
fn functions_are_arm64_rust_traced_and_log_json_with_retention() {
    let template = load("template.yaml");
    let globals = &template["Globals"]["Function"];
    assert_eq!(globals["Runtime"].as_str(), Some("provided.al2023"));
    assert_eq!(globals["Architectures"][0].as_str(), Some("arm64"));
    assert_eq!(globals["Tracing"].as_str(), Some("Active"));
    for (function, binary, logs) in [
        ("S3FetchFunction", "s3-fetch", "S3FetchLogs"),
        ("AuroraQueryFunction", "aurora-query", "AuroraQueryLogs"),
        (
            "DynamoDbItemsFunction",
            "dynamodb-items",
            "DynamoDbItemsLogs",
        ),
    ] {
        let f = resource(&template, function);
        assert_eq!(
            f["Metadata"]["BuildMethod"].as_str(),
            Some("rust-cargolambda")
        );
        assert_eq!(
            f["Metadata"]["BuildProperties"]["Binary"].as_str(),
            Some(binary)
        );
        let Value::Tagged(group) = &f["Properties"]["LoggingConfig"]["LogGroup"] else {
            panic!("{function} logs to its own group")
        };
        assert_eq!(group.value.as_str(), Some(logs));
        assert!(!resource(&template, logs)["Properties"]["RetentionInDays"].is_null());
        let logging = &f["Properties"]["LoggingConfig"];
        assert_eq!(
            logging["LogFormat"].as_str(),
            Some("JSON"),
            "{function} logs JSON lines, as it writes them"
        );
        assert!(logging["ApplicationLogLevel"].is_string());
    }
}

#[test]
fn the_api_routes_every_path_through_the_jwt_authorizer() {
    let template = load("template.yaml");
    let auth = &resource(&template, "Api")["Properties"]["Auth"];
    assert_eq!(auth["DefaultAuthorizer"].as_str(), Some("TenantJwt"));
    assert!(!auth["Authorizers"]["TenantJwt"]["JwtConfiguration"].is_null());
    let mut routes = BTreeSet::new();
    for function in API_FUNCTIONS {
        for (_, event) in resource(&template, function)["Properties"]["Events"]
            .as_mapping()
            .unwrap()
        {
            assert_eq!(event["Type"].as_str(), Some("HttpApi"));
            let p = &event["Properties"];
            assert!(p["Auth"].is_null(), "no route overrides the authorizer");
            routes.insert(format!(
                "{} {}",
                p["Method"].as_str().unwrap(),
                p["Path"].as_str().unwrap()
            ));
        }
    }
    let expected: BTreeSet<String> = [
        "GET /files",
        "GET /files/{key+}",
        "HEAD /files/{key+}",
        "PUT /files/{key+}",
        "DELETE /files/{key+}",
        "GET /tenant",
        "GET /records",
        "POST /records",
        "GET /records/{id}",
        "DELETE /records/{id}",
        "GET /items",
        "GET /items/{id}",
        "PUT /items/{id}",
        "DELETE /items/{id}",
        "GET /me/files",
        "GET /me/files/{key+}",
        "HEAD /me/files/{key+}",
        "PUT /me/files/{key+}",
        "DELETE /me/files/{key+}",
        "GET /me/items",
        "GET /me/items/{id}",
        "PUT /me/items/{id}",
        "DELETE /me/items/{id}",
        "GET /docs",
        "GET /docs/{id}",
        "PUT /docs/{id}",
        "DELETE /docs/{id}",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    assert_eq!(routes, expected);
}

#[test]
fn the_bucket_is_private_encrypted_versioned_and_tls_only() {
    let template = load("template.yaml");
    let bucket = &resource(&template, "TenantBucket")["Properties"];
    for flag in [
        "BlockPublicAcls",
        "BlockPublicPolicy",
        "IgnorePublicAcls",
        "RestrictPublicBuckets",
    ] {
        assert_eq!(
            bucket["PublicAccessBlockConfiguration"][flag].as_bool(),
            Some(true),
            "{flag}"
        );
    }
    assert!(!bucket["BucketEncryption"].is_null());
    assert_eq!(
        bucket["VersioningConfiguration"]["Status"].as_str(),
        Some("Enabled")
    );
    let deny =
        &resource(&template, "TenantBucketPolicy")["Properties"]["PolicyDocument"]["Statement"][0];
    assert_eq!(deny["Effect"].as_str(), Some("Deny"));
    assert_eq!(
        deny["Condition"]["Bool"]["aws:SecureTransport"].as_str(),
        Some("false")
    );
}

#[test]
fn the_database_uses_iam_auth_and_the_shipped_ca_bundle() {
    let template = load("template.yaml");
    let cluster = &resource(&template, "Cluster")["Properties"];
    assert_eq!(
        cluster["EnableIAMDatabaseAuthentication"].as_bool(),
        Some(true)
    );
    assert_eq!(cluster["StorageEncrypted"].as_bool(), Some(true));
    let proxy = &resource(&template, "Proxy")["Properties"];
    assert_eq!(proxy["DefaultAuthScheme"].as_str(), Some("IAM_AUTH"));
    assert_eq!(proxy["RequireTLS"].as_bool(), Some(true));

    let function = &resource(&template, "AuroraQueryFunction")["Properties"];
    assert_eq!(
        function["Environment"]["Variables"]["DB_CA_BUNDLE"].as_str(),
        Some("/opt/rds-ca-bundle.pem")
    );
    let layer = &resource(&template, "RdsCaBundle")["Properties"]["ContentUri"];
    let dir = root().join(layer.as_str().unwrap());
    assert!(
        dir.join("rds-ca-bundle.pem").is_file(),
        "the layer ships the bundle at /opt/rds-ca-bundle.pem"
    );
}

#[test]
fn the_shared_tenant_roles_trust_one_function_each_and_need_the_tenant_tag() {
    let template = load("template.yaml");
    for (name, job, function, granted) in [
        (
            "SharedS3Role",
            "s3",
            "S3FetchRole.Arn",
            &[
                "s3:GetObject",
                "s3:PutObject",
                "kms:Decrypt",
                "s3:ListBucket",
            ][..],
        ),
        (
            "SharedDbRole",
            "db",
            "AuroraQueryRole.Arn",
            &["rds-db:connect"][..],
        ),
        (
            "SharedDynamoDbRole",
            "dynamodb",
            "DynamoDbItemsRole.Arn",
            &["dynamodb:GetItem"][..],
        ),
        (
            "SharedSearchRole",
            "search",
            "SearchDocsRole.Arn",
            &["es:ESHttpGet", "es:ESHttpGet"][..],
        ),
    ] {
        shared_role_trusts_its_function(&template, name, job, function, granted);
    }
}

fn shared_role_trusts_its_function(
    template: &Value,
    name: &str,
    job: &str,
    function: &str,
    granted: &[&str],
) {
    let role = resource(template, name);
    let props = &role["Properties"];
    let expected_name = format!("${{AWS::StackName}}-shared-{job}");
    assert_eq!(text(&props["RoleName"]), Some(expected_name.as_str()));
    let trust = props["AssumeRolePolicyDocument"]["Statement"]
        .as_sequence()
        .unwrap();
    let mut actions_seen = BTreeSet::new();
    for statement in trust.iter().flat_map(branches).filter(|s| s.is_mapping()) {
        let principals: Vec<String> = many(&statement["Principal"]["AWS"])
            .into_iter()
            .map(|p| match p {
                Value::Tagged(t) => t.value.as_str().unwrap().to_owned(),
                other => panic!("a trusted principal that is not an execution role: {other:?}"),
            })
            .collect();
        assert_eq!(
            principals,
            [function],
            "{name} trusts its own function only"
        );
        for action in actions(statement) {
            if action == "sts:TagSession" {
                let condition = &statement["Condition"];
                assert_eq!(
                    condition["StringLike"]["aws:RequestTag/TenantID"].as_str(),
                    Some("?*"),
                    "a session may be tagged only with a non-empty TenantID"
                );
                assert_eq!(
                    condition["ForAllValues:StringEquals"]["aws:TagKeys"][0].as_str(),
                    Some("TenantID"),
                    "and with no other tag"
                );
            }
            actions_seen.insert(action);
        }
    }
    assert_eq!(
        actions_seen.into_iter().collect::<Vec<_>>(),
        ["sts:AssumeRole", "sts:TagSession"]
    );

    // Only its own job's statements.
    let firsts: Vec<String> = statements(role)
        .into_iter()
        .filter(|s| is_allow(s) && !user_area(s))
        .map(|s| actions(s)[0].clone())
        .collect();
    assert_eq!(firsts, granted, "{name}");
    // Under session-tags the policy keys on the tag; under session-policy
    // alone it spans the tenants and the session policy narrows it.
    for statement in statements(role) {
        if actions(statement)[0].starts_with("kms:") || actions(statement)[0] == "s3:PutObject" {
            continue; // every_tenant_policy_writes_its_prefix_with_its_own_key_only
        }
        if user_area(statement) {
            continue; // user_sessions_stay_in_their_own_area_and_tenant_sessions_out_of_all
        }
        if actions(statement)[0].starts_with("dynamodb:") {
            let (Value::Tagged(table), "dynamodb:GetItem") =
                (&statement["Resource"], actions(statement)[0].as_str())
            else {
                panic!("the table's statement")
            };
            assert_eq!(table.value.as_str(), Some("TenantTable.Arn"));
        }
        let resources: Vec<&Value> = many(&statement["Resource"]);
        let first = resources
            .first()
            .and_then(|r| match r {
                Value::Tagged(t) if t.tag == "Sub" => t
                    .value
                    .as_str()
                    .or_else(|| t.value.as_sequence().and_then(|s| s[0].as_str())),
                _ => None,
            })
            .unwrap_or_default();
        match actions(statement)[0].as_str() {
            "s3:GetObject" => assert!(
                first.ends_with("/${!aws:PrincipalTag/TenantID}_home/*"),
                "{first}"
            ),
            "s3:ListBucket" => {
                let prefixes: Vec<&str> = many(&statement["Condition"]["StringLike"]["s3:prefix"])
                    .into_iter()
                    .map(|v| v.as_str().unwrap())
                    .collect();
                assert_eq!(
                    prefixes,
                    ["${aws:PrincipalTag/TenantID}_home/*", "*_home/*"]
                );
            }
            "rds-db:connect" => assert!(
                first.ends_with("/${!aws:PrincipalTag/TenantID}_dbuser"),
                "{first}"
            ),
            "dynamodb:GetItem" => {
                // The tag under session-tags; the session policy's literal
                // tenant under session-policy alone.
                let conditions = branches(&statement["Condition"]);
                assert_eq!(conditions.len(), 2);
                assert_eq!(
                    conditions[0]["ForAllValues:StringEquals"]["dynamodb:LeadingKeys"][0].as_str(),
                    Some("${aws:PrincipalTag/TenantID}")
                );
                assert!(is_ref(conditions[1], "AWS::NoValue"));
            }
            "es:ESHttpGet" => {
                // The tagged tenant's index under session-tags; every
                // index under session-policy alone, which the session
                // policy narrows to one. Each names one path shape:
                // documents, or search.
                let arns: Vec<&str> = branches(&statement["Resource"])
                    .into_iter()
                    .map(|r| text(r).expect("a !Sub"))
                    .collect();
                let domain = "arn:${AWS::Partition}:es:${AWS::Region}:${AWS::AccountId}:domain/${SearchDomainName}";
                let tail = if actions(statement).len() == 3 {
                    "_doc/*"
                } else {
                    "_search"
                };
                assert_eq!(
                    arns,
                    [
                        format!("{domain}/${{!aws:PrincipalTag/TenantID}}.docs/{tail}"),
                        format!("{domain}/*/{tail}"),
                    ],
                    "{name}"
                );
            }
            other => panic!("{name} may not {other}"),
        }
    }
}

/// Whether `value` is `!Ref name`.
fn is_ref(value: &Value, name: &str) -> bool {
    matches!(value, Value::Tagged(t) if t.tag == "Ref" && t.value.as_str() == Some(name))
}

/// Whether `value` is `!Select [0, !Ref SecurityGroupIds]`: aurora-query's
/// first security group.
fn is_function_group(value: &Value) -> bool {
    match value {
        Value::Tagged(t) if t.tag == "Select" => {
            let parts = t.value.as_sequence().expect("!Select takes a list");
            parts[0].as_u64() == Some(0) && is_ref(&parts[1], "SecurityGroupIds")
        }
        _ => false,
    }
}

/// One TCP rule on the database port.
fn on_db_port(rule: &Value) -> bool {
    rule["IpProtocol"].as_str() == Some("tcp")
        && is_ref(&rule["FromPort"], "DbPort")
        && is_ref(&rule["ToPort"], "DbPort")
}

/// The path aurora-query → RDS Proxy → cluster is open on the database port
/// and nowhere else, and aurora-query in private subnets reaches STS through
/// an interface endpoint with private DNS (on by default).
#[test]
fn aurora_query_reaches_the_proxy_the_cluster_and_sts() {
    let template = load("template.yaml");
    let proxy = &resource(&template, "Proxy")["Properties"];
    let groups = proxy["VpcSecurityGroupIds"].as_sequence().expect("list");
    assert!(
        groups.len() == 1 && is_ref(&groups[0], "ProxySecurityGroup"),
        "the proxy has a group of its own, not the cluster's (whose egress is closed)"
    );
    let proxy_group = &resource(&template, "ProxySecurityGroup")["Properties"];
    let ingress = proxy_group["SecurityGroupIngress"].as_sequence().unwrap();
    assert!(
        ingress.len() == 1
            && on_db_port(&ingress[0])
            && is_function_group(&ingress[0]["SourceSecurityGroupId"]),
        "into the proxy: the database port from aurora-query only"
    );
    let egress = proxy_group["SecurityGroupEgress"].as_sequence().unwrap();
    assert!(
        egress.len() == 1
            && on_db_port(&egress[0])
            && is_ref(
                &egress[0]["DestinationSecurityGroupId"],
                "ClusterSecurityGroup"
            ),
        "out of the proxy: the database port to the cluster only"
    );
    let back = &resource(&template, "ClusterIngressFromProxy")["Properties"];
    assert!(is_ref(&back["GroupId"], "ClusterSecurityGroup"));
    assert!(is_ref(&back["SourceSecurityGroupId"], "ProxySecurityGroup"));
    assert!(
        on_db_port(back),
        "the cluster accepts the proxy on the database port"
    );
    let cluster_group = &resource(&template, "ClusterSecurityGroup")["Properties"];
    let ingress = cluster_group["SecurityGroupIngress"].as_sequence().unwrap();
    assert!(
        ingress.len() == 1
            && on_db_port(&ingress[0])
            && is_function_group(&ingress[0]["SourceSecurityGroupId"]),
        "the cluster accepts aurora-query directly (without a proxy)"
    );

    assert_eq!(
        template["Parameters"]["CreateStsEndpoint"]["Default"].as_str(),
        Some("true")
    );
    let sts = &resource(&template, "StsEndpoint");
    assert_eq!(sts["Condition"].as_str(), Some("MakeStsEndpoint"));
    let sts = &sts["Properties"];
    assert_eq!(sts["VpcEndpointType"].as_str(), Some("Interface"));
    assert_eq!(
        text(&sts["ServiceName"]),
        Some("com.amazonaws.${AWS::Region}.sts")
    );
    assert_eq!(sts["PrivateDnsEnabled"].as_bool(), Some(true));
    let function = &resource(&template, "AuroraQueryFunction")["Properties"];
    assert_eq!(
        sts["SubnetIds"], function["VpcConfig"]["SubnetIds"],
        "the endpoint is in aurora-query's subnets"
    );
    let endpoint_group = &resource(&template, "StsEndpointSecurityGroup")["Properties"];
    let ingress = endpoint_group["SecurityGroupIngress"]
        .as_sequence()
        .unwrap();
    assert!(
        ingress.len() == 1
            && ingress[0]["FromPort"].as_u64() == Some(443)
            && ingress[0]["ToPort"].as_u64() == Some(443)
            && is_function_group(&ingress[0]["SourceSecurityGroupId"]),
        "HTTPS into the endpoint from aurora-query only"
    );
}

/// `key = "value"` lines of one `[section]` of samconfig.toml.
fn samconfig(section: &str) -> std::collections::BTreeMap<String, String> {
    let text = std::fs::read_to_string(root().join("samconfig.toml")).expect("samconfig.toml");
    let header = format!("[{section}]");
    text.lines()
        .skip_while(|line| line.trim() != header)
        .skip(1)
        .take_while(|line| !line.starts_with('['))
        .filter_map(|line| line.split_once(" = "))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().trim_matches('"').to_owned()))
        .collect()
}

/// The template deploys as the profiles are written: the named shared role
/// needs CAPABILITY_NAMED_IAM, the default profile uses an existing cluster
/// and lets a tenant user sign in with a password (for `xtask call
/// --api-url`), prod does not, and the only parameters without a default
/// are the network ones the samconfig comment's command line gives.
#[test]
fn the_sam_profiles_deploy_as_written() {
    let template = load("template.yaml");
    for role in ["SharedS3Role", "SharedDbRole", "SharedDynamoDbRole"] {
        assert!(
            text(&resource(&template, role)["Properties"]["RoleName"]).is_some(),
            "the shared tenant role {role} has a fixed name"
        );
    }
    let comment: String = std::fs::read_to_string(root().join("samconfig.toml"))
        .unwrap()
        .lines()
        .filter(|l| l.starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n");
    for (profile, password, cluster) in [("default", "true", "false"), ("prod", "false", "true")] {
        let deploy = samconfig(&format!("{profile}.deploy.parameters"));
        let capabilities: Vec<&str> = deploy["capabilities"].split(' ').collect();
        assert!(
            capabilities.contains(&"CAPABILITY_NAMED_IAM"),
            "{profile}: {capabilities:?}"
        );
        let overrides = &deploy["parameter_overrides"];
        assert!(
            overrides.contains(&format!("AllowPasswordAuth={password}")),
            "{profile}: {overrides}"
        );
        assert!(
            overrides.contains(&format!("CreateCluster={cluster}")),
            "{profile}: {overrides}"
        );
    }
    let parameters = template["Parameters"].as_mapping().unwrap();
    let required: Vec<&str> = parameters
        .iter()
        .filter(|(_, p)| p.get("Default").is_none())
        .map(|(name, _)| name.as_str().unwrap())
        .collect();
    assert_eq!(required, ["VpcId", "SubnetIds", "SecurityGroupIds"]);
    // The existing cluster's parameters, and the network ones, are on the
    // documented command line, with the profile's own overrides repeated.
    for name in required.iter().chain(&["DbHost", "DbResourceId"]) {
        assert!(
            comment.contains(&format!("{name}=<")),
            "{name} undocumented"
        );
    }
    assert!(comment.contains("CreateUserPool=true AllowPasswordAuth=true"));
}

/// Password sign-in is on only where the parameter asks for it.
#[test]
fn password_sign_in_is_behind_a_parameter() {
    let template = load("template.yaml");
    let flows = &resource(&template, "UserPoolClient")["Properties"]["ExplicitAuthFlows"];
    let Value::Tagged(tagged) = flows else {
        panic!("ExplicitAuthFlows is an !If: {flows:?}")
    };
    let parts = tagged.value.as_sequence().unwrap();
    assert_eq!(parts[0].as_str(), Some("PasswordAuth"));
    let has_password = |v: &Value| {
        v.as_sequence()
            .unwrap()
            .iter()
            .any(|f| f.as_str() == Some("ALLOW_USER_PASSWORD_AUTH"))
    };
    assert!(has_password(&parts[1]));
    assert!(!has_password(&parts[2]));
    assert_eq!(
        template["Parameters"]["AllowPasswordAuth"]["Default"].as_str(),
        Some("false")
    );
}

/// The item actions a tenant policy grants, with its `LeadingKeys` values:
/// no Scan, no batch, only the table.
fn item_statement(role: &Value) -> (Vec<String>, Vec<String>) {
    let items: Vec<&Value> = statements(role)
        .into_iter()
        .filter(|s| actions(s).iter().any(|a| a.starts_with("dynamodb:")))
        .filter(|s| sid(s) != Some("OwnUserPartition"))
        .collect();
    assert_eq!(items.len(), 1, "one statement for the tenant's partition");
    let statement = items[0];
    let keys = branches(&statement["Condition"])
        .into_iter()
        .filter(|c| c.is_mapping())
        .flat_map(|c| {
            c["ForAllValues:StringEquals"]["dynamodb:LeadingKeys"]
                .as_sequence()
                .expect("LeadingKeys as a list")
                .iter()
                .map(|v| match v {
                    Value::Tagged(t) if t.tag == "Ref" => {
                        format!("!Ref {}", t.value.as_str().unwrap())
                    }
                    other => other.as_str().unwrap().to_owned(),
                })
        })
        .collect();
    (actions(statement), keys)
}

#[test]
fn every_tenant_policy_confines_items_to_the_tenant_s_partition() {
    let expected = [
        "dynamodb:GetItem",
        "dynamodb:Query",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:DeleteItem",
    ];
    let tenant = load("tenant-template.yaml");
    let (granted, keys) = item_statement(resource(&tenant, "TenantRole"));
    assert_eq!(granted, expected);
    assert_eq!(
        keys,
        ["!Ref TenantId"],
        "the literal tenant, per tenant role"
    );
    let main = load("template.yaml");
    for role in ["SharedDynamoDbRole", "IdentityPoolAuthenticatedRole"] {
        let (granted, keys) = item_statement(resource(&main, role));
        assert_eq!(granted, expected, "{role}");
        assert_eq!(
            keys,
            ["${aws:PrincipalTag/TenantID}"],
            "{role}: the principal tag"
        );
    }
    // The same actions as the crate's session policies.
    assert_eq!(tenant_access::session_policy::TABLE_ACTIONS, expected);
    // A user's own partition, <tenant>#<sub>: the same actions, only with
    // the user's tag (the pool sets it from the token's sub).
    for (name, role, key) in [
        (
            "TenantRole",
            resource(&tenant, "TenantRole"),
            "${TenantId}#${!aws:PrincipalTag/username}",
        ),
        (
            "SharedDynamoDbRole",
            resource(&main, "SharedDynamoDbRole"),
            "${aws:PrincipalTag/TenantID}#${aws:PrincipalTag/username}",
        ),
        (
            "IdentityPoolAuthenticatedRole",
            resource(&main, "IdentityPoolAuthenticatedRole"),
            "${aws:PrincipalTag/TenantID}#${aws:PrincipalTag/username}",
        ),
    ] {
        let user: Vec<&Value> = statements(role)
            .into_iter()
            .filter(|s| sid(s) == Some("OwnUserPartition"))
            .collect();
        assert_eq!(
            user.len(),
            1,
            "{name}: one statement for a user's partition"
        );
        assert_eq!(actions(user[0]), expected, "{name}");
        let keys = user[0]["Condition"]["ForAllValues:StringEquals"]["dynamodb:LeadingKeys"]
            .as_sequence()
            .unwrap();
        assert_eq!(keys.len(), 1, "{name}");
        assert_eq!(text(&keys[0]), Some(key), "{name}");
    }
}

#[test]
fn the_table_is_on_demand_recoverable_protected_and_encrypted() {
    let template = load("template.yaml");
    let table = resource(&template, "TenantTable");
    assert_eq!(table["DeletionPolicy"].as_str(), Some("Retain"));
    let p = &table["Properties"];
    assert_eq!(p["BillingMode"].as_str(), Some("PAY_PER_REQUEST"));
    assert_eq!(
        p["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"].as_bool(),
        Some(true)
    );
    assert_eq!(p["DeletionProtectionEnabled"].as_bool(), Some(true));
    assert_eq!(p["SSESpecification"]["SSEEnabled"].as_bool(), Some(true));
    assert!(is_ref(&p["SSESpecification"]["KMSMasterKeyId"], "TableKey"));
    let keys: Vec<(&str, &str)> = p["KeySchema"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|k| {
            (
                k["AttributeName"].as_str().unwrap(),
                k["KeyType"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        keys,
        [
            (tenant_access::dynamodb::PARTITION_KEY, "HASH"),
            (tenant_access::dynamodb::SORT_KEY, "RANGE")
        ],
        "the tenant leads every key"
    );
    let function = &resource(&template, "DynamoDbItemsFunction")["Properties"];
    assert!(is_ref(
        &function["Environment"]["Variables"]["TENANT_TABLE"],
        "TenantTable"
    ));
}

/// The identity pool: authenticated identities only, tags from the token's
/// claims, and a role only Cognito may assume for this pool.
#[test]
fn the_identity_pool_tags_sessions_and_its_role_trusts_only_cognito() {
    let template = load("template.yaml");
    let pool = resource(&template, "IdentityPool");
    assert_eq!(pool["Condition"].as_str(), Some("MakeIdentityPool"));
    assert_eq!(
        pool["Properties"]["AllowUnauthenticatedIdentities"].as_bool(),
        Some(false)
    );
    assert_eq!(
        pool["Properties"]["AllowClassicFlow"].as_bool(),
        Some(false)
    );
    let tags = &resource(&template, "IdentityPoolTags")["Properties"];
    assert_eq!(tags["UseDefaults"].as_bool(), Some(false));
    assert!(is_ref(&tags["PrincipalTags"]["TenantID"], "TenantClaim"));
    assert_eq!(tags["PrincipalTags"]["username"].as_str(), Some("sub"));
    let attached = &resource(&template, "IdentityPoolRoles")["Properties"]["Roles"];
    assert!(
        matches!(&attached["authenticated"], Value::Tagged(t) if t.value.as_str() == Some("IdentityPoolAuthenticatedRole.Arn"))
    );
    assert!(attached["unauthenticated"].is_null());

    let role = &resource(&template, "IdentityPoolAuthenticatedRole")["Properties"];
    let trust = role["AssumeRolePolicyDocument"]["Statement"]
        .as_sequence()
        .unwrap();
    assert_eq!(trust.len(), 1);
    let t = &trust[0];
    assert_eq!(
        t["Principal"]["Federated"].as_str(),
        Some("cognito-identity.amazonaws.com")
    );
    assert_eq!(
        actions(t),
        ["sts:AssumeRoleWithWebIdentity", "sts:TagSession"]
    );
    assert!(is_ref(
        &t["Condition"]["StringEquals"]["cognito-identity.amazonaws.com:aud"],
        "IdentityPool"
    ));
    assert_eq!(
        t["Condition"]["ForAnyValue:StringLike"]["cognito-identity.amazonaws.com:amr"].as_str(),
        Some("authenticated")
    );
    // Its S3 and database statements key on the tag too.
    let resources: Vec<String> = statements(resource(&template, "IdentityPoolAuthenticatedRole"))
        .into_iter()
        .flat_map(|s| many(&s["Resource"]))
        .filter_map(|r| match r {
            Value::Tagged(t) if t.tag == "Sub" => t
                .value
                .as_str()
                .or_else(|| t.value.as_sequence().and_then(|s| s[0].as_str()))
                .map(str::to_owned),
            _ => None,
        })
        .collect();
    assert!(
        resources
            .iter()
            .any(|r| r.ends_with("/${!aws:PrincipalTag/TenantID}_home/*"))
    );
    assert!(
        resources
            .iter()
            .any(|r| r.ends_with("/${!aws:PrincipalTag/TenantID}_dbuser"))
    );
    // The functions learn the pool and its provider from the template.
    let env = &template["Globals"]["Function"]["Environment"]["Variables"];
    assert!(!env["TENANT_IDENTITY_POOL_ID"].is_null());
    assert!(!env["TENANT_IDENTITY_PROVIDER"].is_null());
}

/// The VPC functions reach their per-request services without a NAT
/// gateway: STS (or, under identity-pool, cognito-identity, which takes
/// GetId and GetCredentialsForIdentity through an interface endpoint) with
/// private DNS in their subnets, and the table through a DynamoDB gateway
/// endpoint on their route tables that admits item calls on it only.
#[test]
fn vpc_functions_reach_cognito_identity_and_the_table_through_endpoints() {
    let template = load("template.yaml");
    let cognito = resource(&template, "CognitoIdentityEndpoint");
    assert_eq!(
        cognito["Condition"].as_str(),
        Some("MakeCognitoIdentityEndpoint")
    );
    let conditions = &template["Conditions"];
    let Value::Tagged(and) = &conditions["MakeCognitoIdentityEndpoint"] else {
        panic!("a condition")
    };
    assert_eq!(and.tag, "And");
    assert!(format!("{:?}", and.value).contains("IdentityPoolStrategy"));
    let Value::Tagged(sts_and) = &conditions["MakeStsEndpoint"] else {
        panic!("a condition")
    };
    assert!(format!("{:?}", sts_and.value).contains("AssumesRoles"));
    let c = &cognito["Properties"];
    assert_eq!(c["VpcEndpointType"].as_str(), Some("Interface"));
    assert_eq!(
        text(&c["ServiceName"]),
        Some("com.amazonaws.${AWS::Region}.cognito-identity")
    );
    assert_eq!(c["PrivateDnsEnabled"].as_bool(), Some(true));
    for function in ["AuroraQueryFunction", "DynamoDbItemsFunction"] {
        let f = &resource(&template, function)["Properties"];
        assert_eq!(c["SubnetIds"], f["VpcConfig"]["SubnetIds"], "{function}");
    }
    let dynamodb = resource(&template, "DynamoDbEndpoint");
    assert_eq!(dynamodb["Condition"].as_str(), Some("MakeDynamoDbEndpoint"));
    let d = &dynamodb["Properties"];
    assert_eq!(d["VpcEndpointType"].as_str(), Some("Gateway"));
    assert_eq!(
        text(&d["ServiceName"]),
        Some("com.amazonaws.${AWS::Region}.dynamodb")
    );
    assert!(is_ref(&d["RouteTableIds"], "RouteTableIds"));
    let statement = &d["PolicyDocument"]["Statement"][0];
    assert!(
        matches!(&statement["Resource"], Value::Tagged(t) if t.value.as_str() == Some("TenantTable.Arn")),
        "the endpoint admits the tenant table only"
    );
    assert!(
        !actions(statement)
            .iter()
            .any(|a| a == "dynamodb:Scan" || a == "dynamodb:*")
    );
}

/// The key condition of a tenant policy's KMS statement: (the
/// `aws:ResourceTag/TenantID` values, the `kms:ViaService` values), across
/// the branches of an `!If`.
fn key_conditions(role: &Value) -> (Vec<String>, Vec<String>) {
    let kms: Vec<&Value> = statements(role)
        .into_iter()
        .filter(|s| is_allow(s) && actions(s).iter().any(|a| a.starts_with("kms:")))
        .collect();
    assert_eq!(kms.len(), 1, "one statement for the keys");
    // And no key without a TenantID tag (the AWS-managed aws/s3 key, whose
    // own policy would grant it to every principal of the account).
    let denied: Vec<&Value> = statements(role)
        .into_iter()
        .filter(|s| !is_allow(s) && actions(s).iter().any(|a| a.starts_with("kms:")))
        .collect();
    assert_eq!(denied.len(), 1, "one Deny of keys");
    assert_eq!(actions(denied[0]), ["kms:Decrypt", "kms:GenerateDataKey"]);
    assert_eq!(text(&denied[0]["Resource"]), Some("*"));
    assert_eq!(
        text(&denied[0]["Condition"]["Null"]["aws:ResourceTag/TenantID"]),
        Some("true"),
        "denied for a key without a TenantID tag"
    );
    assert_eq!(
        text(&denied[0]["Condition"]["StringEquals"]["kms:ViaService"]),
        Some("s3.${AWS::Region}.amazonaws.com"),
        "through S3 only"
    );
    assert_eq!(actions(kms[0]), ["kms:Decrypt", "kms:GenerateDataKey"]);
    assert_eq!(
        text(&kms[0]["Resource"]),
        Some("arn:${AWS::Partition}:kms:${AWS::Region}:${AWS::AccountId}:key/*")
    );
    let value = |v: &Value| match v {
        Value::Tagged(t) if t.tag == "Ref" => format!("!Ref {}", t.value.as_str().unwrap()),
        other => text(other).expect("a string").to_owned(),
    };
    let (mut tags, mut via) = (Vec::new(), Vec::new());
    for condition in branches(&kms[0]["Condition"]) {
        for operator in ["StringEquals", "StringLike"] {
            if let Some(t) = condition[operator].get("aws:ResourceTag/TenantID") {
                tags.push(value(t));
            }
            if let Some(v) = condition[operator].get("kms:ViaService") {
                via.push(value(v));
            }
        }
    }
    (tags, via)
}

/// Every tenant policy writes only under its own prefix, and uses only its
/// own key (the key's `TenantID` tag), only through S3: the reference
/// design's ABAC condition, the literal tenant per tenant role, the tag for
/// the shared and identity-pool roles.
#[test]
fn every_tenant_policy_writes_its_prefix_with_its_own_key_only() {
    let via = "s3.${AWS::Region}.amazonaws.com";
    let tenant = load("tenant-template.yaml");
    let (tags, vias) = key_conditions(resource(&tenant, "TenantRole"));
    assert_eq!(tags, ["!Ref TenantId"]);
    assert_eq!(vias, [via]);
    let main = load("template.yaml");
    let (tags, vias) = key_conditions(resource(&main, "IdentityPoolAuthenticatedRole"));
    assert_eq!(tags, ["${aws:PrincipalTag/TenantID}"]);
    assert_eq!(vias, [via]);
    let (tags, vias) = key_conditions(resource(&main, "SharedS3Role"));
    assert_eq!(
        tags,
        ["${aws:PrincipalTag/TenantID}", "?*"],
        "the tag under session-tags; any tenant key under session-policy alone"
    );
    assert_eq!(vias, [via, via]);
    for (template, role, prefix) in [
        (&tenant, "TenantRole", "/${!aws:PrincipalTag/s3_home}/*"),
        (
            &main,
            "IdentityPoolAuthenticatedRole",
            "/${!aws:PrincipalTag/TenantID}_home/*",
        ),
    ] {
        let writes: Vec<&Value> = statements(resource(template, role))
            .into_iter()
            .filter(|s| !user_area(s) && actions(s).contains(&"s3:PutObject".to_owned()))
            .collect();
        assert_eq!(writes.len(), 1, "{role}");
        assert_eq!(actions(writes[0]), ["s3:PutObject", "s3:DeleteObject"]);
        assert!(
            text(&writes[0]["Resource"]).unwrap().ends_with(prefix),
            "{role}"
        );
    }

    // The key itself: tagged, aliased, rotated, its policy delegating to IAM.
    let key = resource(&tenant, "TenantKey");
    assert_eq!(key["Properties"]["EnableKeyRotation"].as_bool(), Some(true));
    let tag = &key["Properties"]["Tags"][0];
    assert_eq!(tag["Key"].as_str(), Some("TenantID"));
    assert!(is_ref(&tag["Value"], "TenantId"));
    let statements = key["Properties"]["KeyPolicy"]["Statement"]
        .as_sequence()
        .unwrap();
    assert_eq!(statements.len(), 1);
    assert_eq!(
        text(&statements[0]["Principal"]["AWS"]),
        Some("arn:${AWS::Partition}:iam::${AWS::AccountId}:root"),
        "the key policy only delegates to IAM in the account"
    );
    let alias = &resource(&tenant, "TenantKeyAlias")["Properties"];
    assert_eq!(text(&alias["AliasName"]), Some("alias/tenant/${TenantId}"));
}

/// The bucket refuses any write that is not SSE-KMS, whoever makes it.
#[test]
fn the_bucket_refuses_writes_without_sse_kms() {
    let template = load("template.yaml");
    let policy = &resource(&template, "TenantBucketPolicy")["Properties"]["PolicyDocument"];
    let denies: Vec<&Value> = policy["Statement"]
        .as_sequence()
        .unwrap()
        .iter()
        .filter(|s| s["Action"].as_str() == Some("s3:PutObject"))
        .collect();
    assert_eq!(denies.len(), 2);
    assert!(denies.iter().all(|s| s["Effect"].as_str() == Some("Deny")));
    assert_eq!(
        denies[0]["Condition"]["StringNotEquals"]["s3:x-amz-server-side-encryption"].as_str(),
        Some("aws:kms")
    );
    assert_eq!(
        denies[1]["Condition"]["Null"]["s3:x-amz-server-side-encryption"].as_str(),
        Some("true")
    );
}

/// A value in a CloudFormation rule: a string, a list, or a truth.
#[derive(Debug, Clone, PartialEq)]
enum RuleValue {
    Text(String),
    List(Vec<String>),
    Truth(bool),
}

/// CloudFormation's rule and condition functions (`Fn::Equals`, `Not`,
/// `And`, `Or`, `Contains`, `Ref`, `Condition`), over `params` (a
/// parameter's default when unset).
fn rule_value(template: &Value, value: &Value, params: &[(&str, &str)]) -> RuleValue {
    let truth = |v: &Value| match rule_value(template, v, params) {
        RuleValue::Truth(t) => t,
        other => panic!("not a condition: {other:?}"),
    };
    match value {
        Value::String(s) => RuleValue::Text(s.clone()),
        Value::Tagged(tagged) => {
            let args = tagged.value.as_sequence();
            match tagged.tag.to_string().trim_start_matches('!') {
                "Ref" => {
                    let name = tagged.value.as_str().unwrap();
                    let declared = &template["Parameters"][name];
                    assert!(
                        declared.is_mapping(),
                        "a rule names an unknown parameter {name}"
                    );
                    let raw = params
                        .iter()
                        .find(|(k, _)| *k == name)
                        .map(|(_, v)| (*v).to_owned())
                        .or_else(|| {
                            declared.get("Default").map(|d| match d {
                                Value::String(s) => s.clone(),
                                other => serde_norway::to_string(other).unwrap().trim().to_owned(),
                            })
                        })
                        .unwrap_or_else(|| panic!("no value for {name}"));
                    let ty = declared["Type"].as_str().unwrap();
                    if ty == "CommaDelimitedList" || ty.starts_with("List<") {
                        RuleValue::List(raw.split(',').map(str::to_owned).collect())
                    } else {
                        RuleValue::Text(raw)
                    }
                }
                "Equals" => {
                    let args = args.unwrap();
                    RuleValue::Truth(
                        rule_value(template, &args[0], params)
                            == rule_value(template, &args[1], params),
                    )
                }
                "Condition" => {
                    let name = tagged.value.as_str().unwrap();
                    RuleValue::Truth(truth(&template["Conditions"][name]))
                }
                "Not" => RuleValue::Truth(!truth(&args.unwrap()[0])),
                "And" => RuleValue::Truth(args.unwrap().iter().all(truth)),
                "Or" => RuleValue::Truth(args.unwrap().iter().any(truth)),
                "Contains" => {
                    let args = args.unwrap();
                    let (RuleValue::List(list), RuleValue::Text(item)) = (
                        rule_value(template, &args[0], params),
                        rule_value(template, &args[1], params),
                    ) else {
                        panic!("Contains takes a list and a string")
                    };
                    RuleValue::Truth(list.contains(&item))
                }
                other => panic!("a function rules cannot use: {other}"),
            }
        }
        other => panic!("unexpected in a rule: {other:?}"),
    }
}

/// The descriptions of the template's rule assertions `params` fail.
fn refusals(template: &Value, params: &[(&str, &str)]) -> Vec<String> {
    let mut refused = Vec::new();
    for (_, rule) in template["Rules"]
        .as_mapping()
        .expect("the template has rules")
    {
        let applies = rule
            .get("RuleCondition")
            .is_none_or(|c| rule_value(template, c, params) == RuleValue::Truth(true));
        if !applies {
            continue;
        }
        for assertion in rule["Assertions"].as_sequence().unwrap() {
            if rule_value(template, &assertion["Assert"], params) != RuleValue::Truth(true) {
                refused.push(assertion["AssertDescription"].as_str().unwrap().to_owned());
            }
        }
    }
    refused
}

/// The template refuses parameter sets that would deploy something broken,
/// and accepts what the profiles and the documented command line deploy.
/// `LambdaTenantIsolation=per-tenant`: every function in Lambda's tenant
/// isolation mode and told so, and a REST API whose every path goes through
/// the workspace's tenant authorizer (a Lambda `REQUEST` authorizer) and
/// passes the tenant it verified (and nothing the client sends) as the
/// invocation's tenant id, covering every route of the HTTP API with the same
/// function.
#[test]
fn the_tenant_isolation_mode_routes_by_the_verified_claim() {
    let template = load("template.yaml");
    // The REST stage's access logs need the account's CloudWatch role,
    // which a fresh account lacks: the stack sets it first, and keeps it.
    let api = resource(&template, "TenantRestApi");
    assert_eq!(api["DependsOn"].as_str(), Some("ApiGatewayAccount"));
    assert!(api["Properties"]["AccessLogSetting"].is_mapping());
    let account = resource(&template, "ApiGatewayAccount");
    assert_eq!(account["Condition"].as_str(), Some("PerTenantEnvironments"));
    assert_eq!(account["DeletionPolicy"].as_str(), Some("Retain"));
    let role = resource(&template, "ApiGatewayCloudWatchRole");
    assert_eq!(
        role["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"]["Service"]
            .as_str(),
        Some("apigateway.amazonaws.com")
    );
    assert_eq!(role["Condition"].as_str(), Some("PerTenantEnvironments"));
    let globals = &template["Globals"]["Function"];
    for function in API_FUNCTIONS {
        let tenancy = tagged(
            &resource(&template, function)["Properties"]["TenancyConfig"],
            "If",
        );
        assert_eq!(tenancy[0].as_str(), Some("PerTenantEnvironments"));
        assert_eq!(
            tenancy[1]["TenantIsolationMode"].as_str(),
            Some("PER_TENANT")
        );
        assert!(is_ref(&tenancy[2], "AWS::NoValue"));
    }
    assert!(
        resource(&template, "DbAdminFunction")["Properties"]["TenancyConfig"].is_null(),
        "db-admin is invoked by operators, with no tenant id"
    );
    assert!(is_ref(
        &globals["Environment"]["Variables"]["LAMBDA_TENANT_ISOLATION"],
        "LambdaTenantIsolation"
    ));
    let condition = tagged(&template["Conditions"]["PerTenantEnvironments"], "Equals");
    assert!(is_ref(&condition[0], "LambdaTenantIsolation"));
    assert_eq!(condition[1].as_str(), Some("per-tenant"));

    let api = resource(&template, "TenantRestApi");
    assert_eq!(api["Condition"].as_str(), Some("PerTenantEnvironments"));
    let body = &api["Properties"]["DefinitionBody"];
    let scheme = &body["components"]["securitySchemes"]["TenantAuthorizer"];
    assert_eq!(
        scheme["x-amazon-apigateway-authtype"].as_str(),
        Some("custom")
    );
    let authorizer = &scheme["x-amazon-apigateway-authorizer"];
    assert_eq!(authorizer["type"].as_str(), Some("request"));
    assert_eq!(
        authorizer["identitySource"].as_str(),
        Some("method.request.header.Authorization"),
        "the answer is cached per token, never shared between callers"
    );
    assert!(
        text(&authorizer["authorizerUri"])
            .unwrap()
            .contains("${TenantAuthorizerFunction.Arn}/invocations")
    );
    // The authorizer: the workspace's binary, outside the VPC, reserving
    // nothing, with the stack's pool as its only issuer and client.
    let function = resource(&template, "TenantAuthorizerFunction");
    assert_eq!(
        function["Condition"].as_str(),
        Some("PerTenantEnvironments")
    );
    assert_eq!(
        function["Metadata"]["BuildProperties"]["Binary"].as_str(),
        Some("tenant-authorizer")
    );
    let properties = &function["Properties"];
    assert!(properties["VpcConfig"].is_null());
    assert!(properties["TenancyConfig"].is_null());
    assert!(is_ref(
        &properties["ReservedConcurrentExecutions"],
        "AWS::NoValue"
    ));
    let env = &properties["Environment"]["Variables"];
    assert!(
        text(&env["TOKEN_ISSUER"])
            .unwrap()
            .ends_with("/${UserPool}")
    );
    assert!(is_ref(&env["TOKEN_AUDIENCE"], "UserPoolClient"));
    let permission = resource(&template, "TenantAuthorizerPermission");
    assert!(is_ref(
        &permission["Properties"]["FunctionName"],
        "TenantAuthorizerFunction"
    ));
    assert!(
        text(&permission["Properties"]["SourceArn"])
            .unwrap()
            .ends_with("${TenantRestApi}/authorizers/*")
    );
    // Its role may write its logs and traces, and nothing else.
    let role = resource(&template, "TenantAuthorizerRole");
    let actions: Vec<String> = role["Properties"]["Policies"]
        .as_sequence()
        .unwrap()
        .iter()
        .flat_map(|p| {
            p["PolicyDocument"]["Statement"]
                .as_sequence()
                .unwrap()
                .clone()
        })
        .flat_map(|s| match &s["Action"] {
            serde_norway::Value::Sequence(list) => list
                .iter()
                .filter_map(|a| a.as_str().map(str::to_owned))
                .collect(),
            other => vec![other.as_str().unwrap().to_owned()],
        })
        .collect();
    assert_eq!(
        actions,
        [
            "logs:CreateLogStream",
            "logs:PutLogEvents",
            "xray:PutTraceSegments",
            "xray:PutTelemetryRecords"
        ]
    );
    // Per-tenant throttling: the API's keys come from the authorizer only
    // (a client's x-api-key is ignored); each tenant's key, <prefix><tenant>,
    // is the authorizer's answer and tenant-template.yaml's key, in one of
    // two usage plans whose throttles are the stack's parameters.
    assert_eq!(
        body["x-amazon-apigateway-api-key-source"].as_str(),
        Some("AUTHORIZER")
    );
    let api_key = &body["components"]["securitySchemes"]["api_key"];
    assert_eq!(
        (
            api_key["type"].as_str(),
            api_key["name"].as_str(),
            api_key["in"].as_str()
        ),
        (Some("apiKey"), Some("x-api-key"), Some("header"))
    );
    assert_eq!(
        template["Outputs"]["UsageKeyPrefix"]["Value"], env["USAGE_KEY_PREFIX"],
        "onboarding's key prefix is the authorizer's"
    );
    // The stack's UUID, not its name: every key stays within API Gateway's
    // 128 characters (the prefix's 40 and a tenant id's 53).
    assert!(
        format!("{:?}", env["USAGE_KEY_PREFIX"]).contains("AWS::StackId"),
        "{:?}",
        env["USAGE_KEY_PREFIX"]
    );
    for (plan, rate, burst) in [
        (
            "TenantUsagePlan",
            "TenantThrottleRate",
            "TenantThrottleBurst",
        ),
        (
            "PremiumUsagePlan",
            "PremiumThrottleRate",
            "PremiumThrottleBurst",
        ),
    ] {
        let plan = resource(&template, plan);
        assert_eq!(plan["Condition"].as_str(), Some("PerTenantEnvironments"));
        let properties = &plan["Properties"];
        assert!(is_ref(
            &properties["ApiStages"][0]["ApiId"],
            "TenantRestApi"
        ));
        assert!(is_ref(
            &properties["ApiStages"][0]["Stage"],
            "TenantRestApi.Stage"
        ));
        assert!(is_ref(&properties["Throttle"]["RateLimit"], rate));
        assert!(is_ref(&properties["Throttle"]["BurstLimit"], burst));
    }
    let tenant = load("tenant-template.yaml");
    let key = &tenant["Resources"]["TenantApiKey"];
    assert_eq!(key["Condition"].as_str(), Some("MakeUsageKey"));
    assert_eq!(
        text(&key["Properties"]["Value"]),
        Some("${UsageKeyPrefix}${TenantId}"),
        "the tenant's key is the value the authorizer answers with"
    );
    let plan_key = &tenant["Resources"]["TenantUsagePlanKey"]["Properties"];
    assert!(is_ref(&plan_key["KeyId"], "TenantApiKey"));
    assert!(is_ref(&plan_key["UsagePlanId"], "UsagePlanId"));
    let mapped = format!(
        "context.authorizer.{}",
        tenant_access::authorizer::TENANT_ID_KEY
    );
    let mut served: BTreeSet<(String, String)> = BTreeSet::new();
    for (path, item) in body["paths"].as_mapping().unwrap() {
        let path = path.as_str().unwrap().to_owned();
        let method = &item["x-amazon-apigateway-any-method"];
        assert_eq!(
            item.as_mapping().unwrap().len(),
            1,
            "{path}: one method entry"
        );
        assert_eq!(
            method["security"][0]["TenantAuthorizer"]
                .as_sequence()
                .map(Vec::len),
            Some(0),
            "{path} goes through the authorizer"
        );
        assert_eq!(
            method["security"][0]["api_key"].as_sequence().map(Vec::len),
            Some(0),
            "{path} needs the tenant's API key (from the authorizer), so its usage plan throttles it"
        );
        let integration = &method["x-amazon-apigateway-integration"];
        assert_eq!(integration["type"].as_str(), Some("aws_proxy"));
        let params = integration["requestParameters"].as_mapping().unwrap();
        assert_eq!(params.len(), 1, "{path}: only the tenant id is mapped");
        assert_eq!(
            params
                .get("integration.request.header.X-Amz-Tenant-Id")
                .and_then(text),
            Some(mapped.as_str()),
            "{path}: the tenant id is the authorizer's verified tenant, never a client value"
        );
        let uri = text(&integration["uri"]).unwrap();
        let function = uri
            .split("${")
            .find_map(|part| part.strip_suffix(".Arn}/invocations"))
            .unwrap_or_else(|| panic!("{path}: {uri}"));
        served.insert((path, function.to_owned()));
    }
    // Every HTTP API route has its path here, going to the same function.
    for function in API_FUNCTIONS {
        for (_, event) in resource(&template, function)["Properties"]["Events"]
            .as_mapping()
            .unwrap()
        {
            let path = event["Properties"]["Path"].as_str().unwrap().to_owned();
            assert!(
                served.contains(&(path.clone(), function.to_owned())),
                "{path} of {function} is not served by the REST API: {served:?}"
            );
        }
        let permission = resource(&template, &format!("{function}RestPermission"));
        assert_eq!(
            permission["Condition"].as_str(),
            Some("PerTenantEnvironments")
        );
        assert!(is_ref(&permission["Properties"]["FunctionName"], function));
        assert!(
            text(&permission["Properties"]["SourceArn"])
                .unwrap()
                .contains("${TenantRestApi}/"),
            "{function}: invocable by this API only"
        );
    }
}

#[test]
fn the_template_refuses_inconsistent_parameters() {
    let template = load("template.yaml");
    let network = [
        ("VpcId", "vpc-1"),
        ("SubnetIds", "subnet-a,subnet-b"),
        ("SecurityGroupIds", "sg-1"),
        ("RouteTableIds", "rtb-a,rtb-b"),
    ];
    let with = |more: &[(&'static str, &'static str)]| -> Vec<(&'static str, &'static str)> {
        network.iter().chain(more).copied().collect()
    };
    // The documented command line of the default profile (SAM replaces the
    // profile's overrides with it), placeholders filled.
    let comment: String = std::fs::read_to_string(root().join("samconfig.toml"))
        .unwrap()
        .lines()
        .filter(|l| l.starts_with('#'))
        .collect::<Vec<_>>()
        .join(" ");
    let documented: Vec<(String, String)> = comment
        .split_whitespace()
        .filter_map(|w| w.split_once('='))
        .filter(|(k, _)| k.chars().all(|c| c.is_ascii_alphanumeric()) && !k.is_empty())
        .map(|(k, v)| (k.to_owned(), v.replace(['<', '>'], "x")))
        .collect();
    let documented: Vec<(&str, &str)> = documented
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert!(documented.iter().any(|(k, _)| *k == "DbHost"));
    assert_eq!(refusals(&template, &documented), Vec::<String>::new());
    // The prod profile as written.
    let prod = with(&[
        ("CreateUserPool", "true"),
        ("AllowPasswordAuth", "false"),
        ("CreateCluster", "true"),
        ("UseRdsProxy", "true"),
    ]);
    assert_eq!(refusals(&template, &prod), Vec::<String>::new());

    // Without a route to DynamoDB the VPC functions' registry reads and
    // dynamodb-items' table calls would time out: refused, unless the
    // operator says the VPC routes them already.
    let no_route: Vec<(&str, &str)> = prod
        .iter()
        .filter(|(k, _)| *k != "RouteTableIds")
        .copied()
        .collect();
    assert!(
        refusals(&template, &no_route)
            .iter()
            .any(|r| r.contains("give RouteTableIds")),
        "{:?}",
        refusals(&template, &no_route)
    );
    let routed_already: Vec<(&str, &str)> = no_route
        .iter()
        .copied()
        .chain([("VpcReachesDynamoDb", "true")])
        .collect();
    assert_eq!(refusals(&template, &routed_already), Vec::<String>::new());
    // A dedicated tier beside a shared strategy.
    let tiered: Vec<(&str, &str)> = prod
        .iter()
        .copied()
        .chain([
            ("IsolationStrategy", "session-tags"),
            ("DedicatedTier", "premium"),
        ])
        .collect();
    assert_eq!(refusals(&template, &tiered), Vec::<String>::new());

    for (params, expected) in [
        (with(&[("DbResourceId", "cluster-X")]), "DbHost must be"),
        (with(&[("DbHost", "db.example")]), "DbResourceId must be"),
        (
            with(&[
                ("DbHost", "db.example"),
                ("DbResourceId", "cluster-X"),
                ("UseRdsProxy", "true"),
            ]),
            "UseRdsProxy=true",
        ),
        (
            with(&[
                ("CreateCluster", "true"),
                ("CreateUserPool", "false"),
                ("JwtAudience", "client1"),
            ]),
            "JwtIssuer must be",
        ),
        (
            with(&[
                ("CreateCluster", "true"),
                ("CreateUserPool", "false"),
                ("JwtIssuer", "https://issuer.example"),
            ]),
            "JwtAudience must list",
        ),
        (
            with(&[
                ("CreateCluster", "true"),
                ("CreateUserPool", "false"),
                ("JwtIssuer", "https://issuer.example"),
                ("JwtAudience", "client1"),
                ("IsolationStrategy", "identity-pool"),
            ]),
            "IsolationStrategy=identity-pool",
        ),
        (
            with(&[
                ("CreateCluster", "true"),
                ("CreateUserPool", "false"),
                ("JwtIssuer", "https://issuer.example"),
                ("JwtAudience", "client1"),
                ("LambdaTenantIsolation", "per-tenant"),
            ]),
            "LambdaTenantIsolation=per-tenant",
        ),
        (
            with(&[("CreateCluster", "true"), ("DedicatedTier", "premium")]),
            "DedicatedTier gives one tier",
        ),
        (
            with(&[
                ("CreateCluster", "true"),
                ("IsolationStrategy", "session-tags"),
                ("DedicatedTierConnections", "8"),
            ]),
            "DedicatedTierConnections is DedicatedTier's",
        ),
        (
            with(&[
                ("CreateCluster", "true"),
                ("IsolationStrategy", "identity-pool"),
                ("DedicatedTier", "premium"),
            ]),
            "DedicatedTier gives one tier",
        ),
    ] {
        let refused = refusals(&template, &params);
        assert!(
            refused.len() == 1 && refused[0].contains(expected),
            "{params:?}: {refused:?}"
        );
    }
}

/// docs/deploying.md's parameter table lists exactly the template's
/// parameters.
#[test]
fn the_parameter_table_lists_every_parameter() {
    let template = load("template.yaml");
    let declared: BTreeSet<String> = template["Parameters"]
        .as_mapping()
        .unwrap()
        .keys()
        .map(|k| k.as_str().unwrap().to_owned())
        .collect();
    let doc = std::fs::read_to_string(root().join("docs/deploying.md")).unwrap();
    let start = doc
        .find("| parameter | meaning |")
        .expect("the parameter table");
    let documented: BTreeSet<String> = doc[start..]
        .lines()
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .flat_map(|l| {
            l.trim_start_matches("| ")
                .split(" | ")
                .next()
                .unwrap()
                .split(", ")
                .map(|n| n.trim_matches('`').to_owned())
                .collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(documented, declared);
}

/// The `sam deploy` command lines of the README's deploy steps and of the
/// samconfig comment: `--config-env` and `--parameter-overrides` parsed.
fn deploy_lines(text: &str) -> Vec<(String, Vec<(String, String)>)> {
    let joined = text.replace("\\\n", " ").replace(['`', '#'], " ");
    joined
        .lines()
        .filter_map(|line| line.find("sam deploy").map(|at| &line[at..]))
        .map(|line| {
            let words: Vec<&str> = line.split_whitespace().collect();
            let profile = words
                .windows(2)
                .find(|w| w[0] == "--config-env")
                .map_or("default", |w| w[1])
                .to_owned();
            let overrides = words
                .iter()
                .skip_while(|w| **w != "--parameter-overrides")
                .skip(1)
                .take_while(|w| !w.starts_with("--"))
                .filter_map(|w| w.split_once('='))
                .map(|(k, v)| (k.to_owned(), v.trim_end_matches('.').to_owned()))
                .collect();
            (profile, overrides)
        })
        .collect()
}

/// The README's deploy commands are what the profiles and the template
/// accept: each repeats its profile's own overrides (the SAM CLI replaces
/// them with the command line's), names only template parameters, passes
/// the template's rules, and the default one is the samconfig comment's.
#[test]
fn the_readme_deploy_commands_are_the_profiles() {
    let template = load("template.yaml");
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let section = &readme[readme.find("## Deploy").expect("a deploy section")..];
    let section = &section[..section[3..].find("\n## ").map_or(section.len(), |i| i + 3)];
    let lines = deploy_lines(section);
    let profiles: Vec<&str> = lines.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(profiles, ["default", "prod"]);
    let comment: String = std::fs::read_to_string(root().join("samconfig.toml"))
        .unwrap()
        .lines()
        .filter(|l| l.starts_with('#'))
        .map(|l| l.trim_start_matches('#'))
        .collect::<Vec<_>>()
        .join("\n");
    let documented = deploy_lines(&comment);
    assert_eq!(documented.len(), 1);
    let names = |o: &[(String, String)]| o.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>();
    assert_eq!(
        names(&lines[0].1),
        names(&documented[0].1),
        "the README's default command is the samconfig comment's"
    );
    for (profile, overrides) in &lines {
        let own = samconfig(&format!("{profile}.deploy.parameters"))["parameter_overrides"].clone();
        for pair in own.split_whitespace() {
            let (k, v) = pair.split_once('=').unwrap();
            assert!(
                overrides.iter().any(|(ok, ov)| ok == k && ov == v),
                "{profile}: the README's command drops {k}={v}"
            );
        }
        for (k, _) in overrides {
            assert!(
                template["Parameters"][k.as_str()].is_mapping(),
                "{profile}: {k}"
            );
        }
        let filled: Vec<(String, String)> = overrides
            .iter()
            .map(|(k, v)| (k.clone(), v.replace(['<', '>', ' '], "x")))
            .collect();
        let params: Vec<(&str, &str)> = filled
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            refusals(&template, &params),
            Vec::<String>::new(),
            "{profile}"
        );
    }
}

/// What a fresh account can deploy: no reservation unless asked (a new
/// account's concurrency quota of 10 cannot spare one, since Lambda keeps
/// 100 unreserved), db-admin's included; and the engine version is the
/// operator's choice, since RDS refuses a retired one.
#[test]
fn a_fresh_account_can_deploy_it_as_written() {
    let template = load("template.yaml");
    for name in API_FUNCTIONS.iter().chain(&["DbAdminFunction"]) {
        let own = &resource(&template, name)["Properties"]["ReservedConcurrentExecutions"];
        // The API functions take the Globals' setting.
        let reserved = if own.is_null() {
            &template["Globals"]["Function"]["ReservedConcurrentExecutions"]
        } else {
            own
        };
        let choice = tagged(reserved, "If");
        assert_eq!(choice[0].as_str(), Some("Reserve"), "{name}");
        assert!(
            matches!(&choice[2], Value::Tagged(t) if t.tag == "Ref" && t.value.as_str() == Some("AWS::NoValue")),
            "{name} reserves nothing by default"
        );
    }
    let reserve = &template["Parameters"]["ReservedConcurrency"];
    assert_eq!(reserve["Default"].as_u64(), Some(0));
    let cluster = resource(&template, "Cluster");
    assert!(is_ref(
        &cluster["Properties"]["EngineVersion"],
        "DbEngineVersion"
    ));
    assert!(template["Parameters"]["DbEngineVersion"]["Default"].is_string());
}

/// A user's own area, `<home>/users/<sub>/`: every role that serves both
/// the tenant's and its users' sessions (the tenant role, the shared S3 role
/// under session-tags) keeps a session without the `username` tag out of
/// every user area, and one with it in its own; the identity pool's role,
/// whose one session per user serves both, cannot (docs/isolation.md).
#[test]
fn user_sessions_stay_in_their_own_area_and_tenant_sessions_out_of_all() {
    let tenant = load("tenant-template.yaml");
    let main = load("template.yaml");
    for (name, role, home) in [
        (
            "TenantRole",
            resource(&tenant, "TenantRole"),
            "${!aws:PrincipalTag/s3_home}",
        ),
        (
            "SharedS3Role",
            resource(&main, "SharedS3Role"),
            "${!aws:PrincipalTag/TenantID}_home",
        ),
    ] {
        let found: Vec<&Value> = statements(role)
            .into_iter()
            .filter(|s| sid(s).is_some_and(|sid| USER_AREA_SIDS.contains(&sid)))
            .collect();
        let sids: Vec<&str> = found.iter().filter_map(|s| sid(s)).collect();
        assert_eq!(sids, USER_AREA_SIDS, "{name}");
        for statement in &found {
            assert!(!is_allow(statement), "{name}: {:?} denies", sid(statement));
        }
        let null = |s: &Value| {
            text(&s["Condition"]["Null"]["aws:PrincipalTag/username"]).map(str::to_owned)
        };
        // The tenant's sessions (no username): no object under users/.
        assert_eq!(null(found[0]).as_deref(), Some("true"), "{name}");
        assert_eq!(
            text(&found[0]["Resource"]),
            Some(
                format!(
                    "arn:${{AWS::Partition}}:s3:::${{{}}}/{home}/users/*",
                    if name == "TenantRole" {
                        "BucketName"
                    } else {
                        "TenantBucket"
                    }
                )
                .as_str()
            ),
            "{name}"
        );
        // A user's sessions: nothing but their own area.
        assert_eq!(null(found[1]).as_deref(), Some("false"), "{name}");
        assert!(
            text(&found[1]["NotResource"])
                .unwrap()
                .ends_with(&format!("/{home}/users/${{!aws:PrincipalTag/username}}/*")),
            "{name}"
        );
        assert_eq!(null(found[2]).as_deref(), Some("true"), "{name}");
        assert_eq!(null(found[3]).as_deref(), Some("false"), "{name}");
        let plain = home.replace("${!", "${");
        assert_eq!(
            found[3]["Condition"]["StringNotLike"]["s3:prefix"].as_str(),
            Some(format!("{plain}/users/${{aws:PrincipalTag/username}}/*").as_str()),
            "{name}"
        );
    }
    let pool = statements(resource(&main, "IdentityPoolAuthenticatedRole"));
    assert!(
        !pool
            .iter()
            .any(|s| sid(s).is_some_and(|sid| USER_AREA_SIDS.contains(&sid))),
        "the pool's one session per user serves the tenant's files too"
    );
}

/// Contributor Insights ranks tenants by requests, bytes out and server
/// errors from the functions' per-request records, keyed on the record's
/// `tenant` property, over exactly the four data functions' log groups.
#[test]
fn contributor_insights_rank_tenants_by_their_usage_records() {
    let template = load("template.yaml");
    for (name, aggregate, value, errors) in [
        ("TenantRequestsRule", "Count", None, false),
        ("TenantBytesOutRule", "Sum", Some("$.bytesOut"), false),
        ("TenantErrorsRule", "Count", None, true),
    ] {
        let rule = resource(&template, name);
        assert_eq!(rule["Type"].as_str(), Some("AWS::CloudWatch::InsightRule"));
        assert_eq!(rule["Properties"]["RuleState"].as_str(), Some("ENABLED"));
        let body: serde_json::Value =
            serde_json::from_str(text(&rule["Properties"]["RuleBody"]).unwrap())
                .unwrap_or_else(|e| panic!("{name}: the rule body is JSON: {e}"));
        assert_eq!(body["Schema"]["Name"], "CloudWatchLogRule", "{name}");
        assert_eq!(body["LogFormat"], "JSON", "{name}");
        assert_eq!(
            body["LogGroupNames"],
            serde_json::json!([
                "${S3FetchLogs}",
                "${AuroraQueryLogs}",
                "${DynamoDbItemsLogs}",
                "${SearchDocsLogs}"
            ]),
            "{name}"
        );
        assert_eq!(
            body["Contribution"]["Keys"],
            serde_json::json!(["$.tenant"]),
            "{name}"
        );
        assert_eq!(body["AggregateOn"], aggregate, "{name}");
        assert_eq!(body["Contribution"]["ValueOf"].as_str(), value, "{name}");
        let filters = body["Contribution"]["Filters"].as_array().unwrap();
        assert!(
            filters.iter().any(|f| f["Match"] == "$.Requests"),
            "{name}: only the per-request records"
        );
        assert_eq!(
            filters
                .iter()
                .any(|f| f["Match"] == "$.status" && f["GreaterThan"] == 499),
            errors,
            "{name}"
        );
    }
    // The fields the rules read are the record's own.
    let line = tenant_access::metrics::line(
        "TenantAccess",
        std::time::SystemTime::UNIX_EPOCH,
        &tenant_access::metrics::Measured {
            function: "s3-fetch",
            tenant: Some("tenant1"),
            request_id: None,
            route: None,
            bytes_in: 0,
            bytes_out: 5,
            status: 503,
            latency: std::time::Duration::ZERO,
            counts: Default::default(),
        },
    );
    let record: serde_json::Value = serde_json::from_str(&line).unwrap();
    for field in ["tenant", "Requests", "bytesOut", "status"] {
        assert!(!record[field].is_null(), "the record has {field}");
    }
}

/// The README's crate example is the crate README's, which compiles as a
/// doctest of the crate: one example, shown in both places.
#[test]
fn the_readme_s_crate_example_is_the_compiled_one() {
    let example = |path: &str| {
        let text = std::fs::read_to_string(root().join(path)).unwrap();
        let start = text
            .find("```rust,no_run\n")
            .unwrap_or_else(|| panic!("{path} has a rust,no_run example"));
        let end = text[start..].find("\n```\n").expect("the example ends") + start;
        text[start..end].to_owned()
    };
    assert_eq!(
        example("README.md"),
        example("shared/tenant-access/README.md"),
        "README.md's crate example differs from the crate README's (which is compiled)"
    );
}

/// `DedicatedTierConnections` gives aurora-query, and no other function,
/// the dedicated tier's own connection budget (`DB_TIER_CONNECTIONS`) in
/// the form its configuration reads, only beside a dedicated tier and only
/// when it is not 0.
#[test]
fn a_dedicated_tier_s_connection_budget_reaches_aurora_query_only() {
    let template = load("template.yaml");
    for function in API_FUNCTIONS {
        let variables = &resource(&template, function)["Properties"]["Environment"]["Variables"];
        assert_eq!(
            variables.get("DB_TIER_CONNECTIONS").is_some(),
            function == "AuroraQueryFunction",
            "{function}"
        );
    }
    let value = &resource(&template, "AuroraQueryFunction")["Properties"]["Environment"]["Variables"]
        ["DB_TIER_CONNECTIONS"];
    let parts = tagged(value, "If").as_sequence().expect("!If takes a list");
    let condition = parts[0].as_str().unwrap();
    assert_eq!(
        text(&parts[1]),
        Some("${DedicatedTier}=${DedicatedTierConnections}")
    );
    assert_eq!(tagged(&parts[2], "Ref").as_str(), Some("AWS::NoValue"));
    let applies = |params: &[(&str, &str)]| {
        rule_value(&template, &template["Conditions"][condition], params) == RuleValue::Truth(true)
    };
    let shared = ("IsolationStrategy", "session-tags");
    assert!(applies(&[
        shared,
        ("DedicatedTier", "premium"),
        ("DedicatedTierConnections", "8")
    ]));
    assert!(
        !applies(&[shared, ("DedicatedTier", "premium")]),
        "0 by default: one budget"
    );
    assert!(
        !applies(&[shared, ("DedicatedTierConnections", "8")]),
        "no tier"
    );
    // What the function is given parses as its tier's budget.
    let rendered = "${DedicatedTier}=${DedicatedTierConnections}"
        .replace("${DedicatedTier}", "premium")
        .replace("${DedicatedTierConnections}", "8");
    let vars = [
        ("DB_HOST", "h"),
        ("DB_NAME", "d"),
        ("DB_CA_BUNDLE", "/ca.pem"),
        ("DB_TIER_CONNECTIONS", rendered.as_str()),
    ];
    let db = tenant_access::config::DbConfig::from_lookup(|name: &str| {
        vars.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| (*v).to_owned())
    })
    .expect("the rendered budget parses");
    assert_eq!(db.tier_connections.len(), 1);
    assert_eq!(db.tier_connections[0].0, "premium");
    assert_eq!(db.tier_connections[0].1.get(), 8);
}

/// The per-tenant limits and the login pace are the stack's parameters:
/// every function gets the tenant limits (`TenantBurst` and `TierLimits`
/// only when set, so the crate's defaults apply otherwise), aurora-query
/// the login pace, and the HTTP API's stage throttles every caller
/// together. `TierLimits`' pattern takes the documented example, which the
/// crate parses.
#[test]
fn the_limits_are_the_stack_s_parameters() {
    let template = load("template.yaml");
    let env = &template["Globals"]["Function"]["Environment"]["Variables"];
    assert!(is_ref(&env["TENANT_MAX_IN_FLIGHT"], "TenantMaxInFlight"));
    assert!(is_ref(
        &env["TENANT_REQUESTS_PER_SECOND"],
        "TenantRequestsPerSecond"
    ));
    for (variable, parameter, condition) in [
        ("TENANT_BURST", "TenantBurst", "HasTenantBurst"),
        ("TENANT_TIER_LIMITS", "TierLimits", "HasTierLimits"),
    ] {
        let parts = tagged(&env[variable], "If").as_sequence().expect("!If");
        assert_eq!(parts[0].as_str(), Some(condition), "{variable}");
        assert!(is_ref(&parts[1], parameter), "{variable}");
        assert!(is_ref(&parts[2], "AWS::NoValue"), "{variable}");
        let set = |value: &str| {
            rule_value(
                &template,
                &template["Conditions"][condition],
                &[(parameter, value)],
            ) == RuleValue::Truth(true)
        };
        assert!(!set(template["Parameters"][parameter]["Default"]
            .as_str()
            .map_or("0", |d| d)));
    }
    assert_eq!(
        template["Parameters"]["TenantBurst"]["Default"].as_u64(),
        Some(0)
    );
    let aurora =
        &resource(&template, "AuroraQueryFunction")["Properties"]["Environment"]["Variables"];
    assert!(is_ref(&aurora["DB_LOGINS_PER_SECOND"], "DbLoginsPerSecond"));
    assert_eq!(
        template["Parameters"]["DbLoginsPerSecond"]["Default"].as_u64(),
        Some(100),
        "the crate's default"
    );
    let route = &resource(&template, "Api")["Properties"]["DefaultRouteSettings"];
    assert!(is_ref(&route["ThrottlingRateLimit"], "ApiThrottleRate"));
    assert!(is_ref(&route["ThrottlingBurstLimit"], "ApiThrottleBurst"));
    // The documented example passes the parameter's pattern and parses.
    let pattern = template["Parameters"]["TierLimits"]["AllowedPattern"]
        .as_str()
        .unwrap();
    let whole = regex_lite_full_match(pattern);
    for (value, ok) in [
        ("basic=4:20:40,premium=32:500:1000", true),
        ("", true),
        ("premium=32:500", false),
        ("premium=32:500:1000;", false),
    ] {
        assert_eq!(whole(value), ok, "{value:?}");
    }
    let vars = [
        ("TENANT_TIER_LIMITS", "basic=4:20:40,premium=32:500:1000"),
        ("TENANT_REGISTRY_TABLE", "tenant-registry"),
        ("AWS_ACCOUNT_ID", "123456789012"),
    ];
    tenant_access::config::AccessConfig::from_lookup(|name: &str| {
        vars.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| (*v).to_owned())
    })
    .expect("the example parses");
}

/// A matcher of CloudFormation's `AllowedPattern`: the whole value.
fn regex_lite_full_match(pattern: &str) -> impl Fn(&str) -> bool {
    let re = regex_lite::Regex::new(&format!("^(?:{pattern})$")).expect("a valid pattern");
    move |value| re.is_match(value)
}
