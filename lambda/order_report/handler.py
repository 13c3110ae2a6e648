"""The nightly order report: drain the `OrderCompleted` events the report rule queued since the
last run and write them, with their count and revenue, to the reports bucket.

EventBridge Scheduler invokes this once a night (`{"scheduledTime": ...}` names the run). The
report is written before any message is deleted, so a run that dies midway loses nothing: the
undeleted messages return and go into the next report. A message that is not an OrderCompleted
event of the kit is listed in the report's `malformed` section (its id and why) and deleted
with the rest, so one bad event never blocks the report; duplicates of one order (a retried
publish) count once.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

logger = Logger()
s3 = boto3.client("s3")
sqs = boto3.client("sqs")

REPORT_QUEUE_URL = os.environ["REPORT_QUEUE_URL"]
REPORTS_BUCKET = os.environ["REPORTS_BUCKET"]
MAX_MESSAGES = int(os.environ.get("MAX_MESSAGES_PER_RUN", "10000"))
SAFETY_MILLIS = 20_000  # stop receiving with this much time left, to write and delete


class Malformed(Exception):
    pass


def parse_order(body: str) -> dict[str, Any]:
    try:
        event = json.loads(body)
        if event.get("detail-type") != "OrderCompleted":
            raise Malformed(f"detail-type is {event.get('detail-type')!r:.40}, not OrderCompleted")
        order = event["detail"]["order"]
        order_id = order["orderId"]
        total = Decimal(str(order["total"]))
    except Malformed:
        raise
    except (ValueError, TypeError, KeyError, AttributeError, InvalidOperation) as error:
        raise Malformed(f"not an OrderCompleted event: {error!r:.80}") from None
    if not isinstance(order_id, str) or not order_id or len(order_id) > 128:
        raise Malformed("orderId is not a short non-empty string")
    if not total.is_finite() or total < 0:
        raise Malformed("total is not a non-negative number")
    return {"orderId": order_id, "total": total}


def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    run_at = str(event.get("scheduledTime") or datetime.now(UTC).isoformat())
    orders: dict[str, Decimal] = {}
    malformed: list[dict[str, str]] = []
    receipts: list[str] = []
    while len(receipts) < MAX_MESSAGES and context.get_remaining_time_in_millis() > SAFETY_MILLIS:
        batch = sqs.receive_message(
            QueueUrl=REPORT_QUEUE_URL, MaxNumberOfMessages=10, WaitTimeSeconds=1, VisibilityTimeout=900
        ).get("Messages", [])
        if not batch:
            break
        for message in batch:
            receipts.append(message["ReceiptHandle"])
            try:
                order = parse_order(message["Body"])
            except Malformed as error:
                malformed.append({"messageId": message["MessageId"], "reason": str(error)})
                logger.warning("malformed order event", message_id=message["MessageId"], reason=str(error))
                continue
            orders[order["orderId"]] = order["total"]
    report = {
        "scheduledTime": run_at,
        "orders": len(orders),
        "revenue": str(sum(orders.values(), Decimal(0))),
        "orderIds": sorted(orders),
        "malformed": malformed,
    }
    key = f"orders/{run_at[:10]}/{context.aws_request_id}.json"
    s3.put_object(
        Bucket=REPORTS_BUCKET, Key=key, Body=json.dumps(report).encode(), ContentType="application/json"
    )
    for start in range(0, len(receipts), 10):
        entries = [{"Id": str(i), "ReceiptHandle": r} for i, r in enumerate(receipts[start : start + 10])]
        sqs.delete_message_batch(QueueUrl=REPORT_QUEUE_URL, Entries=entries)
    logger.info("report written", key=key, orders=len(orders), malformed=len(malformed))
    return {"key": key, "orders": len(orders), "malformed": len(malformed)}
