"""Running the synthesized order workflow in moto, with the real payment and shipment handlers.

The definition comes from the synthesized `OrderWorkflow` template: its `DefinitionString` is a
Fn::Join whose tokens (table names, function ARNs, the topic, the queue) are replaced by the
names of resources created in moto from the same template's key schemas. Lambda invocations
reach the real handlers in-process through a replaced `LambdaSimpleBackend.invoke`; a handler's
exception comes back as Lambda reports it (FunctionError "Unhandled", errorType = class name).
Faults at the Lambda service (throttling) are injected per function by the test.

Retry waits are real sleeps in moto; the harness records the interval of each instead of
sleeping it, so a test can check backoff and jitter without waiting.

moto runs a Map state's iterations in threads, but its DynamoDB backend takes no lock: two
iterations can both pass a condition before either writes. The harness gives moto the per-item
atomicity DynamoDB has (`atomic_dynamodb`).
"""

from __future__ import annotations

import functools
import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from types import SimpleNamespace
from typing import Any
from unittest import mock

import boto3
from moto.awslambda.exceptions import LambdaClientError
from moto.awslambda_simple.models import LambdaSimpleBackend
from moto.dynamodb.models import DynamoDBBackend
from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl

from tests.kit import cross_stack_name, load_module, one, template_json

