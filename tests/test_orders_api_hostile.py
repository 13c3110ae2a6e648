"""Hostile input to the orders API: every body, path, query string and header an attacker can
put in an API Gateway proxy event answers a 4xx in the handler's JSON error shape, writes
nothing, and leaves every log line encodable (a line the log writer cannot encode is lost, and
the same text in an X-Ray subsegment fails the request).

The handler runs for real against moto with one order of the caller already stored, so a write
that slipped through would show as a changed table. API Gateway's own validator would refuse
many of these first; the handler must be right without it (a validator switched off, a direct
invocation). Events are built as API Gateway sends them; where a value cannot come from a real
request (e.g. a lone surrogate inside the event's text), it is still tried, since the Lambda
runtime would hand the handler whatever the event's JSON decodes to.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.orders_api_events import FakeContext, proxy_event

# The orders API's moto fixtures, defined once in test_orders_api.
from tests.test_orders_api import ITEMS, Api, api, definition  # noqa: F401

CALLER = "user-1"
KEY = {"Idempotency-Key": "hostile-key-01"}
ITEM = '{"sku": "BOOK-1", "quantity": 1, "unitPriceCents": 1}'


def item_with(field: str, raw_value: str) -> str:
    """A create body whose one item has `field` set to a raw JSON fragment."""
    values = {"sku": '"BOOK-1"', "quantity": "1", "unitPriceCents": "1", field: raw_value}
    return '{"items": [{' + ", ".join(f'"{name}": {value}' for name, value in values.items()) + "}]}"


# Raw JSON texts, each sent as the body of POST /orders and of PUT /orders/{the caller's order}.
HOSTILE_BODIES = {
    "lone high surrogate in a value": item_with("sku", '"\\ud800"'),
    "lone low surrogate in a value": item_with("sku", '"a\\udfffb"'),
    "lone surrogate in a key": '{"\\ud800": 1, "items": [' + ITEM + "]}",
    "lone surrogate as the whole body": '"\\ud800"',
    "lone surrogate in requiresShipping": '{"items": [' + ITEM + '], "requiresShipping": "\\udbff"}',
    "NUL in a value": item_with("sku", '"BOOK\\u0000"'),
    "huge integer": item_with("quantity", "9" * 5000),
    "huge exponent": item_with("quantity", "1e400"),
    "negative huge exponent": item_with("unitPriceCents", "-1e400"),
    "fraction with an integer value": item_with("quantity", "1.0"),
    "negative zero": item_with("quantity", "-0"),
    "NaN literal": item_with("quantity", "NaN"),
    "Infinity literal": item_with("unitPriceCents", "Infinity"),
    "price beyond 64 bits": item_with("unitPriceCents", str(2**70)),
    "deeply nested arrays": "[" * 100_000 + "]" * 100_000,
    "deeply nested objects": '{"a":' * 5000 + "1" + "}" * 5000,
    "nesting just below the parser's limit": '{"items": ' + "[" * 900 + "]" * 900 + "}",
    "a number": "1",
    "true": "true",
    "null": "null",
    "an array": "[]",
    "a string": '"items"',
    "empty": "",
    "whitespace": " \n\t ",
    "duplicate keys, the last one empty": '{"items": [' + ITEM + '], "items": []}',
    "a byte order mark first": "\ufeff" + '{"items": [' + ITEM + "]}",
    "trailing garbage": '{"items": [' + ITEM + "]} x",
    "two documents": '{"items": [' + ITEM + ']}{"items": []}',
}


# Bodies API Gateway can send base64-encoded (binary media types), as raw bytes.
def raw_item(sku: bytes) -> bytes:
    return b'{"items": [{"sku": "' + sku + b'", "quantity": 1, "unitPriceCents": 1}]}'


HOSTILE_BYTES = {
    "invalid UTF-8": raw_item(b"\xff\xfe"),
    "a UTF-8-encoded surrogate (CESU)": raw_item(b"\xed\xa0\x80"),
    "an overlong encoding of '/'": raw_item(b"\xc0\xaf"),
    "UTF-16 with a BOM": '{"items": []}'.encode("utf-16"),
    "truncated multibyte": raw_item(b"\xe2\x82"),
}


def update_of(raw: str) -> str:
    """The same raw fragment inside an otherwise valid update body."""
    if raw.startswith('{"items"'):
        return '{"version": 1, "requiresShipping": true, ' + raw[1:]
    return raw


@pytest.fixture
def existing(api: Api) -> dict[str, Any]:
    status, _, order = api.create({"items": ITEMS}, key="existing-key-1", caller=CALLER)
    assert status == 201
    return order


def send(api: Api, event: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    response = api.module.handler(event, FakeContext())
    body = json.loads(response["body"])
    assert set(body) == {"error", "requestId"} and set(body["error"]) == {"code", "message"}, body
    return response["statusCode"], body


class Utf8Lines(logging.Handler):
    """Formats each record as the function's logger does and encodes it as UTF-8, as the Lambda
    runtime must to ship it to CloudWatch Logs; remembers the lines that cannot be."""

    def __init__(self) -> None:
        super().__init__()
        self.unencodable: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        line = self.format(record)
        try:
            line.encode("utf-8")
        except UnicodeEncodeError:
            self.unencodable.append(line.encode("utf-8", "backslashreplace").decode())


@pytest.fixture
def log(api: Api) -> Iterator[Utf8Lines]:
    handler = Utf8Lines()
    handler.setFormatter(api.module.logger.registered_formatter)
    api.module.logger.addHandler(handler)
    yield handler
    api.module.logger.removeHandler(handler)


def assert_refused(
    api: Api,
    log: Utf8Lines,
    event: dict[str, Any],
    allowed: Callable[[int], bool] = lambda status: 400 <= status < 500,
) -> None:
    before = api.stored()
    status, body = send(api, event)
    assert allowed(status), (status, body)
    assert api.stored() == before
    assert log.unencodable == []


@pytest.mark.parametrize("case", sorted(HOSTILE_BODIES))
def test_a_hostile_create_body_is_a_4xx_and_writes_nothing(
    api: Api, existing: dict[str, Any], log: Utf8Lines, case: str
) -> None:
    event = proxy_event("POST", "/orders", body=HOSTILE_BODIES[case], headers=KEY, caller=CALLER)
    assert_refused(api, log, event)


@pytest.mark.parametrize("case", sorted(HOSTILE_BODIES))
def test_a_hostile_update_body_is_a_4xx_and_changes_nothing(
    api: Api, existing: dict[str, Any], log: Utf8Lines, case: str
) -> None:
    body = update_of(HOSTILE_BODIES[case])
    event = proxy_event("PUT", f"/orders/{existing['id']}", body=body, caller=CALLER)
    assert_refused(api, log, event)


@pytest.mark.parametrize("case", sorted(HOSTILE_BYTES))
@pytest.mark.parametrize("method", ["POST", "PUT"])
def test_a_hostile_base64_encoded_body_is_a_4xx_and_writes_nothing(
    api: Api, existing: dict[str, Any], log: Utf8Lines, case: str, method: str
) -> None:
    path = "/orders" if method == "POST" else f"/orders/{existing['id']}"
    event = proxy_event(method, path, body="{}", headers=KEY, caller=CALLER)
    event["body"] = base64.b64encode(HOSTILE_BYTES[case]).decode()
    event["isBase64Encoded"] = True
    assert_refused(api, log, event)


@pytest.mark.parametrize(
    "encoded", ["%%%", "e30", "e30=====", "====", "\ud800", "ey" * 10_000], ids=lambda e: repr(e)[:20]
)
def test_a_body_that_is_not_base64_is_a_4xx(
    api: Api, existing: dict[str, Any], log: Utf8Lines, encoded: str
) -> None:
    event = proxy_event("POST", "/orders", body="{}", headers=KEY, caller=CALLER)
    event["body"], event["isBase64Encoded"] = encoded, True
    assert_refused(api, log, event)


def test_a_lone_surrogate_in_the_events_body_text_itself_is_a_4xx(
    api: Api, existing: dict[str, Any], log: Utf8Lines
) -> None:
    """Not an escape in the JSON text: the character itself, as the runtime would decode it."""
    body = '{"items": [{"sku": "\ud800", "quantity": 1, "unitPriceCents": 1}]}'
    assert_refused(api, log, proxy_event("POST", "/orders", body=body, headers=KEY, caller=CALLER))


HOSTILE_IDS = ["\ud800", "%ED%A0%80", "\x00", "a" * 5000, "..", "idempotency#user-1#existing-key-1", " "]


@pytest.mark.parametrize("order_id", HOSTILE_IDS, ids=lambda i: repr(i)[:20])
@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_a_hostile_order_id_is_a_404_and_changes_nothing(
    api: Api, existing: dict[str, Any], log: Utf8Lines, order_id: str, method: str
) -> None:
    body = {"version": 1, "items": ITEMS, "requiresShipping": True} if method == "PUT" else None
    event = proxy_event(method, f"/orders/{order_id}", body=body, caller=CALLER)
    assert_refused(api, log, event, allowed=lambda status: status == 404)


@pytest.mark.parametrize("path", ["/\ud800", "/orders/a/b", "/%00", "/orders\ud800"], ids=repr)
def test_an_unknown_path_is_a_404(api: Api, existing: dict[str, Any], log: Utf8Lines, path: str) -> None:
    assert_refused(api, log, proxy_event("GET", path, caller=CALLER), allowed=lambda s: s == 404)


HOSTILE_QUERIES = [
    {"limit": "\ud800"},
    {"limit": "-1"},
    {"limit": "1e2"},
    {"limit": " 5"},
    {"limit": "9" * 5000},
    {"cursor": "\ud800"},
    {"cursor": base64.urlsafe_b64encode('{"id": "\ud800"}'.encode("utf-8", "surrogatepass")).decode()},
    {
        "cursor": base64.urlsafe_b64encode(
            b'{"id": "\\ud800", "ownerId": "user-1", "createdAt": "x"}'
        ).decode()
    },
    {"cursor": base64.urlsafe_b64encode(b"\xff\xfe").decode()},
    {"cursor": ""},
    {"customerId": "\ud800"},
]


@pytest.mark.parametrize("query", HOSTILE_QUERIES, ids=lambda q: repr(q)[:40])
def test_a_hostile_listing_query_is_a_400(
    api: Api, existing: dict[str, Any], log: Utf8Lines, query: dict[str, str]
) -> None:
    assert_refused(api, log, proxy_event("GET", "/orders", query=query, caller=CALLER))


def test_an_unknown_query_parameter_named_with_a_surrogate_is_ignored_not_a_500(
    api: Api, existing: dict[str, Any], log: Utf8Lines
) -> None:
    response = api.module.handler(
        proxy_event("GET", "/orders", query={"\ud800": "1"}, caller=CALLER), FakeContext()
    )
    assert response["statusCode"] == 200
    assert log.unencodable == []


@pytest.mark.parametrize(
    "headers",
    [
        {"Idempotency-Key": "\ud800" * 10},
        {"Idempotency-Key": "k" * 100_000},
        {"Idempotency-Key": "hostile-key-01\n"},
        {"Idempotency-Key": "hostile-key-01", "Content-Type": "\ud800"},
        {"Idempotency-Key": "hostile-key-01", "Content-Type": "application/json\x00"},
        {"Idempotency-Key": "hostile-key-01", "Content-Type": "application/jsonx"},
    ],
    ids=lambda h: repr(h)[:40],
)
def test_hostile_headers_are_a_4xx_and_write_nothing(
    api: Api, existing: dict[str, Any], log: Utf8Lines, headers: dict[str, str]
) -> None:
    event = proxy_event(
        "POST", "/orders", body={"items": ITEMS}, headers=headers, caller=CALLER, content_type=None
    )
    headers.setdefault("Content-Type", "application/json")
    event["headers"] = {**event["headers"], **headers}
    event["multiValueHeaders"] = {name: [value] for name, value in event["headers"].items()}
    assert_refused(api, log, event)


@pytest.mark.parametrize(
    "claims",
    [None, {}, {"sub": ""}, {"sub": None}, {"sub": ["user-1"]}, {"email": "ada@example.com"}],
    ids=repr,
)
def test_a_request_without_a_usable_caller_is_a_401(
    api: Api, existing: dict[str, Any], log: Utf8Lines, claims: Any
) -> None:
    for event in (
        proxy_event("POST", "/orders", body={"items": ITEMS}, headers=KEY),
        proxy_event("GET", f"/orders/{existing['id']}"),
        proxy_event("DELETE", f"/orders/{existing['id']}"),
        proxy_event("GET", "/orders"),
    ):
        event["requestContext"]["authorizer"] = {"claims": claims} if claims is not None else None
        assert_refused(api, log, event, allowed=lambda status: status == 401)


def test_an_event_with_no_headers_at_all_is_a_4xx(api: Api, existing: dict[str, Any], log: Utf8Lines) -> None:
    event = proxy_event("POST", "/orders", body={"items": ITEMS}, caller=CALLER)
    event["headers"], event["multiValueHeaders"] = None, None
    assert_refused(api, log, event)
