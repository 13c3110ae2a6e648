"""The synthesized order workflow executed in moto, with the real starter, payment and shipment
handlers: every path of the saga, what it leaves in the tables, queues and topic, and that the
payment token and the customer's details reach no log, execution or dead-letter message."""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from decimal import Decimal
from typing import Any
from unittest import mock

import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.awslambda.exceptions import LambdaClientError

from tests.order_workflow_harness import (
    CUSTOMER_DETAILS,
    DECLINING_TOKEN,
    MOTO_CONFIG,
    Sandbox,
    order,
)

COMPENSATIONS = ("RefundPayment", "ReleaseInventory")


@pytest.fixture
def box() -> Iterator[Sandbox]:
    with mock_aws(config=MOTO_CONFIG):
        sandbox = Sandbox()
        sandbox.stock("SKU-1", 5)
        sandbox.stock("SKU-2", 1)
        with sandbox.running():
            yield sandbox


def test_an_order_completes_reserving_charging_shipping_and_publishing(box: Sandbox) -> None:
    execution = box.run(order("o-happy", lines={"SKU-1": 2, "SKU-2": 1}))

    assert execution["status"] == "SUCCEEDED"
    assert box.available("SKU-1") == 3 and box.available("SKU-2") == 0
    assert box.reservations("SKU-1") == {}, "a completed order's reservation becomes a sale"
    assert box.customer_totals("customer-of-o-happy") == {"charged": Decimal("42.5")}
    assert box.order_record("o-happy")["status"] == "COMPLETED"
    assert box.messages(box.published_queue) == [
        {
            "eventId": "o-happy:OrderCompleted",
            "eventType": "OrderCompleted",
            "order": {
                "orderId": "o-happy",
                "customerId": "customer-of-o-happy",
                "total": 42.5,
                "requiresShipping": True,
            },
        }
    ]
    # Wired to the EventDriven bus: the same event, put by the events:putEvents task (moto runs it).
    (put,) = box.messages(box.bus_queue)
    assert (put["source"], put["detail-type"]) == ("refarch.orders", "OrderCompleted")
    assert put["detail"]["eventId"] == "o-happy:OrderCompleted" and put["detail"]["order"]["total"] == 42.5
    assert box.messages(box.dead_letter_queue) == []


def test_out_of_stock_declines_the_order_without_charging_and_gives_back_other_lines(box: Sandbox) -> None:
    execution = box.run(order("o-short", lines={"SKU-1": 2, "SKU-2": 3}))

    assert execution["status"] == "SUCCEEDED", "a decline is a business outcome, not a failed execution"
    record = box.order_record("o-short")
    assert (record["status"], record["reason"]) == ("DECLINED", "OutOfStock")
    assert "SKU-2" in record["detail"]
    assert box.handlers.calls == [], "no payment was attempted"
    assert box.customer_totals("customer-of-o-short") == {}
    assert (box.available("SKU-1"), box.available("SKU-2")) == (5, 1), "the line reserved was released"
    assert box.reservations("SKU-1") == {}
    assert box.messages(box.published_queue) == []


def test_two_lines_of_the_same_sku_reserve_both_quantities_and_release_both(box: Sandbox) -> None:
    twice = [{"sku": "SKU-1", "quantity": 2}, {"sku": "SKU-1", "quantity": 2}]
    assert box.run(order("o-pair", items=twice))["status"] == "SUCCEEDED"
    assert box.available("SKU-1") == 1

    too_many = [{"sku": "SKU-1", "quantity": 1}, {"sku": "SKU-1", "quantity": 1}]
    assert box.run(order("o-pair-2", items=too_many))["status"] == "SUCCEEDED"
    assert box.order_record("o-pair-2")["reason"] == "OutOfStock"
    assert box.available("SKU-1") == 1 and box.reservations("SKU-1") == {}


def test_a_declined_payment_releases_the_inventory_and_charges_nothing(box: Sandbox) -> None:
    arn = box.start(order("o-declined", paymentToken=DECLINING_TOKEN))
    execution = box.finish(arn)

    assert execution["status"] == "SUCCEEDED"
    record = box.order_record("o-declined")
    assert (record["status"], record["reason"]) == ("DECLINED", "PaymentDeclined")
    assert box.available("SKU-1") == 5
    assert box.customer_totals("customer-of-o-declined") == {}
    entered = box.states_entered(arn)
    assert "RefundPayment" not in entered, "nothing was charged, so nothing is refunded"
    assert "ReleaseInventory" in entered
    assert box.messages(box.published_queue) == []


