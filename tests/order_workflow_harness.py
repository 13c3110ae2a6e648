"""Running the synthesized order workflow in moto, with the real payment and shipment handlers.

The definition comes from the synthesized `OrderWorkflow` template: its `DefinitionString` is a
Fn::Join whose tokens (table names, function ARNs, the topic, the queue) are replaced by the
names of resources created in moto from the same template's key schemas. Lambda invocations
reach the real handlers in-process through a replaced `LambdaSimpleBackend.invoke`; a handler's
exception comes back as Lambda reports it (FunctionError "Unhandled", errorType = class name).
Faults at the Lambda service (throttling) are injected per function by the test. Orders go in
as the shop sends them: to the orders queue, read by the real starter function, which seals the
payment token in the vault and starts the execution.

What the workflow writes where an operator or an attacker with log access could read it is
collected by `Sandbox.exposed()`: every line the handlers and the starter log (their Powertools
loggers, and what the Lambda runtime logs for an unhandled error), every execution history event
and execution description, the execution log Step Functions would write to CloudWatch Logs for
the synthesized LoggingConfiguration (moto writes none, so `execution_log` derives it from the
history as the AWS documentation describes it), and every message in every queue.

Retry waits are real sleeps in moto; the harness records the interval of each instead of
sleeping it, so a test can check backoff and jitter without waiting.

moto runs a Map state's iterations in threads, but its DynamoDB backend takes no lock: two
iterations can both pass a condition before either writes. The harness gives moto the per-item
atomicity DynamoDB has (`atomic_dynamodb`).
"""

from __future__ import annotations

import functools
import json
import logging
import os
import threading
import time
import traceback
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

from patterns.order_workflow.starter import CODE_DIR as STARTER_CODE
from tests.kit import cross_stack_name, load_module, one, resources, template_json

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


class LogLines(logging.Handler):
    """Every record a Powertools logger emits, formatted as that logger writes it."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))

    def attach(self, *modules: Any) -> None:
        for module in modules:
            logger = module.logger
            if self not in logger.handlers:
                self.setFormatter(logger.registered_formatter)
                logger.addHandler(self)


def runtime_error_log(error: BaseException) -> str:
    """What the Lambda runtime writes to the function's log for an unhandled exception."""
    return json.dumps(
        {
            "errorMessage": str(error),
            "errorType": type(error).__name__,
            "stackTrace": traceback.format_exception(error),
        }
    )


# (construct path, module, handler) of each function the state machine invokes.
FUNCTIONS = (
    ("/Payment/Function", "payment", "charge"),
    ("/Refund/Function", "payment", "refund"),
    ("/Shipment/Function", "shipment", "arrange"),
)


