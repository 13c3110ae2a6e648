"""The orders API handler, run in-process against moto with API Gateway proxy events.

The table is created from the synthesized ServerlessApi template (keys, index, TTL), so the
handler is tested against the table the stack really deploys.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import boto3
import jsonschema
import pytest
from moto import mock_aws

from tests.kit import load_module, one, template_json
from tests.orders_api_events import FakeContext, proxy_event

ITEMS = [{"sku": "BOOK-1", "quantity": 2, "unitPriceCents": 1250}]
NEW_ORDER = {"items": ITEMS}
OTHER_ITEMS = [{"sku": "PEN-9", "quantity": 1, "unitPriceCents": 100}]


def table_definition() -> dict[str, Any]:
    _, table = one(template_json("ServerlessApi", "sandbox"), "AWS::DynamoDB::GlobalTable", "Orders/Table")
    properties = table["Properties"]
    return {
        "KeySchema": properties["KeySchema"],
        "AttributeDefinitions": properties["AttributeDefinitions"],
        "GlobalSecondaryIndexes": properties["GlobalSecondaryIndexes"],
        "BillingMode": properties["BillingMode"],
        "ttl": properties["TimeToLiveSpecification"]["AttributeName"],
    }


@pytest.fixture(scope="module")
def definition() -> dict[str, Any]:
    return table_definition()


class Api:
    """The handler module loaded against a fresh moto table, and a way to call it."""

    def __init__(self, module: ModuleType, table_name: str) -> None:
        self.module = module
        self.table = boto3.resource("dynamodb").Table(table_name)

    def call(self, method: str, path: str, **kwargs: Any) -> tuple[int, dict[str, str], Any]:
        response = self.module.handler(proxy_event(method, path, **kwargs), FakeContext())
        body = json.loads(response["body"]) if response.get("body") else None
        headers = {k.lower(): v for k, v in (response.get("headers") or {}).items()}
        for name, values in (response.get("multiValueHeaders") or {}).items():
            headers[name.lower()] = ",".join(values)
        if response["statusCode"] >= 400:
            assert set(body) == {"error", "requestId"}, body
            assert set(body["error"]) == {"code", "message"} and body["error"]["message"], body
        return response["statusCode"], headers, body

    def create(self, order: dict[str, Any] | None = None, key: str = "key-00000001", **kwargs: Any) -> Any:
        return self.call(
            "POST", "/orders", body=order or NEW_ORDER, headers={"Idempotency-Key": key}, **kwargs
        )

    def stored(self) -> list[dict[str, Any]]:
        return self.table.scan(ConsistentRead=True)["Items"]

    def orders(self) -> list[dict[str, Any]]:
        return [item for item in self.stored() if item.get("kind") == "order"]


def start_api(definition: dict[str, Any], environment: dict[str, str] | None = None) -> Api:
    client = boto3.client("dynamodb")
    client.create_table(
        TableName="orders",
        KeySchema=definition["KeySchema"],
        AttributeDefinitions=definition["AttributeDefinitions"],
        GlobalSecondaryIndexes=definition["GlobalSecondaryIndexes"],
        BillingMode=definition["BillingMode"],
    )
    client.update_time_to_live(
        TableName="orders",
        TimeToLiveSpecification={"Enabled": True, "AttributeName": definition["ttl"]},
    )
    os.environ.update({"TABLE_NAME": "orders", "OWNER_INDEX": "byOwner", **(environment or {})})
    return Api(load_module("orders_api", "app"), "orders")


@pytest.fixture
def api(definition: dict[str, Any]) -> Iterator[Api]:
    with mock_aws():
        yield start_api(definition)


def test_create_returns_the_order_with_its_location_and_stores_it(api: Api) -> None:
    status, headers, order = api.create()
    assert status == 201
    assert headers["location"] == f"/orders/{order['id']}"
    assert headers["idempotent-replayed"] == "false"
    assert order["version"] == 1 and order["totalCents"] == 2500 and order["requiresShipping"] is True
    assert [item["id"] for item in api.orders()] == [order["id"]]


def test_a_retried_create_returns_the_first_result_and_writes_nothing_new(api: Api) -> None:
    _, _, first = api.create(key="retry-key-1")
    stored_before = api.stored()
    status, headers, again = api.create(key="retry-key-1")
    assert status == 201
    assert again == first
    assert headers["idempotent-replayed"] == "true"
    assert api.stored() == stored_before
    assert len(api.orders()) == 1


def test_the_first_result_is_replayed_even_after_the_order_changed(api: Api) -> None:
    _, _, first = api.create(key="retry-key-2")
    api.call("PUT", f"/orders/{first['id']}", body={"version": 1, "items": ITEMS, "requiresShipping": False})
    _, _, again = api.create(key="retry-key-2")
    assert again == first
    assert len(api.orders()) == 1


def test_a_key_past_its_window_creates_a_new_order(api: Api) -> None:
    """TTL deletes expired markers lazily (up to days later); an expired one must not replay."""
    _, _, first = api.create(key="old-key-001")
    [marker] = [item for item in api.stored() if item.get("kind") == "idempotency"]
    api.table.update_item(
        Key={"id": marker["id"]},
        UpdateExpression="SET expiresAt = :past",
        ExpressionAttributeValues={":past": 1},
    )
    status, headers, second = api.create(key="old-key-001")
    assert status == 201 and headers["idempotent-replayed"] == "false"
    assert second["id"] != first["id"]
    assert len(api.orders()) == 2


def test_a_key_reused_for_a_different_request_is_refused_and_writes_nothing(api: Api) -> None:
    api.create(key="reused-key-1")
    before = api.stored()
    status, _, body = api.create({"items": OTHER_ITEMS}, key="reused-key-1")
    assert status == 422 and body["error"]["code"] == "UNPROCESSABLE_ENTITY"
    assert api.stored() == before


def test_idempotency_keys_are_scoped_to_the_caller(api: Api) -> None:
    """Bob sending Alice's key (and even her body) gets a new order of his own, never a replay
    of hers: the marker is keyed by (caller, key)."""
    _, _, mine = api.create(key="shared-key-1", caller="alice")
    status, headers, theirs = api.create(key="shared-key-1", caller="bob")
    assert status == 201 and headers["idempotent-replayed"] == "false"
    assert mine["id"] != theirs["id"]
    assert (mine["ownerId"], theirs["ownerId"]) == ("alice", "bob")
    assert len(api.orders()) == 2


@pytest.mark.parametrize("key", [None, "short", "has spaces in it", "x" * 129])
def test_create_without_a_valid_idempotency_key_is_a_400_and_writes_nothing(
    api: Api, key: str | None
) -> None:
    headers = {"Idempotency-Key": key} if key is not None else {}
    status, _, body = api.call("POST", "/orders", body=NEW_ORDER, headers=headers)
    assert status == 400 and "Idempotency-Key" in body["error"]["message"]
    assert api.stored() == []


INVALID_CREATES = {
    "missing items": {"requiresShipping": True},
    "an owner in the body": {**NEW_ORDER, "ownerId": "someone-else"},
    "a customerId in the body": {**NEW_ORDER, "customerId": "someone-else"},
    "unknown field": {**NEW_ORDER, "discount": 5},
    "no items": {**NEW_ORDER, "items": []},
    "zero quantity": {**NEW_ORDER, "items": [{**ITEMS[0], "quantity": 0}]},
    "quantity as text": {**NEW_ORDER, "items": [{**ITEMS[0], "quantity": "2"}]},
    "quantity as boolean": {**NEW_ORDER, "items": [{**ITEMS[0], "quantity": True}]},
    "fractional price": {**NEW_ORDER, "items": [{**ITEMS[0], "unitPriceCents": 12.5}]},
    "negative price": {**NEW_ORDER, "items": [{**ITEMS[0], "unitPriceCents": -1}]},
    "sku with spaces": {**NEW_ORDER, "items": [{**ITEMS[0], "sku": "BOOK 1"}]},
    "shipping as text": {**NEW_ORDER, "requiresShipping": "yes"},
    "a list, not an object": [NEW_ORDER],
    "null": None,
}


@pytest.mark.parametrize("case", sorted(INVALID_CREATES))
def test_an_invalid_create_body_is_a_400_naming_the_problem_and_writes_nothing(api: Api, case: str) -> None:
    body = json.dumps(INVALID_CREATES[case])
    status, _, answer = api.call("POST", "/orders", body=body, headers={"Idempotency-Key": "key-00000001"})
    assert status == 400, answer
    assert answer["error"]["code"] == "BAD_REQUEST" and answer["error"]["message"].startswith("body")
    assert api.stored() == []


@pytest.mark.parametrize("text", ["{not json", "", '{"customerId": "c-1", "items": [', "NaN-ish }"])
def test_a_body_that_is_not_json_is_a_400_and_writes_nothing(api: Api, text: str) -> None:
    status, _, answer = api.call("POST", "/orders", body=text, headers={"Idempotency-Key": "key-00000001"})
    assert status == 400 and answer["error"]["code"] == "BAD_REQUEST"
    assert api.stored() == []


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
def test_a_body_not_sent_as_json_is_a_415_and_writes_nothing(api: Api, content_type: str | None) -> None:
    status, _, answer = api.create(content_type=content_type)
    assert status == 415 and answer["error"]["code"] == "UNSUPPORTED_MEDIA_TYPE"
    assert api.stored() == []


def test_json_with_a_charset_parameter_is_accepted(api: Api) -> None:
    status, _, _ = api.create(content_type="Application/JSON; charset=utf-8")
    assert status == 201


def test_a_body_past_the_size_limit_is_a_413_and_writes_nothing(api: Api) -> None:
    padded = {**NEW_ORDER, "pad": "c" * 9000}
    status, _, answer = api.create(padded)
    assert status == 413 and answer["error"]["code"] == "REQUEST_ENTITY_TOO_LARGE"
    assert api.stored() == []


def test_a_base64_encoded_body_is_decoded_before_checks(api: Api) -> None:
    event = proxy_event("POST", "/orders", body=NEW_ORDER, headers={"Idempotency-Key": "key-00000009"})
    event["body"] = base64.b64encode(event["body"].encode()).decode()
    event["isBase64Encoded"] = True
    response = api.module.handler(event, FakeContext())
    assert response["statusCode"] == 201


@pytest.mark.parametrize(
    "encoded", ["%%%not base64%%%", base64.b64encode(b"\xff\xfe{}").decode()], ids=["base64", "utf8"]
)
def test_a_body_that_cannot_be_decoded_is_a_400_not_a_500(api: Api, encoded: str) -> None:
    event = proxy_event("POST", "/orders", body=NEW_ORDER, headers={"Idempotency-Key": "key-00000009"})
    event["body"], event["isBase64Encoded"] = encoded, True
    response = api.module.handler(event, FakeContext())
    assert response["statusCode"] == 400, response
    assert api.stored() == []


def test_json_nested_deeper_than_python_parses_is_a_400_not_a_500(api: Api) -> None:
    status, _, answer = api.call(
        "POST", "/orders", body="[" * 4000 + "]" * 4000, headers={"Idempotency-Key": "key-00000001"}
    )
    assert status == 400 and answer["error"]["code"] == "BAD_REQUEST"
    assert api.stored() == []


def test_get_returns_the_order(api: Api) -> None:
    _, _, created = api.create()
    status, _, order = api.call("GET", f"/orders/{created['id']}")
    assert status == 200 and order == created


@pytest.mark.parametrize("order_id", ["3f2c8e4a-9d61-4a57-b8de-0c7e5b9f1a22", "not-a-uuid", "idempotency"])
def test_get_of_an_unknown_order_is_a_404(api: Api, order_id: str) -> None:
    api.create()
    status, _, answer = api.call("GET", f"/orders/{order_id}")
    assert status == 404 and answer["error"]["code"] == "NOT_FOUND"


def test_update_replaces_the_mutable_fields_and_bumps_the_version(api: Api) -> None:
    _, _, created = api.create()
    items = [{"sku": "PEN-9", "quantity": 3, "unitPriceCents": 100}]
    change = {"version": 1, "items": items, "requiresShipping": False}
    status, _, updated = api.call("PUT", f"/orders/{created['id']}", body=change)
    assert status == 200
    assert updated["version"] == 2 and updated["items"] == items and updated["totalCents"] == 300
    assert updated["ownerId"] == created["ownerId"] and updated["createdAt"] == created["createdAt"]
    assert api.call("GET", f"/orders/{created['id']}")[2] == updated


def test_a_stale_version_is_a_409_and_changes_nothing(api: Api) -> None:
    _, _, created = api.create()
    api.call(
        "PUT", f"/orders/{created['id']}", body={"version": 1, "items": ITEMS, "requiresShipping": False}
    )
    before = api.stored()
    stale = {
        "version": 1,
        "items": [{"sku": "X", "quantity": 1, "unitPriceCents": 1}],
        "requiresShipping": True,
    }
    status, _, answer = api.call("PUT", f"/orders/{created['id']}", body=stale)
    assert status == 409 and answer["error"]["code"] == "CONFLICT"
    assert "version 2" in answer["error"]["message"]
    assert api.stored() == before


def test_two_racing_updates_of_one_version_one_wins_and_the_loser_reapplies_without_losing_a_write(
    api: Api,
) -> None:
    """Both clients read version 1, then both write: DynamoDB's conditional write is where they
    meet, so exactly one lands; the other is told (409), rereads and reapplies its change."""
    _, _, created = api.create()
    path = f"/orders/{created['id']}"
    seen_by_a = api.call("GET", path)[2]
    seen_by_b = api.call("GET", path)[2]
    add_pen = {"sku": "PEN-1", "quantity": 1, "unitPriceCents": 100}
    add_ink = {"sku": "INK-1", "quantity": 1, "unitPriceCents": 300}

    def write(seen: dict[str, Any], extra: dict[str, Any]) -> tuple[int, Any]:
        change = {"version": seen["version"], "items": [*seen["items"], extra], "requiresShipping": True}
        status, _, body = api.call("PUT", path, body=change)
        return status, body

    outcomes = [write(seen_by_a, add_pen), write(seen_by_b, add_ink)]
    assert sorted(status for status, _ in outcomes) == [200, 409]
    assert outcomes[0][0] == 200  # the first write to arrive wins
    reread = api.call("GET", path)[2]
    assert reread["version"] == 2 and {i["sku"] for i in reread["items"]} == {"BOOK-1", "PEN-1"}
    status, final = write(reread, add_ink)
    assert status == 200
    assert final["version"] == 3
    assert [i["sku"] for i in final["items"]] == ["BOOK-1", "PEN-1", "INK-1"]


def test_update_of_an_unknown_order_is_a_404_and_creates_nothing(api: Api) -> None:
    change = {"version": 1, "items": ITEMS, "requiresShipping": True}
    status, _, answer = api.call("PUT", "/orders/3f2c8e4a-9d61-4a57-b8de-0c7e5b9f1a22", body=change)
    assert status == 404 and answer["error"]["code"] == "NOT_FOUND"
    assert api.stored() == []


@pytest.mark.parametrize(
    "change",
    [
        {"items": ITEMS, "requiresShipping": True},
        {"version": 0, "items": ITEMS, "requiresShipping": True},
        {"version": 10**40, "items": ITEMS, "requiresShipping": True},
        {"version": 1, "items": ITEMS, "requiresShipping": True, "customerId": "c-9"},
    ],
)
def test_an_invalid_update_is_a_400_and_changes_nothing(api: Api, change: dict[str, Any]) -> None:
    _, _, created = api.create()
    before = api.stored()
    status, _, answer = api.call("PUT", f"/orders/{created['id']}", body=change)
    assert status == 400 and answer["error"]["code"] == "BAD_REQUEST"
    assert api.stored() == before


def test_update_checks_size_and_media_type_too(api: Api) -> None:
    _, _, created = api.create()
    change = {"version": 1, "items": ITEMS, "requiresShipping": True}
    path = f"/orders/{created['id']}"
    assert api.call("PUT", path, body=change, content_type="text/plain")[0] == 415
    assert api.call("PUT", path, body={**change, "pad": "x" * 9000})[0] == 413


def test_delete_removes_the_order_and_a_second_delete_is_a_404(api: Api) -> None:
    _, _, created = api.create()
    status, _, body = api.call("DELETE", f"/orders/{created['id']}")
    assert status == 204 and body is None
    assert api.orders() == []
    assert api.call("GET", f"/orders/{created['id']}")[0] == 404
    assert api.call("DELETE", f"/orders/{created['id']}")[0] == 404


def test_listing_pages_return_every_order_of_the_caller_exactly_once(api: Api) -> None:
    mine = {api.create(key=f"key-mine-{n:04}", caller="alice")[2]["id"] for n in range(23)}
    for n in range(4):
        api.create(key=f"key-other-{n:04}", caller="bob")
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        query = {"limit": "5", **({"cursor": cursor} if cursor else {})}
        status, _, page = api.call("GET", "/orders", query=query, caller="alice")
        assert status == 200 and len(page["orders"]) <= 5
        assert all(order["ownerId"] == "alice" for order in page["orders"])
        seen.extend(order["id"] for order in page["orders"])
        pages += 1
        cursor = page["nextCursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 23
    assert set(seen) == mine
    assert pages >= 5


def test_listing_for_a_caller_without_orders_is_an_empty_page(api: Api) -> None:
    api.create(caller="alice")
    status, _, page = api.call("GET", "/orders", caller="nobody")
    assert status == 200 and page == {"orders": [], "nextCursor": None}


@pytest.mark.parametrize(
    "query",
    [
        {"limit": "0"},
        {"limit": "101"},
        {"limit": "ten"},
        {"limit": "\u00b2"},
        {"customerId": "user-1"},
        {"customerId": "someone-else"},
        {"cursor": base64.urlsafe_b64encode(b'{"id":"","ownerId":"user-1","createdAt":""}').decode()},
        {"cursor": "!!not-base64!!"},
        # nested too deep for json.loads (RecursionError), and far longer than any cursor we issue
        {"cursor": base64.urlsafe_b64encode(b"[" * 3000).decode()},
        {"cursor": "e" * 600},
        {"cursor": base64.urlsafe_b64encode(b'{"id": "x"}').decode()},
    ],
)
def test_a_bad_listing_query_is_a_400(api: Api, query: dict[str, str]) -> None:
    status, _, answer = api.call("GET", "/orders", query=query)
    assert status == 400 and answer["error"]["code"] == "BAD_REQUEST"


def test_a_value_with_a_trailing_newline_does_not_match_an_anchored_pattern(api: Api) -> None:
    """JSON Schema's `$` is ECMA's: the end of the value, not before a final newline."""
    status, _, answer = api.create({**NEW_ORDER, "items": [{**ITEMS[0], "sku": ITEMS[0]["sku"] + "\n"}]})
    assert status == 400 and answer["error"]["code"] == "BAD_REQUEST"
    assert api.stored() == []


def test_a_cursor_from_another_callers_listing_is_refused(api: Api) -> None:
    for n in range(3):
        api.create(key=f"key-other-{n:04}", caller="bob")
    cursor = api.call("GET", "/orders", query={"limit": "1"}, caller="bob")[2]["nextCursor"]
    assert cursor
    status, _, answer = api.call("GET", "/orders", query={"cursor": cursor}, caller="alice")
    assert status == 400 and "cursor" in answer["error"]["message"]


def test_an_unknown_route_is_a_json_404(api: Api) -> None:
    status, _, answer = api.call("PATCH", "/orders/3f2c8e4a-9d61-4a57-b8de-0c7e5b9f1a22", body={})
    assert status == 404 and answer["error"]["code"] == "NOT_FOUND"


def test_a_request_without_an_authenticated_caller_is_a_401_and_writes_nothing(api: Api) -> None:
    status, _, answer = api.create(caller=None)
    assert status == 401 and answer["error"]["code"] == "UNAUTHORIZED"
    assert api.stored() == []


def test_a_failure_of_the_table_is_a_json_500_not_a_crash(api: Api) -> None:
    boto3.client("dynamodb").delete_table(TableName="orders")
    status, _, answer = api.call("GET", "/orders/3f2c8e4a-9d61-4a57-b8de-0c7e5b9f1a22")
    assert status == 500 and answer["error"]["code"] == "INTERNAL_SERVER_ERROR"


def test_cors_headers_only_for_the_allowed_origin(definition: dict[str, Any]) -> None:
    with mock_aws():
        api = start_api(definition, {"CORS_ALLOWED_ORIGINS": "https://shop.example.com"})
        try:
            allowed = api.call("GET", "/orders", headers={"Origin": "https://shop.example.com"})[1]
            other = api.call("GET", "/orders", headers={"Origin": "https://evil.example.net"})[1]
        finally:
            os.environ["CORS_ALLOWED_ORIGINS"] = ""
    assert allowed["access-control-allow-origin"] == "https://shop.example.com"
    assert "access-control-allow-origin" not in other


def test_without_allowed_origins_no_cors_headers_are_sent(api: Api) -> None:
    headers = api.call("GET", "/orders", headers={"Origin": "https://a.example"})[1]
    assert not any(name.startswith("access-control-") for name in headers)


UPDATE = {"version": 3, "items": ITEMS, "requiresShipping": True}
SAMPLES = [
    *(("createOrder", sample) for sample in [NEW_ORDER, {**NEW_ORDER, "requiresShipping": False}]),
    *(("createOrder", sample) for sample in INVALID_CREATES.values()),
    *(
        ("updateOrder", sample)
        for sample in [
            UPDATE,
            {**UPDATE, "version": 0},
            {**UPDATE, "version": 2**31},
            {**UPDATE, "version": 1.5},
            {"items": ITEMS, "requiresShipping": True},
            {**UPDATE, "ownerId": "user-2"},
            {**UPDATE, "items": [{"sku": "", "quantity": 1, "unitPriceCents": 1}]},
        ]
    ),
]


@pytest.mark.parametrize("sample", range(len(SAMPLES)))
def test_the_handler_validator_agrees_with_a_reference_draft4_validator(sample: int) -> None:
    """API Gateway validates with the same schemas; the handler's checks must match them."""
    validation = load_module("orders_api", "validation")
    name, document = SAMPLES[sample]
    reference_ok = jsonschema.Draft4Validator(validation.SCHEMAS[name]).is_valid(document)
    try:
        validation.validate(name, document)
        ours_ok = True
    except validation.InvalidBody:
        ours_ok = False
    assert ours_ok == reference_ok
