"""Seed the local moto server with the reference design's IAM and S3 state.

Run by `cargo xtask up` while moto still accepts unauthenticated calls; the
xtask switches IAM enforcement on afterwards. Prints one JSON object with the
execution identity's access key for the functions' environment.

The policies are the deployed ones: the execution role's `assume-tenant-roles`
policy from template.yaml and the tenant role (name, tags, trust policy and
data policy) from tenant-template.yaml, with their parameters filled in.
moto evaluates role policies with literal ARNs only: it does not substitute
${aws:PrincipalTag/...}. So each tenant role's policy is then rendered from
that role's own tags, the way IAM would evaluate it for that role.

moto's copy is only what moto itself can check. What decides isolation
locally is the registry this script writes (`--registry PATH`): each role's
policies as deployed, variables and conditions kept, with its tags, which
the local front (before S3) and the token verifier evaluate with the one
local IAM evaluator, together with each session's policy and tags.

The shared roles (one per function's job: s3, db, dynamodb) exist twice,
because the tests switch strategies: the session-policy variant
`tenant-access-shared-<job>` and the session-tags variant
`tenant-access-shared-<job>-tagged`. moto holds the spanning
(session-policy) policy for both, so it never refuses what IAM would allow;
the registry holds each one's real policy.
"""

import json
import os
import pathlib
import re
import sys
import time

import boto3
import yaml

HERE = pathlib.Path(__file__).parent
ROOT = HERE.parent.parent


class CfnLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short-form intrinsics (!Sub, !Ref, ...)."""


def _intrinsic(loader, suffix, node):
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {"Ref" if suffix == "Ref" else "Fn::" + suffix: value}


CfnLoader.add_multi_constructor("!", _intrinsic)


def load_template(name: str) -> dict:
    return yaml.load((ROOT / name).read_text(), Loader=CfnLoader)


NO_VALUE = object()


def fill(node, params: dict, conditions: dict = None):
    """Resolve !Sub, !Ref, !GetAtt, !Select and !If against params and conditions;
    `${!x}` becomes a literal `${x}`, `AWS::NoValue` drops the element."""
    conditions = conditions or {}
    if isinstance(node, list):
        items = [fill(item, params, conditions) for item in node]
        return [item for item in items if item is not NO_VALUE]
    if isinstance(node, dict):
        if set(node) == {"Fn::If"}:
            name, then, otherwise = node["Fn::If"]
            if name not in conditions:
                raise SystemExit(f"template condition {name} has no local value")
            return fill(then if conditions[name] else otherwise, params, conditions)
        if set(node) == {"Fn::GetAtt"}:
            name = node["Fn::GetAtt"]
            if name not in params:
                raise SystemExit(f"template attribute {name} has no local value")
            return params[name]
        if set(node) == {"Fn::Sub"}:
            template, local = node["Fn::Sub"], {}
            if isinstance(template, list):
                template, local = template[0], fill(template[1], params, conditions)

            def one(match):
                name = match.group(1)
                if name.startswith("!"):
                    return "${" + name[1:] + "}"
                value = local.get(name, params.get(name))
                if value is None:
                    raise SystemExit(f"template parameter {name} has no local value")
                return value
            return re.sub(r"\$\{([^}]+)\}", one, template)
        if set(node) == {"Fn::Join"}:
            separator, values = node["Fn::Join"]
            return separator.join(fill(values, params, conditions))
        if set(node) == {"Fn::Split"}:
            separator, value = node["Fn::Split"]
            return fill(value, params, conditions).split(separator)
        if set(node) == {"Fn::Select"}:
            index, values = node["Fn::Select"]
            return fill(values, params, conditions)[int(index)]
        if set(node) == {"Ref"}:
            if node["Ref"] == "AWS::NoValue":
                return NO_VALUE
            if node["Ref"] not in params:
                raise SystemExit(f"template parameter {node['Ref']} has no local value")
            return params[node["Ref"]]
        if any(k.startswith("Fn::") for k in node):
            raise SystemExit(f"unsupported intrinsic in a policy: {node}")
        filled = {k: fill(v, params, conditions) for k, v in node.items()}
        return {k: v for k, v in filled.items() if v is not NO_VALUE}
    return node


def policy(resource: dict, name: str) -> dict:
    for entry in resource["Properties"]["Policies"]:
        # A policy kept only under a condition: `!If [cond, policy, NoValue]`.
        if set(entry) == {"Fn::If"}:
            entry = entry["Fn::If"][1]
        if entry["PolicyName"] == name:
            return entry["PolicyDocument"]
    raise SystemExit(f"no policy {name}")


# moto evaluates DynamoDB calls against Resource "*" only (it never builds
# a table ARN) and ignores Condition, so its copy of every tenant-facing
# role gets this statement; the registry keeps the real, table- and
# LeadingKeys-scoped one, which the local front decides with.
MOTO_ONLY_ITEMS = {
    "Sid": "MotoOnlyItemCalls",
    "Effect": "Allow",
    "Action": ["dynamodb:GetItem", "dynamodb:Query", "dynamodb:PutItem", "dynamodb:UpdateItem",
               "dynamodb:DeleteItem"],
    "Resource": "*",
}


def for_moto(document: dict, span_tags: bool = False) -> dict:
    """A policy document as moto's copy holds it: MOTO_ONLY_ITEMS added,
    and with `span_tags` every principal tag a wildcard (moto substitutes
    none; the registry keeps the tag-keyed original, which decides).
    Statements keyed on a session's username tag (a user's own area) are
    left out: moto evaluates no condition, so it would apply their denies to
    every session; each Allow among them has a tenant-wide twin moto keeps.
    The front decides them from the registry's copy."""
    document = dict(document)
    document["Statement"] = [
        statement for statement in document["Statement"]
        if "aws:PrincipalTag/username" not in json.dumps(statement)
    ]
    text = json.dumps(document)
    if span_tags:
        text = re.sub(r"\$\{aws:PrincipalTag/[^}]+\}", "*", text)
    document = json.loads(text)
    document["Statement"] = document["Statement"] + [MOTO_ONLY_ITEMS]
    return document


