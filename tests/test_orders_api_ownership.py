"""Object-level authorization in the orders API: two signed-in users, Alice and Bob, each with
a valid token (the Cognito authorizer let both through). Whatever Bob sends about Alice's order,
he learns nothing about it and changes nothing (OWASP API1:2023, broken object level
authorization). The handler runs for real against moto, on the table the stack synthesizes."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

# The orders API's moto fixtures, defined once in test_orders_api.
from tests.test_orders_api import ITEMS, NEW_ORDER, Api, api, definition  # noqa: F401

ALICE, BOB = "3d5a9f0e-alice-sub", "8c1b7e42-bob-sub"
UNKNOWN_ID = "3f2c8e4a-9d61-4a57-b8de-0c7e5b9f1a22"
CHANGE = {
    "version": 1,
    "items": [{"sku": "BOOK-1", "quantity": 9, "unitPriceCents": 0}],
    "requiresShipping": False,
}


@pytest.fixture
def alices_order(api: Api) -> dict[str, Any]:
    status, _, order = api.create(key="alice-key-0001", caller=ALICE)
    assert status == 201 and order["ownerId"] == ALICE
    return order


def not_found(api: Api, method: str, order_id: str, caller: str, **kwargs: Any) -> dict[str, Any]:
    """The error Bob gets; it must read as if the order did not exist."""
    status, _, answer = api.call(method, f"/orders/{order_id}", caller=caller, **kwargs)
    assert status == 404, answer
    return answer["error"]


def same_as_missing(api: Api, method: str, order_id: str, **kwargs: Any) -> None:
    """Bob's answer for Alice's order equals his answer for an id that exists nowhere."""
    theirs = not_found(api, method, order_id, BOB, **kwargs)
    missing = not_found(api, method, UNKNOWN_ID, BOB, **kwargs)
    assert theirs["code"] == missing["code"] == "NOT_FOUND"
    assert theirs["message"].replace(order_id, "<id>") == missing["message"].replace(UNKNOWN_ID, "<id>")


def test_another_callers_order_cannot_be_read_and_reads_as_missing(
    api: Api, alices_order: dict[str, Any]
) -> None:
    same_as_missing(api, "GET", alices_order["id"])
    assert api.call("GET", f"/orders/{alices_order['id']}", caller=ALICE)[2] == alices_order


def test_another_callers_order_cannot_be_updated_and_stays_unchanged(
    api: Api, alices_order: dict[str, Any]
) -> None:
    before = api.stored()
    same_as_missing(api, "PUT", alices_order["id"], body=CHANGE)
    assert api.stored() == before
    assert api.call("GET", f"/orders/{alices_order['id']}", caller=ALICE)[2] == alices_order


def test_a_stale_version_on_another_callers_order_is_a_404_not_a_409(
    api: Api, alices_order: dict[str, Any]
) -> None:
    """A 409 would confirm the order exists and leak its current version."""
    answer = not_found(api, "PUT", alices_order["id"], BOB, body={**CHANGE, "version": 7})
    assert "version" not in answer["message"]


def test_another_callers_order_cannot_be_deleted_and_stays(api: Api, alices_order: dict[str, Any]) -> None:
    before = api.stored()
    same_as_missing(api, "DELETE", alices_order["id"])
    assert api.stored() == before
    assert api.call("GET", f"/orders/{alices_order['id']}", caller=ALICE)[0] == 200


def test_listing_returns_only_the_callers_own_orders(api: Api, alices_order: dict[str, Any]) -> None:
    _, _, bobs = api.create(key="bob-key-00001", caller=BOB)
    status, _, page = api.call("GET", "/orders", caller=BOB)
    assert status == 200 and [order["id"] for order in page["orders"]] == [bobs["id"]]
    status, _, page = api.call("GET", "/orders", caller=ALICE)
    assert [order["id"] for order in page["orders"]] == [alices_order["id"]]


def test_listing_another_customers_orders_by_naming_them_is_refused(
    api: Api, alices_order: dict[str, Any]
) -> None:
    status, _, answer = api.call("GET", "/orders", query={"customerId": ALICE}, caller=BOB)
    assert status == 400 and alices_order["id"] not in str(answer)


@pytest.mark.parametrize("field", ["ownerId", "customerId"])
def test_an_order_cannot_be_created_for_someone_else(api: Api, field: str) -> None:
    """The owner comes from the token; a body naming one is refused, not silently obeyed."""
    status, _, _ = api.create({**NEW_ORDER, field: ALICE}, key="bob-key-00002", caller=BOB)
    assert status == 400
    assert api.stored() == []
    status, _, order = api.create(key="bob-key-00003", caller=BOB)
    assert status == 201 and order["ownerId"] == BOB


def test_bob_replaying_alices_idempotency_key_never_gets_her_order(
    api: Api, alices_order: dict[str, Any]
) -> None:
    status, headers, order = api.create(key="alice-key-0001", caller=BOB)
    assert status == 201 and headers["idempotent-replayed"] == "false"
    assert order["id"] != alices_order["id"] and order["ownerId"] == BOB
    assert api.call("GET", f"/orders/{alices_order['id']}", caller=ALICE)[2] == alices_order


def test_the_owner_can_still_do_everything_with_their_order(api: Api, alices_order: dict[str, Any]) -> None:
    path = f"/orders/{alices_order['id']}"
    status, _, updated = api.call("PUT", path, body=CHANGE, caller=ALICE)
    assert status == 200 and updated["version"] == 2 and updated["ownerId"] == ALICE
    assert api.call("DELETE", path, caller=ALICE)[0] == 204
    assert api.orders() == []


@pytest.mark.parametrize(("method", "operation"), [("PUT", "UpdateItem"), ("DELETE", "DeleteItem")])
def test_ownership_is_checked_by_the_write_itself_so_a_change_just_before_it_is_honoured(
    api: Api, alices_order: dict[str, Any], method: str, operation: str
) -> None:
    """The order passes to Bob in the instant before Alice's write reaches DynamoDB (a hook on
    the handler's own client changes the owner right before the call is sent). A check made by
    reading first would have passed; the ConditionExpression on the owner refuses the write."""
    other_client = boto3.client("dynamodb")

    def give_the_order_to_bob(**_: Any) -> None:
        other_client.update_item(
            TableName="orders",
            Key={"id": {"S": alices_order["id"]}},
            UpdateExpression="SET ownerId = :bob",
            ExpressionAttributeValues={":bob": {"S": BOB}},
        )

    events = api.module.store.client.meta.events
    events.register_first(f"before-call.dynamodb.{operation}", give_the_order_to_bob)
    try:
        body = CHANGE if method == "PUT" else None
        status, _, _ = api.call(method, f"/orders/{alices_order['id']}", body=body, caller=ALICE)
    finally:
        events.unregister(f"before-call.dynamodb.{operation}", give_the_order_to_bob)
    assert status == 404
    [order] = api.orders()
    assert (
        order["ownerId"] == BOB
        and order["version"] == 1
        and order["items"][0]["quantity"] == ITEMS[0]["quantity"]
    )
