"""Every handler and runtime reads its environment once, at cold start, into typed settings: a
missing or malformed variable fails the start (the handler module's import, the service's
start) with SettingsError naming the variable, never a KeyError, or an error in a request."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from moto import mock_aws

from patterns.order_workflow.starter import CODE_DIR as STARTER_CODE
from tests.kit import ROOT, load_module
from tests.local_servers import load_web_app

STATE_MACHINE = "arn:aws:states:eu-west-1:123456789012:stateMachine:orders"

# function folder, module, a complete environment, then (variables changed, message start):
# None removes the variable. Each case is one cold start with one thing wrong.
FUNCTIONS: list[tuple[str, str, dict[str, str], list[tuple[dict[str, str | None], str]]]] = [
    (
        "orders_api",
        "app",
        {
            "TABLE_NAME": "orders",
            "OWNER_INDEX": "byOwner",
            "CORS_ALLOWED_ORIGINS": "",
            "MAX_BODY_BYTES": "8192",
        },
        [
            ({"TABLE_NAME": None}, "TABLE_NAME: missing; set it to the orders table name"),
            ({"TABLE_NAME": "  "}, "TABLE_NAME: missing"),
            ({"MAX_BODY_BYTES": "abc"}, "MAX_BODY_BYTES: 'abc' is not a whole number of bytes"),
            ({"MAX_BODY_BYTES": "0"}, "MAX_BODY_BYTES: '0' is not a whole number of bytes"),
            ({"MAX_BODY_BYTES": "\uff18"}, "MAX_BODY_BYTES: '\uff18' is not a whole number"),  # full-width 8
            ({"CORS_ALLOWED_ORIGINS": "shop.example.com"}, "CORS_ALLOWED_ORIGINS: 'shop.example.com' is not"),
        ],
    ),
    *[
        (
            "order_events",
            module,
            {"CONSUMER_NAME": "billing", "LEDGER_TABLE": "ledger", "IDEMPOTENCY_TABLE": "idempotency"},
            [
                ({"CONSUMER_NAME": None}, "CONSUMER_NAME: missing; set it to the consumer's name"),
                ({"LEDGER_TABLE": None}, "LEDGER_TABLE: missing; set it to the ledger table name"),
                ({"IDEMPOTENCY_TABLE": ""}, "IDEMPOTENCY_TABLE: missing; set it to the idempotency table"),
            ],
        )
        for module in ("queue_consumer", "analytics")
    ],
    (
        "order_saga",
        "payment",
        {"_HANDLER": "payment.charge", "PAYMENTS_TABLE": "payments", "PAYMENT_TOKENS_TABLE": "vault"},
        [
            ({"PAYMENTS_TABLE": None}, "PAYMENTS_TABLE: missing; set it to the payments table name"),
            (
                {"PAYMENT_TOKENS_TABLE": None},
                "PAYMENT_TOKENS_TABLE: missing; set it to the payment-token vault",
            ),
        ],
    ),
    (
        "order_saga",
        "shipment",
        {"SHIPMENTS_TABLE": "shipments", "SHIPPING_COUNTRIES": "IE,FR"},
        [
            ({"SHIPMENTS_TABLE": None}, "SHIPMENTS_TABLE: missing; set it to the shipments table name"),
            ({"SHIPPING_COUNTRIES": None}, "SHIPPING_COUNTRIES: missing"),
            (
                {"SHIPPING_COUNTRIES": "IE,Ireland"},
                "SHIPPING_COUNTRIES: 'IRELAND' is not a two-letter country",
            ),
        ],
    ),
    (
        STARTER_CODE,
        "starter",
        {"STATE_MACHINE_ARN": STATE_MACHINE, "EXECUTION_NAME_FIELD": "orderId"},
        [
            ({"STATE_MACHINE_ARN": None}, "STATE_MACHINE_ARN: missing; set it to the state machine's ARN"),
            ({"STATE_MACHINE_ARN": "orders"}, "STATE_MACHINE_ARN: 'orders' is not a state machine ARN"),
            ({"SEALED_FIELD": "paymentToken"}, "VAULT_TABLE: missing"),
            (
                {"SEALED_FIELD": "orderId", "VAULT_TABLE": "vault"},
                "SEALED_FIELD: 'orderId' is the execution's",
            ),
            (
                {"SEALED_FIELD": "paymentToken", "VAULT_TABLE": "vault", "SEALED_TTL_SECONDS": "1d"},
                "SEALED_TTL_SECONDS: '1d' is not a whole number of seconds",
            ),
        ],
    ),
]

CASES = [
    pytest.param(folder, module, {**env, **change}, message, id=f"{module}-{message.split(':')[0]}-{n}")
    for folder, module, env, changes in FUNCTIONS
    for n, (change, message) in enumerate(changes)
]
COMPLETE = [pytest.param(folder, module, env, id=module) for folder, module, env, _ in FUNCTIONS]
# One typed value each complete environment gives: the control for the cases above.
READ = {
    "app": ("max_body_bytes", 8192),
    "queue_consumer": ("ledger_table", "ledger"),
    "analytics": ("consumer_name", "billing"),
    "payment": ("payment_tokens_table", "vault"),
    "shipment": ("shipping_countries", frozenset({"IE", "FR"})),
    "starter": ("sealed_ttl_seconds", 86400),
}


@pytest.fixture
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """No variable of any function's settings is inherited from another test."""
    for _, _, env, changes in FUNCTIONS:
        for name in [*env, *(name for change, _ in changes for name in change)]:
            monkeypatch.delenv(name, raising=False)
    with mock_aws():
        yield monkeypatch


