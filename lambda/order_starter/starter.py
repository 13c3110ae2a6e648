"""Starts one workflow execution per message, named after a field of the message: the order id
(EXECUTION_NAME_FIELD, `orderId` by default).

Step Functions keeps a Standard execution's name for 90 days, so a message delivered twice (SQS
delivers at least once) or sent twice starts one execution: the second start either returns the
running execution or fails with ExecutionAlreadyExists, which is success here.

A record that is not an order (not JSON, no usable order id) is reported in batchItemFailures
and logged; after the queue's receive count it lands in the queue's dead-letter queue. The rest
of the batch is not affected.
"""

from __future__ import annotations

import json
import os
import re
from typing import Any

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

# What Step Functions accepts in an execution name, kept to a safe subset.
EXECUTION_NAME = re.compile(r"^[A-Za-z0-9_-]{1,80}$")

logger = Logger()
processor = BatchProcessor(event_type=EventType.SQS)
stepfunctions = boto3.client("stepfunctions")


class MalformedOrder(ValueError):
    """The message is not an order; retrying it cannot help."""


def order_of(body: str) -> dict[str, Any]:
    try:
        order = json.loads(body)
    except (TypeError, json.JSONDecodeError) as error:
        raise MalformedOrder(f"body is not JSON: {error}") from None
    if not isinstance(order, dict):
        raise MalformedOrder("body must be a JSON object")
    field = name_field()
    name = order.get(field)
    if not isinstance(name, str) or not EXECUTION_NAME.match(name):
        raise MalformedOrder(f"{field} must be 1-80 letters, digits, '-' or '_'")
    return order


def name_field() -> str:
    return os.environ.get("EXECUTION_NAME_FIELD", "orderId")


def start(order: dict[str, Any]) -> str:
    """Starts the order's execution; returns "started" or "already started"."""
    try:
        stepfunctions.start_execution(
            stateMachineArn=os.environ["STATE_MACHINE_ARN"],
            name=order[name_field()],
            input=json.dumps(order, sort_keys=True),
        )
    except stepfunctions.exceptions.ExecutionAlreadyExists:
        return "already started"
    return "started"


def record_handler(record: SQSRecord) -> None:
    try:
        order = order_of(record.body)
    except MalformedOrder as error:
        logger.error("malformed order message", message_id=record.message_id, reason=str(error))
        raise
    outcome = start(order)
    logger.info("workflow " + outcome, execution_name=order[name_field()])


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
