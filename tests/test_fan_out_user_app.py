"""FanOut built as issue 20's user built it: their own topic, queues, key and functions, in a
fresh app (minimal or `cdk init` cdk.json), with and without cdk-nag, with and without an
explicit environment, twice in one stack; and the props that passed silently."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs

from patterns.fan_out import FanOut
from patterns.shared import PythonFunction
from patterns.shared.props import PropError
from tests.fresh_app import USER_CASES, UserCase, case_id, fresh_stack, synthesized
from tests.kit import path_of, resources


@pytest.fixture(scope="module")
def code(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("consumer")
    (folder / "app.py").write_text("def handler(event, context):\n    return {'batchItemFailures': []}\n")
    return folder


def function(stack: cdk.Stack, name: str, code: Path) -> lambda_.Function:
    """The user's function, built with the kit's PythonFunction (profile left to the context)."""
    return PythonFunction(stack, name, code_dir=str(code), handler="app.handler", service_name=name).function


def user_key(stack: cdk.Stack, name: str) -> kms.Key:
    return kms.Key(stack, name, enable_key_rotation=True)


def build_users_fan_out(stack: cdk.Stack, construct_id: str, code: Path) -> FanOut:
    """What the user wrote: their topic, their key for the queues, their queue with a
    dead-letter queue, a new queue drained by their consumer, and a function subscriber."""
    scope = cdk.Stack.of(stack)
    key = user_key(scope, f"{construct_id}Key")
    topic_key = user_key(scope, f"{construct_id}TopicKey")
    topic = sns.Topic(scope, f"{construct_id}Topic", master_key=topic_key, enforce_ssl=True)
    dlq = sqs.Queue(
        scope, f"{construct_id}OwnDlq", encryption_master_key=key, enforce_ssl=True,
        retention_period=cdk.Duration.days(14),
    )  # fmt: skip
    cdk.Validations.of(dlq).acknowledge(
        cdk.Acknowledgment(
            id="AwsSolutions-SQS3", reason="This queue is the dead-letter queue of the user's queue."
        )
    )
    cdk.Validations.of(dlq).acknowledge(
        cdk.Acknowledgment(
            id="Serverless-SQSRedrivePolicy", reason="This queue is itself a dead-letter queue."
        )
    )
    own = sqs.Queue(
        scope, f"{construct_id}OwnQueue", encryption_master_key=key, enforce_ssl=True,
        dead_letter_queue=sqs.DeadLetterQueue(queue=dlq, max_receive_count=3),
    )  # fmt: skip
    fan_out = FanOut(stack, construct_id, topic=topic, queue_key=key)
    fan_out.add_queue_subscriber("Audit", queue=own)
    fan_out.add_queue_subscriber(
        "Billing",
        consumer=function(scope, f"{construct_id}Billing", code),
        retention_period=cdk.Duration.days(7),
        filter_policy={"eventType": ["OrderCompleted"]},
    )
    fan_out.add_function_subscriber("Mail", function=function(scope, f"{construct_id}Mail", code))
    return fan_out


@pytest.mark.parametrize("case", USER_CASES, ids=case_id)
def test_the_users_own_resources_synthesize_twice_in_one_stack(case: UserCase, code: Path) -> None:
    """Two FanOuts in one stack, each on the user's topic and key, pass the security gate; the
    user's key is the queues' key (no key of the construct's own) and lets only each topic's
    SNS deliveries use it (SNS to an SSE-KMS queue needs that: aws/aws-cdk#11122)."""
    context, nag, env = case
    stack = fresh_stack(context, nag=nag, env=env)
    first = build_users_fan_out(stack, "Orders", code)
    build_users_fan_out(stack, "Returns", code)
    document = synthesized(stack)
    assert [path_of(k) for _, k in resources(document, "AWS::KMS::Key", "/Orders/QueueKey")] == []
    (key_id, key), *_ = resources(document, "AWS::KMS::Key", "/OrdersKey/")
    statements = key["Properties"]["KeyPolicy"]["Statement"]
    ours = [s for s in statements if s.get("Sid") == "AllowThisTopicToDeliver"]
    assert len(ours) == 1 and ours[0]["Principal"] == {"Service": "sns.amazonaws.com"}
    assert sorted(ours[0]["Action"]) == ["kms:Decrypt", "kms:GenerateDataKey"]
    source = json.dumps(ours[0]["Condition"])
    assert "OrdersTopic" in source and "ReturnsTopic" not in source
    (_, billing), *_ = resources(document, "AWS::SQS::Queue", "/Orders/Billing/Queue/")
    assert billing["Properties"]["MessageRetentionPeriod"] == 7 * 24 * 3600
    assert billing["Properties"]["KmsMasterKeyId"] == {"Fn::GetAtt": [key_id, "Arn"]}
    assert first.queue_key is not None and first.topic_key is None


def test_an_existing_queue_without_a_dead_letter_queue_is_refused() -> None:
    """A message SNS delivered and no consumer can process is otherwise retried until it
    expires, then lost: every queue ends in a dead-letter queue."""
    stack = fresh_stack(nag=False)
    fan_out = FanOut(stack, "Events")
    with pytest.raises(
        PropError, match=r"^queue: subscriber 'Audit' passes an existing queue with no dead-letter"
    ):
        fan_out.add_queue_subscriber("Audit", queue=sqs.Queue(stack, "Bare"))


def test_the_same_function_subscribed_twice_is_refused(code: Path) -> None:
    """SNS invokes a function once per subscription: twice subscribed, it runs twice per
    message, and the two subscribers would both set its one EventInvokeConfig."""
    stack = fresh_stack(nag=False)
    fan_out = FanOut(stack, "Events")
    mail = function(stack, "Mail", code)
    fan_out.add_function_subscriber("Mail", function=mail, filter_policy={"eventType": ["A"]})
    with pytest.raises(PropError, match=r"^function: .*/Mail/Function is already subscribed as 'Mail'"):
        fan_out.add_function_subscriber("MailAgain", function=mail, filter_policy={"eventType": ["B"]})


def test_a_queue_key_that_also_encrypts_the_topic_is_refused_naming_the_cycle() -> None:
    """The key policy names the topic (aws:SourceArn) and the topic names the key: CloudFormation
    cannot create either first (aws/aws-cdk#35418)."""
    stack = fresh_stack(nag=False)
    key = user_key(stack, "Shared")
    topic = sns.Topic(stack, "Topic", master_key=key)
    with pytest.raises(PropError, match=r"^queue_key: it also encrypts the topic.*dependency cycle"):
        FanOut(stack, "Events", topic=topic, queue_key=key)


def test_an_imported_queue_key_is_refused_because_sns_could_not_use_it() -> None:
    stack = fresh_stack(nag=False)
    imported = kms.Key.from_key_arn(
        stack, "Central", "arn:aws:kms:eu-west-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    )
    with pytest.raises(PropError, match=r"^queue_key: an imported key's policy cannot be changed here"):
        FanOut(stack, "Events", queue_key=imported)


TOPIC_ARN = "arn:aws:sns:eu-west-1:111111111111:orders"
BAD_PROPS: list[tuple[dict[str, Any], str]] = [
    ({"topic": TOPIC_ARN}, r"^topic: expected aws_sns.ITopic \(or None\), got str 'arn:aws:sns"),
    ({"alarm_topic": TOPIC_ARN}, r"^alarm_topic: expected aws_sns.ITopic"),
    ({"queue_key": "alias/mine"}, r"^queue_key: expected aws_kms.IKey"),
    ({"oldest_message_age_alarm": 900}, r"^oldest_message_age_alarm: expected Duration, got int 900"),
    (
        {"oldest_message_age_alarm": cdk.Duration.seconds(30)},
        r"^oldest_message_age_alarm: must be between 60",
    ),
    ({"max_receive_count": 0}, r"^max_receive_count: must be between 1 and 1000, got 0"),
    ({"max_receive_count": 1001}, r"^max_receive_count: must be between 1 and 1000"),
    ({"max_receive_count": True}, r"^max_receive_count: expected int, got bool"),
    (
        {"queue_retention_period": cdk.Duration.days(15)},
        r"^queue_retention_period: must be between 60 and 1209600 s, got 1296000 s",
    ),
    ({"topic_name": "orders", "topic": "imported"}, r"^topic: given together with topic_name"),
    ({"topic_key": "new", "topic": "imported"}, r"^topic: given together with topic_key"),
]


@pytest.mark.parametrize(("props", "message"), BAD_PROPS, ids=[m.split(":")[0][1:] for _, m in BAD_PROPS])
def test_a_wrong_construct_prop_fails_naming_it(props: dict[str, Any], message: str) -> None:
    stack = fresh_stack(nag=False)
    if props.get("topic") == "imported":
        props = {**props, "topic": sns.Topic.from_topic_arn(stack, "Imported", TOPIC_ARN)}
    if props.get("topic_key") == "new":
        props = {**props, "topic_key": user_key(stack, "TopicKey")}
    with pytest.raises(PropError, match=message):
        FanOut(stack, "Events", **props)


SUBSCRIBER_PROPS: list[tuple[dict[str, Any], str]] = [
    ({"queue": "https://sqs.eu-west-1.amazonaws.com/111111111111/q"}, r"^queue: expected aws_sqs.IQueue"),
    ({"visibility_timeout": 60}, r"^visibility_timeout: expected Duration \(or None\), got int 60"),
    ({"batch_size": 0}, r"^batch_size: must be between 1 and 10, got 0"),
    ({"batch_size": 100}, r"^batch_size: must be between 1 and 10, got 100"),
    ({"max_batching_window": cdk.Duration.minutes(6)}, r"^max_batching_window: must be between 0 and 300 s"),
    ({"max_concurrency": 1}, r"^max_concurrency: must be between 2 and 1000"),
    ({"retention_period": cdk.Duration.seconds(30)}, r"^retention_period: must be between 60"),
    ({"max_receive_count": 0}, r"^max_receive_count: must be between 1 and 1000"),
    (
        {"queue": "own", "retention_period": cdk.Duration.days(1)},
        r"^queue: .* cannot also set retention_period",
    ),
]


@pytest.mark.parametrize(
    ("props", "message"), SUBSCRIBER_PROPS, ids=[m.split(":")[0][1:] for _, m in SUBSCRIBER_PROPS]
)
def test_a_wrong_subscriber_prop_fails_naming_it(props: dict[str, Any], message: str) -> None:
    stack = fresh_stack(nag=False)
    fan_out = FanOut(stack, "Events")
    if props.get("queue") == "own":
        dlq = sqs.Queue(stack, "Dlq")
        props = {
            **props,
            "queue": sqs.Queue(
                stack, "Own", dead_letter_queue=sqs.DeadLetterQueue(queue=dlq, max_receive_count=3)
            ),
        }
    with pytest.raises(PropError, match=message):
        fan_out.add_queue_subscriber("Q", **props)


def test_a_batch_above_ten_needs_a_batching_window() -> None:
    """SQS event sources take 1-10 messages per batch without a window, up to 10,000 with one."""
    stack = fresh_stack(nag=False)
    fan_out = FanOut(stack, "Events")
    fan_out.add_queue_subscriber("Q", batch_size=100, max_batching_window=cdk.Duration.seconds(5))