def test_a_failed_shipment_refunds_then_releases_and_fails_the_order_with_the_reason(box: Sandbox) -> None:
    arn = box.start(order("o-far", address={"country": "AQ"}))
    execution = box.finish(arn)

    assert execution["status"] == "FAILED"
    assert execution["error"] == "ShipmentUnavailable"
    record = box.order_record("o-far")
    assert (record["status"], record["reason"]) == ("FAILED", "ShipmentUnavailable")
    entered = box.states_entered(arn)
    compensations = [state for state in entered if state in COMPENSATIONS]
    assert compensations == ["RefundPayment", "ReleaseInventory"], "undone newest first"
    assert box.customer_totals("customer-of-o-far") == {
        "charged": Decimal("42.5"),
        "refunded": Decimal("42.5"),
    }
    assert box.available("SKU-1") == 5 and box.reservations("SKU-1") == {}
    assert box.messages(box.published_queue) == []
    assert box.messages(box.dead_letter_queue) == []


def test_a_throttled_payment_is_retried_with_capped_jittered_backoff_then_succeeds(box: Sandbox) -> None:
    box.handlers.throttle("charge", times=2)

    execution = box.run(order("o-busy"))

    assert execution["status"] == "SUCCEEDED"
    charges = [outcome for name, outcome in box.handlers.calls if name == "charge"]
    assert charges == ["TooManyRequestsException", "TooManyRequestsException", "ok"]
    assert box.customer_totals("customer-of-o-busy") == {"charged": Decimal("42.5")}
    # Full jitter: each wait is drawn from [0, min(cap, interval x 2^n)]; the synthesized policy
    # (interval 1 s, rate 2, cap 20 s) bounds the two waits by 1 s and 2 s.
    assert len(box.sleeps) == 2
    assert 0 <= box.sleeps[0] <= 1 and 0 <= box.sleeps[1] <= 2
    assert box.sleeps != [1, 2], "without jitter the waits would be exactly 1 s and 2 s"


def test_a_payment_whose_response_was_lost_is_retried_and_charges_once(box: Sandbox) -> None:
    """The first charge goes through but its caller sees a Lambda error (the response is lost);
    the retry reaches the handler again, which answers with the charge already taken."""
    real_invoke = box.handlers.invoke
    lost = {"count": 0}

    def lose_first_response(function_name: str, body: object, response_headers: dict[str, object]) -> bytes:
        response = real_invoke(function_name, body, response_headers)
        if "Payment" in function_name and lost["count"] == 0:
            lost["count"] += 1
            raise LambdaClientError("ServiceException", "The response was lost")
        return response

    box.handlers.invoke = lose_first_response  # type: ignore[method-assign]
    execution = box.run(order("o-lost"))

    assert execution["status"] == "SUCCEEDED"
    assert [name for name, _ in box.handlers.calls].count("charge") == 2
    assert box.customer_totals("customer-of-o-lost") == {"charged": Decimal("42.5")}


def test_a_charge_that_meets_a_transaction_conflict_is_retried_and_the_order_completes(box: Sandbox) -> None:
    """The first charge's transaction is cancelled because a concurrent order of the same
    customer held its `customer#<id>` item: ProviderUnavailable, retried, charged once."""
    charge = box.handlers.by_logical_id[box.handlers.names["charge"]]
    client = inspect.unwrap(charge).__globals__["dynamodb"]
    real_write = client.transact_write_items
    conflicts = [
        ClientError(
            {
                "Error": {"Code": "TransactionCanceledException", "Message": "Transaction cancelled"},
                "CancellationReasons": [{"Code": "None"}, {"Code": "TransactionConflict"}],
            },
            "TransactWriteItems",
        )
    ]

    def write(**kwargs: Any) -> Any:
        if conflicts:
            raise conflicts.pop()
        return real_write(**kwargs)

    with mock.patch.object(client, "transact_write_items", write):
        arn = box.start(order("o-contended"))
        execution = box.finish(arn)

    assert execution["status"] == "SUCCEEDED"
    charges = [outcome for name, outcome in box.handlers.calls if name == "charge"]
    assert charges == ["ProviderUnavailable", "ok"]
    assert "RefundPayment" not in box.states_entered(arn)
    assert box.customer_totals("customer-of-o-contended") == {"charged": Decimal("42.5")}
    assert box.order_record("o-contended")["status"] == "COMPLETED"
    assert len(box.sleeps) == 1 and 0 <= box.sleeps[0] <= 1, "one jittered retry wait"


def test_the_same_order_sent_twice_runs_once_and_charges_once(box: Sandbox) -> None:
    the_order = order("o-twice")
    first = box.finish(box.start(the_order))

    assert box.submit(the_order) == {"batchItemFailures": []}, "a redelivery is success"
    assert first["status"] == "SUCCEEDED"
    assert len(box.sfn.list_executions(stateMachineArn=box.state_machine_arn)["executions"]) == 1
    assert box.customer_totals("customer-of-o-twice") == {"charged": Decimal("42.5")}
    assert box.available("SKU-1") == 3


