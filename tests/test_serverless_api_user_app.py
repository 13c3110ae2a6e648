"""ServerlessApi built as issue 20's user built it: in a fresh app whose cdk.json has only
`{"app": ...}` or what `cdk init` writes, with and without cdk-nag, in a stack with no
environment and in one with an explicit account and Region, twice in one stack."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_sns as sns

from patterns.serverless_api import Route, ServerlessApi
from patterns.shared.props import PropError
from tests.fresh_app import ENVS, USER_CASES, UserCase, case_id, fresh_stack, synthesized
from tests.kit import path_of, resources

ROUTES = [Route("GET", "/things/{thingId}"), Route("POST", "/things", body_schema={"type": "object"})]


@pytest.fixture(scope="module")
def handler_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The user's own handler folder."""
    folder = tmp_path_factory.mktemp("things_api")
    (folder / "app.py").write_text("def handler(event, context):\n    return {'statusCode': 200}\n")
    return folder


def api(stack: cdk.Stack, construct_id: str, code: Path, **props: Any) -> ServerlessApi:
    arguments: dict[str, Any] = {"code_dir": str(code), "handler": "app.handler", "routes": ROUTES}
    return ServerlessApi(stack, construct_id, **{**arguments, **props})


@pytest.mark.parametrize("case", USER_CASES, ids=case_id)
def test_two_apis_in_one_stack_share_one_account_setting_and_none_when_told(
    case: UserCase, handler_dir: Path
) -> None:
    """`AWS::ApiGateway::Account` is one setting per account and Region (API Gateway
    Developer Guide, "Permissions for CloudWatch logging"): two of them in one stack would
    overwrite each other, and deleting either clears the setting for every API. A stage that
    logs is refused while the account names no role, so each stage waits for it. With
    set_account_logging_role=False (the account already has the role) there is none, and synth
    works (it crashed: 'cloudWatchRole' must be enabled for 'cloudWatchRoleRemovalPolicy')."""
    context, nag, env = case
    stack = fresh_stack(context, nag=nag, env=env)
    first = api(stack, "Orders", handler_dir)
    second = api(stack, "Returns", handler_dir)
    told = cdk.Stack(stack.node.root, "AccountHasRole", env=ENVS[env])
    api(told, "Orders", handler_dir, set_account_logging_role=False)
    api(told, "Returns", handler_dir, set_account_logging_role=False)

    document = synthesized(stack)
    accounts = list(resources(document, "AWS::ApiGateway::Account"))
    assert len(accounts) == 1
    assert first.account_logging is second.account_logging is not None
    account_id = accounts[0][0]
    stages = list(resources(document, "AWS::ApiGateway::Stage"))
    assert len(stages) == 2
    for _, stage in stages:
        assert account_id in stage.get("DependsOn", []), path_of(stage)

    without = synthesized(told)
    assert list(resources(without, "AWS::ApiGateway::Account")) == []
    assert [r for _, r in resources(without, "AWS::IAM::Role") if "CloudWatch" in path_of(r)] == []


@pytest.mark.parametrize("context", ["minimal", "cdk-init"])
def test_an_existing_table_of_either_kind_is_used(context: str, handler_dir: Path) -> None:
    """A `Table` works as well as a `TableV2` (the page said TableV2 only)."""
    stack = fresh_stack(context)
    table = dynamodb.Table(
        stack,
        "Things",
        partition_key=dynamodb.Attribute(name="pk", type=dynamodb.AttributeType.STRING),
        billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
        point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
            point_in_time_recovery_enabled=True
        ),
    )
    built = api(stack, "Api", handler_dir, table=table)
    assert built.table is table
    document = synthesized(stack)
    assert len(list(resources(document, "AWS::DynamoDB::Table"))) == 1
    assert list(resources(document, "AWS::DynamoDB::GlobalTable")) == []


