"""The payment and shipment handlers against moto's DynamoDB: each effect happens at most once
per order id, however often the state machine calls; the charge reads the payment token the
starter sealed in the vault and forgets it once the payment is decided."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from types import ModuleType
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber
from moto import mock_aws

from tests.kit import load_module


@pytest.fixture
def handlers(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[ModuleType, ModuleType, Any]]:
    with mock_aws():
        dynamodb = boto3.client("dynamodb")
        for name, key in (("payments", "pk"), ("shipments", "pk"), ("payment-tokens", "ref")):
            dynamodb.create_table(
                TableName=name,
                KeySchema=[{"AttributeName": key, "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"}],
                BillingMode="PAY_PER_REQUEST",
            )
        monkeypatch.setenv("PAYMENTS_TABLE", "payments")
        monkeypatch.setenv("PAYMENT_TOKENS_TABLE", "payment-tokens")
        monkeypatch.setenv("SHIPMENTS_TABLE", "shipments")
        monkeypatch.setenv("SHIPPING_COUNTRIES", "IE, fr")
        yield load_module("order_saga", "payment"), load_module("order_saga", "shipment"), dynamodb


def totals(dynamodb: Any, customer: str) -> dict[str, Decimal]:
    item = dynamodb.get_item(TableName="payments", Key={"pk": {"S": f"customer#{customer}"}}).get("Item", {})
    return {k: Decimal(v["N"]) for k, v in item.items() if "N" in v}


def event(**order: Any) -> dict[str, Any]:
    base = {"orderId": "o-1", "customerId": "c-1", "total": 10.25, "paymentTokenRef": "o-1"}
    return {"order": {**base, **order}}


def sealed(token: str = "tok_visa", ref: str = "o-1", expires_in: int = 3600) -> dict[str, Any]:
    """The vault item the starter writes."""
    return {
        "ref": {"S": ref},
        "secret": {"S": token},
        "expiresAt": {"N": str(int(time.time()) + expires_in)},
    }


def seal(dynamodb: Any, token: str = "tok_visa", **item: Any) -> None:
    dynamodb.put_item(TableName="payment-tokens", Item=sealed(token, **item))


def vault(dynamodb: Any) -> list[dict[str, Any]]:
    return list(dynamodb.scan(TableName="payment-tokens")["Items"])


def test_the_charge_uses_the_sealed_token_and_forgets_it_once_charged(handlers: Any) -> None:
    payment, _, dynamodb = handlers
    seal(dynamodb, ref="o-2")
    seal(dynamodb)

    assert payment.charge(event())["replayed"] is False

    assert totals(dynamodb, "c-1") == {"charged": Decimal("10.25")}
    assert [item["ref"]["S"] for item in vault(dynamodb)] == ["o-2"], "only this order's token goes"


def test_a_declined_token_is_forgotten_too(handlers: Any) -> None:
    payment, _, dynamodb = handlers
    seal(dynamodb, "tok_decline_stolen")
    with pytest.raises(payment.PaymentDeclined) as raised:
        payment.charge(event())
    assert "tok_decline_stolen" not in str(raised.value)
    assert vault(dynamodb) == [] and totals(dynamodb, "c-1") == {}


@pytest.mark.parametrize("expires_in", [None, -60], ids=["never-sealed", "expired-not-yet-deleted"])
def test_without_a_live_token_nothing_is_charged(handlers: Any, expires_in: int | None) -> None:
    """DynamoDB deletes expired items some time after expiry, so an expired one is ignored."""
    payment, _, dynamodb = handlers
    if expires_in is not None:
        seal(dynamodb, expires_in=expires_in)
    with pytest.raises(payment.PaymentTokenMissing):
        payment.charge(event())
    assert totals(dynamodb, "c-1") == {}


def test_charging_twice_charges_once_and_returns_the_same_charge(handlers: Any) -> None:
    """The second call finds no token (the first forgot it) and answers with the charge taken."""
    payment, _, dynamodb = handlers
    seal(dynamodb)
    first = payment.charge(event())
    second = payment.charge(event())
    assert second["chargeId"] == first["chargeId"]
    assert (first["replayed"], second["replayed"]) == (False, True)
    assert totals(dynamodb, "c-1") == {"charged": Decimal("10.25")}


def test_a_second_charge_of_another_amount_for_the_same_order_is_refused(handlers: Any) -> None:
    payment, _, dynamodb = handlers
    seal(dynamodb)
    payment.charge(event())
    seal(dynamodb)
    with pytest.raises(payment.PaymentConflict) as raised:
        payment.charge(event(total=99))
    assert "c-1" not in str(raised.value), "the error names the order, not the customer"
    assert totals(dynamodb, "c-1") == {"charged": Decimal("10.25")}


def test_refunding_twice_refunds_once_and_refunding_nothing_changes_nothing(handlers: Any) -> None:
    payment, _, dynamodb = handlers
    assert payment.refund({"order": {"orderId": "o-1"}}) == {"refunded": False}
    seal(dynamodb)
    payment.charge(event())
    assert payment.refund({"order": {"orderId": "o-1"}}) == {"refunded": True}
    assert payment.refund({"order": {"orderId": "o-1"}}) == {"refunded": False}
    assert totals(dynamodb, "c-1") == {"charged": Decimal("10.25"), "refunded": Decimal("10.25")}


def test_a_declining_token_is_declined_without_a_charge(handlers: Any) -> None:
    payment, _, dynamodb = handlers
    seal(dynamodb, "tok_decline_stolen")
    with pytest.raises(payment.PaymentDeclined):
        payment.charge(event())
    assert totals(dynamodb, "c-1") == {}


@pytest.mark.parametrize(
    "broken",
    [
        {},
        {"order": "o-1"},
        {"order": {"total": 1}},
        event(total=-1),
        event(total=True),
        event(customerId=""),
        event(paymentTokenRef=None),
        event(paymentTokenRef="o-2"),  # another order's token
    ],
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


# Transient DynamoDB errors: retried by the state machine as ProviderUnavailable ----------------

TRANSIENT_CODES = [
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "InternalServerError",
    "ServiceUnavailable",
]


def cancelled(*reasons: str) -> dict[str, Any]:
    """A transaction cancelled for these reasons, one per item (payment, customer)."""
    return {
        "service_error_code": "TransactionCanceledException",
        "modeled_fields": {"CancellationReasons": [{"Code": code} for code in reasons]},
    }


TRANSIENT_WRITE_ERRORS = {
    "concurrent-order-of-the-customer": cancelled("None", "TransactionConflict"),
    "payment-item-conflict": cancelled("TransactionConflict", "None"),
    "cancelled-throttled": cancelled("None", "ThrottlingError"),
    **{code: {"service_error_code": code} for code in TRANSIENT_CODES},
}


@contextmanager
def failing(
    client: Any, operation: str, error: dict[str, Any], before: list[tuple[str, Any]]
) -> Iterator[None]:
    """The client answers `before` (operation, response) in order, then fails `operation`."""
    with Stubber(client) as stubber:
        for name, response in before:
            stubber.add_response(name, response)
        stubber.add_client_error(operation, **error)
        yield
        stubber.assert_no_pending_responses()


@pytest.mark.parametrize("error", TRANSIENT_WRITE_ERRORS.values(), ids=TRANSIENT_WRITE_ERRORS.keys())
@pytest.mark.parametrize("step", ["charge", "refund"])
def test_a_transient_dynamodb_error_moving_money_is_provider_unavailable(
    handlers: Any, error: dict[str, Any], step: str
) -> None:
    payment, _, dynamodb = handlers
    before: list[tuple[str, Any]] = [("get_item", {"Item": sealed()})]
    if step == "refund":
        seal(dynamodb)
        payment.charge(event())
        taken = dynamodb.get_item(TableName="payments", Key={"pk": {"S": "payment#o-1"}})
        before = [("get_item", {"Item": taken["Item"]})]
    with failing(payment.dynamodb, "transact_write_items", error, before), pytest.raises(Exception) as raised:
        getattr(payment, step)(event())
    assert type(raised.value).__name__ == "ProviderUnavailable"
    assert isinstance(raised.value.__cause__, ClientError)


@pytest.mark.parametrize("code", TRANSIENT_CODES)
def test_a_transient_dynamodb_error_reading_a_payment_is_provider_unavailable(
    handlers: Any, code: str
) -> None:
    payment, _, _ = handlers
    with (
        failing(payment.dynamodb, "get_item", {"service_error_code": code}, []),
        pytest.raises(Exception) as raised,
    ):
        payment.refund(event())
    assert type(raised.value).__name__ == "ProviderUnavailable"


def test_a_failed_condition_stays_a_business_outcome_not_a_retry(handlers: Any) -> None:
    """A cancellation naming ConditionalCheckFailed is an answer (already charged/refunded), even
    when another item of the transaction conflicted as well."""
    payment, _, dynamodb = handlers
    seal(dynamodb)
    payment.charge(event(total=99))
    existing = {"Item": dynamodb.get_item(TableName="payments", Key={"pk": {"S": "payment#o-1"}})["Item"]}
    condition = cancelled("ConditionalCheckFailed", "TransactionConflict")
    with Stubber(payment.dynamodb) as stubber:
        stubber.add_response("get_item", {"Item": sealed()})
        stubber.add_client_error("transact_write_items", **condition)
        stubber.add_response("get_item", existing)
        with pytest.raises(payment.PaymentConflict):
            payment.charge(event())
        stubber.assert_no_pending_responses()
    with failing(payment.dynamodb, "transact_write_items", condition, [("get_item", existing)]):
        assert payment.refund(event()) == {"refunded": False}


def test_another_dynamodb_error_is_not_retried(handlers: Any) -> None:
    payment, shipment, _ = handlers
    invalid = {"service_error_code": "ValidationException"}
    with (
        failing(payment.dynamodb, "transact_write_items", invalid, [("get_item", {"Item": sealed()})]),
        pytest.raises(ClientError, match="ValidationException"),
    ):
        payment.charge(event())
    denied = {"service_error_code": "AccessDeniedException"}
    with failing(shipment.dynamodb, "put_item", denied, []), pytest.raises(ClientError, match="AccessDenied"):
        shipment.arrange(SHIPPED)


SHIPPED = {"order": {"orderId": "o-1", "requiresShipping": True, "address": {"country": "IE"}}}


@pytest.mark.parametrize("code", [*TRANSIENT_CODES, "TransactionConflictException"])
def test_a_transient_dynamodb_error_booking_a_shipment_is_provider_unavailable(
    handlers: Any, code: str
) -> None:
    _, shipment, dynamodb = handlers
    with (
        failing(shipment.dynamodb, "put_item", {"service_error_code": code}, []),
        pytest.raises(Exception) as raised,
    ):
        shipment.arrange(SHIPPED)
    assert type(raised.value).__name__ == "ProviderUnavailable"
    assert dynamodb.scan(TableName="shipments")["Count"] == 0


def test_a_shipment_booked_already_is_still_returned_not_retried(handlers: Any) -> None:
    _, shipment, _ = handlers
    booked = {"Item": {"pk": {"S": "shipment#o-1"}, "shipmentId": {"S": "sh_1"}, "country": {"S": "IE"}}}
    condition = {"service_error_code": "ConditionalCheckFailedException"}
    with Stubber(shipment.dynamodb) as stubber:
        stubber.add_client_error("put_item", **condition)
        stubber.add_response("get_item", booked)
        assert shipment.arrange(SHIPPED) == {"shipmentId": "sh_1"}
