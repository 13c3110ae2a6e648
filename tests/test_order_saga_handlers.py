"""The payment and shipment handlers against moto's DynamoDB: each effect happens at most once
per order id, however often the state machine calls."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from types import ModuleType
from typing import Any

import boto3
import pytest
from moto import mock_aws

from tests.kit import load_module


@pytest.fixture
def handlers(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[ModuleType, ModuleType, Any]]:
    with mock_aws():
        dynamodb = boto3.client("dynamodb")
        for name in ("payments", "shipments"):
            dynamodb.create_table(
                TableName=name,
                KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                BillingMode="PAY_PER_REQUEST",
            )
        monkeypatch.setenv("PAYMENTS_TABLE", "payments")
        monkeypatch.setenv("SHIPMENTS_TABLE", "shipments")
        monkeypatch.setenv("SHIPPING_COUNTRIES", "IE, fr")
        yield load_module("order_saga", "payment"), load_module("order_saga", "shipment"), dynamodb


def totals(dynamodb: Any, customer: str) -> dict[str, Decimal]:
    item = dynamodb.get_item(TableName="payments", Key={"pk": {"S": f"customer#{customer}"}}).get("Item", {})
    return {k: Decimal(v["N"]) for k, v in item.items() if "N" in v}


def event(**order: Any) -> dict[str, Any]:
    base = {"orderId": "o-1", "customerId": "c-1", "total": 10.25, "paymentToken": "tok_visa"}
    return {"order": {**base, **order}}


def test_charging_twice_charges_once_and_returns_the_same_charge(handlers: Any) -> None:
    payment, _, dynamodb = handlers
    first = payment.charge(event())
    second = payment.charge(event())
    assert second["chargeId"] == first["chargeId"]
    assert (first["replayed"], second["replayed"]) == (False, True)
    assert totals(dynamodb, "c-1") == {"charged": Decimal("10.25")}


def test_a_second_charge_of_another_amount_for_the_same_order_is_refused(handlers: Any) -> None:
    payment, _, dynamodb = handlers
    payment.charge(event())
    with pytest.raises(payment.PaymentConflict):
        payment.charge(event(total=99))
    assert totals(dynamodb, "c-1") == {"charged": Decimal("10.25")}


def test_refunding_twice_refunds_once_and_refunding_nothing_changes_nothing(handlers: Any) -> None:
    payment, _, dynamodb = handlers
    assert payment.refund({"order": {"orderId": "o-1"}}) == {"refunded": False}
    payment.charge(event())
    assert payment.refund({"order": {"orderId": "o-1"}}) == {"refunded": True}
    assert payment.refund({"order": {"orderId": "o-1"}}) == {"refunded": False}
    assert totals(dynamodb, "c-1") == {"charged": Decimal("10.25"), "refunded": Decimal("10.25")}


def test_a_declining_token_is_declined_without_a_charge(handlers: Any) -> None:
    payment, _, dynamodb = handlers
    with pytest.raises(payment.PaymentDeclined):
        payment.charge(event(paymentToken="tok_decline_stolen"))
    assert totals(dynamodb, "c-1") == {}


@pytest.mark.parametrize(
    "broken",
    [{}, {"order": "o-1"}, {"order": {"total": 1}}, event(total=-1), event(total=True), event(customerId="")],
)
def test_a_malformed_order_is_refused_by_name(handlers: Any, broken: dict[str, Any]) -> None:
    payment, _, dynamodb = handlers
    with pytest.raises(ValueError) as raised:
        payment.charge(broken)
    assert type(raised.value).__name__ == "MalformedOrder"
    assert totals(dynamodb, "c-1") == {}


def test_arranging_a_shipment_twice_books_one(handlers: Any) -> None:
    _, shipment, dynamodb = handlers
    order = {"order": {"orderId": "o-1", "requiresShipping": True, "address": {"country": "fr"}}}
    first, second = shipment.arrange(order), shipment.arrange(order)
    assert first == second
    assert dynamodb.scan(TableName="shipments")["Count"] == 1


def test_a_destination_no_carrier_serves_is_unavailable(handlers: Any) -> None:
    _, shipment, dynamodb = handlers
    with pytest.raises(shipment.ShipmentUnavailable, match="AQ"):
        shipment.arrange(
            {"order": {"orderId": "o-1", "requiresShipping": True, "address": {"country": "AQ"}}}
        )
    assert dynamodb.scan(TableName="shipments")["Count"] == 0


def test_an_order_that_needs_no_shipping_books_nothing(handlers: Any) -> None:
    _, shipment, dynamodb = handlers
    assert shipment.arrange({"order": {"orderId": "o-1", "requiresShipping": False}}) == {
        "shipmentId": "not-required"
    }
    assert dynamodb.scan(TableName="shipments")["Count"] == 0
