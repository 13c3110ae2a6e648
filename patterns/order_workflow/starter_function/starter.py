"""Starts one workflow execution per message, named after a field of the message: the order id
(EXECUTION_NAME_FIELD, `orderId` by default).

Step Functions keeps a Standard execution's name for 90 days, so a message delivered twice (SQS
delivers at least once) or sent twice starts one execution: the second start either returns the
running execution or fails with ExecutionAlreadyExists. On ExecutionAlreadyExists the starter
reads the existing execution's input: the same order (as parsed JSON) is a redelivery and
success; a different order under the same id is an error (logged with the order id): a changed
order must be sent with a new id.

With SEALED_FIELD (e.g. `paymentToken`) and VAULT_TABLE set, the field is taken out of the
order before the execution starts: it is written to the vault under the execution name (with
`expiresAt`, SEALED_TTL_SECONDS from now, for DynamoDB's TTL) and the execution gets
`<field>Ref` (the execution name) in its place. The write succeeds only when the vault holds
nothing, or the same value, for that name, so a redelivery passes and a different secret under
an id already used is refused like any changed order. Nothing here logs the order's body.

A record that is not an order (not JSON, no usable order id, a sealed field that is not a
non-empty string) or that reuses an order id for a different order is reported in
batchItemFailures and logged; after the queue's receive count it lands in the queue's
dead-letter queue. The rest of the batch is not affected.
"""

from __future__ import annotations

import json
import os
import re
import time
from typing import Any

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

# What Step Functions accepts in an execution name, kept to a safe subset.
# Checked with fullmatch: "$" would also match before a trailing newline.
EXECUTION_NAME = re.compile(r"[A-Za-z0-9_-]{1,80}")

logger = Logger()
processor = BatchProcessor(event_type=EventType.SQS)
stepfunctions = boto3.client("stepfunctions")
dynamodb = boto3.client("dynamodb")


class MalformedOrder(ValueError):
    """The message is not an order; retrying it cannot help."""


class OrderIdReused(ValueError):
    """An execution of this name already ran another order; this one was not started."""


def order_of(body: str) -> dict[str, Any]:
    try:
        order = json.loads(body)
    except (TypeError, json.JSONDecodeError) as error:
        raise MalformedOrder(f"body is not JSON: {error}") from None
    if not isinstance(order, dict):
        raise MalformedOrder("body must be a JSON object")
    field = name_field()
    name = order.get(field)
    if not isinstance(name, str) or not EXECUTION_NAME.fullmatch(name):
        raise MalformedOrder(f"{field} must be 1-80 letters, digits, '-' or '_'")
    return order


def name_field() -> str:
    return os.environ.get("EXECUTION_NAME_FIELD", "orderId")


def seal(order: dict[str, Any]) -> dict[str, Any]:
    """The order with its sealed field replaced by a reference, the field written to the vault.
    Raises MalformedOrder for a sealed field that is not a non-empty string, OrderIdReused when
    the vault holds another value under this order's name."""
    field = os.environ.get("SEALED_FIELD")
    if not field or field not in order:
        return order  # nothing to seal; the state machine decides whether the order is complete
    secret = order[field]
    if not isinstance(secret, str) or not secret.strip():
        raise MalformedOrder(f"{field} must be a non-empty string")
    name = order[name_field()]
    try:
        dynamodb.put_item(
            TableName=os.environ["VAULT_TABLE"],
            Item={
                "ref": {"S": name},
                "secret": {"S": secret},
                "expiresAt": {
                    "N": str(int(time.time()) + int(os.environ.get("SEALED_TTL_SECONDS", "86400")))
                },
            },
            ConditionExpression="attribute_not_exists(#ref) OR #secret = :secret",
            ExpressionAttributeNames={"#ref": "ref", "#secret": "secret"},
            ExpressionAttributeValues={":secret": {"S": secret}},
        )
    except dynamodb.exceptions.ConditionalCheckFailedException:
        raise OrderIdReused(f"{name} already has a different {field}") from None
    sealed = {key: value for key, value in order.items() if key != field}
    sealed[f"{field}Ref"] = name
    return sealed


def execution_arn(state_machine_arn: str, name: str) -> str:
    """arn:<partition>:states:<region>:<account>:stateMachine:<machine> -> ...:execution:<machine>:<name>"""
    prefix, machine = state_machine_arn.split(":stateMachine:", 1)
    return f"{prefix}:execution:{machine}:{name}"


def start(order: dict[str, Any]) -> str:
    """Starts the order's execution; returns "started" or "already started". Raises
    OrderIdReused when an execution of the same name ran a different order."""
    name = order[name_field()]
    machine = os.environ["STATE_MACHINE_ARN"]
    try:
        stepfunctions.start_execution(
            stateMachineArn=machine, name=name, input=json.dumps(order, sort_keys=True)
        )
    except stepfunctions.exceptions.ExecutionAlreadyExists:
        existing = stepfunctions.describe_execution(executionArn=execution_arn(machine, name))
        if json.loads(existing.get("input", "null")) != order:
            raise OrderIdReused(f"execution {name} already ran a different order") from None
        return "already started"
    return "started"


def record_handler(record: SQSRecord) -> None:
    try:
        order = order_of(record.body)
    except MalformedOrder as error:
        logger.error("malformed order message", message_id=record.message_id, reason=str(error))
        raise
    try:
        outcome = start(seal(order))
    except MalformedOrder as error:
        logger.error("malformed order message", message_id=record.message_id, reason=str(error))
        raise
    except OrderIdReused as error:
        logger.error(
            "order id reused for a different order",
            message_id=record.message_id,
            order_id=order[name_field()],
            reason=str(error),
        )
        raise
    logger.info("workflow " + outcome, execution_name=order[name_field()])


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
