"""Seed the local moto server with the reference design's IAM and S3 state.

Run by `cargo xtask up` while moto still accepts unauthenticated calls; the
xtask switches IAM enforcement on afterwards. Prints one JSON object with the
execution identity's access key for the functions' environment.

moto evaluates role policies with literal ARNs only: it does not substitute
${aws:PrincipalTag/...}. So each tenant role's policy is rendered here from
that role's own tags, the way IAM would evaluate it for that role.
"""

import json
import pathlib
import sys

import boto3

HERE = pathlib.Path(__file__).parent


def render(template: str, values: dict) -> str:
    for key, value in values.items():
        template = template.replace("{{" + key + "}}", value)
    return template


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
    values = {"account": account, "region": region, "bucket": bucket, "cluster_resource_id": cluster}

    exec_arn = f"arn:aws:iam::{account}:user/lambda-exec"
    key = None
    if not tenants_only:
        # The stand-in for the Lambda execution role: may only assume tenant roles.
        iam.create_user(UserName="lambda-exec")
        iam.put_user_policy(
            UserName="lambda-exec",
            PolicyName="assume-tenant-roles",
            PolicyDocument=render((HERE / "execution-role-policy.json").read_text(), values),
        )
        key = iam.create_access_key(UserName="lambda-exec")["AccessKey"]

    # moto needs the trusted principal's exact ARN (see DEVELOPERS.md).
    trust = json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": exec_arn}, "Action": "sts:AssumeRole"}],
    })
    policy_template = render((HERE / "tenant-role-policy.json").read_text(), values)
    if not tenants_only:
        s3.create_bucket(Bucket=bucket)
    for tenant in tenants:
        tags = {"s3_home": f"{tenant}_home", "dbuser": f"{tenant}_dbuser"}
        role = f"assumeRole-{tenant}"
        if tenants_only and role in existing_roles(iam):
            continue
        iam.create_role(
            RoleName=role,
            AssumeRolePolicyDocument=trust,
            Tags=[{"Key": k, "Value": v} for k, v in tags.items()],
            MaxSessionDuration=3600,
        )
        iam.put_role_policy(
            RoleName=role,
            PolicyName="tenant-data-access",
            PolicyDocument=principal_tags(policy_template, tags),
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
