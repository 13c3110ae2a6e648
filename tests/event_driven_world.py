"""The `EventDriven` stack rebuilt in moto from its synthesized template.

moto's CloudFormation skips EventBridge targets' retry policies and more, so the bus, the rules
(their patterns as synthesized, tokens replaced by the names given here), the queues the rules
target, the archive and the buckets are created with boto3 from the template's own properties.
moto evaluates event patterns, delivers to SQS targets, archives and replays, and emits S3
events to the default bus; it does not invoke Lambda targets or fire schedules, so the tests
drive the real handlers with the messages moto delivered.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import boto3

from tests.kit import resources

ACCOUNT = "123456789012"


@dataclass
class EventDrivenWorld:
    document: dict[str, Any]
    names: dict[str, str] = field(default_factory=dict)  # logical id -> physical name (Ref)
    arns: dict[str, str] = field(default_factory=dict)  # logical id -> ARN (GetAtt Arn)
    queue_urls: dict[str, str] = field(default_factory=dict)  # logical id -> URL
    bus_name: str = ""

    def __post_init__(self) -> None:
        self.events = boto3.client("events")
        self.sqs = boto3.client("sqs")
        self.s3 = boto3.client("s3")

    def build(self) -> EventDrivenWorld:
        for logical_id, _ in resources(self.document, "AWS::S3::Bucket"):
            name = logical_id.lower()
            self.s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
            self.names[logical_id] = name
            self.arns[logical_id] = f"arn:aws:s3:::{name}"
        for logical_id, bucket in resources(self.document, "AWS::S3::Bucket"):
            config = bucket["Properties"].get("NotificationConfiguration", {})
            if config.get("EventBridgeConfiguration", {}).get("EventBridgeEnabled"):
                self.s3.put_bucket_notification_configuration(
                    Bucket=self.names[logical_id],
                    NotificationConfiguration={"EventBridgeConfiguration": {}},
                )
        for logical_id, _ in resources(self.document, "AWS::SQS::Queue"):
            url = self.sqs.create_queue(QueueName=logical_id)["QueueUrl"]
            self.queue_urls[logical_id] = url
            self.names[logical_id] = url  # a queue's Ref is its URL
            self.arns[logical_id] = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])[
                "Attributes"
            ]["QueueArn"]
        (bus_id, bus), *_ = resources(self.document, "AWS::Events::EventBus")
        self.bus_name = bus["Properties"]["Name"]
        self.arns[bus_id] = self.events.create_event_bus(Name=self.bus_name)["EventBusArn"]
        self.names[bus_id] = self.bus_name
        for logical_id, rule in resources(self.document, "AWS::Events::Rule"):
            properties = self.resolve(rule["Properties"])
            self.events.put_rule(
                Name=logical_id,
                EventBusName=properties["EventBusName"],
                EventPattern=json.dumps(properties["EventPattern"]),
            )
            self.events.put_targets(
                Rule=logical_id,
                EventBusName=properties["EventBusName"],
                Targets=[{"Id": t["Id"], "Arn": t["Arn"]} for t in properties["Targets"]],
            )
        for logical_id, archive in resources(self.document, "AWS::Events::Archive"):
            properties = archive["Properties"]
            self.events.create_archive(
                ArchiveName=logical_id,
                EventSourceArn=self.resolve(properties["SourceArn"]),
                EventPattern=json.dumps(self.resolve(properties["EventPattern"])),
                RetentionDays=properties["RetentionDays"],
            )
            self.names[logical_id] = logical_id
        return self

    def resolve(self, value: Any) -> Any:
        """The value with Ref and GetAtt Arn replaced by this world's names and ARNs."""
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        if isinstance(value, dict):
            if set(value) == {"Ref"}:
                return ACCOUNT if value["Ref"] == "AWS::AccountId" else self.names[value["Ref"]]
            if set(value) == {"Fn::GetAtt"} and value["Fn::GetAtt"][1] == "Arn":
                return self.arns[value["Fn::GetAtt"][0]]
            return {k: self.resolve(v) for k, v in value.items()}
        return value

    # --- using ------------------------------------------------------------------------------
    def queue_of(self, path_fragment: str) -> str:
        """The URL of the one queue whose construct path contains `path_fragment`."""
        found = [self.queue_urls[i] for i, _ in resources(self.document, "AWS::SQS::Queue", path_fragment)]
        assert len(found) == 1, f"{len(found)} queues at *{path_fragment}*"
        return found[0]

    def bucket_of(self, path_fragment: str) -> str:
        (logical_id, _), *_ = resources(self.document, "AWS::S3::Bucket", path_fragment)
        return self.names[logical_id]

    def drain(self, url: str) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = []
        while batch := self.sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
        ).get("Messages", []):
            messages.extend(batch)
            for message in batch:
                self.sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        return messages

    def put_order(self, order: dict[str, Any], *, source: str = "refarch.orders") -> None:
        detail = {
            "eventId": f"{order['orderId']}:OrderCompleted",
            "eventType": "OrderCompleted",
            "order": order,
        }
        response = self.events.put_events(
            Entries=[
                {
                    "EventBusName": self.bus_name,
                    "Source": source,
                    "DetailType": "OrderCompleted",
                    "Detail": json.dumps(detail),
                }
            ]
        )
        assert response["FailedEntryCount"] == 0