TABLE = "tenant-items"
REGISTRY_TABLE = "tenant-registry"
SEARCH_DOMAIN = "tenant-docs"
# The local stand-in for the operator who purges tenants' search indices.
OPERATOR_USER = "tenant-operator"
# The local stand-in for the account's AWS-managed aws/s3 key's id.
AWS_S3_KEY_ID = "00000000-0000-4000-8000-0000000a0553"
IDENTITY_POOL_NAME = "tenant_access_local"
# The local stand-in for the Cognito service principal: the identity that
# obtains the pool's authenticated-role credentials from moto.
COGNITO_SERVICE_USER = "cognito-identity-service"
# db-admin: the local stand-in for its execution role, and the master
# user's secret it reads (the cluster's managed secret on AWS).
DB_ADMIN_USER = "db-admin"
DB_ADMIN_SECRET = "tenant-access/db-admin"
OTHER_SECRET = "tenant-access/another-secret"


def principal_tags(policy: str, tags: dict) -> str:
    for key, value in tags.items():
        policy = policy.replace("${aws:PrincipalTag/" + key + "}", value)
    if "${aws:PrincipalTag/" in policy:
        raise SystemExit(f"policy uses a principal tag the role lacks: {policy}")
    return policy


_ROLES = None

# Local only: every seeded user's password (moto's Cognito, on loopback).
USER_PASSWORD = "Local-Tenant-Passw0rd!"
POOL_NAME = "tenant-access-local"


def cognito_user(cognito, pool: str, tenant: str) -> None:
    """A user of `tenant` as the control plane makes one: e-mail user
    name, the immutable custom:tenant_id, a permanent password."""
    email = f"{tenant}@example.com"
    try:
        cognito.admin_get_user(UserPoolId=pool, Username=email)
    except cognito.exceptions.UserNotFoundException:
        cognito.admin_create_user(
            UserPoolId=pool,
            Username=email,
            UserAttributes=[{"Name": "email", "Value": email}, {"Name": "custom:tenant_id", "Value": tenant}],
            MessageAction="SUPPRESS",
        )
        cognito.admin_set_user_password(UserPoolId=pool, Username=email, Password=USER_PASSWORD, Permanent=True)
    # The tenant's users stay findable by its group (ListUsers cannot
    # filter on a custom attribute): offboarding disables the group's users.
    try:
        cognito.create_group(UserPoolId=pool, GroupName=tenant_group(tenant))
    except cognito.exceptions.GroupExistsException:
        pass
    cognito.admin_add_user_to_group(UserPoolId=pool, Username=email, GroupName=tenant_group(tenant))