class Handlers:
    """The real handlers behind each function, with injectable Lambda-service faults."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.log = LogLines()
        self.runtime_log: list[str] = []
        self.names = {
            name: logical_id(document, "AWS::Lambda::Function", path) for path, _, name in FUNCTIONS
        }
        self.by_logical_id: dict[str, Callable[..., Any]] = {}
        self.faults: dict[str, list[str]] = {}
        self.calls: list[tuple[str, str]] = []
        """(handler name, outcome) of every invocation, in order."""

    def cold_start(self, environment_of: Callable[[str], dict[str, str]]) -> None:
        """Load each function's module as its cold start does: a copy of its own, under that
        function's environment and with Lambda's `_HANDLER`, which its settings are read from."""
        for _, module_name, name in FUNCTIONS:
            lid = self.names[name]
            with mock.patch.dict(os.environ, {**environment_of(lid), "_HANDLER": f"{module_name}.{name}"}):
                module = load_module("order_saga", module_name, alias=name)
            self.log.attach(module)
            self.by_logical_id[lid] = getattr(module, name)

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
            self.runtime_log.append(runtime_error_log(error))
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
        self.vault = self._vault()
        self.dead_letter_queue = self._queue("/Orders/DeadLetterQueue/")
        self.starter_dead_letter_queue = self._queue("/Orders/Starter/DeadLetterQueue/")
        self.orders_queue = self._queue("/Orders/Starter/Queue/")
        self.events = self._topic()
        self._bus()
        for lid in self.handlers.names.values():
            self.values[lid] = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{lid}"
        self.definition = definition_of(self.document, self.values.__getitem__)
        self.state_machine_arn = self.sfn.create_state_machine(
            name="OrderWorkflow",
            definition=json.dumps(self.definition),
            roleArn=f"arn:aws:iam::{ACCOUNT}:role/order-workflow",
        )["stateMachineArn"]
        self.values[logical_id(self.document, "AWS::StepFunctions::StateMachine", "/StateMachine/")] = (
            self.state_machine_arn
        )
        self.starter_id = logical_id(self.document, "AWS::Lambda::Function", "/Orders/Starter/Function/")
        # Loaded under the function's environment: Powertools reads some switches (e.g.
        # POWERTOOLS_LOGGER_LOG_EVENT, which would log every event) when the handler is defined.
        with mock.patch.dict(os.environ, self.function_environment()):
            self.starter = load_module(STARTER_CODE, "starter")
        self.handlers.log.attach(self.starter)
        self.handlers.cold_start(self.own_environment)
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

    def _vault(self) -> str | None:
        """The payment-token vault (a `Table`: TableV2 cannot take a customer-managed key in a
        region-agnostic stack), if the template has one."""
        found = [lid for lid, _ in resources(self.document, "AWS::DynamoDB::Table", "/Orders/PaymentTokens/")]
        if not found:
            return None
        [lid] = found
        properties = self.document["Resources"][lid]["Properties"]
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

    def _bus(self) -> None:
        """The EventDriven bus the definition puts OrderCompleted on (when the stack is wired to
        it), with a rule copying every event into a queue to read what was put."""
        tokens = [
            entry["EventBusName"].strip("<>")
            for _, state in all_states(definition_of(self.document)["States"])
            if state.get("Resource", "").endswith(":events:putEvents")
            for entry in state["Parameters"]["Entries"]
        ]
        if not tokens:
            return
        events = boto3.client("events", region_name=REGION)
        arn = events.create_event_bus(Name="order-bus")["EventBusArn"]
        for name in tokens:
            self.values[name] = arn
        self.bus_queue = self.sqs.create_queue(QueueName="bus-events")["QueueUrl"]
        queue_arn = self.sqs.get_queue_attributes(QueueUrl=self.bus_queue, AttributeNames=["QueueArn"])
        events.put_rule(
            Name="everything", EventBusName="order-bus", EventPattern=json.dumps({"account": [ACCOUNT]})
        )
        events.put_targets(
            Rule="everything",
            EventBusName="order-bus",
            Targets=[{"Id": "q", "Arn": queue_arn["Attributes"]["QueueArn"]}],
        )

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
        """The queue's messages, left visible for whoever reads next."""
        found = self.sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, VisibilityTimeout=0)
        return [json.loads(message["Body"]) for message in found.get("Messages", [])]

    def vault_items(self) -> list[dict[str, Any]]:
        """The sealed values in the vault (not the fingerprints that outlive them, which hold no
        value: patterns/order_workflow/starter_function/starter.py)."""
        items = self.dynamodb.scan(TableName=self.vault)["Items"] if self.vault else []
        return [item for item in items if "secret" in item]

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
        for lid in [*self.handlers.names.values(), self.starter_id]:
            environment.update(self.own_environment(lid))
        return environment

    def own_environment(self, lid: str) -> dict[str, str]:
        """One function's environment variables as the template sets them, tokens resolved."""
        variables = self.document["Resources"][lid]["Properties"]["Environment"]["Variables"]
        return {
            name: value if isinstance(value, str) else self.values[_token_name(value)]
            for name, value in variables.items()
        }

    def submit(self, order: dict[str, Any]) -> dict[str, Any]:
        """Send the order to the orders queue as the shop does, and hand what the queue delivers
        to the real starter function (moto runs no event source mapping); delete what it started,
        as Lambda does with the records it does not report. Returns the starter's response."""
        self.sqs.send_message(QueueUrl=self.orders_queue, MessageBody=json.dumps(order))
        messages = self.sqs.receive_message(QueueUrl=self.orders_queue, MaxNumberOfMessages=10)["Messages"]
        event = {
            "Records": [
                {
                    "messageId": message["MessageId"],
                    "receiptHandle": message["ReceiptHandle"],
                    "body": message["Body"],
                    "attributes": {"ApproximateReceiveCount": "1"},
                    "messageAttributes": {},
                    "md5OfBody": message["MD5OfBody"],
                    "eventSource": "aws:sqs",
                    "eventSourceARN": f"arn:aws:sqs:{REGION}:{ACCOUNT}:orders",
                    "awsRegion": REGION,
                }
                for message in messages
            ]
        }
        context = SimpleNamespace(
            function_name="starter",
            memory_limit_in_mb=512,
            invoked_function_arn=f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:starter",
            aws_request_id="request-1",
        )
        try:
            response: dict[str, Any] = self.starter.handler(event, context)
        except Exception as error:
            self.handlers.runtime_log.append(runtime_error_log(error))
            raise
        failed = {failure["itemIdentifier"] for failure in response["batchItemFailures"]}
        for message in messages:
            if message["MessageId"] not in failed:
                self.sqs.delete_message(QueueUrl=self.orders_queue, ReceiptHandle=message["ReceiptHandle"])
        return response

    def execution_arn(self, name: str) -> str:
        return str(self.starter.execution_arn(self.state_machine_arn, name))

    def start(self, order: dict[str, Any]) -> str:
        """Submit the order through the queue and the starter; the ARN of its execution."""
        assert self.submit(order) == {"batchItemFailures": []}
        return self.execution_arn(order["orderId"])

    def start_directly(self, state: dict[str, Any]) -> str:
        """Start an execution without the starter, as any principal allowed to may."""
        return str(
            self.sfn.start_execution(
                stateMachineArn=self.state_machine_arn, name=state["orderId"], input=json.dumps(state)
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

    def history(self, execution_arn: str) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        pages = self.sfn.get_paginator("get_execution_history").paginate(executionArn=execution_arn)
        for page in pages:
            events.extend(page["events"])
        return events

    def states_entered(self, execution_arn: str) -> list[str]:
        return [
            event["stateEnteredEventDetails"]["name"]
            for event in self.history(execution_arn)
            if "stateEnteredEventDetails" in event
        ]

    def execution_log(self, execution_arn: str) -> list[str]:
        """The events Step Functions writes to the log group for this template's
        LoggingConfiguration. Level: ALL logs every history event, ERROR the failures, FATAL the
        execution's own failure, OFF nothing (AWS Step Functions Developer Guide, Log levels).
        IncludeExecutionData false leaves out the input, output and parameters of every event
        (CloudFormation LoggingConfiguration: "When set to false, data is excluded"); error names
        and causes are kept here, since the documentation does not promise to drop them."""
        _, machine = one(self.document, "AWS::StepFunctions::StateMachine", "/StateMachine/")
        config = machine["Properties"].get("LoggingConfiguration", {})
        level, with_data = config.get("Level", "OFF"), config.get("IncludeExecutionData", False)
        lines = []
        for event in self.history(execution_arn):
            kind = event["type"]
            if not _logged_at(level, kind):
                continue
            details = {
                key: value
                for name, detail in event.items()
                if name.endswith("EventDetails")
                for key, value in detail.items()
                if with_data or key not in EXECUTION_DATA
            }
            line = {"id": event["id"], "type": kind, "details": details, "execution_arn": execution_arn}
            lines.append(json.dumps(line, default=str))
        return lines

    def exposed(self, execution_arns: list[str]) -> dict[str, list[str]]:
        """Everything written where the token must never be, by where it was written."""
        queues = [
            self.dead_letter_queue,
            self.starter_dead_letter_queue,
            self.orders_queue,
            self.published_queue,
        ]
        found: dict[str, list[str]] = {
            "function and starter log lines": list(self.handlers.log.lines),
            "Lambda runtime error logs": list(self.handlers.runtime_log),
            "queue messages": [
                message["Body"]
                for queue in queues
                for message in self.sqs.receive_message(
                    QueueUrl=queue, MaxNumberOfMessages=10, VisibilityTimeout=0
                ).get("Messages", [])
            ],
            "execution history": [],
            "execution descriptions": [],
            "execution log": [],
        }
        for arn in execution_arns:
            found["execution history"].extend(json.dumps(event, default=str) for event in self.history(arn))
            found["execution descriptions"].append(
                json.dumps(self.sfn.describe_execution(executionArn=arn), default=str)
            )
            found["execution log"].extend(self.execution_log(arn))
        return found


EXECUTION_DATA = frozenset({"input", "inputDetails", "output", "outputDetails", "parameters"})
FATAL_EVENTS = frozenset({"ExecutionFailed", "ExecutionAborted", "ExecutionTimedOut"})


def _logged_at(level: str, event_type: str) -> bool:
    if level == "ALL":
        return True
    if level == "ERROR":
        return event_type.endswith(("Failed", "TimedOut", "Aborted")) or event_type == "FailStateEntered"
    if level == "FATAL":
        return event_type in FATAL_EVENTS
    return False


PAYMENT_TOKEN = "tok_visa_4242_7Hq2xVb9"
DECLINING_TOKEN = "tok_decline_insufficient_funds_Zr81"
CUSTOMER_DETAILS = {"name": "Ada Lovelace", "line1": "12 St James's Square", "email": "ada@example.org"}
"""Personal data in every order, to look for where it must not be."""


def order(order_id: str, *, lines: dict[str, int] | None = None, **overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "orderId": order_id,
        "customerId": f"customer-of-{order_id}",
        "items": [{"sku": sku, "quantity": quantity} for sku, quantity in (lines or {"SKU-1": 2}).items()],
        "total": 42.5,
        "paymentToken": PAYMENT_TOKEN,
        "requiresShipping": True,
        "address": {"country": "IE", **CUSTOMER_DETAILS},
    }
    return {**base, **overrides}


__all__ = [
    "CUSTOMER_DETAILS",
    "DECLINING_TOKEN",
    "MOTO_CONFIG",
    "PAYMENT_TOKEN",
    "Sandbox",
    "all_states",
    "definition_of",
    "order",
]
