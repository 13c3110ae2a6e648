"""What the synthesized `FanOut` stack does with real messages, in moto, with the real consumers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from moto import mock_aws
from moto.awslambda.models import LambdaFunction

from tests.fan_out_world import FanOutWorld, LambdaContext, order_event, sqs_record
from tests.kit import template_json


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> Iterator[FanOutWorld]:
    # moto would run a Lambda subscriber in Docker; until a test plugs in the real handler,
    # SNS deliveries to a function just succeed.
    monkeypatch.setattr(LambdaFunction, "invoke", lambda *_: "{}")
    with mock_aws(config={"lambda": {"use_docker": False}}):
        yield FanOutWorld(template_json("FanOut", "sandbox")).build()


def _event_ids(messages: list[dict[str, Any]]) -> list[str]:
    return sorted(json.loads(m["Body"])["eventId"] for m in messages)


def test_each_queue_receives_exactly_the_events_its_filter_admits(world: FanOutWorld) -> None:
    events = [
        order_event("o-1"),
        order_event("o-2", shipping=False),
        order_event("o-3", "OrderCancelled"),
        order_event("o-4", "OrderPaid"),
    ]
    for event in events:
        world.publish(event)
    assert _event_ids(world.messages(world.queue_urls["Billing"])) == sorted(e["eventId"] for e in events)
    assert _event_ids(world.messages(world.queue_urls["Shipping"])) == ["OrderPlaced-o-1"]


def test_a_message_the_consumer_keeps_failing_ends_in_its_dead_letter_queue(
    world: FanOutWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    billing = world.consumer("/BillingConsumer/", "queue_consumer", monkeypatch)
    world.publish("this is not an order event")
    for order in ("o-1", "o-2", "o-3"):
        world.publish(order_event(order))
    queue = world.queue_urls["Billing"]
    failures = world.drain(queue, billing)

    assert sum(1 for batch in failures if batch) == world.max_receive_count[queue] == 5
    dead = world.messages(world.queue_urls["Billing/DeadLetterQueue"])
    assert [m["Body"] for m in dead] == ["this is not an order event"]
    # the count travels with the message: five failed receives, plus this test's own read
    assert dead[0]["Attributes"]["ApproximateReceiveCount"] == "6"
    assert world.messages(queue) == []
    ledger = world.ledger()
    assert {pk: item["events"] for pk, item in ledger.items()} == {f"billing#o-{i}": 1 for i in (1, 2, 3)}


def test_a_batch_with_one_bad_record_returns_only_that_record(
    world: FanOutWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    shipping = world.consumer("/ShippingConsumer/", "queue_consumer", monkeypatch)
    bodies = [
        json.dumps(order_event("o-1")),
        '{"eventId": "e-2", "order": {}}',
        json.dumps(order_event("o-3")),
    ]
    queue = world.queue_urls["Shipping"]
    for body in bodies:
        world.sqs.send_message(QueueUrl=queue, MessageBody=body)
    messages = world.sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]
    assert len(messages) == 3
    event = {"Records": [sqs_record(m, world.arn(queue)) for m in messages]}

    response = shipping.handler(event, LambdaContext(function_name="shipping"))

    bad = next(m["MessageId"] for m in messages if m["Body"] == bodies[1])
    assert response == {"batchItemFailures": [{"itemIdentifier": bad}]}
    assert set(world.ledger()) == {"shipping#o-1", "shipping#o-3"}


def test_the_same_event_delivered_twice_has_one_effect(
    world: FanOutWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    billing = world.consumer("/BillingConsumer/", "queue_consumer", monkeypatch)
    event = order_event("o-9")
    world.publish(event)
    world.publish(event)  # SNS and SQS are at-least-once: a duplicate has a new message id
    queue = world.queue_urls["Billing"]
    assert len({m["MessageId"] for m in world.messages(queue)}) == 2

    assert world.drain(queue, billing) == [[]]
    assert world.ledger()["billing#o-9"]["events"] == 1
    assert world.ledger()["billing#o-9"]["amount"] == pytest.approx(42.5)


def test_the_analytics_function_counts_every_event_published_once(
    world: FanOutWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    analytics = world.consumer("/AnalyticsConsumer/", "analytics", monkeypatch)
    invocations: list[dict[str, Any]] = []

    def run_real_handler(self: LambdaFunction, body: str, *_: Any) -> str:
        invocations.append(json.loads(body))
        return json.dumps(
            analytics.handler(json.loads(body), LambdaContext(function_name=self.function_name))
        )

    monkeypatch.setattr(LambdaFunction, "invoke", run_real_handler)
    for event in (
        order_event("o-1"),
        order_event("o-2"),
        order_event("o-2"),
        order_event("o-1", "OrderPaid"),
    ):
        world.publish(event)  # moto delivers to the Lambda subscription, which runs the real handler

    assert len(invocations) == 4
    counts = {pk: item["events"] for pk, item in world.ledger().items()}
    assert counts == {"analytics#OrderPlaced": 2, "analytics#OrderPaid": 1}


def test_the_analytics_function_fails_the_invocation_of_a_malformed_event_and_counts_nothing(
    world: FanOutWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    analytics = world.consumer("/AnalyticsConsumer/", "analytics", monkeypatch)
    event = {"Records": [{"Sns": {"MessageId": "m-1", "Message": '{"eventType": "OrderPlaced"}'}}]}
    with pytest.raises(analytics.MalformedEvent, match="order must be an object"):
        analytics.handler(event, LambdaContext(function_name="analytics"))
    assert world.ledger() == {}


REUSED = "event id reused for a different event"


def _reused(caplog: pytest.LogCaptureFixture) -> list[Any]:
    return [r for r in caplog.records if r.getMessage() == REUSED]


def test_an_event_id_reused_for_a_different_event_is_a_failed_record_and_changes_nothing(
    world: FanOutWorld, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Powertools' payload validation (IdempotencyConfig.payload_validation_jmespath) raises
    IdempotencyValidationError when a repeat of a stored idempotency key hashes differently;
    the consumer reports that record, so it is retried and ends in the DLQ, whose alarm fires."""
    billing = world.consumer("/BillingConsumer/", "queue_consumer", monkeypatch)
    queue = world.queue_urls["Billing"]
    first = order_event("o-1")
    world.publish(first)
    assert world.drain(queue, billing) == [[]]
    changed = {**first, "order": {**first["order"], "total": 99.0}}  # same eventId, another order
    for event in (changed, order_event("o-2"), first):  # `first` again: a true duplicate
        world.publish(event)
    messages = world.sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]
    assert len(messages) == 3

    response = billing.handler(
        {"Records": [sqs_record(m, world.arn(queue)) for m in messages]}, LambdaContext("billing")
    )

    reused = next(m["MessageId"] for m in messages if json.loads(m["Body"]) == changed)
    assert response == {"batchItemFailures": [{"itemIdentifier": reused}]}
    [line] = _reused(caplog)
    assert (line.levelname, line.event_id, line.message_id) == ("ERROR", first["eventId"], reused)
    ledger = world.ledger()
    assert (ledger["billing#o-1"]["events"], float(ledger["billing#o-1"]["amount"])) == (1, 42.5)
    assert ledger["billing#o-2"]["events"] == 1