STACK = "OrderWorkflow"
ACCOUNT = "123456789012"
REGION = "eu-west-1"
PSEUDO = {
    "AWS::Partition": "aws",
    "AWS::Region": REGION,
    "AWS::AccountId": ACCOUNT,
    "AWS::URLSuffix": "amazonaws.com",
}
MOTO_CONFIG = {"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}


DYNAMODB_ITEM_OPERATIONS = ("get_item", "put_item", "update_item", "delete_item", "transact_write_items")


@contextmanager
def atomic_dynamodb() -> Iterator[None]:
    """Serialize moto's DynamoDB item operations, as DynamoDB does for one item.

    In DynamoDB a write to one item is atomic: a conditional PutItem/UpdateItem/DeleteItem
    checks its condition against the item as it is and applies the write in the same operation,
    so concurrent writers of one item cannot both pass a condition that only one may pass (AWS
    DynamoDB Developer Guide, "Working with items and attributes": conditional writes and
    atomic counters), and TransactWriteItems is all-or-nothing ("Amazon DynamoDB Transactions").
    moto 5.2.5's `DynamoDBBackend.update_item` (moto/dynamodb/models/__init__.py) reads the
    item, evaluates the condition and then runs the update in place with no lock, and moto's
    Step Functions runs inline Map iterations in threads (moto/stepfunctions/parser/asl/
    component/state/exec/state_map/iteration/inline_iteration_component.py): two lines of one
    SKU could both pass `available >= :qty` and both subtract, which DynamoDB never allows. One
    re-entrant lock (transact_write_items calls the others) over every item operation gives
    moto that atomicity; it serializes more than DynamoDB does (all items, not one), which
    changes no outcome DynamoDB allows.
    """
    lock = threading.RLock()
    patches = []
    for name in DYNAMODB_ITEM_OPERATIONS:
        original = getattr(DynamoDBBackend, name)

        @functools.wraps(original)
        def locked(*args: Any, _original: Callable[..., Any] = original, **kwargs: Any) -> Any:
            with lock:
                return _original(*args, **kwargs)

        patches.append(mock.patch.object(DynamoDBBackend, name, locked))
    for patch in patches:
        patch.start()
    try:
        yield
    finally:
        for patch in reversed(patches):
            patch.stop()


def _token_name(token: dict[str, Any]) -> str:
    if "Ref" in token:
        return str(token["Ref"])
    if "Fn::GetAtt" in token:
        return str(token["Fn::GetAtt"][0])
    if (name := cross_stack_name(token)) is not None:
        return name
    raise AssertionError(f"unexpected token in the definition: {token!r}")


def definition_of(document: dict[str, Any], values: Callable[[str], str] | None = None) -> dict[str, Any]:
    """The state machine's definition as JSON, each token replaced by `values(name)` (by default
    a placeholder `<name>`). `name` is a logical id, pseudo parameter or import name."""
    _, machine = one(document, "AWS::StepFunctions::StateMachine", "/StateMachine/")
    body = machine["Properties"]["DefinitionString"]
    if isinstance(body, str):
        return dict(json.loads(body))
    separator, parts = body["Fn::Join"]
    render = values or (lambda name: PSEUDO.get(name, f"<{name}>"))
    text = separator.join(part if isinstance(part, str) else render(_token_name(part)) for part in parts)
    return dict(json.loads(text))


def all_states(states: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every state, including those inside Map and Parallel states."""
    for name, state in states.items():
        yield name, state
        if "ItemProcessor" in state:
            yield from all_states(state["ItemProcessor"]["States"])
        for branch in state.get("Branches", []):
            yield from all_states(branch["States"])


def logical_id(document: dict[str, Any], resource_type: str, path_contains: str) -> str:
    return one(document, resource_type, path_contains)[0]


class Handlers:
    """The real handlers behind each function, with injectable Lambda-service faults."""

    def __init__(self, document: dict[str, Any]) -> None:
        payment = load_module("order_saga", "payment")
        shipment = load_module("order_saga", "shipment")
        self.by_logical_id: dict[str, Callable[..., Any]] = {}
        for path, handler in (
            ("/Payment/Function", payment.charge),
            ("/Refund/Function", payment.refund),
            ("/Shipment/Function", shipment.arrange),
        ):
            self.by_logical_id[logical_id(document, "AWS::Lambda::Function", path)] = handler
        self.names = {handler.__name__: lid for lid, handler in self.by_logical_id.items()}
        self.faults: dict[str, list[str]] = {}
        self.calls: list[tuple[str, str]] = []
        """(handler name, outcome) of every invocation, in order."""

    def throttle(self, handler_name: str, times: int) -> None:
        """The next `times` invocations of the handler are throttled by the Lambda service."""
        self.faults[handler_name] = ["TooManyRequestsException"] * times

    def invoke(self, function_name: str, body: Any, response_headers: dict[str, Any]) -> bytes:
        lid = next(lid for lid in self.by_logical_id if lid in function_name)
        handler = self.by_logical_id[lid]
        name = handler.__name__
        pending = self.faults.get(name)
        if pending:
            fault = pending.pop(0)
            self.calls.append((name, fault))
            raise LambdaClientError(fault, "Rate exceeded")
        try:
            result = handler(json.loads(body), None)
        except Exception as error:
            self.calls.append((name, type(error).__name__))
            response_headers["x-amz-function-error"] = "Unhandled"
            return json.dumps({"errorType": type(error).__name__, "errorMessage": str(error)}).encode()
        self.calls.append((name, "ok"))
        return json.dumps(result).encode()


class Sandbox:
    """The workflow's resources in moto, created from the synthesized template."""

    def __init__(self, profile: str = "sandbox") -> None:
        self.document = template_json(STACK, profile)
        self.handlers = Handlers(self.document)
        self.dynamodb = boto3.client("dynamodb", region_name=REGION)
        self.sqs = boto3.client("sqs", region_name=REGION)
        self.sns = boto3.client("sns", region_name=REGION)
        self.sfn = boto3.client("stepfunctions", region_name=REGION)
        self.values: dict[str, str] = dict(PSEUDO)
        self.tables: dict[str, str] = {}
        for path, table_id in (
            ("/Orders/Inventory", "inventory"),
            ("/Orders/Orders/", "orders"),
            ("/Payments/", "payments"),
            ("/Shipments/", "shipments"),
        ):
            self.tables[table_id] = self._table(path)
        self.dead_letter_queue = self._queue("/Orders/DeadLetterQueue/")
        self.events = self._topic()
        for lid in self.handlers.by_logical_id:
            self.values[lid] = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{lid}"
        self.definition = definition_of(self.document, self.values.__getitem__)
        self.state_machine_arn = self.sfn.create_state_machine(
            name="OrderWorkflow",
            definition=json.dumps(self.definition),
            roleArn=f"arn:aws:iam::{ACCOUNT}:role/order-workflow",
        )["stateMachineArn"]
        self.sleeps: list[float] = []

    def _table(self, path: str) -> str:
        lid, resource = one(self.document, "AWS::DynamoDB::GlobalTable", path)
        properties = resource["Properties"]
        name = f"{lid}-table"
        self.dynamodb.create_table(
            TableName=name,
            KeySchema=properties["KeySchema"],
            AttributeDefinitions=properties["AttributeDefinitions"],
            BillingMode="PAY_PER_REQUEST",
        )
        self.values[lid] = name
        return name

    def _queue(self, path: str) -> str:
        lid = logical_id(self.document, "AWS::SQS::Queue", path)
        url = self.sqs.create_queue(QueueName=f"{lid}-queue")["QueueUrl"]
        self.values[lid] = url
        return url

    def _topic(self) -> str:
        """The events topic, with a queue subscribed to read what was published."""
        arn = self.sns.create_topic(Name="order-events")["TopicArn"]
        for name in self._topic_tokens():
            self.values[name] = arn
        self.published_queue = self.sqs.create_queue(QueueName="published-events")["QueueUrl"]
        queue_arn = self.sqs.get_queue_attributes(QueueUrl=self.published_queue, AttributeNames=["QueueArn"])
        self.sns.subscribe(
            TopicArn=arn,
            Protocol="sqs",
            Endpoint=queue_arn["Attributes"]["QueueArn"],
            Attributes={"RawMessageDelivery": "true"},
        )
        return arn

    def _topic_tokens(self) -> list[str]:
        """The token(s) the definition uses for the topic ARN: an import from FanOut, or a Ref."""
        found = []
        for _, state in all_states(definition_of(self.document)["States"]):
            if state.get("Resource", "").endswith(":sns:publish"):
                found.append(state["Parameters"]["TopicArn"].strip("<>"))
        assert found, "the definition publishes nothing"
        return found

    # Arranging the world ------------------------------------------------------------------------

    def stock(self, sku: str, available: int) -> None:
        self.dynamodb.put_item(
            TableName=self.tables["inventory"],
            Item={"sku": {"S": sku}, "available": {"N": str(available)}, "reservations": {"M": {}}},
        )

    def available(self, sku: str) -> int:
        item = self.dynamodb.get_item(TableName=self.tables["inventory"], Key={"sku": {"S": sku}})["Item"]
        return int(item["available"]["N"])

    def reservations(self, sku: str) -> dict[str, Any]:
        item = self.dynamodb.get_item(TableName=self.tables["inventory"], Key={"sku": {"S": sku}})["Item"]
        return dict(item["reservations"]["M"])

    def customer_totals(self, customer_id: str) -> dict[str, Decimal]:
        item = self.dynamodb.get_item(
            TableName=self.tables["payments"], Key={"pk": {"S": f"customer#{customer_id}"}}
        ).get("Item", {})
        return {name: Decimal(value["N"]) for name, value in item.items() if "N" in value}

    def order_record(self, order_id: str) -> dict[str, str]:
        item = self.dynamodb.get_item(TableName=self.tables["orders"], Key={"orderId": {"S": order_id}})
        return {name: value["S"] for name, value in item.get("Item", {}).items() if "S" in value}

    def messages(self, queue_url: str) -> list[dict[str, Any]]:
        found = self.sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
        return [json.loads(message["Body"]) for message in found]

    # Running ------------------------------------------------------------------------------------

    @contextmanager
    def running(self) -> Iterator[Sandbox]:
        """Lambda calls go to the real handlers; retry waits are recorded, not slept."""
        handlers = self.handlers

        def invoke(
            backend: Any, function_name: str, qualifier: Any, body: Any, headers: Any, response_headers: Any
        ) -> bytes:
            return handlers.invoke(function_name, body, response_headers)

        fake_time = SimpleNamespace(sleep=self.sleeps.append)
        with (
            atomic_dynamodb(),
            mock.patch.object(LambdaSimpleBackend, "invoke", invoke),
            mock.patch.object(retrier_decl, "time", fake_time),
            mock.patch.dict(os.environ, self.function_environment()),
        ):
            yield self

    def function_environment(self) -> dict[str, str]:
        """The functions' environment variables as the template sets them, tokens resolved."""
        environment: dict[str, str] = {}
        for lid in self.handlers.by_logical_id:
            variables = self.document["Resources"][lid]["Properties"]["Environment"]["Variables"]
            for name, value in variables.items():
                environment[name] = value if isinstance(value, str) else self.values[_token_name(value)]
        return environment

    def start(self, order: dict[str, Any], name: str | None = None) -> str:
        return str(
            self.sfn.start_execution(
                stateMachineArn=self.state_machine_arn,
                name=name or order["orderId"],
                input=json.dumps(order, sort_keys=True),
            )["executionArn"]
        )

    def finish(self, execution_arn: str, timeout: float = 30) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            described = self.sfn.describe_execution(executionArn=execution_arn)
            if described["status"] != "RUNNING":
                return dict(described)
            time.sleep(0.02)
        raise AssertionError(f"{execution_arn} still running after {timeout} s")

    def run(self, order: dict[str, Any]) -> dict[str, Any]:
        return self.finish(self.start(order))

    def states_entered(self, execution_arn: str) -> list[str]:
        events = self.sfn.get_execution_history(executionArn=execution_arn, maxResults=1000)["events"]
        return [
            event["stateEnteredEventDetails"]["name"]
            for event in events
            if "stateEnteredEventDetails" in event
        ]


def order(order_id: str, *, lines: dict[str, int] | None = None, **overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "orderId": order_id,
        "customerId": f"customer-of-{order_id}",
        "items": [{"sku": sku, "quantity": quantity} for sku, quantity in (lines or {"SKU-1": 2}).items()],
        "total": 42.5,
        "paymentToken": "tok_visa",
        "requiresShipping": True,
        "address": {"country": "IE"},
    }
    return {**base, **overrides}


__all__ = ["MOTO_CONFIG", "Sandbox", "all_states", "definition_of", "order"]
