"""The shared prop checks: a wrong prop is refused with its name, the expected type or range,
and the value given."""

from __future__ import annotations

import aws_cdk as cdk
import pytest
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs

from patterns.shared.backup import BACKUP_TAG_KEY, mark_for_backup
from patterns.shared.props import PropError, expect, whole_seconds, within


@pytest.fixture
def stack() -> cdk.Stack:
    return cdk.Stack(cdk.App(), "Props")


def test_an_imported_topic_is_a_topic_and_an_arn_string_or_a_queue_is_not(stack: cdk.Stack) -> None:
    imported = sns.Topic.from_topic_arn(stack, "Imported", "arn:aws:sns:us-east-1:111111111111:orders")
    expect("topic", imported, sns.ITopic)
    expect("topic", None, sns.ITopic, optional=True)
    with pytest.raises(PropError, match=r"^topic: expected aws_sns\.ITopic, got str 'arn:aws:sns"):
        expect("topic", "arn:aws:sns:us-east-1:111111111111:orders", sns.ITopic)
    with pytest.raises(PropError, match=r"^topic: expected aws_sns\.ITopic, got Queue"):
        expect("topic", sqs.Queue(stack, "Queue"), sns.ITopic)
    with pytest.raises(PropError, match=r"^topic: expected aws_sns\.ITopic, got None"):
        expect("topic", None, sns.ITopic)


def test_a_boolean_is_not_a_count_and_an_int_is_not_a_duration() -> None:
    with pytest.raises(PropError, match=r"^max_receive_count: expected int, got bool True"):
        expect("max_receive_count", True, int)
    with pytest.raises(PropError, match=r"^timeout: expected Duration, got int 30"):
        expect("timeout", 30, cdk.Duration)
    expect("max_receive_count", 3, int)


def test_ranges_name_the_prop_the_range_and_the_value() -> None:
    within("memory_size", 128, 128, 10240, unit="MB")
    with pytest.raises(PropError, match=r"^memory_size: must be between 128 and 10240 MB, got 64 MB$"):
        within("memory_size", 64, 128, 10240, unit="MB")


def test_whole_seconds_refuses_fractions_and_out_of_range_values() -> None:
    assert whole_seconds("interval", cdk.Duration.seconds(2), low=1) == 2
    with pytest.raises(PropError, match=r"^interval: must be whole seconds"):
        whole_seconds("interval", cdk.Duration.millis(1500))
    with pytest.raises(PropError, match=r"^interval: must be between 1 and"):
        whole_seconds("interval", cdk.Duration.seconds(0), low=1)


def test_a_marked_resource_carries_the_backup_tag_in_its_template(stack: cdk.Stack) -> None:
    """AWS Backup selects resources by tag (`BackupSelection` `ListOfTags`): the tag must reach
    the resource's own `Tags` property, which CloudFormation applies to the resource."""
    queue = sqs.Queue(stack, "Queue")
    mark_for_backup(queue)
    template = cdk.assertions.Template.from_stack(stack)
    tags = next(iter(template.find_resources("AWS::SQS::Queue").values()))["Properties"]["Tags"]
    assert {"Key": BACKUP_TAG_KEY, "Value": "daily"} in tags


def test_an_unversioned_bucket_is_refused_by_the_backup_tag(stack: cdk.Stack) -> None:
    """AWS Backup backs up only buckets with S3 Versioning enabled ("Amazon S3 backups",
    prerequisites): tagging an unversioned one would make a backup job that fails every day."""
    from aws_cdk import aws_s3 as s3

    mark_for_backup(s3.Bucket(stack, "Versioned", versioned=True))
    with pytest.raises(ValueError, match=r"^mark_for_backup: bucket Props/Plain is not versioned"):
        mark_for_backup(s3.Bucket(stack, "Plain"))
