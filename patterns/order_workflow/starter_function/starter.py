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
`<field>Ref` (the execution name) in its place. With it, in the same transaction, goes the
value's fingerprint (a SHA-256 of name and value) under `<name>#fingerprint`, kept for the 90
days Step Functions keeps the name, which outlives the value itself (deleted once the saga has
charged or given up): a redelivery of the same order passes, before or after the charge, without
sealing the value again, and a different secret under an id already used is refused like any
changed order, whenever it comes. Nothing here logs the order's body.

A record that is not an order (not JSON, no usable order id, a sealed field that is not a
non-empty string) or that reuses an order id for a different order is reported in
batchItemFailures and logged; after the queue's receive count it lands in the queue's
dead-letter queue. The rest of the batch is not affected.

The environment is read once, at cold start, into `Settings`: a missing or malformed variable
fails the import with SettingsError naming it (Powertools reads its own POWERTOOLS_* itself).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

# What Step Functions accepts in an execution name, kept to a safe subset.
# Checked with fullmatch: "$" would also match before a trailing newline.
EXECUTION_NAME = re.compile(r"[A-Za-z0-9_-]{1,80}")
# The vault item that outlives a sealed value: under "<name>#fingerprint" ('#' is never part of an
# execution name), kept for the 90 days Step Functions keeps a Standard execution's name.
FINGERPRINT_SUFFIX = "#fingerprint"
FINGERPRINT_TTL_SECONDS = 90 * 24 * 3600
STATE_MACHINE_ARN = re.compile(r"arn:[a-z-]+:states:[a-z0-9-]+:[0-9]{12}:stateMachine:\S+")


class SettingsError(RuntimeError):
    """An environment variable the starter needs is missing or malformed."""


@dataclass(frozen=True)
class Settings:
    state_machine_arn: str
    execution_name_field: str = "orderId"
    sealed_field: str | None = None
    vault_table: str | None = None
    """Set exactly when sealed_field is."""
    sealed_ttl_seconds: int = 86400

    @classmethod
    def from_environ(cls, env: Mapping[str, str]) -> Settings:
        arn = _required(env, "STATE_MACHINE_ARN", "the state machine's ARN")
        if not STATE_MACHINE_ARN.fullmatch(arn):
            raise SettingsError(
                f"STATE_MACHINE_ARN: {arn!r} is not a state machine ARN "
                "(arn:<partition>:states:<region>:<account>:stateMachine:<name>)"
            )
        name_field = _field(env, "EXECUTION_NAME_FIELD") or cls.execution_name_field
        sealed = _field(env, "SEALED_FIELD") or None
        if sealed == name_field:
            raise SettingsError(f"SEALED_FIELD: {sealed!r} is the execution's name; seal another field")
        return cls(
            state_machine_arn=arn,
            execution_name_field=name_field,
            sealed_field=sealed,
            vault_table=_required(env, "VAULT_TABLE", "the vault table name, as SEALED_FIELD is set")
            if sealed
            else None,
            sealed_ttl_seconds=_seconds(env, "SEALED_TTL_SECONDS", cls.sealed_ttl_seconds),
        )


