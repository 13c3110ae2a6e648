"""Telemetry consumer: reads batches of device readings from the Kinesis stream, publishes each
anomaly to the anomaly topic, and reports failed records one by one.

A record that is not a reading, or whose anomaly cannot be published, is reported in
batchItemFailures (ReportBatchItemFailures): Lambda checkpoints at the lowest reported sequence
number and retries every record of the shard from there, and after the mapping's retries sends
the batch's position to the on-failure queue.

A record that is not a reading can never succeed, so the rest of the batch is handled and the
redelivered records already applied are skipped. Any other failure (the topic is down) holds
the shard: every later record of that shard in the batch is reported too and changes no state,
so its retry judges them afresh. Skipping them instead would drop the failed anomaly: a later
reading of the same device would mark the device's history past it, and its retry would look
already applied.
"""

from __future__ import annotations

import json
import os
from typing import Any

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.kinesis_stream_event import KinesisStreamRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from readings import Detector, MalformedReading, Reading, parse
from settings import Settings

logger = Logger()
settings = Settings.from_environ(os.environ)
sns = boto3.client("sns")
detector = Detector(
    window=settings.window, min_samples=settings.min_samples, z_threshold=settings.z_threshold
)
# A batch whose every record failed is reported record by record too, rather than raised.
processor = BatchProcessor(event_type=EventType.KinesisDataStreams, raise_on_entire_batch_failure=False)


held_shards: set[str] = set()
"""Shards of this invocation with a record that failed for a reason a retry can cure."""


class ShardHeld(RuntimeError):
    """An earlier record of this shard in the batch failed; this one waits for its retry."""


def record_handler(record: KinesisStreamRecord) -> None:
    shard = record.event_id.split(":", 1)[0]
    if shard in held_shards:
        raise ShardHeld(f"{shard} is retried from an earlier failed record")
    try:
        reading = parse(record.kinesis.data_as_bytes())
    except MalformedReading as error:
        logger.error("malformed reading", event_id=record.event_id, reason=str(error))
        raise
    try:
        handle(reading, record, shard)
    except Exception:
        logger.exception("record failed; holding the rest of its shard", event_id=record.event_id)
        held_shards.add(shard)
        raise


def handle(reading: Reading, record: KinesisStreamRecord, shard: str) -> None:
    sequence = int(record.kinesis.sequence_number)
    if detector.already_applied(reading, shard, sequence):
        return
    anomaly = detector.judge(reading)
    if anomaly is not None:
        # The anomaly id is the record's position, so a subscriber can drop a redelivered copy.
        event = anomaly.as_event(record.event_id)
        sns.publish(
            TopicArn=settings.anomaly_topic_arn,
            Message=json.dumps(event),
            MessageAttributes={"deviceId": {"DataType": "String", "StringValue": reading.device_id}},
        )
        logger.info("anomaly", **event)
    detector.apply(reading, shard, sequence, anomalous=anomaly is not None)


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    held_shards.clear()
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
