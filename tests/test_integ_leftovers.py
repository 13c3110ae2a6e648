"""The check `make integ` runs after destroy reports what a run left in the account, and only
that run's things. Run against moto: it emulates CloudFormation stacks, the Resource Groups
Tagging API (for SQS, S3, KMS, ...), KMS key states and CloudWatch Logs."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from integ import harness, integ_standby, leftovers, run

RUN = "integ-20261201-abc123"
STACKS = [harness.integ_stack_name("FanOut"), "FanOutIntegDefaultTestDeployAssertF72FD7C5"]


@pytest.fixture
def account(monkeypatch: pytest.MonkeyPatch) -> Iterator[boto3.Session]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        yield boto3.Session(region_name="eu-west-1")


def tagged(run_id: str) -> dict[str, str]:
    return {leftovers.RUN_TAG: run_id}


def test_a_clean_account_passes(account: boto3.Session) -> None:
    assert leftovers.leftovers(RUN, STACKS, account) == []
    assert leftovers.main([RUN, *STACKS]) == 0


def test_a_stack_still_there_is_reported(account: boto3.Session) -> None:
    template = {"Resources": {"Queue": {"Type": "AWS::SQS::Queue"}}}
    account.client("cloudformation").create_stack(StackName=STACKS[0], TemplateBody=json.dumps(template))
    assert leftovers.leftover_stacks(account.client("cloudformation"), STACKS) == [
        f"stack {STACKS[0]} (CREATE_COMPLETE)"
    ]


def test_a_retained_resource_with_the_run_tag_is_reported(account: boto3.Session) -> None:
    """What a production-like retain policy leaves: a queue and a bucket outside any stack."""
    sqs, s3 = account.client("sqs"), account.client("s3")
    queue_url = sqs.create_queue(QueueName="billing-dlq", tags=tagged(RUN))["QueueUrl"]
    s3.create_bucket(Bucket="retained-results", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    s3.put_bucket_tagging(
        Bucket="retained-results", Tagging={"TagSet": [{"Key": leftovers.RUN_TAG, "Value": RUN}]}
    )
    found = leftovers.leftovers(RUN, STACKS, account)
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    assert sorted(found) == sorted([f"tagged {queue_arn}", "tagged arn:aws:s3:::retained-results"])
    assert leftovers.main([RUN, *STACKS]) == 1


def test_another_runs_resources_are_not_this_runs(account: boto3.Session) -> None:
    account.client("sqs").create_queue(QueueName="other", tags=tagged("integ-other-run"))
    assert leftovers.leftovers(RUN, STACKS, account) == []


def test_a_key_scheduled_for_deletion_is_destroyed_but_an_enabled_one_is_left(account: boto3.Session) -> None:
    """KMS never deletes a key at once: `cdk destroy` schedules it (7 to 30 days)."""
    kms = account.client("kms")
    tags = [{"TagKey": leftovers.RUN_TAG, "TagValue": RUN}]
    scheduled = kms.create_key(Tags=tags)["KeyMetadata"]
    kms.schedule_key_deletion(KeyId=scheduled["KeyId"], PendingWindowInDays=7)
    enabled = kms.create_key(Tags=tags)["KeyMetadata"]
    assert leftovers.leftovers(RUN, STACKS, account) == [f"tagged {enabled['Arn']}"]


def test_a_log_group_a_service_created_outside_the_stack_is_reported(account: boto3.Session) -> None:
    logs = account.client("logs")
    logs.create_log_group(logGroupName=f"/aws/lambda/{STACKS[0]}-BillingConsumer1A2B3C")
    logs.create_log_group(logGroupName="/aws/lambda/FanOut-BillingConsumer1A2B3C")  # the user's own
    assert leftovers.leftovers(RUN, STACKS, account) == [
        f"log group /aws/lambda/{STACKS[0]}-BillingConsumer1A2B3C"
    ]


def test_the_assertion_providers_log_groups_are_deleted_and_nothing_else(account: boto3.Session) -> None:
    logs = account.client("logs")
    provider = f"/aws/lambda/{STACKS[1]}-SingletonFunction1488541a7b234-AbC"
    ours = f"/aws/lambda/{STACKS[0]}-BillingConsumer1A2B3C"
    logs.create_log_group(logGroupName=provider)
    logs.create_log_group(logGroupName=ours)
    assert leftovers.delete_assertion_logs(logs, [STACKS[1]]) == [provider]
    assert leftovers.leftovers(RUN, STACKS, account) == [f"log group {ours}"]


def test_a_stack_and_a_tagged_key_left_in_another_region_are_reported(account: boto3.Session) -> None:
    """Tags, stacks and log groups are regional (the Tagging API answers for its own Region
    only), so a run that spans Regions is looked for in each of them."""
    template = {"Resources": {"Queue": {"Type": "AWS::SQS::Queue"}}}
    account.client("cloudformation", region_name="us-east-1").create_stack(
        StackName="refarch-integ-StandbyMonitor", TemplateBody=json.dumps(template)
    )
    kms = account.client("kms", region_name="eu-central-1")
    key = kms.create_key(Tags=[{"TagKey": leftovers.RUN_TAG, "TagValue": RUN}])["KeyMetadata"]
    stacks = {"refarch-integ-StandbyMonitor": "us-east-1", "refarch-integ-Standby": "eu-central-1"}
    assert sorted(leftovers.leftovers(RUN, stacks, account)) == sorted(
        ["stack refarch-integ-StandbyMonitor (CREATE_COMPLETE)", f"tagged {key['Arn']}"]
    )
    assert leftovers.leftovers(RUN, list(stacks), account) == []  # the environment's Region only
    assert leftovers.main([RUN, *(f"{name}@{region}" for name, region in stacks.items())]) == 1


def test_the_standby_runs_check_covers_every_region_its_assembly_deploys_to(
    account: boto3.Session, tmp_path: Path
) -> None:
    """From the manifest `cdk deploy` wrote: a stack left in us-east-1 (the Route 53 alarm's
    Region) by a run whose environment is eu-west-1 is still found."""
    app = harness.new_app(outdir=str(tmp_path))
    integ_standby.build(app)
    app.synth()
    stacks = run.stack_regions(tmp_path)
    assert {name for name in stacks if "DeployAssert" not in name} == {
        harness.integ_stack_name(stack)
        for stack in ("StandbyKey", "StandbyPrimary", "Standby", "StandbyMonitor")
    }
    template = {"Resources": {"Topic": {"Type": "AWS::SNS::Topic"}}}
    monitor = harness.integ_stack_name("StandbyMonitor")
    account.client("cloudformation", region_name="us-east-1").create_stack(
        StackName=monitor, TemplateBody=json.dumps(template)
    )
    assert leftovers.leftovers(RUN, stacks, account) == [f"stack {monitor} (CREATE_COMPLETE)"]


def test_the_assertion_providers_log_groups_are_deleted_in_the_region_of_their_stack(
    account: boto3.Session,
) -> None:
    """The GlobalReads app pins its assertion stack to the read Region: its provider's log
    groups are there, whatever the environment's Region."""
    tokyo = account.client("logs", region_name="ap-northeast-1")
    provider = "/aws/lambda/GlobalReadsDeployAssert-SingletonFunction1488541a7b234-AbC"
    tokyo.create_log_group(logGroupName=provider)
    account.client("logs").create_log_group(logGroupName=provider)  # not the run's: eu-west-1
    stacks = {"refarch-integ-GlobalReads": "ap-northeast-1", "GlobalReadsDeployAssert": "ap-northeast-1"}
    assert leftovers.delete_assertion_logs_where_deployed(stacks, account) == [provider]
    assert tokyo.describe_log_groups()["logGroups"] == []
    assert len(account.client("logs").describe_log_groups()["logGroups"]) == 1


def test_tagged_resources_are_looked_for_in_us_east_1_when_no_stack_was_there(
    account: boto3.Session,
) -> None:
    """Route 53 health checks (GlobalReads' latency records) are global: the Tagging API lists
    them in us-east-1 only. moto's Tagging API does not list health checks, so a queue tagged
    in us-east-1 stands for one: a run in eu-west-1 and ap-northeast-1 still looks there."""
    sqs = account.client("sqs", region_name="us-east-1")
    url = sqs.create_queue(QueueName="stands-for-a-health-check", tags=tagged(RUN))["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    stacks = {"refarch-integ-GlobalReadsHome": None, "refarch-integ-GlobalReads": "ap-northeast-1"}
    assert leftovers.leftovers(RUN, stacks, account) == [f"tagged {arn}"]