def test_a_refund_that_keeps_failing_goes_to_the_dead_letter_queue_and_the_saga_carries_on(
    box: Sandbox,
) -> None:
    box.handlers.throttle("refund", times=100)

    arn = box.start(order("o-stuck", address={"country": "AQ"}))
    execution = box.finish(arn)

    assert (execution["status"], execution["error"]) == ("FAILED", "CompensationFailed")
    refunds = [outcome for name, outcome in box.handlers.calls if name == "refund"]
    [retry] = box.definition["States"]["RefundPayment"]["Retry"]
    assert len(refunds) == 1 + retry["MaxAttempts"], "the compensation's own retries were spent first"
    [report] = box.messages(box.dead_letter_queue)
    assert report["problem"] == "RefundPaymentFailed"
    assert report["execution"] == arn
    assert report["orderId"] == "o-stuck"
    assert report["items"] == [{"sku": "SKU-1", "quantity": 2}], "what to release by hand, if need be"
    assert report["failure"]["Error"] == "ShipmentUnavailable"
    assert report["error"]["Error"] == "Lambda.TooManyRequestsException"
    assert box.customer_totals("customer-of-o-stuck") == {"charged": Decimal("42.5")}, "not refunded"
    assert box.available("SKU-1") == 5, "the older compensation still ran"
    record = box.order_record("o-stuck")
    assert (record["status"], record["reason"]) == ("NEEDS_ATTENTION", "ShipmentUnavailable")


def test_an_order_without_its_required_fields_fails_as_invalid_before_any_step(box: Sandbox) -> None:
    broken = order("o-broken")
    del broken["paymentToken"]

    execution = box.run(broken)

    assert (execution["status"], execution["error"]) == ("FAILED", "InvalidOrder")
    assert box.available("SKU-1") == 5 and box.handlers.calls == []


def test_an_execution_started_with_the_token_itself_is_refused_before_any_step(box: Sandbox) -> None:
    """Whoever starts an execution without the starter, with the raw token in the input, gets
    InvalidOrder: no step runs, and nothing downstream ever handles the token."""
    raw = {**order("o-raw"), "paymentTokenRef": "o-raw"}

    execution = box.finish(box.start_directly(raw))

    assert (execution["status"], execution["error"]) == ("FAILED", "InvalidOrder")
    assert box.handlers.calls == [] and box.available("SKU-1") == 5


LEAK_PATHS = {
    "completed": ({}, "SUCCEEDED"),
    "out of stock": ({"lines": {"SKU-1": 1, "SKU-2": 9}}, "SUCCEEDED"),
    "payment declined": ({"paymentToken": DECLINING_TOKEN}, "SUCCEEDED"),
    "shipment failed and the refund keeps failing": (
        {"address": {"country": "AQ", **CUSTOMER_DETAILS}},
        "FAILED",
    ),
}


@pytest.mark.parametrize("path", LEAK_PATHS)
def test_no_payment_token_or_personal_data_in_any_log_execution_or_queue(
    box: Sandbox, path: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """The order goes in through the orders queue and the real starter, as the shop sends it.
    The token must not appear in anything an operator or log reader sees: log lines of the
    starter and the handlers (and the Lambda runtime's error log), the execution's history and
    description (Step Functions keeps these for 90 days, readable with DescribeExecution and
    GetExecutionHistory, whatever the logging), the execution log for the synthesized
    LoggingConfiguration, and every message of every queue (the dead-letter queues keep theirs
    14 days). The customer's details must not appear in logs, execution logs or queues."""
    overrides, status = LEAK_PATHS[path]
    if path.startswith("shipment failed"):
        box.handlers.throttle("refund", times=100)
    the_order = order(f"o-{path.split()[0]}", **overrides)
    token = the_order["paymentToken"]

    execution = box.finish(box.start(the_order))

    assert execution["status"] == status
    if path.startswith("shipment failed"):
        assert [m["problem"] for m in box.messages(box.dead_letter_queue)] == ["RefundPaymentFailed"]
    exposed = box.exposed([execution["executionArn"]])
    exposed["captured stdout and stderr"] = list(capsys.readouterr())
    assert (
        exposed["execution history"]
        and exposed["execution log"]
        and exposed["function and starter log lines"]
    )
    for where, texts in exposed.items():
        for text in texts:
            assert token not in text, f"the payment token is in the {where}: {text[:300]}"
            if where in ("execution history", "execution descriptions"):
                continue  # the order itself is the execution's input; Step Functions keeps it
            for detail in CUSTOMER_DETAILS.values():
                assert detail not in text, f"{detail!r} is in the {where}: {text[:300]}"
    assert box.vault_items() == [], "the payment step forgets the token once the payment is decided"


def test_the_production_definition_runs_the_same_happy_path() -> None:
    with mock_aws(config=MOTO_CONFIG):
        sandbox = Sandbox("production")
        sandbox.stock("SKU-1", 5)
        with sandbox.running():
            execution = sandbox.run(order("o-prod"))
        assert execution["status"] == "SUCCEEDED"
        assert sandbox.order_record("o-prod")["status"] == "COMPLETED"
        assert sandbox.customer_totals("customer-of-o-prod") == {"charged": Decimal("42.5")}
        assert [m["eventId"] for m in sandbox.messages(sandbox.published_queue)] == ["o-prod:OrderCompleted"]
