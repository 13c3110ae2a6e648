"""Take and refund an order's payment, each at most once per order id.

The demo's payment provider is a DynamoDB table: a `payment#<orderId>` item per order and a
`customer#<customerId>` item whose `charged` and `refunded` totals are the money that moved.
Each movement is one transaction: the payment item changes state under a condition and the
customer's totals move with it, or nothing happens. So a retried or repeated charge (a lost
response, a redelivered order) never charges twice, and refunding twice refunds once.

A transient DynamoDB error (throttling, a transaction conflict with a concurrent order of the
same customer) raises ProviderUnavailable, which the state machine retries.

The payment token is not in the order: the starter sealed it in the payment-token vault
(PAYMENT_TOKENS_TABLE) under the order id, and the order carries `paymentTokenRef`. The charge
reads it there (this function alone may), and deletes it once the payment is decided (charged
or declined). A retried charge whose token is already gone answers with the charge taken.
Nothing here logs the token or writes it into an error message.

Tokens starting with `tok_decline` are declined, like a payment provider's test cards.
"""

from __future__ import annotations

import os
import time
import uuid
from decimal import Decimal
from typing import Any

import boto3
from aws_lambda_powertools import Logger
from botocore.exceptions import ClientError
from order import MalformedOrder, amount, order_of, retried_when_transient, text

logger = Logger()
dynamodb = boto3.client("dynamodb")
DECLINING_TOKENS = "tok_decline"


class PaymentDeclined(Exception):
    """The customer's payment method was declined: nothing was charged."""


class PaymentConflict(Exception):
    """The order already has a payment that does not match this request."""


class PaymentTokenMissing(Exception):
    """The vault holds no token for the order (expired, or never sealed) and nothing was charged."""


def _table() -> str:
    return os.environ["PAYMENTS_TABLE"]


def _payment(order_id: str) -> dict[str, Any] | None:
    found = dynamodb.get_item(
        TableName=_table(), Key={"pk": {"S": f"payment#{order_id}"}}, ConsistentRead=True
    )
    return found.get("Item")


def _vault() -> str:
    return os.environ["PAYMENT_TOKENS_TABLE"]


def _token_ref(order: dict[str, Any]) -> str:
    ref = text(order, "paymentTokenRef")
    if ref != order["orderId"]:
        raise MalformedOrder("order.paymentTokenRef must be the order's own reference")
    return ref


def _sealed_token(ref: str) -> str | None:
    """The token the starter sealed under `ref`, unless it expired (TTL deletes late)."""
    item = dynamodb.get_item(TableName=_vault(), Key={"ref": {"S": ref}}, ConsistentRead=True).get("Item")
    if item is None or int(item.get("expiresAt", {}).get("N", "0")) < time.time():
        return None
    return str(item["secret"]["S"])


def _forget_token(ref: str) -> None:
    dynamodb.delete_item(TableName=_vault(), Key={"ref": {"S": ref}})


def _charge_taken(order_id: str, value: Decimal) -> dict[str, Any] | None:
    """The charge already taken for this order, if it matches; PaymentConflict if another."""
    existing = _payment(order_id)
    if existing is None:
        return None
    if existing.get("status", {}).get("S") != "CHARGED" or Decimal(existing["amount"]["N"]) != value:
        raise PaymentConflict(f"order {order_id} already has a payment of another amount or state")
    logger.info("payment already taken", order_id=order_id)
    return {"chargeId": existing["chargeId"]["S"], "amount": str(value), "replayed": True}


def _cancelled_by_condition(error: ClientError) -> bool:
    return error.response["Error"]["Code"] == "TransactionCanceledException" and any(
        reason.get("Code") == "ConditionalCheckFailed"
        for reason in error.response.get("CancellationReasons", [])
    )


def _move(payment: dict[str, Any], customer_id: str, total_name: str, value: Decimal) -> None:
    dynamodb.transact_write_items(
        TransactItems=[
            payment,
            {
                "Update": {
                    "TableName": _table(),
                    "Key": {"pk": {"S": f"customer#{customer_id}"}},
                    "UpdateExpression": "ADD #total :amount",
                    "ExpressionAttributeNames": {"#total": total_name},
                    "ExpressionAttributeValues": {":amount": {"N": str(value)}},
                }
            },
        ]
    )


@retried_when_transient
def charge(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    order = order_of(event)
    order_id, customer_id, value = text(order, "orderId"), text(order, "customerId"), amount(order)
    ref = _token_ref(order)
    token = _sealed_token(ref)
    if token is None:
        taken = _charge_taken(order_id, value)
        if taken is None:
            raise PaymentTokenMissing(f"order {order_id} has no payment token in the vault")
        return taken
    if token.startswith(DECLINING_TOKENS):
        _forget_token(ref)
        logger.info("payment declined", order_id=order_id)
        raise PaymentDeclined(f"the payment method of order {order_id} was declined")
    charge_id = f"ch_{uuid.uuid4().hex}"
    put = {
        "Put": {
            "TableName": _table(),
            "Item": {
                "pk": {"S": f"payment#{order_id}"},
                "chargeId": {"S": charge_id},
                "customerId": {"S": customer_id},
                "amount": {"N": str(value)},
                "status": {"S": "CHARGED"},
            },
            "ConditionExpression": "attribute_not_exists(pk)",
        }
    }
    try:
        _move(put, customer_id, "charged", value)
    except ClientError as error:
        if not _cancelled_by_condition(error):
            raise
        taken = _charge_taken(order_id, value)
        if taken is None:
            raise PaymentConflict(
                f"order {order_id} already has a payment of another amount or state"
            ) from None
        _forget_token(ref)
        return taken
    _forget_token(ref)
    logger.info("payment taken", order_id=order_id, charge_id=charge_id)
    return {"chargeId": charge_id, "amount": str(value), "replayed": False}


@retried_when_transient
def refund(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    order_id = text(order_of(event), "orderId")
    existing = _payment(order_id)
    if existing is None or existing["status"]["S"] != "CHARGED":
        logger.info("nothing to refund", order_id=order_id, status=(existing or {}).get("status"))
        return {"refunded": False}
    value = Decimal(existing["amount"]["N"])
    update = {
        "Update": {
            "TableName": _table(),
            "Key": {"pk": {"S": f"payment#{order_id}"}},
            "UpdateExpression": "SET #status = :refunded",
            "ConditionExpression": "#status = :charged",
            "ExpressionAttributeNames": {"#status": "status"},
            "ExpressionAttributeValues": {":refunded": {"S": "REFUNDED"}, ":charged": {"S": "CHARGED"}},
        }
    }
    try:
        _move(update, existing["customerId"]["S"], "refunded", value)
    except ClientError as error:
        if not _cancelled_by_condition(error):
            raise
        logger.info("refunded meanwhile", order_id=order_id)
        return {"refunded": False}
    logger.info("payment refunded", order_id=order_id, amount=str(value))
    return {"refunded": True}