def _required(env: Mapping[str, str], name: str, meaning: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise SettingsError(f"{name}: missing; set it to {meaning}")
    return value


def _field(env: Mapping[str, str], name: str) -> str:
    """The name of a field of the order, as given; "" when the variable is unset or blank."""
    value = env.get(name, "")
    return value if value.strip() else ""


def _seconds(env: Mapping[str, str], name: str, default: int) -> int:
    text = env.get(name, "").strip()
    if not text:
        return default
    if not (text.isascii() and text.isdigit()) or int(text) < 1:
        raise SettingsError(f"{name}: {text!r} is not a whole number of seconds (1 or more)")
    return int(text)


settings = Settings.from_environ(os.environ)
logger = Logger()
processor = BatchProcessor(event_type=EventType.SQS)
stepfunctions = boto3.client("stepfunctions")
# Only a starter that seals writes to DynamoDB; creating a client costs about a third of
# importing boto3 at every cold start (benchmarks/cold_start.py), so one that does not seal makes none.
dynamodb: Any = boto3.client("dynamodb") if settings.vault_table else None


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
    field = settings.execution_name_field
    name = order.get(field)
    if not isinstance(name, str) or not EXECUTION_NAME.fullmatch(name):
        raise MalformedOrder(f"{field} must be 1-80 letters, digits, '-' or '_'")
    return order


def seal(order: dict[str, Any]) -> dict[str, Any]:
    """The order with its sealed field replaced by a reference, the field written to the vault.
    Raises MalformedOrder for a sealed field that is not a non-empty string, OrderIdReused when
    the vault holds another value under this order's name."""
    field, vault = settings.sealed_field, settings.vault_table
    if field is None or vault is None or field not in order:
        return order  # nothing to seal; the state machine decides whether the order is complete
    secret = order[field]
    if not isinstance(secret, str) or not secret.strip():
        raise MalformedOrder(f"{field} must be a non-empty string")
    name = order[settings.execution_name_field]
    table, now = vault, int(time.time())
    digest = fingerprint(name, secret)
    try:
        # The secret (gone once the saga has used it) and its fingerprint (kept as long as Step
        # Functions keeps the execution's name), written together or not at all.
        dynamodb.transact_write_items(
            TransactItems=[
                {
                    "Put": {
                        "TableName": table,
                        "Item": {
                            "ref": {"S": name + FINGERPRINT_SUFFIX},
                            "fingerprint": {"S": digest},
                            "expiresAt": {"N": str(now + FINGERPRINT_TTL_SECONDS)},
                        },
                        "ConditionExpression": "attribute_not_exists(#ref)",
                        "ExpressionAttributeNames": {"#ref": "ref"},
                    }
                },
                {
                    "Put": {
                        "TableName": table,
                        "Item": {
                            "ref": {"S": name},
                            "secret": {"S": secret},
                            "expiresAt": {"N": str(now + settings.sealed_ttl_seconds)},
                        },
                    }
                },
            ]
        )
    except dynamodb.exceptions.TransactionCanceledException as error:
        reasons = error.response.get("CancellationReasons") or [{}]
        if reasons[0].get("Code") != "ConditionalCheckFailed":
            raise  # a conflict or throttling: SQS delivers the message again
        if not _sealed_before(table, name, digest):
            raise OrderIdReused(f"{name} already has a different {field}") from None
        # A redelivery: sealed the first time, perhaps already spent; nothing to write again.
    sealed = {key: value for key, value in order.items() if key != field}
    sealed[f"{field}Ref"] = name
    return sealed


def fingerprint(name: str, secret: str) -> str:
    """What the vault keeps of a sealed value once it is spent: enough to tell the same value
    from another one, nothing to charge with (the value is an opaque, random provider token)."""
    return hashlib.sha256(f"{name}\0{secret}".encode()).hexdigest()


def _sealed_before(table: str, name: str, digest: str) -> bool:
    """Whether this very value was sealed under `name` before (a condition check: the starter
    may not read the vault)."""
    try:
        dynamodb.transact_write_items(
            TransactItems=[
                {
                    "ConditionCheck": {
                        "TableName": table,
                        "Key": {"ref": {"S": name + FINGERPRINT_SUFFIX}},
                        "ConditionExpression": "#fingerprint = :fingerprint",
                        "ExpressionAttributeNames": {"#fingerprint": "fingerprint"},
                        "ExpressionAttributeValues": {":fingerprint": {"S": digest}},
                    }
                }
            ]
        )
    except dynamodb.exceptions.TransactionCanceledException:
        return False
    return True


def execution_arn(state_machine_arn: str, name: str) -> str:
    """arn:<partition>:states:<region>:<account>:stateMachine:<machine> -> ...:execution:<machine>:<name>"""
    prefix, machine = state_machine_arn.split(":stateMachine:", 1)
    return f"{prefix}:execution:{machine}:{name}"


def start(order: dict[str, Any]) -> str:
    """Starts the order's execution; returns "started" or "already started". Raises
    OrderIdReused when an execution of the same name ran a different order."""
    name = order[settings.execution_name_field]
    machine = settings.state_machine_arn
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
            order_id=order[settings.execution_name_field],
            reason=str(error),
        )
        raise
    logger.info("workflow " + outcome, execution_name=order[settings.execution_name_field])


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
