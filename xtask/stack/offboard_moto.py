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
- its objects, items (its partition and its users' own) and search index
  are kept unless `--purge`.
Idempotent. Run while moto accepts unauthenticated calls (the xtask
switches enforcement off for it).
"""

import json
import pathlib
import sys
import urllib.error
import urllib.request

import boto3
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from seed_moto import OPERATOR_USER, load_template, offboarded_deny, registry_state, tenant_group

TABLE = "tenant-items"
POOL_NAME = "tenant-access-local"


def main() -> None:
    endpoint, region, account, bucket, tenants = sys.argv[1:6]
    options = sys.argv[6:]
    purge = "--purge" in options
    search = options[options.index("--search") + 1] if "--search" in options else None
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
            counts["documents"] = purge_index(search, operator(registry), region, tenant) if search else 0
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
    # Its own partition, and its users' own (<tenant>#<sub>), which only a
    # scan finds: a partition key cannot be queried by prefix.
    queried = dynamodb.get_paginator("query").paginate(
        TableName=TABLE, KeyConditionExpression="tenant_id = :t",
        ExpressionAttributeValues={":t": {"S": tenant}}, ProjectionExpression="tenant_id, item_id")
    scanned = dynamodb.get_paginator("scan").paginate(
        TableName=TABLE, FilterExpression="begins_with(tenant_id, :p)",
        ExpressionAttributeValues={":p": {"S": f"{tenant}#"}}, ProjectionExpression="tenant_id, item_id")
    for pages in (queried, scanned):
        for page in pages:
            for item in page["Items"]:
                dynamodb.delete_item(TableName=TABLE, Key={"tenant_id": item["tenant_id"], "item_id": item["item_id"]})
                counts["items"] += 1
    return counts


def operator(registry: dict) -> Credentials:
    """The operator's long-term key, from the registry the seed wrote."""
    for key, user in registry.get("users", {}).items():
        if user.get("arn", "").endswith(f":user/{OPERATOR_USER}"):
            return Credentials(key, user["secret_access_key"])
    raise SystemExit("the registry has no operator: restart the stack")


def domain_call(search: str, creds: Credentials, region: str, method: str, path: str):
    """One signed call to the search domain (the front): status and JSON."""
    request = AWSRequest(method=method, url=search.rstrip("/") + path,
                         headers={"Content-Type": "application/json"})
    SigV4Auth(creds, "es", region).add_auth(request)
    prepared = urllib.request.Request(request.url, method=method, headers=dict(request.headers.items()))
    try:
        with urllib.request.urlopen(prepared, timeout=10) as answer:
            return answer.status, json.loads(answer.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def purge_index(search: str, creds: Credentials, region: str, tenant: str) -> int:
    """The tenant's search index (<tenant>.docs), deleted: how many
    documents it held. Idempotent: an index already gone holds none."""
    status, body = domain_call(search, creds, region, "GET", f"/{tenant}.docs/_search?size=0")
    if status == 404:
        return 0
    if status != 200:
        raise SystemExit(f"counting {tenant}'s documents: {status} {body}")
    documents = body["hits"]["total"]["value"]
    status, body = domain_call(search, creds, region, "DELETE", f"/{tenant}.docs")
    if status not in (200, 404):
        raise SystemExit(f"deleting {tenant}'s index: {status} {body}")
    return documents


def is_offboarded_deny(document: dict) -> bool:
    """Whether `document` is the template's OffboardedTenantsDeny."""
    return any(s.get("Sid") == "OffboardedTenantTag" for s in document.get("Statement", []))


if __name__ == "__main__":
    main()
