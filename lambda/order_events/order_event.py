"""Order events as the demo producers publish them, and the one effect each consumer has.

An event: {"eventId": str, "eventType": str, "order": {"orderId": str, "customerId": str,
"total": number, "requiresShipping": bool}}. The effect of a consumer is a counter in the ledger
table, which doubles if the same event is applied twice: that is what idempotency prevents.

An event is the same when its eventId is; a second event under an eventId already applied must
also carry the same eventType and order, or it is refused (EventIdReused) rather than dropped as
a duplicate: a producer that reuses an id for a different event has a bug someone must see.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import boto3
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyValidationError
from boto3.dynamodb.types import TypeSerializer
from settings import Settings


class MalformedEvent(ValueError):
    """The message is not an order event; retrying it cannot help."""


class EventIdReused(ValueError):
    """An event with this eventId but another type or order was already applied."""


@dataclass(frozen=True)
class OrderEvent:
    event_id: str
    event_type: str
    order_id: str
    total: Decimal
    order: dict[str, Any] = field(default_factory=dict, compare=False)
    """The order as published, every field: what a reused eventId is compared on."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "eventId": self.event_id,
            "eventType": self.event_type,
            "orderId": self.order_id,
            "total": str(self.total),
            "order": self.order,
        }


def _text(document: dict[str, Any], name: str) -> str:
    value = document.get(name)
    if not isinstance(value, str) or not value.strip():
        raise MalformedEvent(f"{name} must be a non-empty string")
    return value


def parse(body: str) -> OrderEvent:
    try:
        document = json.loads(body)
    except (TypeError, json.JSONDecodeError) as error:
        raise MalformedEvent(f"body is not JSON: {error}") from None
    if not isinstance(document, dict):
        raise MalformedEvent("body must be a JSON object")
    order = document.get("order")
    if not isinstance(order, dict):
        raise MalformedEvent("order must be an object")
    total = order.get("total")
    if isinstance(total, bool) or not isinstance(total, (int, float)) or total < 0:
        raise MalformedEvent("order.total must be a non-negative number")
    return OrderEvent(
        event_id=_text(document, "eventId"),
        event_type=_text(document, "eventType"),
        order_id=_text(order, "orderId"),
        total=Decimal(str(total)),
        order=order,
    )


NUMBER = TypeSerializer()  # as the Table resource did: refuses a number DynamoDB cannot store


class Ledger:
    """Counts what a consumer has done, per key, in the ledger table."""

    def __init__(self, client: Any, table_name: str, consumer: str) -> None:
        self.client = client
        self.table_name = table_name
        self.consumer = consumer

    def record(self, key: str, amount: Decimal) -> None:
        self.client.update_item(
            TableName=self.table_name,
            Key={"pk": {"S": f"{self.consumer}#{key}"}},
            UpdateExpression="ADD events :one, amount :amount",
            ExpressionAttributeValues={":one": {"N": "1"}, ":amount": NUMBER.serialize(amount)},
        )


# Keyed on the producer's eventId, not the SQS or SNS message id: SNS may deliver one publish
# twice, as two SQS messages with different ids but the same event. The stored record also
# keeps a hash of the type and the whole order; Powertools compares a repeat's against it.
idempotency = IdempotencyConfig(
    event_key_jmespath="eventId",
    payload_validation_jmespath="[eventType, order]",
    expires_after_seconds=24 * 3600,
)
settings = Settings.from_environ(os.environ)
# One client for the ledger and the idempotency store: each boto3 client (and the Table resource
# this used to be) loads its service model again, and Powertools' store would start a session of
# its own, about as costly as importing boto3 again (benchmarks/cold_start.py).
_dynamodb = boto3.client("dynamodb")
_persistence = DynamoDBPersistenceLayer(table_name=settings.idempotency_table, boto3_client=_dynamodb)
_ledger = Ledger(_dynamodb, settings.ledger_table, settings.consumer_name)


# Powertools types the decorator as returning Any.
@idempotent_function(  # type: ignore[untyped-decorator]
    data_keyword_argument="event", config=idempotency, persistence_store=_persistence
)
def _apply_once(*, event: dict[str, Any], counted_by: str) -> dict[str, Any]:
    _ledger.record(event[counted_by], Decimal(event["total"]))
    return event


def apply_once(*, event: dict[str, Any], counted_by: str) -> dict[str, Any]:
    """Record `event` in the ledger under its `counted_by` field, once per eventId. Raises
    EventIdReused, recording nothing, when the eventId was applied with another type or order."""
    try:
        applied: dict[str, Any] = _apply_once(event=event, counted_by=counted_by)
    except IdempotencyValidationError:
        raise EventIdReused(
            f"event {event['eventId']} was already applied with another type or order"
        ) from None
    return applied
