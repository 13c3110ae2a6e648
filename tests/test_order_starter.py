"""The starter, run in-process against moto's Step Functions: one execution per order id,
redeliveries are success, a changed order reusing an id and malformed messages are reported one
by one and the rest goes on."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError
from moto import mock_aws

from patterns.order_workflow.starter import CODE_DIR as STARTER_CODE
from tests.kit import load_module

PASS_THROUGH = json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}})


def context() -> Any:
    return SimpleNamespace(
        function_name="starter",
        memory_limit_in_mb=512,
        invoked_function_arn="arn:aws:lambda:eu-west-1:123456789012:function:starter",
        aws_request_id="request-1",
    )


def sqs_event(*bodies: str) -> dict[str, Any]:
    return {
        "Records": [
            {
                "messageId": f"m-{index}",
                "receiptHandle": f"r-{index}",
                "body": body,
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:eu-west-1:123456789012:orders",
                "awsRegion": "eu-west-1",
            }
            for index, body in enumerate(bodies)
        ]
    }


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, Any, str]]:
    with mock_aws():
        sfn = boto3.client("stepfunctions")
        arn = sfn.create_state_machine(
            name="orders", definition=PASS_THROUGH, roleArn="arn:aws:iam::123456789012:role/orders"
        )["stateMachineArn"]
        monkeypatch.setenv("STATE_MACHINE_ARN", arn)
        yield load_module(STARTER_CODE, "starter"), sfn, arn


def executions(sfn: Any, arn: str) -> list[str]:
    return sorted(e["name"] for e in sfn.list_executions(stateMachineArn=arn)["executions"])


def test_each_order_starts_one_execution_named_after_it(started: tuple[Any, Any, str]) -> None:
    starter, sfn, arn = started
    orders = [json.dumps({"orderId": f"o-{n}", "total": n}) for n in (1, 2)]

    result = starter.handler(sqs_event(*orders), context())

    assert result == {"batchItemFailures": []}
    assert executions(sfn, arn) == ["o-1", "o-2"]
    described = sfn.describe_execution(executionArn=f"{arn.replace(':stateMachine:', ':execution:')}:o-1")
    assert json.loads(described["input"]) == {"orderId": "o-1", "total": 1}


def test_an_order_delivered_again_or_sent_again_is_success_and_starts_nothing_new(
    started: tuple[Any, Any, str],
) -> None:
    starter, sfn, arn = started
    first = json.dumps({"orderId": "o-7", "total": 10, "items": [{"sku": "A", "quantity": 1}]})
    same_order_other_spelling = json.dumps(
        {"items": [{"quantity": 1, "sku": "A"}], "total": 10, "orderId": "o-7"}
    )

    assert starter.handler(sqs_event(first), context()) == {"batchItemFailures": []}
    # While it runs, Step Functions returns the execution; once it ended, ExecutionAlreadyExists.
    assert starter.handler(sqs_event(first, same_order_other_spelling), context()) == {
        "batchItemFailures": []
    }
    sfn.stop_execution(executionArn=starter.execution_arn(arn, "o-7"))
    assert starter.handler(sqs_event(first, same_order_other_spelling), context()) == {
        "batchItemFailures": []
    }

    assert executions(sfn, arn) == ["o-7"]


def test_a_changed_order_reusing_an_id_is_reported_and_logged_not_dropped(
    started: tuple[Any, Any, str], caplog: pytest.LogCaptureFixture
) -> None:
    starter, sfn, arn = started
    first = json.dumps({"orderId": "o-7", "total": 10})
    edited = json.dumps({"orderId": "o-7", "total": 99})
    assert starter.handler(sqs_event(first), context()) == {"batchItemFailures": []}
    caplog.clear()

    result = starter.handler(sqs_event(first, edited, json.dumps({"orderId": "o-8"})), context())

    assert result == {"batchItemFailures": [{"itemIdentifier": "m-1"}]}
    assert executions(sfn, arn) == ["o-7", "o-8"]
    described = sfn.describe_execution(executionArn=starter.execution_arn(arn, "o-7"))
    assert json.loads(described["input"]) == {"orderId": "o-7", "total": 10}, "the first order stands"
    [error] = [record for record in caplog.records if record.levelname == "ERROR"]
    assert error.getMessage() == "order id reused for a different order"
    assert (error.order_id, error.message_id) == ("o-7", "m-1")


def test_malformed_messages_are_reported_one_by_one_and_the_rest_still_starts(
    started: tuple[Any, Any, str],
) -> None:
    starter, sfn, arn = started
    bodies = [
        "not json",
        json.dumps(["an", "array"]),
        json.dumps({"total": 3}),
        json.dumps({"orderId": "has spaces in it"}),
        json.dumps({"orderId": "o-1\n"}),
        json.dumps({"orderId": "o-ok"}),
    ]

    result = starter.handler(sqs_event(*bodies), context())

    assert result == {"batchItemFailures": [{"itemIdentifier": f"m-{n}"} for n in range(5)]}
    assert executions(sfn, arn) == ["o-ok"]


def test_when_no_order_can_start_the_invocation_fails_and_the_whole_batch_returns(
    started: tuple[Any, Any, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, sfn, arn = started
    monkeypatch.setenv("STATE_MACHINE_ARN", arn + "-gone")
    starter = load_module(STARTER_CODE, "starter")  # a cold start reads the environment
    batch = sqs_event(json.dumps({"orderId": "o-lost"}), json.dumps({"orderId": "o-lost-too"}))

    with pytest.raises(BatchProcessingError, match="All records failed"):
        starter.handler(batch, context())

    assert executions(sfn, arn) == []


def test_the_execution_name_comes_from_the_configured_field(
    started: tuple[Any, Any, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, sfn, arn = started
    monkeypatch.setenv("EXECUTION_NAME_FIELD", "paymentId")
    starter = load_module(STARTER_CODE, "starter")

    result = starter.handler(
        sqs_event(json.dumps({"paymentId": "p-1"}), json.dumps({"orderId": "o-1"})), context()
    )

    assert result == {"batchItemFailures": [{"itemIdentifier": "m-1"}]}
    assert executions(sfn, arn) == ["p-1"]


# Sealing the payment token ------------------------------------------------------------------

TOKEN = "tok_visa_4242_Qm3r"


@pytest.fixture
def sealing(started: tuple[Any, Any, str], monkeypatch: pytest.MonkeyPatch) -> tuple[Any, Any, str, Any]:
    _, sfn, arn = started
    dynamodb = boto3.client("dynamodb")
    dynamodb.create_table(
        TableName="vault",
        KeySchema=[{"AttributeName": "ref", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "ref", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    monkeypatch.setenv("SEALED_FIELD", "paymentToken")
    monkeypatch.setenv("VAULT_TABLE", "vault")
    monkeypatch.setenv("SEALED_TTL_SECONDS", "7200")
    return load_module(STARTER_CODE, "starter"), sfn, arn, dynamodb


def test_the_token_is_sealed_in_the_vault_and_the_execution_gets_its_reference(
    sealing: tuple[Any, Any, str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    starter, sfn, arn, dynamodb = sealing
    before = time.time()

    result = starter.handler(sqs_event(json.dumps({"orderId": "o-1", "paymentToken": TOKEN})), context())

    assert result == {"batchItemFailures": []}
    described = sfn.describe_execution(executionArn=starter.execution_arn(arn, "o-1"))
    assert json.loads(described["input"]) == {"orderId": "o-1", "paymentTokenRef": "o-1"}
    [item] = vault_items(dynamodb, "o-1")
    assert (item["ref"]["S"], item["secret"]["S"]) == ("o-1", TOKEN)
    assert int(before) + 7200 <= int(item["expiresAt"]["N"]) <= time.time() + 7200, (
        "TTL from SEALED_TTL_SECONDS"
    )
    assert caplog.records and not any(
        TOKEN in record.getMessage() + str(record.__dict__) for record in caplog.records
    )


def test_a_redelivery_passes_and_another_token_under_the_same_id_is_refused_unlogged(
    sealing: tuple[Any, Any, str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    starter, sfn, arn, dynamodb = sealing
    first = json.dumps({"orderId": "o-1", "paymentToken": TOKEN})
    other = json.dumps({"orderId": "o-1", "paymentToken": "tok_other_card_8812"})
    assert starter.handler(sqs_event(first), context()) == {"batchItemFailures": []}

    result = starter.handler(sqs_event(first, other), context())

    assert result == {"batchItemFailures": [{"itemIdentifier": "m-1"}]}
    assert executions(sfn, arn) == ["o-1"]
    [item] = vault_items(dynamodb, "o-1")
    assert item["secret"]["S"] == TOKEN, "the first order's token stands"
    [error] = [record for record in caplog.records if record.levelname == "ERROR"]
    assert error.getMessage() == "order id reused for a different order"
    assert not any("tok_" in record.getMessage() + str(record.__dict__) for record in caplog.records)


def vault_items(dynamodb: Any, ref: str) -> list[dict[str, Any]]:
    return [item for item in dynamodb.scan(TableName="vault")["Items"] if item["ref"]["S"] == ref]


def test_once_the_token_is_spent_a_redelivery_passes_unsealed_and_another_token_is_still_refused(
    sealing: tuple[Any, Any, str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    """The payment step deletes the token once the charge is decided (lambda/order_saga/payment.py),
    and Step Functions keeps the execution's name, with its input, for 90 days (Step Functions
    Developer Guide, "Quotas": closed executions' history): what the starter checks a later
    message against must outlive the token, or a different token for the charged order would be
    taken for a redelivery and sealed where no step will ever read or delete it."""
    starter, sfn, arn, dynamodb = sealing
    first = json.dumps({"orderId": "o-1", "paymentToken": TOKEN})
    other = json.dumps({"orderId": "o-1", "paymentToken": "tok_other_card_8812"})
    assert starter.handler(sqs_event(first), context()) == {"batchItemFailures": []}
    dynamodb.delete_item(TableName="vault", Key={"ref": {"S": "o-1"}})  # spent, as the charge does

    assert starter.handler(sqs_event(first, other), context()) == {
        "batchItemFailures": [{"itemIdentifier": "m-1"}]
    }
    assert executions(sfn, arn) == ["o-1"]
    assert vault_items(dynamodb, "o-1") == [], "neither token is sealed again"
    [fingerprint] = vault_items(dynamodb, "o-1#fingerprint")
    assert TOKEN not in json.dumps(fingerprint) and "secret" not in fingerprint
    assert int(fingerprint["expiresAt"]["N"]) >= time.time() + 89 * 24 * 3600
    [error] = [record for record in caplog.records if record.levelname == "ERROR"]
    assert error.getMessage() == "order id reused for a different order"


@pytest.mark.parametrize("token", [1234567812345678, "", {"pan": "4242424242424242"}])
def test_a_token_that_is_not_a_string_is_a_malformed_order_sealed_nowhere(
    sealing: tuple[Any, Any, str, Any], caplog: pytest.LogCaptureFixture, token: Any
) -> None:
    starter, sfn, arn, dynamodb = sealing

    bad, good = {"orderId": "o-1", "paymentToken": token}, {"orderId": "o-2", "paymentToken": TOKEN}

    result = starter.handler(sqs_event(json.dumps(bad), json.dumps(good)), context())

    assert result == {"batchItemFailures": [{"itemIdentifier": "m-0"}]}
    assert executions(sfn, arn) == ["o-2"]
    assert sorted(item["ref"]["S"] for item in dynamodb.scan(TableName="vault")["Items"]) == [
        "o-2",
        "o-2#fingerprint",
    ]
    logged = " ".join(record.getMessage() + str(record.__dict__) for record in caplog.records)
    assert "malformed order message" in logged
    assert "4242424242424242" not in logged and "1234567812345678" not in logged
