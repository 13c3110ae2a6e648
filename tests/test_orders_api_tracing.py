"""What the orders API leaves in X-Ray, with and without the X-Ray SDK.

By default the function does not import the SDK (it cost more than boto3's whole import at
every cold start, benchmarks/cold_start.py). Lambda's active tracing, which the construct turns
on (tests/test_serverless_api.py), records each sampled invocation itself: the AWS::Lambda and
AWS::Lambda::Function segments with Initialization, Invocation and Overhead subsegments
(https://docs.aws.amazon.com/lambda/latest/dg/services-xray.html); no code of ours takes part,
so nothing here can run it. What the code does decide, and these tests prove: every AWS call
carries the invocation's trace header, so downstream services that trace join the trace; and
with TRACE_AWS_CALLS=true each DynamoDB call is a subsegment again (sent to the X-Ray daemon's
UDP port, a real socket here), under `## get_order`, with the Service and ColdStart annotations.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from moto import mock_aws

from tests.kit import ROOT, load_module
from tests.test_orders_api import definition, start_api  # noqa: F401

TRACE_ID = "Root=1-67891233-abcdef012345678912345678;Parent=53995c3f42cd8ad8;Sampled=1"
FUNCTION_DIR = ROOT / "lambda" / "orders_api"


def test_without_the_sdk_every_dynamodb_call_carries_the_invocations_trace_header(
    definition: dict[str, Any],  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "orders-api")
    monkeypatch.setenv("_X_AMZN_TRACE_ID", TRACE_ID)
    monkeypatch.delenv("TRACE_AWS_CALLS", raising=False)
    sent: list[bytes | None] = []
    with mock_aws():
        api = start_api(definition)
        client = api.module.store.client
        client.meta.events.register(
            "before-send.dynamodb", lambda request, **_: sent.append(request.headers.get("X-Amzn-Trace-Id"))
        )
        status, _, order = api.create()
        assert status == 201
        assert api.call("GET", f"/orders/{order['id']}")[0] == 200
    assert api.module.tracer.enabled is False
    assert len(sent) >= 2 and set(sent) == {TRACE_ID.encode()}


def _lambda_environment(**extra: str) -> dict[str, str]:
    return {
        "PATH": os.environ["PATH"],
        "AWS_DEFAULT_REGION": "eu-west-1",
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_LAMBDA_FUNCTION_NAME": "orders-api",
        "LAMBDA_TASK_ROOT": str(FUNCTION_DIR),
        "POWERTOOLS_SERVICE_NAME": "orders-api",
        "TABLE_NAME": "orders",
        "OWNER_INDEX": "byOwner",
        **extra,
    }


def test_by_default_the_cold_start_imports_no_xray_sdk() -> None:
    code = f"import sys; sys.path.insert(0, {str(FUNCTION_DIR)!r}); import app; print(sorted(sys.modules))"
    result = subprocess.run(
        [sys.executable, "-c", code], env=_lambda_environment(), capture_output=True, text=True, check=True
    )
    loaded = json.loads(result.stdout.replace("'", '"'))
    assert "boto3" in loaded and "aws_lambda_powertools.logging" in loaded  # it did import the handler
    assert not [name for name in loaded if name.startswith("aws_xray_sdk")]


INVOKE = """
import json, sys
sys.path[:0] = [{folder!r}, {root!r}]
from moto import mock_aws
import boto3
from tests.orders_api_events import FakeContext, proxy_event
with mock_aws():
    d = json.loads({definition!r})
    boto3.client("dynamodb").create_table(TableName="orders", KeySchema=d["KeySchema"],
        AttributeDefinitions=d["AttributeDefinitions"], GlobalSecondaryIndexes=d["GlobalSecondaryIndexes"],
        BillingMode=d["BillingMode"])
    import app
    event = proxy_event("GET", "/orders/6a1f7c2e-4b8e-4d2a-9f0e-2c1d3b4a5e6f", caller="user-1")
    print(json.dumps(app.handler(event, FakeContext())["statusCode"]))
"""


def test_with_trace_aws_calls_each_dynamodb_call_is_a_subsegment_of_the_route(
    definition: dict[str, Any],  # noqa: F811
    tmp_path: Path,
) -> None:
    daemon = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    daemon.bind(("127.0.0.1", 0))
    daemon.settimeout(10)
    port = daemon.getsockname()[1]
    environment = _lambda_environment(
        TRACE_AWS_CALLS="true",
        _X_AMZN_TRACE_ID=TRACE_ID,
        AWS_XRAY_DAEMON_ADDRESS=f"127.0.0.1:{port}",
        AWS_XRAY_CONTEXT_MISSING="LOG_ERROR",
    )
    script = INVOKE.format(root=str(ROOT), folder=str(FUNCTION_DIR), definition=json.dumps(definition))
    result = subprocess.run(
        [sys.executable, "-c", script], env=environment, capture_output=True, text=True, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "404"  # no such order: one GetItem, answered
    documents = []
    with daemon:
        while True:
            try:
                header, body = daemon.recv(65536).decode().split("\n", 1)
            except TimeoutError:
                break
            assert json.loads(header) == {"format": "json", "version": 1}
            documents.append(json.loads(body))
            daemon.settimeout(0.5)  # the rest follow at once
    subsegments = {document["name"]: document for document in _flatten(documents)}
    handler, route, call = subsegments["## handler"], subsegments["## app.get_order"], subsegments["dynamodb"]
    assert {d["trace_id"] for d in (handler, route, call)} == {"1-67891233-abcdef012345678912345678"}
    # Under the function's own segment (the header's Parent), the route, then the call.
    assert handler["parent_id"] == "53995c3f42cd8ad8"
    assert route["parent_id"] == handler["id"] and call["parent_id"] == route["id"]
    assert handler["annotations"]["ColdStart"] is True and handler["annotations"]["Service"] == "orders-api"
    assert call["namespace"] == "aws" and call["aws"]["operation"] == "GetItem"
    assert call["aws"]["table_name"] == "orders" and call["http"]["response"]["status"] == 200


def _flatten(documents: list[dict[str, Any]]) -> list[dict[str, Any]]:
    found = []
    for document in documents:
        found.append(document)
        found.extend(_flatten(document.get("subsegments", [])))
    return found


def test_a_malformed_trace_aws_calls_fails_the_cold_start_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TABLE_NAME", "orders")
    monkeypatch.setenv("TRACE_AWS_CALLS", "yes please")
    with (
        mock_aws(),
        pytest.raises(Exception, match="TRACE_AWS_CALLS: 'yes please' is neither true nor false"),
    ):
        load_module("orders_api", "app", alias="malformed_trace")
