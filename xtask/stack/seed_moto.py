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
"""

import json
import pathlib
import re
import sys

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


def fill(node, params: dict):
    """Resolve !Sub and !Ref against params; `${!x}` becomes a literal `${x}`."""
    if isinstance(node, list):
        return [fill(item, params) for item in node]
    if isinstance(node, dict):
        if set(node) == {"Fn::Sub"}:
            def one(match):
                name = match.group(1)
                if name.startswith("!"):
                    return "${" + name[1:] + "}"
                if name not in params:
                    raise SystemExit(f"template parameter {name} has no local value")
                return params[name]
            return re.sub(r"\$\{([^}]+)\}", one, node["Fn::Sub"])
        if set(node) == {"Ref"}:
            if node["Ref"] not in params:
                raise SystemExit(f"template parameter {node['Ref']} has no local value")
            return params[node["Ref"]]
        if any(k.startswith("Fn::") for k in node):
            raise SystemExit(f"unsupported intrinsic in a policy: {node}")
        return {k: fill(v, params) for k, v in node.items()}
    return node


def policy(resource: dict, name: str) -> dict:
    for entry in resource["Properties"]["Policies"]:
        if entry["PolicyName"] == name:
            return entry["PolicyDocument"]
    raise SystemExit(f"no policy {name}")


def principal_tags(policy: str, tags: dict) -> str:
    for key, value in tags.items():
        policy = policy.replace("${aws:PrincipalTag/" + key + "}", value)
    if "${aws:PrincipalTag/" in policy:
        raise SystemExit(f"policy uses a principal tag the role lacks: {policy}")
    return policy


_ROLES = None


def existing_roles(iam) -> set:
    global _ROLES
    if _ROLES is None:
        _ROLES = {r["RoleName"] for page in iam.get_paginator("list_roles").paginate() for r in page["Roles"]}
    return _ROLES


def main() -> None:
    endpoint, region, account, bucket, cluster, tenants = sys.argv[1:7]
    tenants = tenants.split(",")
    # --tenants-only: add tenants to a seeded server (benchmarks).
    tenants_only = "--tenants-only" in sys.argv[7:]
    session = boto3.session.Session(
        aws_access_key_id="seed", aws_secret_access_key="seed", region_name=region
    )
    iam = session.client("iam", endpoint_url=endpoint)
    s3 = session.client("s3", endpoint_url=endpoint)
    params = {
        "AWS::Partition": "aws",
        "AWS::Region": region,
        "AWS::AccountId": account,
        "TenantRolePrefix": "assumeRole-",
        "BucketName": bucket,
        "DbResourceId": cluster,
    }
    main = load_template("template.yaml")["Resources"]
    tenant_role = load_template("tenant-template.yaml")["Resources"]["TenantRole"]

    exec_arn = f"arn:aws:iam::{account}:user/lambda-exec"
    key = None
    if not tenants_only:
        # The stand-in for the Lambda execution role: may only assume tenant roles.
        iam.create_user(UserName="lambda-exec")
        iam.put_user_policy(
            UserName="lambda-exec",
            PolicyName="assume-tenant-roles",
            PolicyDocument=json.dumps(fill(policy(main["S3FetchRole"], "assume-tenant-roles"), params)),
        )
        key = iam.create_access_key(UserName="lambda-exec")["AccessKey"]

    # The trust policy names the execution identity's exact ARN, as the
    # template does with ExecutionRoleArns (moto needs the exact ARN anyway).
    params["ExecutionRoleArns"] = [exec_arn]
    if not tenants_only:
        s3.create_bucket(Bucket=bucket)
    for tenant in tenants:
        tenant_params = dict(params, TenantId=tenant)
        props = fill(tenant_role["Properties"], tenant_params)
        tags = {t["Key"]: t["Value"] for t in props["Tags"]}
        role = props["RoleName"]
        if tenants_only and role in existing_roles(iam):
            continue
        iam.create_role(
            RoleName=role,
            AssumeRolePolicyDocument=json.dumps(props["AssumeRolePolicyDocument"]),
            Tags=props["Tags"],
            MaxSessionDuration=props["MaxSessionDuration"],
        )
        for entry in props["Policies"]:
            iam.put_role_policy(
                RoleName=role,
                PolicyName=entry["PolicyName"],
                PolicyDocument=principal_tags(json.dumps(entry["PolicyDocument"]), tags),
            )
        home = tags["s3_home"]
        s3.put_object(Bucket=bucket, Key=f"{home}/tenant.info", Body=f"{tenant} info\n".encode(),
                      ContentType="text/plain")
        s3.put_object(Bucket=bucket, Key=f"{home}/docs/readme.md", Body=f"# {tenant} docs\n".encode(),
                      ContentType="text/markdown")

        # A 1 KiB object for the benchmarks.
        s3.put_object(Bucket=bucket, Key=f"{home}/bench-1k.bin", Body=bytes(range(256)) * 4,
                      ContentType="application/octet-stream")

        if not tenants_only:
            # One byte over the functions' default inline limit (4 MiB): GET
            # answers it with a redirect to a presigned URL.
            s3.put_object(Bucket=bucket, Key=f"{home}/big.bin", Body=tenant.encode().ljust(4 * 1024 * 1024 + 1, b"."),
                          ContentType="application/octet-stream")

    if key is not None:
        print(json.dumps({"access_key_id": key["AccessKeyId"], "secret_access_key": key["SecretAccessKey"],
                          "execution_arn": exec_arn}))


if __name__ == "__main__":
    main()