def cold_start(
    monkeypatch: pytest.MonkeyPatch, folder: str | Path, module: str, env: dict[str, Any]
) -> ModuleType:
    for name, value in env.items():
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    return load_module(folder, module, alias="settings")


@pytest.mark.parametrize(("folder", "module", "env"), COMPLETE)
def test_a_complete_environment_starts_the_function(
    clean_environment: pytest.MonkeyPatch, folder: str, module: str, env: dict[str, str]
) -> None:
    loaded = cold_start(clean_environment, folder, module, env)

    # The consumers' settings live in the module they share, order_event.py.
    settings = getattr(loaded, "settings", None) or sys.modules[loaded.apply_once.__module__].settings
    field, value = READ[module]
    assert getattr(settings, field) == value


@pytest.mark.parametrize(("folder", "module", "env", "message"), CASES)
def test_a_missing_or_malformed_variable_fails_the_cold_start_naming_it(
    clean_environment: pytest.MonkeyPatch, folder: str, module: str, env: dict[str, Any], message: str
) -> None:
    with pytest.raises(RuntimeError) as raised:
        cold_start(clean_environment, folder, module, env)

    assert raised.typename == "SettingsError"
    assert str(raised.value).startswith(message), str(raised.value)


def test_the_refund_function_has_no_vault_and_starts_without_one(
    clean_environment: pytest.MonkeyPatch,
) -> None:
    """Charge and refund share payment.py; Lambda sets `_HANDLER` to the handler the function runs
    (AWS Lambda Developer Guide, "Defined runtime environment variables")."""
    env = {"_HANDLER": "payment.refund", "PAYMENTS_TABLE": "payments"}
    payment = cold_start(clean_environment, "order_saga", "payment", env)

    assert payment.settings.payment_tokens_table is None


def test_a_charge_outside_lambda_without_a_vault_names_the_variable(
    clean_environment: pytest.MonkeyPatch,
) -> None:
    payment = cold_start(clean_environment, "order_saga", "payment", {"PAYMENTS_TABLE": "payments"})
    order = {"orderId": "o-1", "customerId": "c-1", "total": 1, "paymentTokenRef": "o-1"}

    with pytest.raises(RuntimeError, match=r"^PAYMENT_TOKENS_TABLE: missing"):
        payment.charge({"order": order})


def test_settings_are_read_once_not_per_call(clean_environment: pytest.MonkeyPatch) -> None:
    shipment = cold_start(
        clean_environment,
        "order_saga",
        "shipment",
        {"SHIPMENTS_TABLE": "shipments", "SHIPPING_COUNTRIES": "IE"},
    )
    clean_environment.setenv("SHIPPING_COUNTRIES", "FR")

    assert shipment.settings.shipping_countries == {"IE"}


# The instance services ---------------------------------------------------------------------

WEB_APP = {
    "APP_PORT": "8080",
    "AWS_REGION": "eu-west-1",
    "DB_WRITER_HOST": "proxy.example",
    "DB_WRITER_PORT": "5432",
    "DB_READER_HOSTS": "replica-1.example,replica-2.example",
    "DB_READER_PORT": "5433",
    "DB_NAME": "catalog",
    "DB_SECRET_ARN": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:db",
    "DB_SSLMODE": "verify-full",
    "CACHE_HOST": "cache.example",
    "CACHE_PORT": "6379",
    "CACHE_TLS": "1",
    "CACHE_AUTH": "iam",
    "CACHE_USER": "web-app",
    "CACHE_REPLICATION_GROUP_ID": "cache",
}


@pytest.fixture(scope="module")
def web_app() -> dict[str, Any]:
    return load_web_app()


