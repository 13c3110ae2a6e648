"""The `Streaming` stack's resources made in moto from the synthesized template (moto's
CloudFormation skips too much to deploy it), with the real consumer handler and producer.

moto routes records to shards by the MD5 of the partition key, keeps per-shard sequence numbers,
supports on-demand streams, and writes Firehose PutRecordBatch to S3. It does not run event
source mappings nor forward a stream to Firehose: `batches` and `forward_to_archive` do those
steps explicitly, as Lambda's poller and Firehose's reader would.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import boto3
import pytest

from tests.fan_out_world import LambdaContext
from tests.kit import ROOT, load_module, one

REGION = "eu-west-1"
STREAM, TOPIC, BUCKET, DELIVERY = "telemetry", "anomalies", "telemetry-archive", "telemetry-archive"


@dataclass
class StreamingWorld:
    document: dict[str, Any]
    stream_arn: str = ""
    anomaly_queue_url: str = ""
    environment: dict[str, str] = field(default_factory=dict)
    batch_size: int = 0
    archive: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.kinesis = boto3.client("kinesis", region_name=REGION)
        self.sqs = boto3.client("sqs", region_name=REGION)
        self.s3 = boto3.client("s3", region_name=REGION)

    def build(self) -> StreamingWorld:
        stream = one(self.document, "AWS::Kinesis::Stream", "Telemetry/Stream")[1]["Properties"]
        self.kinesis.create_stream(StreamName=STREAM, StreamModeDetails=stream["StreamModeDetails"])
        if stream["RetentionPeriodHours"] > 24:
            self.kinesis.increase_stream_retention_period(
                StreamName=STREAM, RetentionPeriodHours=stream["RetentionPeriodHours"]
            )
        self.stream_arn = self.kinesis.describe_stream_summary(StreamName=STREAM)["StreamDescriptionSummary"][
            "StreamARN"
        ]
        sns = boto3.client("sns", region_name=REGION)
        topic_arn = sns.create_topic(Name=TOPIC)["TopicArn"]
        self.anomaly_queue_url = self.sqs.create_queue(QueueName="anomaly-watcher")["QueueUrl"]
        queue_arn = self.sqs.get_queue_attributes(
            QueueUrl=self.anomaly_queue_url, AttributeNames=["QueueArn"]
        )["Attributes"]["QueueArn"]
        sns.subscribe(
            TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn, Attributes={"RawMessageDelivery": "true"}
        )
        function = one(self.document, "AWS::Lambda::Function", "AnomalyDetector/Function")[1]["Properties"]
        variables = function["Environment"]["Variables"]
        self.environment = {name: value for name, value in variables.items() if isinstance(value, str)} | {
            "ANOMALY_TOPIC_ARN": topic_arn
        }
        mapping = one(self.document, "AWS::Lambda::EventSourceMapping", "AnomalyDetector")[1]["Properties"]
        self.batch_size = mapping["BatchSize"]
        delivery = one(self.document, "AWS::KinesisFirehose::DeliveryStream", "Archive/DeliveryStream")[1]
        s3_config = delivery["Properties"]["ExtendedS3DestinationConfiguration"]
        self.s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
        self.archive = {
            "Prefix": s3_config["Prefix"],
            "ErrorOutputPrefix": s3_config["ErrorOutputPrefix"],
            "BufferingHints": s3_config["BufferingHints"],
            "CompressionFormat": s3_config["CompressionFormat"],
        }
        boto3.client("firehose", region_name=REGION).create_delivery_stream(
            DeliveryStreamName=DELIVERY,
            ExtendedS3DestinationConfiguration={
                **self.archive,
                "BucketARN": f"arn:aws:s3:::{BUCKET}",
                "RoleARN": "arn:aws:iam::123456789012:role/firehose",
            },
        )
        return self

    # --- the stream ---------------------------------------------------------------------------

    def shards(self) -> list[dict[str, Any]]:
        return list(self.kinesis.list_shards(StreamName=STREAM)["Shards"])

    def records_by_shard(self) -> dict[str, list[dict[str, Any]]]:
        """Every record of every shard, oldest first, as GetRecords returns them."""
        found: dict[str, list[dict[str, Any]]] = {}
        for shard in self.shards():
            iterator = self.kinesis.get_shard_iterator(
                StreamName=STREAM, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
            )["ShardIterator"]
            records: list[dict[str, Any]] = []
            while iterator:
                page = self.kinesis.get_records(ShardIterator=iterator, Limit=1000)
                records.extend(page["Records"])
                if not page["Records"]:
                    break
                iterator = page.get("NextShardIterator")
            found[shard["ShardId"]] = records
        return found

    # --- what moto does not do: Lambda's poller and Firehose's reader --------------------------

    def batches(self, shard_id: str, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The Kinesis events Lambda's poller would build from a shard, `BatchSize` records each."""
        return [
            {"Records": [self.lambda_record(shard_id, r) for r in records[i : i + self.batch_size]]}
            for i in range(0, len(records), self.batch_size)
        ]

    def lambda_record(self, shard_id: str, record: dict[str, Any]) -> dict[str, Any]:
        return {
            "kinesis": {
                "kinesisSchemaVersion": "1.0",
                "partitionKey": record["PartitionKey"],
                "sequenceNumber": record["SequenceNumber"],
                "data": base64.b64encode(record["Data"]).decode(),
                "approximateArrivalTimestamp": record["ApproximateArrivalTimestamp"].timestamp(),
            },
            "eventSource": "aws:kinesis",
            "eventVersion": "1.0",
            "eventID": f"{shard_id}:{record['SequenceNumber']}",
            "eventName": "aws:kinesis:record",
            "invokeIdentityArn": "arn:aws:iam::123456789012:role/detector",
            "awsRegion": REGION,
            "eventSourceARN": self.stream_arn,
        }

    def forward_to_archive(self, records: list[dict[str, Any]]) -> None:
        """Hand records to the delivery stream as Firehose's own stream reader would (moto's
        Firehose never reads a Kinesis source), in PutRecordBatch's 500-record batches."""
        firehose = boto3.client("firehose", region_name=REGION)
        for i in range(0, len(records), 500):
            batch = [{"Data": r["Data"] + b"\n"} for r in records[i : i + 500]]
            assert (
                firehose.put_record_batch(DeliveryStreamName=DELIVERY, Records=batch)["FailedPutCount"] == 0
            )

    def archived_objects(self) -> dict[str, bytes]:
        listed = self.s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])
        return {o["Key"]: self.s3.get_object(Bucket=BUCKET, Key=o["Key"])["Body"].read() for o in listed}

    # --- the consumer ---------------------------------------------------------------------------

    def consumer(self, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
        """The real handler module, loaded with the function's environment from the template."""
        for name, value in self.environment.items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
        monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "telemetry-anomalies")
        return load_module("telemetry_anomalies", "handler")

    def invoke(self, handler: ModuleType, event: dict[str, Any]) -> list[str]:
        """The sequence numbers the handler reported as failed."""
        response = handler.handler(event, LambdaContext(function_name="detector"))
        return [item["itemIdentifier"] for item in response["batchItemFailures"]]

    def anomalies(self) -> list[dict[str, Any]]:
        found = []
        while True:
            page = self.sqs.receive_message(QueueUrl=self.anomaly_queue_url, MaxNumberOfMessages=10)
            if not page.get("Messages"):
                return found
            for message in page["Messages"]:
                found.append(json.loads(message["Body"]))
                self.sqs.delete_message(
                    QueueUrl=self.anomaly_queue_url, ReceiptHandle=message["ReceiptHandle"]
                )


def producer() -> ModuleType:
    return load_module(ROOT / "runtime" / "telemetry_producer", "producer")


def readings_of(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [json.loads(r["Data"]) for r in records]