BAD_PROPS: list[tuple[dict[str, Any], str]] = [
    ({"handler": "app"}, r"^handler: must be module.function \(e.g. app.handler\), got 'app'"),
    ({"handler": "app."}, r"^handler: must be module.function"),
    ({"table_actions": "dynamodb:GetItem"}, r"^table_actions: expected a list, got str 'dynamodb:GetItem'"),
    ({"table_actions": []}, r"^table_actions: give at least one item"),
    ({"table_actions": ["dynamodb:GetItm"]}, r"^table_actions: 'dynamodb:GetItm' is not one of: .*GetItem"),
    ({"table_actions": ["dynamodb:CreateTable"]}, r"^table_actions: 'dynamodb:CreateTable' is not one of"),
    ({"memory_size": 64}, r"^memory_size: must be between 128 and 10240 MB, got 64 MB"),
    ({"memory_size": 20000}, r"^memory_size: must be between 128 and 10240 MB"),
    ({"memory_size": "512"}, r"^memory_size: expected int, got str"),
    ({"timeout": 10}, r"^timeout: expected Duration, got int 10"),
    ({"timeout": cdk.Duration.millis(1500)}, r"^timeout: must be whole seconds, got 1.5 s"),
    ({"latency_alarm": 3}, r"^latency_alarm: expected Duration, got int 3"),
    ({"alarm_topic": "arn:aws:sns:eu-west-1:111111111111:ops"}, r"^alarm_topic: expected aws_sns.ITopic"),
    ({"table": "things"}, r"^table: expected aws_dynamodb.ITable \(or None\), got str"),
    ({"routes": Route("GET", "/a")}, r"^routes: expected a list, got Route"),
    ({"routes": ["GET /a"]}, r"^routes\[0\]: expected .*Route, got str"),
    ({"environment": {"TABLE_NAME": "mine"}}, r"^environment: TABLE_NAME is set by this construct"),
    ({"environment": {"MAX_BODY_BYTES": "1"}}, r"^environment: MAX_BODY_BYTES .* use max_body_bytes"),
    ({"environment": {"AWS_REGION": "eu-west-1"}}, r"^environment: AWS_REGION is set by the Lambda runtime"),
    ({"environment": {"MY-VAR": "x"}}, r"^environment: 'MY-VAR' is not a valid variable name"),
    ({"environment": {"LIMIT": 5}}, r"^environment\['LIMIT'\]: expected str, got int 5"),
    ({"service_name": ""}, r"^service_name: must not be empty"),
    ({"api_key_required": "yes"}, r"^api_key_required: expected bool, got str"),
    (
        {"routes": [Route("POST", "/a", body_schema={"type": "STRNIG"})]},
        r"^routes: POST /a: body_schema.type: 'STRNIG' is not a JSON-schema type; one of array, boolean",
    ),
    (
        {"routes": [Route("POST", "/a", body_schema={"type": "object", "properties": {"n": {"type": "x"}}})]},
        r"body_schema.properties.n.type: 'x' is not a JSON-schema type",
    ),
]


@pytest.mark.parametrize(("props", "message"), BAD_PROPS, ids=[m.split(":")[0][1:] for _, m in BAD_PROPS])
def test_a_wrong_prop_fails_naming_the_prop_and_what_is_valid(
    props: dict[str, Any], message: str, handler_dir: Path
) -> None:
    stack = fresh_stack(nag=False)
    with pytest.raises(ValueError, match=message):
        api(stack, "Api", handler_dir, **props)


def test_props_for_a_new_table_are_refused_with_an_existing_one(handler_dir: Path) -> None:
    """An existing table already has its key schema and TTL: a prop that would shape a new one
    was silently ignored."""
    stack = fresh_stack(nag=False)
    table = dynamodb.TableV2.from_table_name(stack, "Existing", "things")
    with pytest.raises(PropError, match=r"^table: given together with table_partition_key"):
        api(stack, "A", handler_dir, table=table, table_partition_key="pk")
    with pytest.raises(PropError, match=r"^table: given together with table_time_to_live_attribute"):
        api(stack, "B", handler_dir, table=table, table_time_to_live_attribute="ttl")


def test_a_topic_imported_by_arn_is_a_topic(handler_dir: Path) -> None:
    stack = fresh_stack(nag=False)
    topic = sns.Topic.from_topic_arn(stack, "Ops", "arn:aws:sns:eu-west-1:111111111111:ops")
    assert api(stack, "Api", handler_dir, alarm_topic=topic).alarm_topic is topic
