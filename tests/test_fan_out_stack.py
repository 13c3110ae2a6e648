"""The synthesized `FanOut` stack in both profiles: what the order-events fan-out promises."""

from __future__ import annotations

from typing import Any

import pytest

from stacks.fan_out_stack import SHIPPING_FILTER
from tests.kit import PROFILES, one, path_of, resolve_ref, resources, template_json


@pytest.fixture(params=PROFILES)
def document(request: pytest.FixtureRequest) -> dict[str, Any]:
    return template_json("FanOut", request.param)


def _subscription_to(document: dict[str, Any], consumer: str) -> dict[str, Any]:
    return one(document, "AWS::SNS::Subscription", f"/{consumer}")[1]["Properties"]


def test_billing_gets_every_event_raw(document: dict[str, Any]) -> None:
    billing = _subscription_to(document, "Billing")
    assert billing["Protocol"] == "sqs"
    assert billing["RawMessageDelivery"] is True
    assert "FilterPolicy" not in billing


def test_shipping_gets_only_placed_orders_that_need_shipping(document: dict[str, Any]) -> None:
    shipping = _subscription_to(document, "Shipping")
    assert shipping["FilterPolicyScope"] == "MessageBody"
    assert shipping["FilterPolicy"] == SHIPPING_FILTER


def test_analytics_function_gets_every_event_and_keeps_its_failures(document: dict[str, Any]) -> None:
    analytics = _subscription_to(document, "AnalyticsConsumer")
    assert analytics["Protocol"] == "lambda" and "FilterPolicy" not in analytics
    _, invoke_config = one(document, "AWS::Lambda::EventInvokeConfig", "/Analytics/")
    failure_queue = resolve_ref(
        document, invoke_config["Properties"]["DestinationConfig"]["OnFailure"]["Destination"]
    )
    assert "/Analytics/FailureQueue/" in path_of(document["Resources"][failure_queue])


def test_every_subscription_has_its_own_dead_letter_queue(document: dict[str, Any]) -> None:
    dlqs = [
        resolve_ref(document, s["Properties"]["RedrivePolicy"]["deadLetterTargetArn"])
        for _, s in resources(document, "AWS::SNS::Subscription")
    ]
    assert len(dlqs) == 3 and len(set(dlqs)) == 3


def test_every_queue_is_encrypted_with_a_customer_key_and_tls_only(document: dict[str, Any]) -> None:
    queues = dict(resources(document, "AWS::SQS::Queue"))
    keys = dict(resources(document, "AWS::KMS::Key"))
    assert len(queues) == 8  # billing and shipping: 3 each; analytics: failure queue + subscription DLQ
    for logical_id, queue in queues.items():
        assert resolve_ref(document, queue["Properties"]["KmsMasterKeyId"]) in keys, logical_id
    tls_only = set()
    for _, policy in resources(document, "AWS::SQS::QueuePolicy"):
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            if statement["Effect"] == "Deny" and statement.get("Condition") == {
                "Bool": {"aws:SecureTransport": "false"}
            }:
                tls_only.update(resolve_ref(document, q) for q in policy["Properties"]["Queues"])
    assert tls_only == set(queues)


def test_consumers_report_failures_per_record_with_time_to_finish(document: dict[str, Any]) -> None:
    mappings = list(resources(document, "AWS::Lambda::EventSourceMapping"))
    assert len(mappings) == 2
    for _, mapping in mappings:
        properties = mapping["Properties"]
        assert properties["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
        queue = document["Resources"][resolve_ref(document, properties["EventSourceArn"])]["Properties"]
        function = document["Resources"][resolve_ref(document, properties["FunctionName"])]["Properties"]
        assert queue["VisibilityTimeout"] >= 6 * function["Timeout"]
        assert queue["RedrivePolicy"]["maxReceiveCount"] == 5


def test_alarms_watch_every_dead_letter_queue_and_backlog(document: dict[str, Any]) -> None:
    alarms = [a["Properties"] for _, a in resources(document, "AWS::CloudWatch::Alarm")]
    queue_ids = {q for q, _ in resources(document, "AWS::SQS::Queue")}
    watched = {
        (alarm["MetricName"], resolve_ref(document, alarm["Dimensions"][0]["Value"]))
        for alarm in alarms
        if alarm["Dimensions"][0]["Name"] == "QueueName"
    }
    dlqs = {q for q, r in resources(document, "AWS::SQS::Queue") if "RedrivePolicy" not in r["Properties"]}
    work_queues = queue_ids - dlqs
    assert {("ApproximateNumberOfMessagesVisible", q) for q in dlqs} <= watched
    assert {("ApproximateAgeOfOldestMessage", q) for q in work_queues} <= watched
    _, alarm_topic = one(document, "AWS::SNS::Topic", "/AlarmTopic/")
    for alarm in alarms:
        assert [resolve_ref(document, a) for a in alarm["AlarmActions"]] == [
            next(t for t, r in resources(document, "AWS::SNS::Topic") if r is alarm_topic)
        ]


def test_log_retention_and_key_retention_follow_the_profile() -> None:
    for profile, days, key_policy in (("sandbox", 7, "Delete"), ("production", 365, "Retain")):
        document = template_json("FanOut", profile)
        for _, group in resources(document, "AWS::Logs::LogGroup"):
            assert group["Properties"]["RetentionInDays"] == days
        for _, key in resources(document, "AWS::KMS::Key"):
            assert key["DeletionPolicy"] == key_policy
            assert key["Properties"]["EnableKeyRotation"] is True


def test_the_analytics_function_can_send_its_failures_with_exactly_the_producer_kms_rights(
    document: dict[str, Any],
) -> None:
    """Lambda sends a failed asynchronous event to the on-failure queue with the function's own
    role; sending to an SSE-KMS queue needs kms:GenerateDataKey and kms:Decrypt on its key (SQS
    developer guide, "Key management"), and nothing else of KMS."""
    _, invoke_config = one(document, "AWS::Lambda::EventInvokeConfig", "/Analytics/")
    queue_id = resolve_ref(
        document, invoke_config["Properties"]["DestinationConfig"]["OnFailure"]["Destination"]
    )
    key_id = resolve_ref(document, document["Resources"][queue_id]["Properties"]["KmsMasterKeyId"])
    _, policy = one(document, "AWS::IAM::Policy", "/AnalyticsConsumer/Role/DefaultPolicy")
    granted: dict[str, set[str]] = {}
    for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        if isinstance(statement["Resource"], dict):
            granted.setdefault(resolve_ref(document, statement["Resource"]), set()).update(actions)
    assert granted[queue_id] == {"sqs:SendMessage"}
    assert granted[key_id] == {"kms:GenerateDataKey", "kms:Decrypt"}
