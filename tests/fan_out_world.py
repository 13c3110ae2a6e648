"""The `FanOut` stack rebuilt in moto from its synthesized template.

moto's CloudFormation skips types it does not know, so the topic, queues, subscriptions and
tables are created with boto3 from the template's own properties: filter policies, raw
delivery, visibility timeouts, redrive policies. The consumers are the real handler modules,
driven the way their event sources drive them.
"""

from __future__ import annotations

import io
import json
import uuid
import zipfile
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import boto3

from tests.kit import load_module, path_of, resolve_ref, resources


@dataclass
class LambdaContext:
    function_name: str
    memory_limit_in_mb: int = 512
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    invoked_function_arn: str = "arn:aws:lambda:eu-west-1:123456789012:function:test"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


@dataclass
class FanOutWorld:
    document: dict[str, Any]
    topic_arn: str = ""
    queue_urls: dict[str, str] = field(default_factory=dict)  # by construct path fragment
    table_names: dict[str, str] = field(default_factory=dict)  # by logical id
    max_receive_count: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.sqs = boto3.client("sqs")
        self.sns = boto3.client("sns")
        self.dynamodb = boto3.resource("dynamodb")

    # --- building -----------------------------------------------------------------------
    def build(self) -> FanOutWorld:
        self._tables()
        urls_by_id = self._queues()
        (topic_id, _), *_ = resources(self.document, "AWS::SNS::Topic", "/OrderEvents/Topic/")
        self.topic_arn = self.sns.create_topic(Name=topic_id)["TopicArn"]
        for _, subscription in resources(self.document, "AWS::SNS::Subscription"):
            self._subscribe(subscription["Properties"], urls_by_id)
        return self

    def _tables(self) -> None:
        for logical_id, table in resources(self.document, "AWS::DynamoDB::GlobalTable"):
            properties = table["Properties"]
            self.dynamodb.create_table(
                TableName=logical_id,
                KeySchema=properties["KeySchema"],
                AttributeDefinitions=properties["AttributeDefinitions"],
                BillingMode="PAY_PER_REQUEST",
            )
            self.table_names[logical_id] = logical_id

    def _queues(self) -> dict[str, str]:
        urls: dict[str, str] = {}
        queues = dict(resources(self.document, "AWS::SQS::Queue"))
        for logical_id, queue in queues.items():
            attributes = {
                name: str(queue["Properties"][name])
                for name in ("VisibilityTimeout", "MessageRetentionPeriod")
                if name in queue["Properties"]
            }
            urls[logical_id] = self.sqs.create_queue(QueueName=logical_id, Attributes=attributes)["QueueUrl"]
            # "Billing" for a subscriber's queue, "Billing/DeadLetterQueue" for its DLQ, ...
            name = path_of(queue).split("/OrderEvents/")[1].removesuffix("/Resource").removesuffix("/Queue")
            self.queue_urls[name] = urls[logical_id]
        for logical_id, queue in queues.items():
            redrive = queue["Properties"].get("RedrivePolicy")
            if redrive:
                target = self.arn(urls[resolve_ref(self.document, redrive["deadLetterTargetArn"])])
                policy = {"deadLetterTargetArn": target, "maxReceiveCount": redrive["maxReceiveCount"]}
                self.sqs.set_queue_attributes(
                    QueueUrl=urls[logical_id], Attributes={"RedrivePolicy": json.dumps(policy)}
                )
                self.max_receive_count[urls[logical_id]] = redrive["maxReceiveCount"]
        return urls

    def _subscribe(self, properties: dict[str, Any], urls_by_id: dict[str, str]) -> None:
        attributes = {"RawMessageDelivery": str(properties.get("RawMessageDelivery", False)).lower()}
        if "FilterPolicy" in properties:
            attributes["FilterPolicy"] = json.dumps(properties["FilterPolicy"])
            attributes["FilterPolicyScope"] = properties.get("FilterPolicyScope", "MessageAttributes")
        endpoint_id = resolve_ref(self.document, properties["Endpoint"])
        if properties["Protocol"] == "sqs":
            endpoint = self.arn(urls_by_id[endpoint_id])
        else:
            endpoint = create_function(endpoint_id)
            attributes.pop("RawMessageDelivery")
        self.sns.subscribe(
            TopicArn=self.topic_arn, Protocol=properties["Protocol"], Endpoint=endpoint, Attributes=attributes
        )

    # --- consumers ----------------------------------------------------------------------
    def function_environment(self, path_fragment: str) -> dict[str, str]:
        (_, function), *_ = resources(self.document, "AWS::Lambda::Function", path_fragment)
        variables = function["Properties"]["Environment"]["Variables"]
        return {
            name: value if isinstance(value, str) else self.table_names[resolve_ref(self.document, value)]
            for name, value in variables.items()
        }

    def consumer(self, path_fragment: str, module: str, monkeypatch: Any) -> ModuleType:
        """The real handler module, loaded with the function's own environment."""
        for name, value in self.function_environment(path_fragment).items():
            monkeypatch.setenv(name, value)
        return load_module("order_events", module, alias=path_fragment.strip("/"))

    # --- helpers ------------------------------------------------------------------------
    def arn(self, url: str) -> str:
        return self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]

    def publish(self, event: dict[str, Any] | str) -> None:
        body = event if isinstance(event, str) else json.dumps(event)
        self.sns.publish(TopicArn=self.topic_arn, Message=body)

    def messages(self, url: str) -> list[dict[str, Any]]:
        """Every message now visible on a queue, left there (visibility reset)."""
        seen: list[dict[str, Any]] = []
        while batch := self.sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"]
        ).get("Messages", []):
            seen.extend(batch)
        for message in seen:
            self.sqs.change_message_visibility(
                QueueUrl=url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
            )
        return seen

    def drain(self, url: str, handler: Any, *, rounds: int = 50) -> list[list[str]]:
        """Drive `handler` as the SQS event source mapping with ReportBatchItemFailures does:
        delete what succeeded, return the failed records to the queue (here at once, instead of
        after the visibility timeout). Returns the failed message ids of each batch."""
        failures: list[list[str]] = []
        for _ in range(rounds):
            batch = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"])
            messages = batch.get("Messages", [])
            if not messages:
                return failures
            event = {"Records": [sqs_record(m, self.arn(url)) for m in messages]}
            response = handler.handler(event, LambdaContext(function_name="consumer"))
            failed = {item["itemIdentifier"] for item in response["batchItemFailures"]}
            failures.append(sorted(failed))
            for message in messages:
                if message["MessageId"] in failed:
                    self.sqs.change_message_visibility(
                        QueueUrl=url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
                    )
                else:
                    self.sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        raise AssertionError(f"{url} still had messages after {rounds} batches")

    def ledger(self) -> dict[str, dict[str, Any]]:
        (ledger_id, _), *_ = resources(self.document, "AWS::DynamoDB::GlobalTable", "/Ledger/")
        items = self.dynamodb.Table(self.table_names[ledger_id]).scan()["Items"]
        return {item["pk"]: item for item in items}


def create_function(name: str) -> str:
    """A function in moto for SNS to invoke; tests replace its invoke with the real handler."""
    role = boto3.client("iam").create_role(
        RoleName=f"{name}-role",
        AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}),
    )
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("handler.py", "")
    created = boto3.client("lambda").create_function(
        FunctionName=name,
        Runtime="python3.13",
        Role=role["Role"]["Arn"],
        Handler="handler.handler",
        Code={"ZipFile": archive.getvalue()},
    )
    return str(created["FunctionArn"])


def sqs_record(message: dict[str, Any], queue_arn: str) -> dict[str, Any]:
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": message.get("Attributes", {}),
        "messageAttributes": {},
        "md5OfBody": message["MD5OfBody"],
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": "eu-west-1",
    }


def order_event(order_id: str, event_type: str = "OrderPlaced", *, shipping: bool = True) -> dict[str, Any]:
    return {
        "eventId": f"{event_type}-{order_id}",
        "eventType": event_type,
        "order": {"orderId": order_id, "customerId": "c-1", "total": 42.5, "requiresShipping": shipping},
    }
