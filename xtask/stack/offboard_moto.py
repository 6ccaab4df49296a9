"""Offboard tenants from the local moto server and the registry, as
`cargo xtask tenant remove --local` does: what AWS offboarding does too.

For each tenant, in the order the AWS plan takes:
- its state in the tenant registry becomes `offboarded` (the functions
  refuse it once their cached state is past its life);
- its id joins the template's OffboardedTenants: every role tenants share
  (and the identity pool's) denies its sessions, old and new;
- its role (`/tenant/assumeRole-<id>`) and policies are deleted;
- its KMS key is disabled and scheduled for deletion (7 days, the shortest
  AWS allows), and its alias deleted (as deleting its tenant-template.yaml
  stack does);
- its Cognito users are disabled and signed out everywhere;
- its objects and items are kept unless `--purge`.
Idempotent. Run while moto accepts unauthenticated calls (the xtask
switches enforcement off for it).
"""

import json
import pathlib
import sys

import boto3

from seed_moto import load_template, offboarded_deny, registry_state, tenant_group

TABLE = "tenant-items"
POOL_NAME = "tenant-access-local"


def main() -> None:
    endpoint, region, account, bucket, tenants = sys.argv[1:6]
    options = sys.argv[6:]
    purge = "--purge" in options
    registry_path = pathlib.Path(options[options.index("--registry") + 1])
    registry = json.loads(registry_path.read_text())
    session = boto3.session.Session(aws_access_key_id="seed", aws_secret_access_key="seed", region_name=region)
    iam = session.client("iam", endpoint_url=endpoint)
    kms = session.client("kms", endpoint_url=endpoint)
    s3 = session.client("s3", endpoint_url=endpoint)
    cognito = session.client("cognito-idp", endpoint_url=endpoint)
    dynamodb = session.client("dynamodb", endpoint_url=endpoint)
    pools = [p["Id"] for p in cognito.list_user_pools(MaxResults=60)["UserPools"] if p["Name"] == POOL_NAME]
    main_resources = load_template("template.yaml")["Resources"]
    for tenant in tenants.split(","):
        registry_state(dynamodb, tenant, "offboarded")
        offboarded = registry.setdefault("offboarded", [])
        if tenant not in offboarded:
            offboarded.append(tenant)
        deny = offboarded_deny(main_resources, {}, offboarded)
        for entry in registry["roles"].values():
            entry["policies"] = [deny if is_offboarded_deny(p) else p for p in entry["policies"]]
        role = f"assumeRole-{tenant}"
        try:
            for name in iam.list_role_policies(RoleName=role)["PolicyNames"]:
                iam.delete_role_policy(RoleName=role, PolicyName=name)
            iam.delete_role(RoleName=role)
        except iam.exceptions.NoSuchEntityException:
            pass
        registry["roles"].pop(f"arn:aws:iam::{account}:role/tenant/{role}", None)
        try:
            key = kms.describe_key(KeyId=f"alias/tenant/{tenant}")["KeyMetadata"]
            if key["KeyState"] != "PendingDeletion":
                kms.disable_key(KeyId=key["KeyId"])
                kms.schedule_key_deletion(KeyId=key["KeyId"], PendingWindowInDays=7)
            if key["Arn"] in registry.get("keys", {}):
                registry["keys"][key["Arn"]]["state"] = "PendingDeletion"
                # The alias goes with the tenant's stack on AWS: onboarding
                # the id again makes a new key under it.
                registry["keys"][key["Arn"]]["aliases"] = []
            kms.delete_alias(AliasName=f"alias/tenant/{tenant}")
        except kms.exceptions.NotFoundException:
            pass
        # Every user of the tenant's group, disabled and signed out.
        for pool in pools:
            try:
                pages = cognito.get_paginator("list_users_in_group").paginate(
                    UserPoolId=pool, GroupName=tenant_group(tenant))
                for page in pages:
                    for user in page["Users"]:
                        cognito.admin_disable_user(UserPoolId=pool, Username=user["Username"])
                        cognito.admin_user_global_sign_out(UserPoolId=pool, Username=user["Username"])
            except cognito.exceptions.ResourceNotFoundException:
                pass
        if purge:
            counts = purge_tenant(s3, dynamodb, bucket, tenant)
            print(f"purged {tenant}: " + ", ".join(f"{n} {what}" for what, n in counts.items()))
    registry_path.write_text(json.dumps(registry, indent=1))


def purge_tenant(s3, dynamodb, bucket: str, tenant: str) -> dict:
    """Every object version and delete marker under the tenant's prefix,
    and every item of its partition: what is left of it outside the
    database (db-admin purges its rows). Idempotent: a second run finds
    nothing; a run stopped halfway is finished by the next."""
    counts = {"object versions": 0, "delete markers": 0, "items": 0}
    pages = s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=f"{tenant}_home/")
    for page in pages:
        for kind, label in (("Versions", "object versions"), ("DeleteMarkers", "delete markers")):
            batch = [{"Key": v["Key"], "VersionId": v["VersionId"]} for v in page.get(kind, [])]
            for start in range(0, len(batch), 1000):
                s3.delete_objects(Bucket=bucket, Delete={"Objects": batch[start:start + 1000], "Quiet": True})
            counts[label] += len(batch)
    for page in dynamodb.get_paginator("query").paginate(
            TableName=TABLE, KeyConditionExpression="tenant_id = :t",
            ExpressionAttributeValues={":t": {"S": tenant}}, ProjectionExpression="tenant_id, item_id"):
        for item in page["Items"]:
            dynamodb.delete_item(TableName=TABLE, Key={"tenant_id": item["tenant_id"], "item_id": item["item_id"]})
            counts["items"] += 1
    return counts


def is_offboarded_deny(document: dict) -> bool:
    """Whether `document` is the template's OffboardedTenantsDeny."""
    return any(s.get("Sid") == "OffboardedTenantTag" for s in document.get("Statement", []))


if __name__ == "__main__":
    main()
