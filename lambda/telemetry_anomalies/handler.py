"""Telemetry consumer: reads batches of device readings from the Kinesis stream, publishes each
anomaly to the anomaly topic, and reports failed records one by one.

A record that is not a reading, or whose anomaly cannot be published, is reported in
batchItemFailures (ReportBatchItemFailures): Lambda retries the shard from the first reported
record, and after the mapping's retries sends that record's position to the on-failure queue.
The rest of the batch is handled; redelivered records already applied are skipped.
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
from readings import Detector, MalformedReading, parse
from settings import Settings

logger = Logger()
settings = Settings.from_environ(os.environ)
sns = boto3.client("sns")
detector = Detector(
    window=settings.window, min_samples=settings.min_samples, z_threshold=settings.z_threshold
)
# A batch whose every record failed is reported record by record too, rather than raised.
processor = BatchProcessor(event_type=EventType.KinesisDataStreams, raise_on_entire_batch_failure=False)


def record_handler(record: KinesisStreamRecord) -> None:
    shard = record.event_id.split(":", 1)[0]
    sequence = int(record.kinesis.sequence_number)
    try:
        reading = parse(record.kinesis.data_as_bytes())
    except MalformedReading as error:
        logger.error("malformed reading", event_id=record.event_id, reason=str(error))
        raise
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
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