def test_the_web_app_settings_are_typed(web_app: dict[str, Any]) -> None:
    settings = web_app["settings"].Settings.from_environ(WEB_APP)

    assert (settings.db_writer_port, settings.db_reader_port, settings.cache_tls) == (5432, 5433, True)
    assert settings.db_reader_hosts == ("replica-1.example", "replica-2.example")
    assert settings.db_credentials == WEB_APP["DB_SECRET_ARN"], "the secret holds the login"
    assert settings.cache_auth.region == "eu-west-1"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"DB_WRITER_HOST": None}, "DB_WRITER_HOST: missing; set it to the writer's host"),
        ({"DB_WRITER_PORT": "5432x"}, "DB_WRITER_PORT: '5432x' is not a TCP port"),
        ({"DB_READER_PORT": None}, "DB_READER_PORT: missing"),
        ({"DB_SECRET_ARN": None}, "DB_USER: missing; set it to the database user, or set DB_SECRET_ARN"),
        ({"DB_SSLMODE": "verify"}, "DB_SSLMODE: must be 'disable' or"),
        (
            {"DB_STATEMENT_DEADLINE": "nan"},
            "DB_STATEMENT_DEADLINE: 'nan' is not a positive number of seconds",
        ),
        ({"CACHE_PORT": "70000"}, "CACHE_PORT: '70000' is not a TCP port"),
        ({"CACHE_TLS": "yes"}, "CACHE_TLS: 'yes' is not 1 (on) or 0 (off)"),
        ({"CACHE_AUTH": "token"}, "CACHE_AUTH: must be 'iam' or 'password', got 'token'"),
        ({"CACHE_AUTH": None}, "CACHE_AUTH: missing"),
        ({"CACHE_REPLICATION_GROUP_ID": None}, "CACHE_REPLICATION_GROUP_ID: missing"),
        ({"AWS_REGION": None}, "AWS_REGION: missing"),
        ({"CACHE_AUTH": "password"}, "CACHE_PASSWORD: missing"),
    ],
)
def test_the_web_app_refuses_to_start_on_a_missing_or_malformed_variable(
    web_app: dict[str, Any], change: dict[str, str | None], message: str
) -> None:
    env = {name: value for name, value in {**WEB_APP, **change}.items() if value is not None}

    with pytest.raises(web_app["settings"].SettingsError) as raised:
        web_app["main"].build(env)

    assert str(raised.value).startswith(message), str(raised.value)


WORKER_MODULES = ("telemetry", "sqs_worker", "instance_lifecycle", "demo_job", "settings", "run_worker")
WORKER = {"QUEUE_URL": "https://sqs.eu-west-1.amazonaws.com/123456789012/jobs", "OUTPUT_BUCKET": "results"}


@pytest.fixture(scope="module")
def worker_settings() -> ModuleType:
    folder = str(ROOT / "runtime" / "worker_fleet")
    for name in WORKER_MODULES:
        sys.modules.pop(name, None)
    sys.path.insert(0, folder)
    try:
        return importlib.import_module("settings")
    finally:
        sys.path.remove(folder)
        for name in WORKER_MODULES:
            sys.modules.pop(name, None)


def test_the_worker_settings_are_typed(worker_settings: ModuleType) -> None:
    env = {**WORKER, "VISIBILITY_TIMEOUT_SECONDS": "300", "MAX_OBJECT_BYTES": "1048576", "DRAIN_SECONDS": "0"}
    settings = worker_settings.WorkerSettings.from_environ(env)

    assert (settings.worker.visibility_timeout_seconds, settings.worker.heartbeat_seconds) == (300, 100)
    assert (settings.max_object_bytes, settings.worker.drain_seconds, settings.lifecycle_hook_name) == (
        1048576,
        0,
        None,
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"QUEUE_URL": None}, "QUEUE_URL: missing; set it to the job queue's URL"),
        ({"OUTPUT_BUCKET": None}, "OUTPUT_BUCKET: missing"),
        ({"MAX_OBJECT_BYTES": "abc"}, "MAX_OBJECT_BYTES: 'abc' is not a whole number of bytes"),
        ({"CONCURRENCY": "0"}, "CONCURRENCY: '0' is not a whole number of jobs (1 or more)"),
        ({"WAIT_SECONDS": "30"}, "WAIT_SECONDS: SQS long polling allows 0 to 20, got 30"),
        ({"DRAIN_SECONDS": "-1"}, "DRAIN_SECONDS: '-1' is not a whole number of seconds"),
    ],
)
def test_the_worker_refuses_to_start_on_a_missing_or_malformed_variable(
    worker_settings: ModuleType, change: dict[str, str | None], message: str
) -> None:
    env = {name: value for name, value in {**WORKER, **change}.items() if value is not None}

    with pytest.raises(worker_settings.SettingsError) as raised:
        worker_settings.WorkerSettings.from_environ(env)

    assert str(raised.value).startswith(message), str(raised.value)
