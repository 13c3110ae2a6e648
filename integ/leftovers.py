"""After `cdk destroy`: is anything of an integration run still in the account?

Three places are looked at in every Region a stack of the run was deployed to (the Standby app
spans three, GlobalReads two), each with the run's own names, so another run or the user's own
stacks are never reported:
- CloudFormation: a stack of the run that still exists (any status but DELETE_COMPLETE);
- every resource the Resource Groups Tagging API still lists with the run's tag (buckets,
  tables, keys pending deletion excepted: a KMS key is only *scheduled* for deletion, at least
  7 days, and that is what destroying a key means);
- log groups that Lambda, Step Functions or the instances created themselves, outside the
  stack, under the run's stack names.

`python -m integ.leftovers <run id> <stack name>[@<region>]...` exits 1 and lists what is left
(a stack without `@<region>` is looked for in the environment's Region).
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping

import boto3
from botocore.exceptions import ClientError

from integ.names import RUN_TAG

GLOBAL_RESOURCES_REGION = "us-east-1"


def leftover_stacks(cloudformation: object, stack_names: Iterable[str]) -> list[str]:
    found = []
    for name in stack_names:
        try:
            stacks = cloudformation.describe_stacks(StackName=name)["Stacks"]  # type: ignore[attr-defined]
        except ClientError as error:
            if "does not exist" in str(error):
                continue
            raise
        found += [
            f"stack {s['StackName']} ({s['StackStatus']})"
            for s in stacks
            if s["StackStatus"] != "DELETE_COMPLETE"
        ]
    return found


def _key_pending_deletion(kms: object, arn: str) -> bool:
    try:
        metadata = kms.describe_key(KeyId=arn)["KeyMetadata"]  # type: ignore[attr-defined]
    except ClientError:
        return False
    return bool(metadata["KeyState"] == "PendingDeletion")


def leftover_tagged(tagging: object, kms: object, run_id: str) -> list[str]:
    found = []
    paginator = tagging.get_paginator("get_resources")  # type: ignore[attr-defined]
    for page in paginator.paginate(TagFilters=[{"Key": RUN_TAG, "Values": [run_id]}]):
        for resource in page["ResourceTagMappingList"]:
            arn = resource["ResourceARN"]
            if ":kms:" in arn and _key_pending_deletion(kms, arn):
                continue
            found.append(f"tagged {arn}")
    return found


def leftover_log_groups(logs: object, stack_names: Iterable[str]) -> list[str]:
    found = []
    paginator = logs.get_paginator("describe_log_groups")  # type: ignore[attr-defined]
    for name in stack_names:
        for prefix in (f"/aws/lambda/{name}-", f"/aws/vendedlogs/states/{name}-", f"{name}-"):
            for page in paginator.paginate(logGroupNamePrefix=prefix):
                found += [f"log group {group['logGroupName']}" for group in page["logGroups"]]
    return found


def delete_assertion_logs(logs: object, assertion_stack_names: Iterable[str]) -> list[str]:
    """The assertion provider's functions (integ-tests-alpha) have no log group in their stack,
    so Lambda creates one on first use and destroy leaves it: the run deletes those, and only
    those, before checking. Returns what it deleted."""
    deleted = []
    paginator = logs.get_paginator("describe_log_groups")  # type: ignore[attr-defined]
    for name in assertion_stack_names:
        for page in paginator.paginate(logGroupNamePrefix=f"/aws/lambda/{name}-"):
            for group in page["logGroups"]:
                logs.delete_log_group(logGroupName=group["logGroupName"])  # type: ignore[attr-defined]
                deleted.append(group["logGroupName"])
    return deleted


def delete_assertion_logs_where_deployed(
    stacks: Mapping[str, str | None], session: boto3.Session | None = None
) -> list[str]:
    """`delete_assertion_logs` for each assertion stack of `stacks` (name to Region, None for the
    session's), in its own Region: an app may pin its assertion stack to another one."""
    session = session or boto3.Session()
    deleted = []
    for name, region in stacks.items():
        if "DeployAssert" in name:
            logs = session.client("logs", region_name=region or session.region_name)
            deleted += delete_assertion_logs(logs, [name])
    return deleted


def leftovers(
    run_id: str, stacks: Mapping[str, str | None] | Iterable[str], session: boto3.Session | None = None
) -> list[str]:
    """What the run left: `stacks` maps each stack name to its Region (None, or a bare list of
    names: the session's Region). Tagged resources are looked for in each of those Regions."""
    session = session or boto3.Session()
    regions = stacks if isinstance(stacks, Mapping) else dict.fromkeys(stacks)
    by_region: dict[str, list[str]] = {}
    for name, region in regions.items():
        by_region.setdefault(region or session.region_name, []).append(name)
    found = []
    for region, names in sorted(by_region.items()):
        found += leftover_stacks(session.client("cloudformation", region_name=region), names)
        found += leftover_log_groups(session.client("logs", region_name=region), names)
    # Global resources (Route 53 health checks) are listed by the Tagging API in us-east-1 only.
    for region in sorted({*by_region, GLOBAL_RESOURCES_REGION}):
        found += leftover_tagged(
            session.client("resourcegroupstaggingapi", region_name=region),
            session.client("kms", region_name=region),
            run_id,
        )
    return list(dict.fromkeys(found))  # a bucket is listed from more than one Region


def stack_and_region(argument: str) -> tuple[str, str | None]:
    name, _, region = argument.partition("@")
    return name, region or None


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print("usage: python -m integ.leftovers <run id> <stack name>...", file=sys.stderr)
        return 2
    run_id, stacks = argv[0], dict(stack_and_region(argument) for argument in argv[1:])
    found = leftovers(run_id, stacks)
    if found:
        print(f"LEFT IN THE ACCOUNT after integ run {run_id} (delete them by hand):", file=sys.stderr)
        for item in found:
            print(f"  {item}", file=sys.stderr)
        return 1
    print(f"integ run {run_id}: nothing left in the account ({', '.join(stacks)})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
