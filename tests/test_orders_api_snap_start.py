"""The orders API under Lambda SnapStart: what environments restored from one snapshot must not
share, and what they may.

Lambda runs Init once per published version, snapshots the environment and resumes every new
environment from it, running the handler's after-restore hooks first
(https://docs.aws.amazon.com/lambda/latest/dg/snapstart-runtime-hooks-python.html). Nothing here
can run a snapshot; the hooks go through the real `snapshot_restore_py` library (the one Lambda's
managed Python runtimes ship, from PyPI), and each test restores "environments" by putting back
the state they would share, then running the registered hooks as the runtime does.
"""

from __future__ import annotations

import json
import logging
import random
import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import boto3
import pytest
import snapshot_restore_py
from moto import mock_aws

from tests.kit import load_module
from tests.test_orders_api import Api, definition, start_api  # noqa: F401


def _hooks_registered_by(load: Any) -> list[tuple[Any, tuple[Any, ...], dict[str, Any]]]:
    registry = snapshot_restore_py.get_after_restore()
    before = len(registry)
    load()
    return list(registry[before:])


def _restore(hooks: list[tuple[Any, tuple[Any, ...], dict[str, Any]]]) -> None:
    for function, args, kwargs in hooks:  # in the order of registration, as the runtime runs them
        function(*args, **kwargs)


def test_environments_restored_from_one_snapshot_draw_their_own_random_numbers(
    definition: dict[str, Any],  # noqa: F811
) -> None:
    """Every restored environment starts with the snapshot's `random` state, which botocore's
    retry jitter draws from: without a reseed they would all retry a throttled call in step."""
    with mock_aws():
        hooks = _hooks_registered_by(lambda: start_api(definition))
    assert hooks, "the handler registers an after-restore hook"
    random.seed(42)
    snapshot = random.getstate()
    drawn = []
    for _ in range(2):  # two environments restored from the same snapshot
        random.setstate(snapshot)
        _restore(hooks)
        drawn.append(random.random())
    assert drawn[0] != drawn[1]


def test_each_restored_environment_decides_its_own_debug_log_sampling(
    definition: dict[str, Any],  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Powertools decides debug-log sampling (POWERTOOLS_LOGGER_SAMPLE_RATE) at Init and again
    only on warm invocations; the first invocation of a restored environment is a cold start, so
    without the hook every environment of a snapshot would keep the snapshot's decision."""
    monkeypatch.setenv("POWERTOOLS_LOGGER_SAMPLE_RATE", "0.5")
    with mock_aws():
        api_holder: list[Any] = []
        hooks = _hooks_registered_by(lambda: api_holder.append(start_api(definition)))
    logger = api_holder[0].module.logger
    levels = set()
    for _ in range(40):  # 40 environments of one snapshot that sampled DEBUG in
        logger.setLevel(logging.DEBUG)
        _restore(hooks)
        levels.add(logger.log_level)
    # Each environment draws anew: with a rate of 0.5, 40 draws all alike has odds of 2 in 10^12.
    assert levels == {logging.DEBUG, logging.INFO}


def test_init_opens_no_connection_so_the_snapshot_holds_no_socket(monkeypatch: pytest.MonkeyPatch) -> None:
    """A connection opened at Init would be in the snapshot, shared by every restored
    environment and long closed by the peer. Init here connects to nothing: the DynamoDB client
    connects on its first call (this fails if Init ever makes one)."""
    attempts: list[Any] = []

    def refuse(self: socket.socket, address: Any) -> None:
        attempts.append(address)
        raise OSError("no network at Init")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setenv("TABLE_NAME", "orders")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "init")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "init")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    load_module("orders_api", "app", alias="no_network")
    assert attempts == []


class _CredentialsEndpoint(BaseHTTPRequestHandler):
    """Lambda's container credentials endpoint, as a SnapStart function gets it
    (AWS_CONTAINER_CREDENTIALS_FULL_URI and AWS_CONTAINER_AUTHORIZATION_TOKEN instead of key
    variables: https://docs.aws.amazon.com/lambda/latest/dg/snapstart-activate.html)."""

    served: ClassVar[list[str]] = []
    lifetime = timedelta(minutes=5)

    def do_GET(self) -> None:
        assert self.headers["Authorization"] == "token"
        key = f"KEY{len(self.served) + 1}"
        self.served.append(key)
        expiration = (datetime.now(UTC) + self.lifetime).strftime("%Y-%m-%dT%H:%M:%SZ")
        body = json.dumps(
            {"AccessKeyId": key, "SecretAccessKey": "secret", "Token": "token", "Expiration": expiration}
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: Any) -> None:
        pass


@pytest.fixture
def credentials_endpoint() -> Iterator[str]:
    _CredentialsEndpoint.served = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _CredentialsEndpoint)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/credentials"
    finally:
        server.shutdown()
        server.server_close()


def test_credentials_resolved_at_init_are_fetched_again_before_a_request_once_near_expiry(
    definition: dict[str, Any],  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
    credentials_endpoint: str,
) -> None:
    """The client created at Init fetched credentials then, and they are in the snapshot; a
    restore can come days later. botocore holds container credentials as refreshable: a request
    made when they expire within 10 minutes fetches new ones first (here they are served with 5
    minutes to live, so every request after Init is such a request), and signs with those."""
    signed_with: list[str] = []
    with mock_aws():  # moto answers DynamoDB; it sets key variables, which SnapStart does not
        start_api(definition)  # the table, made with moto's keys
        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", credentials_endpoint)
        monkeypatch.setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", "token")
        monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)  # a fresh process's: none resolved yet
        api = Api(load_module("orders_api", "app", alias="container_credentials"), "orders")  # Init
        assert _CredentialsEndpoint.served == ["KEY1"], "Init resolved the credentials once"
        api.module.store.client.meta.events.register(
            "before-send.dynamodb",
            lambda request, **_: signed_with.append(
                request.headers["Authorization"].decode().split("Credential=")[1].split("/")[0]
            ),
        )
        status, _, _ = api.create()
    assert status == 201
    # Never with the snapshot's: each request signs with keys fetched after Init (with 5 minutes
    # to live, botocore fetches again at every signature).
    assert signed_with and "KEY1" not in signed_with
    assert set(signed_with) <= set(_CredentialsEndpoint.served[1:])
