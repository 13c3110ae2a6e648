"""The FanOut construct on its own: secure by default with only required props, and every
contradictory or invalid prop refused at synth with the prop's name."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_cdk import Duration
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from aws_cdk.assertions import Match, Template

from patterns.fan_out import FanOut
from patterns.shared import PythonFunction
from patterns.shared.defaults import (
    DLQ_REASON,
    SANDBOX,
    acknowledge,
    dead_letter_queue,
    encryption_key,
    secure_queue,
)
from stacks.paths import lambda_dir
from tests.kit import bare_stack, resources


def _function(stack: Any, timeout: int = 30, name: str = "Consumer") -> lambda_.IFunction:
    """A user's function, made the kit's way so that it passes the security gate itself."""
    return PythonFunction(
        stack,
        name,
        code_dir=lambda_dir("order_events"),
        handler="queue_consumer.handler",
        profile=SANDBOX,
        service_name=name,
        timeout=Duration.seconds(timeout),
    ).function


def test_only_required_props_make_an_encrypted_tls_only_topic() -> None:
    stack = bare_stack()
    FanOut(stack, "Events")
    template = Template.from_stack(stack)  # raises if the security gate finds anything
    template.resource_count_is("AWS::SNS::Topic", 2)  # the events topic and the alarm topic
    template.all_resources_properties(
        "AWS::SNS::Topic", {"KmsMasterKeyId": Match.object_like({"Fn::GetAtt": Match.any_value()})}
    )
    template.has_resource_properties(
        "AWS::SNS::TopicPolicy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {"Effect": "Deny", "Condition": {"Bool": {"aws:SecureTransport": "false"}}}
                        )
                    ]
                )
            }
        },
    )


def test_an_existing_topic_is_used_as_is() -> None:
    stack = bare_stack()
    topic = sns.Topic.from_topic_arn(stack, "Existing", "arn:aws:sns:eu-west-1:111111111111:orders")
    fan_out = FanOut(stack, "Events", topic=topic)
    fan_out.add_queue_subscriber("Audit")
    template = Template.from_stack(stack)
    assert fan_out.topic_key is None
    template.resource_count_is("AWS::SNS::Topic", 1)  # only the alarm topic
    template.has_resource_properties(
        "AWS::SNS::Subscription", {"TopicArn": "arn:aws:sns:eu-west-1:111111111111:orders"}
    )


def test_subscribers_pass_the_security_gate_and_get_their_own_dead_letter_queues() -> None:
    stack = bare_stack()
    fan_out = FanOut(stack, "Events", max_receive_count=3)
    consumer = _function(stack)
    audit = fan_out.add_queue_subscriber("Audit", consumer=consumer, filter_policy={"kind": ["a", "b"]})
    fan_out.add_function_subscriber("Notify", function=_function(stack, 10, "Notifier"))
    document = Template.from_stack(stack).to_json()
    assert audit.dead_letter_queue is not None
    queues = dict(resources(document, "AWS::SQS::Queue"))
    main = next(q for q in queues.values() if "RedrivePolicy" in q["Properties"])
    assert main["Properties"]["RedrivePolicy"]["maxReceiveCount"] == 3
    assert main["Properties"]["VisibilityTimeout"] == 6 * 30
    # queue DLQ, subscription DLQ, queue; function failure queue and subscription DLQ
    assert len(queues) == 5


def test_queue_key_lets_only_this_topic_deliver() -> None:
    # Without this recommended flag (cdk.json carries it) CDK's own SqsSubscription grants SNS
    # the key without naming the topic.
    stack = bare_stack({"@aws-cdk/aws-sns-subscriptions:restrictSqsDescryption": True})
    fan_out = FanOut(stack, "Events")
    fan_out.add_queue_subscriber("Audit")
    document = Template.from_stack(stack).to_json()
    keys = [r for _, r in resources(document, "AWS::KMS::Key", "QueueKey")]
    statements = keys[0]["Properties"]["KeyPolicy"]["Statement"]
    sns_statements = [s for s in statements if s.get("Principal") == {"Service": "sns.amazonaws.com"}]
    assert sns_statements
    for statement in sns_statements:
        assert "aws:SourceArn" in json.dumps(statement["Condition"])
        # SQS developer guide, "Key management": a sender needs these two, nothing more
        assert set(statement["Action"]) == {"kms:Decrypt", "kms:GenerateDataKey"}


@pytest.mark.parametrize(
    ("build", "prop"),
    [
        (lambda s: FanOut(s, "F", topic=sns.Topic(s, "T"), topic_name="x"), "topic"),
        (lambda s: FanOut(s, "F", max_receive_count=0), "max_receive_count"),
        (lambda s: FanOut(s, "F").add_queue_subscriber("Q", max_receive_count=0), "max_receive_count"),
        (lambda s: FanOut(s, "F", oldest_message_age_alarm=Duration.seconds(5)), "oldest_message_age_alarm"),
        (
            lambda s: FanOut(s, "F").add_queue_subscriber(
                "Q", filter_policy={"a": ["x"]}, filter_policy_on_body={"a": ["x"]}
            ),
            "filter_policy",
        ),
        (lambda s: FanOut(s, "F").add_queue_subscriber("Q", filter_policy={"a": "x"}), "filter_policy"),
        (lambda s: FanOut(s, "F").add_queue_subscriber("Q", filter_policy={}), "filter_policy"),
        (
            lambda s: FanOut(s, "F").add_queue_subscriber("Q", filter_policy={"a": {"b": ["x"]}}),
            "filter_policy",
        ),
        (
            lambda s: FanOut(s, "F").add_queue_subscriber("Q", filter_policy={"a": [{"sufix": "x"}]}),
            "filter_policy",
        ),
        (
            lambda s: FanOut(s, "F").add_queue_subscriber("Q", filter_policy={"a": [{"numeric": ["!", 1]}]}),
            "filter_policy",
        ),
        (
            lambda s: FanOut(s, "F").add_queue_subscriber(
                "Q", filter_policy_on_body={f"k{i}": [str(j) for j in range(3)] for i in range(6)}
            ),
            "filter_policy_on_body",
        ),
        (
            lambda s: FanOut(s, "F").add_queue_subscriber(
                "Q",
                filter_policy={f"k{i}": [str(j) for j in range(6)] for i in range(3)} | {"z": list("abcde")},
            ),
            "filter_policy",
        ),
        (
            lambda s: FanOut(s, "F").add_queue_subscriber(
                "Q", queue=sqs.Queue(s, "Existing"), visibility_timeout=Duration.seconds(60)
            ),
            "queue",
        ),
        (
            lambda s: FanOut(s, "F").add_queue_subscriber(
                "Q", consumer=_function(s, timeout=60), visibility_timeout=Duration.seconds(120)
            ),
            "visibility_timeout",
        ),
        (
            lambda s: FanOut(s, "F").add_queue_subscriber(
                "Q",
                queue=sqs.Queue(s, "Short", visibility_timeout=Duration.seconds(30)),
                consumer=_function(s),
            ),
            "visibility_timeout",
        ),
        (
            lambda s: FanOut(s, "F").add_function_subscriber("L", function=_function(s), retry_attempts=3),
            "retry_attempts",
        ),
        (
            lambda s: FanOut(s, "F").add_queue_subscriber(
                "Q",
                queue=sqs.Queue(s, "NoRedrive", visibility_timeout=Duration.seconds(180)),
                consumer=_function(s),
            ),
            "queue",
        ),
    ],
)
def test_invalid_props_fail_at_synth_naming_the_prop(build: Any, prop: str) -> None:
    with pytest.raises(ValueError, match=rf"^{prop}: "):
        build(bare_stack())


def test_a_subscriber_id_is_used_once() -> None:
    fan_out = FanOut(bare_stack(), "F")
    fan_out.add_queue_subscriber("Q")
    with pytest.raises(ValueError, match=r"^subscriber_id: 'Q' is already subscribed"):
        fan_out.add_function_subscriber("Q", function=_function(fan_out))


def test_valid_operator_policies_are_accepted_as_sns_documents_them() -> None:
    stack = bare_stack()
    policy = {
        "store": [{"prefix": "eu-"}],
        "total": [{"numeric": [">=", 0, "<", 100]}],
        "kind": [{"anything-but": ["test"]}],
        "coupon": [{"exists": False}],
    }
    FanOut(stack, "F").add_queue_subscriber("Q", filter_policy=policy)
    document = Template.from_stack(stack).to_json()
    (_, subscription), *_ = resources(document, "AWS::SNS::Subscription")
    assert subscription["Properties"]["FilterPolicy"] == policy


def test_an_existing_queue_keeps_its_own_dead_letter_queue_and_it_is_alarmed_on() -> None:
    """The consumer's acknowledged findings (no Lambda DLQ, no mapping destination) hold only if
    the queue's redrive policy keeps what the consumer keeps failing; its DLQ must be watched."""
    stack = bare_stack()
    key = encryption_key(stack, "Key", profile=SANDBOX, description="existing queue key")
    dead_letters = dead_letter_queue(stack, "ExistingDlq", key=key, profile=SANDBOX)
    acknowledge(dead_letters, "AwsSolutions-SQS3", DLQ_REASON)
    queue = secure_queue(
        stack,
        "Existing",
        key=key,
        dead_letter=dead_letters,
        max_receive_count=3,
        visibility_timeout=Duration.seconds(180),
        profile=SANDBOX,
    )
    subscriber = FanOut(stack, "F").add_queue_subscriber("Q", queue=queue, consumer=_function(stack))
    assert subscriber.dead_letter_queue is dead_letters
    document = Template.from_stack(stack).to_json()
    dlq_id = next(q for q, _ in resources(document, "AWS::SQS::Queue", "ExistingDlq"))
    watched = [
        a["Properties"]
        for _, a in resources(document, "AWS::CloudWatch::Alarm")
        if a["Properties"]["Dimensions"][0]["Value"] == {"Fn::GetAtt": [dlq_id, "QueueName"]}
    ]
    assert [w["MetricName"] for w in watched] == ["ApproximateNumberOfMessagesVisible"]
