"""Analytics consumer subscribed straight to the topic: counts events by type, once each.

SNS invokes it asynchronously with one record. A malformed event is logged and raised, so the
invocation fails and, after its retries, lands in the on-failure destination with the error.
"""

from __future__ import annotations

import os
from decimal import Decimal
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.typing import LambdaContext
from order_event import Ledger, MalformedEvent, parse

logger = Logger()
persistence = DynamoDBPersistenceLayer(table_name=os.environ["IDEMPOTENCY_TABLE"])
idempotency = IdempotencyConfig(event_key_jmespath="eventId", expires_after_seconds=24 * 3600)
ledger = Ledger()


@idempotent_function(data_keyword_argument="event", config=idempotency, persistence_store=persistence)
def count_once(event: dict[str, Any]) -> dict[str, Any]:
    ledger.record(event["eventType"], Decimal(event["total"]))
    return event


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, int]:
    idempotency.register_lambda_context(context)
    counted = 0
    for record in event["Records"]:
        notification = record["Sns"]
        try:
            order_event = parse(notification["Message"])
        except MalformedEvent as error:
            logger.error("malformed order event", message_id=notification["MessageId"], reason=str(error))
            raise
        count_once(event=order_event.as_dict())
        counted += 1
    return {"counted": counted}
