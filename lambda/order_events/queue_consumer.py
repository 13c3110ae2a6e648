"""Billing and shipping consumers: drain a queue in batches, one effect per order event.

A record that is not an order event, that reuses an applied eventId for another event, or whose
effect fails, is reported in batchItemFailures so the event source mapping returns only that
message to the queue (and, after the queue's receive count, to its dead-letter queue, whose alarm
fires); the rest of the batch is deleted.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from order_event import EventIdReused, MalformedEvent, apply_once, idempotency, parse

logger = Logger()
# A batch whose every record failed is reported record by record too, rather than raised.
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


def record_handler(record: SQSRecord) -> None:
    try:
        event = parse(record.body)
    except MalformedEvent as error:
        logger.error("malformed order event", message_id=record.message_id, reason=str(error))
        raise
    try:
        apply_once(event=event.as_dict(), counted_by="orderId")
    except EventIdReused as error:
        logger.error(
            "event id reused for a different event",
            message_id=record.message_id,
            event_id=event.event_id,
            reason=str(error),
        )
        raise
    logger.info("applied order event", event_id=event.event_id, event_type=event.event_type)


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    idempotency.register_lambda_context(context)
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
