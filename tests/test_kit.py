"""The kit's own promises, for every stack of the app in both profiles."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest

from patterns.shared import defaults
from stacks import STACK_IDS, build_app
from tests.kit import CDK_JSON_CONTEXT, PROFILES, assembly, bare_stack, path_of, resolve_ref, template_json
from tools.synth_all import unsubscribed_alarm_topics

ACKNOWLEDGED = "aws:cdk:acknowledged-rules"
# aws-cdk-lib acknowledges some of its own CloudFormation validation findings, e.g. W3010 on the
# whole stack as soon as a VPC reads stack.availabilityZones (Stack._silenceLiteralAzWarning).
# Those are not ours; every acknowledgement the kit makes is of a cdk-nag finding.
CDK_OWN_ACKNOWLEDGEMENTS = "CloudFormation-Validate::"
STATEFUL = {
    "AWS::DynamoDB::Table",
    "AWS::DynamoDB::GlobalTable",
    "AWS::KMS::Key",
    "AWS::Logs::LogGroup",
    "AWS::S3::Bucket",
    "AWS::RDS::DBInstance",
    "AWS::RDS::DBCluster",
    "AWS::ElastiCache::ReplicationGroup",
    "AWS::SQS::Queue",  # a dead-letter queue's messages are the evidence of what failed
}
KEPT = {"Retain", "Snapshot", "RetainExceptOnCreate"}


def acknowledgements(profile: str) -> list[tuple[str, str, str]]:
    """(construct path, finding id, reason) of every acknowledgement in the synthesized app."""
    found = []
    for stack in assembly(profile).stacks:
        metadata = json.loads(
            (Path(assembly(profile).directory) / f"{stack.stack_name}.metadata.json").read_text()
        )
        for path, entries in metadata.items():
            for entry in entries:
                if entry["type"] == ACKNOWLEDGED:
                    found.extend(
                        (path, finding, reason)
                        for finding, reason in entry["data"].items()
                        if not finding.startswith(CDK_OWN_ACKNOWLEDGEMENTS)
                    )
    return found


def test_every_fixed_stack_id_is_synthesized() -> None:
    for profile in PROFILES:
        assert {s.stack_name for s in assembly(profile).stacks} == set(STACK_IDS)


def test_an_unknown_profile_fails_listing_the_valid_ones() -> None:
    with pytest.raises(ValueError, match=r"profile: unknown profile 'staging'.*production, sandbox"):
        build_app(cdk.App(context={"profile": "staging"}))


@pytest.mark.parametrize("profile", PROFILES)
def test_every_acknowledgement_names_one_finding_on_one_construct_with_a_reason(profile: str) -> None:
    found = acknowledgements(profile)
    assert found, "the app acknowledges findings; this test would pass vacuously otherwise"
    stack_paths = {f"/{stack}" for stack in STACK_IDS}
    for path, finding, reason in found:
        assert path not in stack_paths and path != "/", f"{finding} acknowledged on a whole stack: {path}"
        rule = finding.split("::", 1)[-1]
        assert "*" not in rule.split("[", 1)[0], f"{finding} at {path} is not a single finding"
        assert len(reason.strip()) >= defaults.MIN_ACKNOWLEDGEMENT_REASON, f"{finding} at {path}: {reason!r}"


def test_the_acknowledge_helper_refuses_blanket_or_unexplained_acknowledgements() -> None:
    stack = bare_stack()
    queue = cdk.aws_sqs.Queue(stack, "Queue")
    with pytest.raises(ValueError, match="not a whole stack"):
        defaults.acknowledge(stack, "AwsSolutions-SQS3", "x" * 60)
    with pytest.raises(ValueError, match="at least 40 characters"):
        defaults.acknowledge(queue, "AwsSolutions-SQS3", "it is fine")
    with pytest.raises(ValueError, match="not a single finding"):
        defaults.acknowledge(queue, "AwsSolutions-*", "x" * 60)


def _resources(profile: str) -> list[tuple[str, dict[str, Any]]]:
    return [
        (f"{stack}:{path_of(resource)}", resource)
        for stack in STACK_IDS
        for resource in template_json(stack, profile)["Resources"].values()
    ]


def test_sandbox_leaves_nothing_behind_on_destroy() -> None:
    for where, resource in _resources("sandbox"):
        assert resource.get("DeletionPolicy", "Delete") == "Delete", where
        assert resource.get("UpdateReplacePolicy", "Delete") == "Delete", where
        properties = resource.get("Properties", {})
        assert not properties.get("DeletionProtection"), where
        assert not properties.get("DeletionProtectionEnabled"), where


def test_sandbox_functions_log_to_groups_the_stack_owns() -> None:
    """A function without its own log group gets one from Lambda that `cdk destroy` leaves."""
    for stack in STACK_IDS:
        document = template_json(stack, "sandbox")
        for where, resource in document["Resources"].items():
            if resource["Type"] == "AWS::Lambda::Function":
                group = resource["Properties"].get("LoggingConfig", {}).get("LogGroup")
                assert group, f"{stack}/{where} has no log group of its own"


def _is_read_replica(resource: dict[str, Any]) -> bool:
    """A read replica holds a copy of its writer, whose final snapshot is what is kept."""
    return "SourceDBInstanceIdentifier" in resource.get("Properties", {})


def test_production_keeps_every_stateful_resource() -> None:
    """CloudFormation deletes a resource whose DeletionPolicy is absent when the stack is deleted,
    and the old one whose UpdateReplacePolicy is absent when an update replaces it (AWS
    CloudFormation User Guide, "DeletionPolicy attribute" and "UpdateReplacePolicy attribute").
    Queues count: a deleted dead-letter queue takes the failed messages with it."""
    stateful = [
        (w, r) for w, r in _resources("production") if r["Type"] in STATEFUL and not _is_read_replica(r)
    ]
    assert {r["Type"] for _, r in stateful} >= {"AWS::SQS::Queue", "AWS::Logs::LogGroup", "AWS::KMS::Key"}
    for where, resource in stateful:
        assert resource.get("DeletionPolicy") in KEPT, where
        assert resource.get("UpdateReplacePolicy") in KEPT, where


LOGS_KEY_ACTIONS = {"kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"}


def _admits_cloudwatch_logs_of_this_account(statement: dict[str, Any]) -> bool:
    """The statement AWS documents for a log group's key ("Encrypt log data in CloudWatch Logs
    using AWS KMS", CloudWatch Logs User Guide): principal logs.<region>.amazonaws.com, the five
    action groups, and an ArnLike condition on kms:EncryptionContext:aws:logs:arn that names
    log groups of this account and region only."""
    principal = json.dumps(statement.get("Principal", {}).get("Service"))
    actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
    context = statement.get("Condition", {}).get("ArnLike", {}).get("kms:EncryptionContext:aws:logs:arn")
    return (
        statement["Effect"] == "Allow"
        and '"logs."' in principal
        and '"AWS::Region"' in principal
        and set(actions) == LOGS_KEY_ACTIONS
        and context is not None
        and all(f'"{name}"' in json.dumps(context) for name in ("AWS::Region", "AWS::AccountId"))
        and json.dumps(context).endswith(':log-group:*"]]}')
    )


@pytest.mark.parametrize("profile", PROFILES)
def test_every_log_group_is_encrypted_with_a_key_cloudwatch_logs_may_use_only_for_this_account(
    profile: str,
) -> None:
    """Without a KMS key, CloudWatch Logs encrypts with a key it owns, which no key policy of
    ours controls. With one, CloudWatch Logs refuses to associate it unless the key policy lets
    the regional logs principal use it (CloudWatch Logs User Guide, "Encrypt log data in
    CloudWatch Logs using AWS KMS"). Sandbox uses the key too, so every sandbox deployment
    proves the key policy production depends on."""
    groups = 0
    for stack in STACK_IDS:
        document = template_json(stack, profile)
        for where, resource in document["Resources"].items():
            if resource["Type"] != "AWS::Logs::LogGroup":
                continue
            groups += 1
            key_id = resolve_ref(document, resource["Properties"].get("KmsKeyId", {"Ref": "none"}))
            key = document["Resources"].get(key_id, {})
            assert key.get("Type") == "AWS::KMS::Key", f"{stack}/{where} has no key of this stack"
            statements = key["Properties"]["KeyPolicy"]["Statement"]
            assert any(_admits_cloudwatch_logs_of_this_account(s) for s in statements), f"{stack}/{where}"
    assert groups >= 15


@pytest.mark.parametrize("profile", PROFILES)
def test_no_role_gets_kms_actions_that_sending_to_a_queue_never_uses(profile: str) -> None:
    """SQS developer guide, "Key management": a producer to an SSE-KMS queue needs
    kms:GenerateDataKey and kms:Decrypt, a consumer kms:Decrypt. Nothing in the kit encrypts
    with a key itself, so kms:Encrypt and kms:ReEncrypt* in a role's policy are never used."""
    for stack in STACK_IDS:
        for _, resource in template_json(stack, profile)["Resources"].items():
            if resource["Type"] not in {"AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"}:
                continue
            for statement in resource["Properties"]["PolicyDocument"]["Statement"]:
                actions = (
                    statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
                )
                unused = {a for a in actions if a in {"kms:Encrypt", "kms:ReEncrypt*"}}
                assert not unused, f"{stack}:{path_of(resource)} grants {sorted(unused)}"


def test_grant_send_gives_exactly_what_a_producer_needs() -> None:
    """SQS developer guide, "Key management": producers need kms:GenerateDataKey and
    kms:Decrypt on the queue's key; consumers kms:Decrypt."""
    stack = cdk.Stack(cdk.App(context=PATH_METADATA), "Bare")  # no gate: the queue is bare on purpose
    key = defaults.encryption_key(stack, "Key", profile=defaults.SANDBOX, description="queue key")
    queue = cdk.aws_sqs.Queue(stack, "Queue", encryption_master_key=key)
    producer = cdk.aws_iam.Role(stack, "Producer", assumed_by=cdk.aws_iam.AccountRootPrincipal())
    consumer = cdk.aws_iam.Role(stack, "Consumer", assumed_by=cdk.aws_iam.AccountRootPrincipal())
    defaults.grant_send(queue, producer)
    queue.grant_consume_messages(consumer)  # CDK's own, already exact

    document = cdk.assertions.Template.from_stack(stack).to_json()

    def kms_actions(role: str) -> set[str]:
        found: set[str] = set()
        for resource in document["Resources"].values():
            if resource["Type"] == "AWS::IAM::Policy" and path_of(resource).startswith(f"Bare/{role}/"):
                for statement in resource["Properties"]["PolicyDocument"]["Statement"]:
                    actions = (
                        statement["Action"]
                        if isinstance(statement["Action"], list)
                        else [statement["Action"]]
                    )
                    found |= {a for a in actions if a.startswith(("kms:", "sqs:Send"))}
        return found

    assert kms_actions("Producer") == {"sqs:SendMessage", "kms:GenerateDataKey", "kms:Decrypt"}
    assert kms_actions("Consumer") == {"kms:Decrypt"}


def _app_with(context: dict[str, Any]) -> cdk.App:
    return build_app(cdk.App(context={**CDK_JSON_CONTEXT, **PATH_METADATA, "profile": "sandbox", **context}))


PATH_METADATA = {"aws:cdk:enable-path-metadata": True}


# Frontend has no alarm in its own Region: CloudFront publishes its metrics only in us-east-1,
# where an alarm on the distribution must live (docs/frontend.md), and S3 serves it with nothing
# running. A stack without an alarm has no alarm topic to subscribe.
ALARMED_STACKS = [stack for stack in STACK_IDS if stack != "Frontend"]


def test_an_alarm_email_is_subscribed_to_every_topic_alarms_and_scaling_notices_go_to() -> None:
    """An SNS e-mail subscription works on a KMS-encrypted topic: SNS decrypts a message before
    it delivers it to any endpoint (SNS Developer Guide, "Encryption at rest"); the key policy
    only has to let the publisher (CloudWatch, Auto Scaling's service-linked role) use the key.
    Auto Scaling sends launch and termination errors to the group's NotificationConfigurations
    topic (EC2 Auto Scaling User Guide, "Amazon SNS notification options"): an operator needs
    those as much as the alarms."""
    assembled = _app_with({"alarm_email": "ops@example.com"}).synth()
    for stack in ALARMED_STACKS:
        document = assembled.get_stack_by_name(stack).template
        emails = [
            r["Properties"]
            for r in document["Resources"].values()
            if r["Type"] == "AWS::SNS::Subscription" and r["Properties"]["Protocol"] == "email"
        ]
        assert {e["Endpoint"] for e in emails} == {"ops@example.com"}, stack
        notified = {
            action["Ref"]
            for r in document["Resources"].values()
            if r["Type"] == "AWS::CloudWatch::Alarm"
            for action in r["Properties"]["AlarmActions"]
            if document["Resources"].get(action.get("Ref"), {}).get("Type") == "AWS::SNS::Topic"
        } | {
            resolve_ref(document, config["TopicARN"])
            for r in document["Resources"].values()
            if r["Type"] == "AWS::AutoScaling::AutoScalingGroup"
            for config in r["Properties"].get("NotificationConfigurations", [])
        }
        subscribed = [resolve_ref(document, e["TopicArn"]) for e in emails]
        assert sorted(subscribed) == sorted(notified), stack
        assert unsubscribed_alarm_topics(document) == [], stack


def test_without_an_alarm_email_make_synth_names_each_unsubscribed_alarm_topic() -> None:
    for stack in ALARMED_STACKS:
        [topic] = unsubscribed_alarm_topics(template_json(stack, "sandbox"))
        assert topic.startswith(f"{stack}/") and "AlarmTopic" in topic


@pytest.mark.parametrize("address", ["ops", "ops@example", "a@b.com,c@d.com", "ops @example.com", 42])
def test_an_alarm_email_that_is_not_one_fails_at_synth_naming_the_context_key(address: Any) -> None:
    with pytest.raises(ValueError, match=r"^alarm_email: .* is not an e-mail address"):
        _app_with({"alarm_email": address})


@pytest.mark.parametrize("profile", PROFILES)
def test_every_dead_letter_queue_is_alarmed_on_its_first_message(profile: str) -> None:
    """What the kit's DLQ acknowledgement (defaults.DLQ_REASON) promises: a message in a queue
    that nothing redrives further is seen by someone, through an alarm that notifies a topic."""
    for stack in STACK_IDS:
        document = template_json(stack, profile)
        found = document["Resources"]
        dead_letter_queues = {
            q
            for q, r in found.items()
            if r["Type"] == "AWS::SQS::Queue" and "RedrivePolicy" not in r["Properties"]
        }
        watched = {
            resolve_ref(document, alarm["Properties"]["Dimensions"][0]["Value"])
            for alarm in found.values()
            if alarm["Type"] == "AWS::CloudWatch::Alarm"
            and alarm["Properties"].get("MetricName") == "ApproximateNumberOfMessagesVisible"
            and alarm["Properties"]["Threshold"] <= 1
            and any(
                found.get(a.get("Ref"), {}).get("Type") == "AWS::SNS::Topic"
                for a in alarm["Properties"]["AlarmActions"]
            )
        }
        assert dead_letter_queues <= watched, f"{stack}: {sorted(dead_letter_queues - watched)}"


def test_a_construct_built_alone_is_held_to_the_wiring_checks_too() -> None:
    """The bare stack the construct tests build in runs the wiring checks next to cdk-nag, as
    the kit's app does: an alarm that notifies a topic nobody subscribes to or can subscribe
    through (no export) tells no one (SNS Developer Guide: a message published to a topic
    without subscriptions is delivered to no one), and fails the synth."""
    stack = bare_stack()
    topic = cdk.aws_sns.Topic(stack, "Silent", enforce_ssl=True)
    reason = "a test resource for the wiring gate; never deployed anywhere"
    defaults.acknowledge(topic, "AwsSolutions-SNS2", reason)
    queue = cdk.aws_sqs.Queue(stack, "Q", enforce_ssl=True)
    for finding in ("AwsSolutions-SQS3", "Serverless-SQSRedrivePolicy", "Wiring::QueueDeadLetter"):
        defaults.acknowledge(queue, finding, reason)
    alarm = queue.metric_approximate_number_of_messages_visible().create_alarm(
        stack, "Alarm", threshold=1, evaluation_periods=1
    )
    alarm.add_alarm_action(cdk.aws_cloudwatch_actions.SnsAction(topic))
    with pytest.raises(Exception, match="AlarmTopicSubscribed"):
        cdk.assertions.Template.from_stack(stack)
    defaults.route_notifications(topic)
    cdk.assertions.Template.from_stack(stack)  # exported for a subscriber: the gate passes
