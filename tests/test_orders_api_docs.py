"""The curl examples of docs/serverless-api.md ("Call the API with the ID token"), read from the
page and sent to the real handler in moto as API Gateway would pass them on, so the page cannot
drift from what the API accepts. The Cognito authorizer is not emulated: each request carries
the claims it would pass for the signed-in user."""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from moto import mock_aws

from tests.kit import ROOT
from tests.orders_api_events import FakeContext, proxy_event
from tests.test_orders_api import Api, start_api, table_definition

PAGE = ROOT / "docs" / "serverless-api.md"
ADA, BOB = "ada-sub-0001", "bob-sub-0002"


def page_curls() -> list[list[str]]:
    """Each curl command of the bash block after "Call the API with the ID token", as argv."""
    text = PAGE.read_text()
    block = text.split("Call the API with the ID token", 1)[1].split("```bash\n", 1)[1].split("```", 1)[0]
    joined = re.sub(r"\\\n\s*", " ", block)
    return [shlex.split(line) for line in joined.splitlines() if line.startswith("curl ")]


def as_event(argv: list[str], variables: dict[str, str], caller: str) -> dict[str, Any]:
    method, body, headers, url = "GET", None, {}, ""
    arguments = iter(argv[1:])
    for argument in arguments:
        if argument == "-X":
            method = next(arguments)
        elif argument == "-H":
            name, value = next(arguments).split(": ", 1)
            headers[name] = value
        elif argument == "-d":
            body = next(arguments)
        elif not argument.startswith("-"):
            url = argument
    for name, value in variables.items():
        url = url.replace(name, value)
    assert headers.pop("Authorization") == "$TOKEN"
    parts = urlsplit(url.replace("${API}", "https://api.example.com/v1/"))
    path = parts.path.removeprefix("/v1")
    query = dict(parse_qsl(parts.query)) or None
    event = proxy_event(
        method, path, body=body, headers=headers, query=query, caller=caller, content_type=None
    )
    return event


@pytest.fixture
def api() -> Iterator[Api]:
    with mock_aws():
        yield start_api(table_definition())


def send(api: Api, event: dict[str, Any]) -> tuple[int, Any]:
    response = api.module.handler(event, FakeContext())
    return response["statusCode"], json.loads(response["body"]) if response.get("body") else None


def test_the_pages_curl_examples_work_in_order_and_only_for_their_user(api: Api) -> None:
    curls = page_curls()
    methods = [argv[argv.index("-X") + 1] if "-X" in argv else "GET" for argv in curls]
    assert methods == ["POST", "GET", "GET", "GET", "PUT", "DELETE"], "the page's examples changed"
    create, read, first_page, next_page, update, delete = curls
    for n in range(2):  # two more of Ada's orders, so the listing has a second page
        api.create(key=f"ada-earlier-{n:04}", caller=ADA)

    status, order = send(api, as_event(create, {}, ADA))
    assert status == 201 and order["ownerId"] == ADA
    again, replayed = send(api, as_event(create, {}, ADA))
    assert (again, replayed) == (201, order), "the page says a second create replays the first"
    variables = {"$ID": order["id"]}

    assert send(api, as_event(read, variables, ADA)) == (200, order)
    assert send(api, as_event(read, variables, BOB))[0] == 404, "the page says another user gets 404"

    status, page = send(api, as_event(first_page, variables, ADA))
    assert status == 200 and len(page["orders"]) == 2 and page["nextCursor"]
    status, rest = send(api, as_event(next_page, {**variables, "<nextCursor>": page["nextCursor"]}, ADA))
    assert status == 200 and {o["id"] for o in page["orders"] + rest["orders"]} >= {order["id"]}
    assert send(api, as_event(first_page, variables, BOB)) == (200, {"orders": [], "nextCursor": None})

    status, updated = send(api, as_event(update, variables, ADA))
    assert status == 200 and updated["version"] == 2
    assert send(api, as_event(update, variables, ADA))[0] == 409, "the page says a resend is a 409"

    assert send(api, as_event(delete, variables, BOB))[0] == 404
    assert send(api, as_event(delete, variables, ADA))[0] == 204
    assert send(api, as_event(read, variables, ADA))[0] == 404