def tenant_group(tenant: str) -> str:
    """The Cognito group of `tenant`'s users, as the xtask's AWS plan names it."""
    return f"tenant-{tenant}"


def user_pool(cognito, name: str) -> tuple:
    """A pool shaped like the template's UserPool, and its app client with
    password sign-in (AllowPasswordAuth=true)."""
    pool = cognito.create_user_pool(
        PoolName=name,
        UsernameAttributes=["email"],
        Schema=[{"Name": "tenant_id", "AttributeDataType": "String", "Mutable": False}],
    )["UserPool"]["Id"]
    client = cognito.create_user_pool_client(
        UserPoolId=pool,
        ClientName="api",
        GenerateSecret=False,
        ExplicitAuthFlows=["ALLOW_USER_SRP_AUTH", "ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
    )["UserPoolClient"]["ClientId"]
    return pool, client


def tenant_key(kms, alias: str):
    """The ARN of the key behind `alias`, if it exists (a re-run)."""
    try:
        return kms.describe_key(KeyId=alias)["KeyMetadata"]["Arn"]
    except kms.exceptions.NotFoundException:
        return None


def offboarded_deny(main: dict, params: dict, offboarded: list) -> dict:
    """The template's OffboardedTenantsDeny document for `offboarded` (as
    CloudFormation renders the CommaDelimitedList; empty is [""])."""
    document = main["OffboardedTenantsDeny"]["Properties"]["PolicyDocument"]
    return fill(document, dict(params, OffboardedTenants=offboarded or [""]))


def registry_state(dynamodb, tenant: str, state: str, tier: str | None = None) -> None:
    """The tenant's lifecycle state in the registry, and its tier when it has
    one, as the xtask's AWS plans write them."""
    item = {"tenant_id": {"S": tenant}, "state": {"S": state}, "changed_at": {"N": str(int(time.time()))}}
    if tier:
        item["tier"] = {"S": tier}
    dynamodb.put_item(TableName=REGISTRY_TABLE, Item=item)


# The entity tag of every seeded item, so the fixtures can name it; the
# functions give each write a random one.
SEED_ETAG = "00000000000000000000000000000001"


def seed_item(tenant: str, item_id: str, data: dict) -> dict:
    """An item as dynamodb-items stores it, at version 1."""
    return {"tenant_id": {"S": tenant}, "item_id": {"S": item_id}, "version": {"N": "1"},
            "etag": {"S": SEED_ETAG},
            "data": {"S": json.dumps(data, separators=(",", ":"))},
            "updated_at": {"S": "2026-01-01T00:00:00Z"}}


def existing_roles(iam) -> set:
    global _ROLES
    if _ROLES is None:
        _ROLES = {r["RoleName"] for page in iam.get_paginator("list_roles").paginate() for r in page["Roles"]}
    return _ROLES


def main() -> None:
    endpoint, region, account, bucket, cluster, tenants = sys.argv[1:7]
    tenants = tenants.split(",")
    options = sys.argv[7:]
    # --tenants-only: add tenants to a seeded server (benchmarks).
    tenants_only = "--tenants-only" in options
    # --tier NAME: the tenants' tier, in their registry items.
    tier = options[options.index("--tier") + 1] if "--tier" in options else None
    registry_path = pathlib.Path(options[options.index("--registry") + 1])
    registry = {"roles": {}}
    if tenants_only and registry_path.exists():
        registry = json.loads(registry_path.read_text())
    session = boto3.session.Session(
        aws_access_key_id="seed", aws_secret_access_key="seed", region_name=region
    )
    iam = session.client("iam", endpoint_url=endpoint)
    s3 = session.client("s3", endpoint_url=endpoint)
    cognito = session.client("cognito-idp", endpoint_url=endpoint)
    dynamodb = session.client("dynamodb", endpoint_url=endpoint)
    kms = session.client("kms", endpoint_url=endpoint)
    identity = session.client("cognito-identity", endpoint_url=endpoint)
    table_arn = f"arn:aws:dynamodb:{region}:{account}:table/{TABLE}"
    params = {
        "AWS::Partition": "aws",
        "AWS::Region": region,
        "AWS::AccountId": account,
        "TenantRolePrefix": "assumeRole-",
        "BucketName": bucket,
        "TenantBucket": bucket,
        "DbResourceId": cluster,
        "AWS::StackName": "tenant-access",
        "TableName": TABLE,
        "TenantTable": TABLE,
        "TenantTable.Arn": table_arn,
        # The search domain the front serves (its stand-in engine).
        "SearchDomainName": SEARCH_DOMAIN,
        "TenantRegistry.Arn": f"arn:aws:dynamodb:{region}:{account}:table/{REGISTRY_TABLE}",
        # Kept in the registry's copy of each role it is attached to
        # (offboarded_deny), never in moto's: moto would ignore its
        # conditions and deny everything.
        "OffboardedTenantsDeny": f"arn:aws:iam::{account}:policy/tenant-access-offboarded",
        # The tenant roles' permissions boundary: in the registry's copy of
        # each tenant role (the front and the verifier enforce it), not in
        # moto's, which ignores boundaries.
        "TenantBoundary": f"arn:aws:iam::{account}:policy/tenant-access-tenant-boundary",
        "PermissionsBoundaryArn": f"arn:aws:iam::{account}:policy/tenant-access-tenant-boundary",
    }
    # The local stack has an existing cluster, no proxy; the strategy is the
    # functions' choice (TENANT_ISOLATION), so the seed provides for all.
    base_conditions = {"MakeProxy": False, "MakeCluster": False, "AssumesRoles": True}
    main = load_template("template.yaml")["Resources"]
    tenant_role = load_template("tenant-template.yaml")["Resources"]["TenantRole"]

    exec_arn = f"arn:aws:iam::{account}:user/lambda-exec"
    key = None
    if not tenants_only:
        # The stand-in for the three Lambda execution roles (one identity
        # locally: moto's trust policies must name the caller's exact ARN):
        # may only assume tenant roles, per tenant or the shared ones (their
        # policies under both strategies, merged, so the functions may run
        # either). Which function may assume which role is proved offline
        # (xtask/tests/isolation_proof.rs) against the template's trust
        # policies.
        statements = [
            statement
            for execution in ("S3FetchRole", "AuroraQueryRole", "DynamoDbItemsRole", "SearchDocsRole")
            for shared in (False, True)
            for statement in fill(policy(main[execution], "assume-tenant-roles"), params,
                                  dict(base_conditions, SharedRole=shared, TagSessions=shared,
                                       DedicatedTierRoles=shared))["Statement"]
        ]
        # The session-tags variants of the shared roles, under their own names.
        statements.append({
            "Sid": "AssumeTaggedSharedRoles",
            "Effect": "Allow",
            "Action": ["sts:AssumeRole", "sts:TagSession"],
            "Resource": [f"arn:aws:iam::{account}:role/tenant-access-shared-{job}-tagged"
                         for job in ("s3", "db", "dynamodb", "search")],
        })
        # Every function reads the tenant registry (the same statement in
        # each execution role).
        statements.extend(fill(policy(main["S3FetchRole"], "read-tenant-registry"), params)["Statement"])
        for n, statement in enumerate(statements):
            statement["Sid"] = f"{statement['Sid']}{n}"
        iam.create_user(UserName="lambda-exec")
        # moto evaluates DynamoDB calls against Resource "*" only; the
        # template's table-scoped statement is checked offline
        # (xtask/tests/templates.rs), and moto's copy keeps it to GetItem.
        moto_statements = statements + [{"Sid": "MotoOnlyRegistryRead", "Effect": "Allow",
                                          "Action": "dynamodb:GetItem", "Resource": "*"}]
        iam.put_user_policy(
            UserName="lambda-exec",
            PolicyName="assume-tenant-roles",
            PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": moto_statements}),
        )
        key = iam.create_access_key(UserName="lambda-exec")["AccessKey"]

        # db-admin's secret and identity. moto evaluates Secrets Manager
        # calls against Resource "*" only, so its copy of the policy allows
        # GetSecretValue on any secret; the registry keeps the template's,
        # scoped to this one secret, which the local front decides with.
        secrets = session.client("secretsmanager", endpoint_url=endpoint)
        admin_secret_arn = secrets.create_secret(
            Name=DB_ADMIN_SECRET,
            SecretString=json.dumps({"username": os.environ["STACK_DB_ADMIN_USER"],
                                     "password": os.environ["STACK_DB_ADMIN_PASSWORD"]}),
        )["ARN"]
        admin_policy = fill(policy(main["DbAdminRole"], "read-master-secret"),
                            dict(params, DbAdminSecretName=DB_ADMIN_SECRET), base_conditions)
        iam.create_user(UserName=DB_ADMIN_USER)
        iam.put_user_policy(UserName=DB_ADMIN_USER, PolicyName="read-master-secret",
                            PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [{
                                "Effect": "Allow", "Action": "secretsmanager:GetSecretValue",
                                "Resource": "*"}]}))
        admin_key = iam.create_access_key(UserName=DB_ADMIN_USER)["AccessKey"]
        # The front verifies every signature, so it keeps each key's secret.
        registry.setdefault("users", {})[admin_key["AccessKeyId"]] = {
            "policies": [admin_policy], "tags": {},
            "secret_access_key": admin_key["SecretAccessKey"],
            "arn": f"arn:aws:iam::{account}:user/{DB_ADMIN_USER}"}
        # The functions' identity, which may read no secret at all.
        registry["users"][key["AccessKeyId"]] = {
            "policies": [{"Version": "2012-10-17", "Statement": statements}], "tags": {},
            "secret_access_key": key["SecretAccessKey"], "arn": exec_arn}
        registry.setdefault("secrets", {})[DB_ADMIN_SECRET] = admin_secret_arn
        # The operator who purges an offboarded tenant's search index (what
        # the deployer's rights do on AWS): read and delete on the search
        # domain, nothing else. moto never serves the domain; the front
        # evaluates this policy.
        iam.create_user(UserName=OPERATOR_USER)
        operator_key = iam.create_access_key(UserName=OPERATOR_USER)["AccessKey"]
        registry["users"][operator_key["AccessKeyId"]] = {
            "policies": [{"Version": "2012-10-17", "Statement": [{
                "Sid": "PurgeTenantIndices", "Effect": "Allow",
                "Action": ["es:ESHttpGet", "es:ESHttpDelete"],
                "Resource": f"arn:aws:es:{region}:{account}:domain/{SEARCH_DOMAIN}/*"}]}],
            "tags": {},
            "secret_access_key": operator_key["SecretAccessKey"],
            "arn": f"arn:aws:iam::{account}:user/{OPERATOR_USER}"}
        # Another secret of the account, which db-admin's policy does not
        # name (its tests read it to show the policy is the secret's alone).
        registry["secrets"][OTHER_SECRET] = secrets.create_secret(
            Name=OTHER_SECRET, SecretString=json.dumps({"username": "other", "password": "other"}))["ARN"]

    # The trust policy names the execution identity's exact ARN, as the
    # template does with ExecutionRoleArns (moto needs the exact ARN anyway).
    params["ExecutionRoleArns"] = [exec_arn, exec_arn, exec_arn, exec_arn]
    if not tenants_only:
        s3.create_bucket(Bucket=bucket)
        # Versioned, as the template's TenantBucket: a purge must remove
        # every version and delete marker, not only add markers.
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
        # The bucket policy as deployed (the SSE-KMS rule): moto keeps no
        # copy it enforces; the front evaluates this one.
        bucket_policy = fill(main["TenantBucketPolicy"]["Properties"]["PolicyDocument"],
                             dict(params, **{"TenantBucket.Arn": f"arn:aws:s3:::{bucket}"}), base_conditions)
        registry.setdefault("buckets", {})[bucket] = bucket_policy
        # The items table, as the template's TenantTable.
        table = load_template("template.yaml")["Resources"]["TenantTable"]["Properties"]
        dynamodb.create_table(
            TableName=TABLE,
            AttributeDefinitions=table["AttributeDefinitions"],
            KeySchema=table["KeySchema"],
            BillingMode=table["BillingMode"],
        )
        registry.setdefault("tables", {})[TABLE] = {"arn": table_arn, "partition_key": "tenant_id"}
        # The search domain, as the template's SearchDomain: the front
        # evaluates es:ESHttp* on this ARN and the request's path.
        registry["search_domain"] = f"arn:aws:es:{region}:{account}:domain/{SEARCH_DOMAIN}"
        # The tenant registry, as the template's TenantRegistry.
        registry_table = main["TenantRegistry"]["Properties"]
        dynamodb.create_table(
            TableName=REGISTRY_TABLE,
            AttributeDefinitions=registry_table["AttributeDefinitions"],
            KeySchema=registry_table["KeySchema"],
            BillingMode=registry_table["BillingMode"],
        )
        # Tenants offboarded since the stack started: the template's
        # OffboardedTenants, which offboard_moto.py extends.
        registry["offboarded"] = []

        # The shared roles of the session-tags and session-policy
        # strategies, one per job. moto substitutes no session tags and
        # ignores session policies, so its copy is the session-policy
        # variant, which spans all tenants; the registry holds each one's
        # real policy, which the front and the verifier decide with.
        shared_params = dict(params, **{"S3FetchRole.Arn": exec_arn, "AuroraQueryRole.Arn": exec_arn,
                                        "DynamoDbItemsRole.Arn": exec_arn, "SearchDocsRole.Arn": exec_arn})
        for resource in ("SharedS3Role", "SharedDbRole", "SharedDynamoDbRole", "SharedSearchRole"):
            spanning = fill(
                main[resource]["Properties"],
                shared_params,
                dict(base_conditions, SharedRole=True, TagSessions=False),
            )
            tagged = fill(
                main[resource]["Properties"],
                shared_params,
                dict(base_conditions, SharedRole=True, TagSessions=True),
            )
            for name, deployed in [(spanning["RoleName"], spanning), (spanning["RoleName"] + "-tagged", tagged)]:
                iam.create_role(
                    RoleName=name,
                    AssumeRolePolicyDocument=json.dumps(deployed["AssumeRolePolicyDocument"]),
                    MaxSessionDuration=deployed["MaxSessionDuration"],
                )
                for entry in spanning["Policies"]:
                    iam.put_role_policy(
                        RoleName=name,
                        PolicyName=entry["PolicyName"],
                        PolicyDocument=json.dumps(for_moto(entry["PolicyDocument"])),
                    )
                registry["roles"][f"arn:aws:iam::{account}:role/{name}"] = {
                    # Its inline policies and the managed OffboardedTenantsDeny.
                    "policies": [entry["PolicyDocument"] for entry in deployed["Policies"]]
                    + [offboarded_deny(main, params, [])],
                    "tags": {},
                    # Decided by the front on every AssumeRole (moto never
                    # evaluates a trust policy's conditions).
                    "trust": deployed["AssumeRolePolicyDocument"],
                }
    if not tenants_only:
        # The AWS-managed key S3 uses for SSE-KMS when a request names no
        # key (alias/aws/s3): it exists in every account, and its key policy
        # grants every principal of the account its use through S3.
        registry.setdefault("keys", {})[f"arn:aws:kms:{region}:{account}:key/{AWS_S3_KEY_ID}"] = {
            "tags": {},
            "aliases": [f"arn:aws:kms:{region}:{account}:alias/aws/s3"],
            "state": "Enabled",
            "aws_managed": True,
        }
    tenant_resources = load_template("tenant-template.yaml")["Resources"]
    boundary = fill(main["TenantBoundary"]["Properties"]["PolicyDocument"], params, base_conditions)
    for tenant in tenants:
        tenant_params = dict(params, TenantId=tenant)
        # The tenant's key, as tenant-template.yaml's TenantKey: tagged
        # TenantID, alias alias/tenant/<tenant>, rotation on.
        key_props = fill(tenant_resources["TenantKey"]["Properties"], tenant_params, base_conditions)
        alias = f"alias/tenant/{tenant}"
        key_arn = tenant_key(kms, alias)
        if key_arn is None:
            created = kms.create_key(Description=key_props["Description"],
                                     Tags=[{"TagKey": t["Key"], "TagValue": t["Value"]} for t in key_props["Tags"]])
            key_arn = created["KeyMetadata"]["Arn"]
            kms.create_alias(AliasName=alias, TargetKeyId=created["KeyMetadata"]["KeyId"])
            kms.enable_key_rotation(KeyId=created["KeyMetadata"]["KeyId"])
        registry.setdefault("keys", {})[key_arn] = {
            "tags": {t["Key"]: t["Value"] for t in key_props["Tags"]},
            "aliases": [f"arn:aws:kms:{region}:{account}:{alias}"],
            "state": "Enabled",
        }
        registry_state(dynamodb, tenant, "active", tier)
        sse = {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": key_arn}
        props = fill(tenant_role["Properties"], tenant_params, dict(base_conditions, MakeRole=True))
        tags = {t["Key"]: t["Value"] for t in props["Tags"]}
        role = props["RoleName"]
        registry["roles"][f"arn:aws:iam::{account}:role{props['Path']}{role}"] = {
            "policies": [entry["PolicyDocument"] for entry in props["Policies"]],
            "tags": tags,
            "trust": props["AssumeRolePolicyDocument"],
            "boundary": boundary,
        }
        if tenants_only and role in existing_roles(iam):
            continue
        iam.create_role(
            RoleName=role,
            Path=props["Path"],
            AssumeRolePolicyDocument=json.dumps(props["AssumeRolePolicyDocument"]),
            Tags=props["Tags"],
            MaxSessionDuration=props["MaxSessionDuration"],
        )
        for entry in props["Policies"]:
            iam.put_role_policy(
                RoleName=role,
                PolicyName=entry["PolicyName"],
                PolicyDocument=principal_tags(json.dumps(for_moto(entry["PolicyDocument"])), tags),
            )
        home = tags["s3_home"]
        s3.put_object(Bucket=bucket, Key=f"{home}/tenant.info", Body=f"{tenant} info\n".encode(),
                      ContentType="text/plain", **sse)
        s3.put_object(Bucket=bucket, Key=f"{home}/docs/readme.md", Body=f"# {tenant} docs\n".encode(),
                      ContentType="text/markdown", **sse)

        # A 1 KiB object for the benchmarks, and its SSE-S3 twin (the KMS
        # layer's cost is the ratio of their reads).
        s3.put_object(Bucket=bucket, Key=f"{home}/bench-1k.bin", Body=bytes(range(256)) * 4,
                      ContentType="application/octet-stream", **sse)
        s3.put_object(Bucket=bucket, Key=f"{home}/bench-1k-sse-s3.bin", Body=bytes(range(256)) * 4,
                      ContentType="application/octet-stream", ServerSideEncryption="AES256")

        # Items of the tenant's partition (the fixtures and the bench read them).
        ITEMS = [("welcome", {"message": "welcome"}), ("second", {"n": 2}), ("to-delete", {"doomed": True})]
        if tenant == "tenant2":
            ITEMS.append(("only-tenant2", {"secret": "tenant2 only"}))
        for item_id, data in ITEMS:
            dynamodb.put_item(TableName=TABLE, Item=seed_item(tenant, item_id, data))

        if not tenants_only:
            # One byte over the functions' default inline limit (4 MiB): GET
            # answers it with a redirect to a presigned URL.
            s3.put_object(Bucket=bucket, Key=f"{home}/big.bin", Body=tenant.encode().ljust(4 * 1024 * 1024 + 1, b"."),
                          ContentType="application/octet-stream", **sse)
            # Keys S3 holds but the API's object-key rules refuse: a folder
            # marker, an empty segment, and a 1000-byte key (with the home
            # prefix, near S3's 1024-byte limit). Listing must page past them.
            # The home's own folder marker too (a console's "create folder"),
            # which is no object of the tenant's and must not end a page.
            s3.put_object(Bucket=bucket, Key=f"{home}/", Body=b"", **sse)
            for odd in ["odd/", "odd/a//b", "odd/" + "k" * 996]:
                s3.put_object(Bucket=bucket, Key=f"{home}/{odd}", Body=b"", **sse)

    # The JWT issuer: the API's user pool, one user per tenant; and, for the
    # authorizer's negative tests, a second app client and a second pool.
    identity_pool_id = None
    if tenants_only:
        pool = next(p["Id"] for p in cognito.list_user_pools(MaxResults=60)["UserPools"] if p["Name"] == POOL_NAME)
    else:
        pool, client = user_pool(cognito, POOL_NAME)
        other_client = cognito.create_user_pool_client(
            UserPoolId=pool, ClientName="other", GenerateSecret=False,
            ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
        )["UserPoolClient"]["ClientId"]
        other_pool, other_pool_client = user_pool(cognito, POOL_NAME + "-other")
        cognito_user(cognito, other_pool, "tenant1")

        # The identity pool and its authenticated role, as the template's.
        # The local front serves the pool's calls (moto's hands out fixed
        # fake credentials); it obtains the role's credentials from moto as
        # COGNITO_SERVICE_USER, whom moto's copy of the role trusts.
        identity_pool_id = identity.create_identity_pool(
            IdentityPoolName=IDENTITY_POOL_NAME, AllowUnauthenticatedIdentities=False,
            CognitoIdentityProviders=[{"ProviderName": f"cognito-idp.{region}.amazonaws.com/{pool}",
                                       "ClientId": client, "ServerSideTokenCheck": True}],
        )["IdentityPoolId"]
        pool_params = dict(params, IdentityPool=identity_pool_id, TenantClaim="custom:tenant_id")
        pool_conditions = dict(base_conditions, MakeIdentityPool=True, IdentityPoolStrategy=True)
        auth_role = fill(main["IdentityPoolAuthenticatedRole"]["Properties"], pool_params, pool_conditions)
        auth_role_name = "tenant-access-identity-pool-authenticated"
        auth_role_arn = f"arn:aws:iam::{account}:role/{auth_role_name}"
        service_arn = f"arn:aws:iam::{account}:user/{COGNITO_SERVICE_USER}"
        iam.create_role(
            RoleName=auth_role_name,
            AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Principal": {"AWS": service_arn}, "Action": "sts:AssumeRole"}]}),
            MaxSessionDuration=auth_role["MaxSessionDuration"],
        )
        for entry in auth_role["Policies"]:
            iam.put_role_policy(RoleName=auth_role_name, PolicyName=entry["PolicyName"],
                                PolicyDocument=json.dumps(for_moto(entry["PolicyDocument"], span_tags=True)))
        registry["roles"][auth_role_arn] = {
            "policies": [entry["PolicyDocument"] for entry in auth_role["Policies"]]
            + [offboarded_deny(main, params, [])],
            "tags": {},
            # The template's: the pool's federation, its `aud` and `amr`;
            # the front decides it on each GetCredentialsForIdentity.
            "trust": auth_role["AssumeRolePolicyDocument"],
        }
        iam.create_user(UserName=COGNITO_SERVICE_USER)
        iam.put_user_policy(UserName=COGNITO_SERVICE_USER, PolicyName="assume-authenticated-role",
                            PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [{
                                "Effect": "Allow", "Action": "sts:AssumeRole", "Resource": auth_role_arn}]}))
        service_key = iam.create_access_key(UserName=COGNITO_SERVICE_USER)["AccessKey"]
        tags = main["IdentityPoolTags"]["Properties"]["PrincipalTags"]
        registry.setdefault("identity_pools", {})[identity_pool_id] = {
            "provider": f"cognito-idp.{region}.amazonaws.com/{pool}",
            "client_ids": [client],
            "jwks_url": f"{endpoint}/{pool}/.well-known/jwks.json",
            "role_arn": auth_role_arn,
            "principal_tags": {tag: fill(claim, pool_params) for tag, claim in tags.items()},
            "service_access_key_id": service_key["AccessKeyId"],
            "service_secret_access_key": service_key["SecretAccessKey"],
        }
    for tenant in tenants:
        cognito_user(cognito, pool, tenant)

    registry_path.write_text(json.dumps(registry, indent=1))
    if key is not None:
        print(json.dumps({"access_key_id": key["AccessKeyId"], "secret_access_key": key["SecretAccessKey"],
                          "execution_arn": exec_arn, "user_pool_id": pool, "user_pool_client_id": client,
                          "other_client_id": other_client, "other_pool_id": other_pool,
                          "other_pool_client_id": other_pool_client, "user_password": USER_PASSWORD,
                          "identity_pool_id": identity_pool_id, "table": TABLE, "registry": REGISTRY_TABLE,
                          "db_admin_access_key_id": admin_key["AccessKeyId"],
                          "db_admin_secret_access_key": admin_key["SecretAccessKey"],
                          "db_admin_secret_id": admin_secret_arn}))


if __name__ == "__main__":
    main()