def test_a_reused_event_id_keeps_failing_until_it_is_in_the_dead_letter_queue(
    world: FanOutWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    shipping = world.consumer("/ShippingConsumer/", "queue_consumer", monkeypatch)
    first = order_event("o-5")
    world.publish(first)
    world.publish({**first, "order": {**first["order"], "customerId": "c-2"}})
    queue = world.queue_urls["Shipping"]
    world.drain(queue, shipping)
    [dead] = world.messages(world.queue_urls["Shipping/DeadLetterQueue"])
    assert json.loads(dead["Body"])["order"]["customerId"] == "c-2"
    assert world.ledger()["shipping#o-5"]["events"] == 1


def test_the_analytics_function_fails_an_event_id_reused_for_another_event_type(
    world: FanOutWorld, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    analytics = world.consumer("/AnalyticsConsumer/", "analytics", monkeypatch)

    def invocation(event: dict[str, Any], message_id: str) -> dict[str, Any]:
        return {"Records": [{"Sns": {"MessageId": message_id, "Message": json.dumps(event)}}]}

    placed = order_event("o-7")
    assert analytics.handler(invocation(placed, "m-1"), LambdaContext("analytics")) == {"counted": 1}
    with pytest.raises(analytics.EventIdReused):
        analytics.handler(invocation({**placed, "eventType": "OrderPaid"}, "m-2"), LambdaContext("analytics"))
    [line] = _reused(caplog)
    assert (line.event_id, line.message_id) == (placed["eventId"], "m-2")
    assert {pk: item["events"] for pk, item in world.ledger().items()} == {"analytics#OrderPlaced": 1}
