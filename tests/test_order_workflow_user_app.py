"""OrderWorkflow built as issue 20's user built it: their own functions, tables and topic, in a
fresh app (minimal or `cdk init` cdk.json), twice in one stack; and the props that passed
silently: tables whose key the definition cannot use, retry intervals that are not whole seconds,
wrong types."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns

from patterns.order_workflow import OrderWorkflow, RetryPolicy
from patterns.shared import PythonFunction
from patterns.shared.props import PropError
from tests.fresh_app import USER_CASES, UserCase, case_id, fresh_stack, synthesized
from tests.kit import resources

STRING = dynamodb.AttributeType.STRING


@pytest.fixture(scope="module")
def code(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("saga")
    (folder / "steps.py").write_text("def handler(event, context):\n    return {}\n")
    return folder


def functions(stack: cdk.Stack, prefix: str, code: Path) -> dict[str, lambda_.IFunction]:
    made = {}
    for step in ("payment", "refund", "shipment"):
        made[f"{step}_function"] = PythonFunction(
            stack,
            f"{prefix}{step.title()}",
            code_dir=str(code),
            handler="steps.handler",
            service_name=step,
            invoked_synchronously_by="the order workflow's state machine",
        ).function
    return made


def table(stack: cdk.Stack, name: str, key: str, sort_key: str | None = None, v2: bool = False) -> Any:
    partition = dynamodb.Attribute(name=key, type=STRING)
    sort = dynamodb.Attribute(name=sort_key, type=STRING) if sort_key else None
    recovery = dynamodb.PointInTimeRecoverySpecification(point_in_time_recovery_enabled=True)
    if v2:
        return dynamodb.TableV2(
            stack, name, partition_key=partition, sort_key=sort, point_in_time_recovery_specification=recovery
        )
    return dynamodb.Table(
        stack,
        name,
        partition_key=partition,
        sort_key=sort,
        billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
        point_in_time_recovery_specification=recovery,
    )


@pytest.mark.parametrize("case", [c for c in USER_CASES if c.nag], ids=case_id)
def test_the_users_functions_and_tables_synthesize_twice_in_one_stack(case: UserCase, code: Path) -> None:
    """With the user's functions and tables (a `Table` and a `TableV2`), two workflows in one
    stack pass the security gate, each with its own state machine and starter."""
    context, nag, env = case
    stack = fresh_stack(context, nag=nag, env=env)
    for prefix in ("Orders", "Returns"):
        OrderWorkflow(
            stack,
            prefix,
            **functions(stack, prefix, code),  # type: ignore[arg-type]
            inventory_table=table(stack, f"{prefix}Stock", "sku"),
            orders_table=table(stack, f"{prefix}Outcomes", "orderId", v2=True),
        )
    document = synthesized(stack)
    assert len(list(resources(document, "AWS::StepFunctions::StateMachine"))) == 2
    assert len(list(resources(document, "AWS::DynamoDB::Table"))) == 4  # 2 inventories, 2 vaults


@pytest.mark.parametrize(
    ("prop", "key", "sort_key", "v2", "found"),
    [
        ("inventory_table", "id", None, False, r"id \(S, HASH\)"),
        ("inventory_table", "sku", "line", False, r"sku \(S, HASH\), line \(S, RANGE\)"),
        ("orders_table", "order_id", None, True, r"order_id \(S, HASH\)"),
        ("payment_tokens", "token", None, False, r"token \(S, HASH\)"),
    ],
)
def test_a_table_whose_key_the_definition_cannot_use_is_refused(
    prop: str, key: str, sort_key: str | None, v2: bool, found: str, code: Path
) -> None:
    """Each step addresses one item by one string key (`sku`, `orderId`, `ref`): on another
    key or with a sort key, DynamoDB answers every call with a ValidationException, at run time."""
    stack = fresh_stack(nag=False)
    wrong = table(stack, "Wrong", key, sort_key, v2=v2)
    with pytest.raises(
        PropError, match=rf"^{prop}: the workflow reads and writes items .*; this table's key is {found}"
    ):
        OrderWorkflow(stack, "Saga", **functions(stack, "S", code), **{prop: wrong})  # type: ignore[arg-type]


def test_a_number_partition_key_is_refused(code: Path) -> None:
    stack = fresh_stack(nag=False)
    stock = dynamodb.Table(
        stack, "Stock", partition_key=dynamodb.Attribute(name="sku", type=dynamodb.AttributeType.NUMBER)
    )
    with pytest.raises(PropError, match=r"^inventory_table: .* sku \(N, HASH\)"):
        OrderWorkflow(stack, "Saga", **functions(stack, "S", code), inventory_table=stock)  # type: ignore[arg-type]


def test_an_imported_table_is_taken_as_it_is(code: Path) -> None:
    stack = fresh_stack(nag=False)
    imported = dynamodb.Table.from_table_name(stack, "Stock", "stock")
    saga = OrderWorkflow(stack, "Saga", **functions(stack, "S", code), inventory_table=imported)  # type: ignore[arg-type]
    assert saga.inventory_table is imported


BAD_PROPS: list[tuple[dict[str, Any], str]] = [
    (
        {
            "step_retry": RetryPolicy(
                max_attempts=3, interval=cdk.Duration.millis(1500), max_delay=cdk.Duration.seconds(9)
            )
        },
        r"^step_retry.interval: must be whole seconds, got 1.5 s",
    ),
    (
        {
            "compensation_retry": RetryPolicy(
                max_attempts=3, interval=cdk.Duration.seconds(1), max_delay=cdk.Duration.millis(2500)
            )
        },
        r"^compensation_retry.max_delay: must be whole seconds, got 2.5 s",
    ),
    (
        {"step_retry": RetryPolicy(max_attempts=3, interval=1, max_delay=cdk.Duration.seconds(9))},  # type: ignore[arg-type]
        r"^step_retry.interval: expected Duration, got int 1",
    ),
    ({"step_retry": {"max_attempts": 3}}, r"^step_retry: expected .*RetryPolicy \(or None\), got dict"),
    (
        {"events_topic": "arn:aws:sns:eu-west-1:111111111111:orders"},
        r"^events_topic: expected aws_sns.ITopic",
    ),
    ({"task_timeout": 30}, r"^task_timeout: expected Duration, got int 30"),
    ({"execution_timeout": cdk.Duration.millis(90500)}, r"^execution_timeout: must be whole seconds"),
    ({"inventory_table": "stock"}, r"^inventory_table: expected aws_dynamodb.ITable \(or None\), got str"),
    (
        {"payment_function": "arn:aws:lambda:eu-west-1:111111111111:function:pay"},
        r"^payment_function: expected aws_lambda.IFunction",
    ),
    ({"reservation_concurrency": "10"}, r"^reservation_concurrency: expected int, got str"),
]


@pytest.mark.parametrize(("props", "message"), BAD_PROPS, ids=[m.split(":")[0][1:] for _, m in BAD_PROPS])
def test_a_wrong_prop_fails_naming_it(props: dict[str, Any], message: str, code: Path) -> None:
    stack = fresh_stack(nag=False)
    with pytest.raises(PropError, match=message):
        OrderWorkflow(stack, "Saga", **{**functions(stack, "S", code), **props})


def test_an_imported_topic_is_a_topic(code: Path) -> None:
    stack = fresh_stack(nag=False)
    topic = sns.Topic.from_topic_arn(stack, "Events", "arn:aws:sns:eu-west-1:111111111111:orders")
    saga = OrderWorkflow(stack, "Saga", **functions(stack, "S", code), events_topic=topic)  # type: ignore[arg-type]
    assert saga.events_topic is topic
