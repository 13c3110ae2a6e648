"""Analytics consumer subscribed straight to the topic: counts events by type, once each.

SNS invokes it asynchronously with one record. A malformed event, or one that reuses an applied
eventId for another event, is logged and raised, so the invocation fails and, after its retries,
lands in the on-failure destination with the error.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext
from order_event import EventIdReused, MalformedEvent, apply_once, idempotency, parse

logger = Logger()


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
        try:
            apply_once(event=order_event.as_dict(), counted_by="eventType")
        except EventIdReused as error:
            logger.error(
                "event id reused for a different event",
                message_id=notification["MessageId"],
                event_id=order_event.event_id,
                reason=str(error),
            )
            raise
        counted += 1
    return {"counted": counted}
