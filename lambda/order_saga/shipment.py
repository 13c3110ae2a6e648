"""Arrange an order's shipment, at most once per order id.

The demo's carrier is a DynamoDB table with one `shipment#<orderId>` item per order, written
under a condition, so a retried call returns the shipment already arranged instead of booking a
second one. The carrier serves the countries in SHIPPING_COUNTRIES; any other destination raises
ShipmentUnavailable, which the state machine answers by refunding and releasing the order. A
transient DynamoDB error (throttling, a busy service) raises ProviderUnavailable, which it retries.
"""

from __future__ import annotations

import os
import uuid
from typing import Any

import boto3
from aws_lambda_powertools import Logger
from order import MalformedOrder, order_of, retried_when_transient, text
from settings import ShipmentSettings

settings = ShipmentSettings.from_environ(os.environ)
logger = Logger()
dynamodb = boto3.client("dynamodb")


class ShipmentUnavailable(Exception):
    """The carrier cannot ship this order."""


@retried_when_transient
def arrange(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    order = order_of(event)
    order_id = text(order, "orderId")
    if order.get("requiresShipping") is False:
        return {"shipmentId": "not-required"}
    address = order.get("address")
    if not isinstance(address, dict):
        raise MalformedOrder("order.address must be an object when requiresShipping is true")
    country = text(address, "country").upper()
    if country not in settings.shipping_countries:
        raise ShipmentUnavailable(f"no carrier ships order {order_id} to {country}")
    shipment_id = f"sh_{uuid.uuid4().hex}"
    table = settings.shipments_table
    try:
        dynamodb.put_item(
            TableName=table,
            Item={
                "pk": {"S": f"shipment#{order_id}"},
                "shipmentId": {"S": shipment_id},
                "country": {"S": country},
            },
            ConditionExpression="attribute_not_exists(pk)",
        )
    except dynamodb.exceptions.ConditionalCheckFailedException:
        existing = dynamodb.get_item(
            TableName=table, Key={"pk": {"S": f"shipment#{order_id}"}}, ConsistentRead=True
        )["Item"]
        logger.info("shipment already arranged", order_id=order_id)
        return {"shipmentId": existing["shipmentId"]["S"]}
    logger.info("shipment arranged", order_id=order_id, shipment_id=shipment_id)
    return {"shipmentId": shipment_id}
