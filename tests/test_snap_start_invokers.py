"""SnapStart for any function of the kit: `PythonFunction(snap_start=True)` and its `invocable`
(the `live` alias) handed to the construct that invokes it.

Lambda restores from a snapshot only for a published version or an alias of one; the
unqualified function ($LATEST) runs its whole Init on every cold start ("You can use SnapStart
only on published function versions and aliases that point to versions",
https://docs.aws.amazon.com/lambda/latest/dg/snapstart.html). So each construct that takes a
function must accept the alias, pass the security gate with it (cdk-nag reports on the function
behind the alias, so acknowledgements must land there), and invoke the alias; and the wiring
rule SnapStartInvokedUnqualified must catch an invoker that names the function itself.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_apigateway as apigateway
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_scheduler as scheduler

from patterns.event_driven import EventRouter
from patterns.fan_out import FanOut
from patterns.order_workflow import OrderWorkflow
from patterns.order_workflow.construct import PAYMENT_TOKENS_ENV
from patterns.shared import PythonFunction
from patterns.streaming import StreamPipeline
from patterns.wiring import RULES, Model, Settings
from tests.fresh_app import fresh_stack, synthesized
from tests.kit import resources

RULE = "SnapStartInvokedUnqualified"
QUEUE_ARN = "arn:aws:sqs:eu-west-1:123456789012:q"


@pytest.fixture(scope="module")
def code(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("snap")
    (folder / "steps.py").write_text("def handler(event, context):\n    return {}\n")
    return folder


def snap_function(stack: cdk.Stack, name: str, code: Path, **kwargs: Any) -> PythonFunction:
    return PythonFunction(
        stack,
        name,
        code_dir=str(code),
        handler="steps.handler",
        service_name=name.lower(),
        snap_start=True,
        **kwargs,
    )


def findings(document: dict[str, Any]) -> list[str]:
    registered = next(r for r in RULES if r.id == RULE)
    return sorted(v.resource.logical_id for v in registered.check(Model({"UserStack": document}), Settings()))


def fan_out(stack: cdk.Stack, code: Path, qualified: bool) -> None:
    consumer = snap_function(stack, "Billing", code)
    FanOut(stack, "Events").add_queue_subscriber(
        "Billing", consumer=consumer.invocable if qualified else consumer.function
    )


def streaming(stack: cdk.Stack, code: Path, qualified: bool) -> None:
    detector = snap_function(stack, "Detector", code)
    StreamPipeline(stack, "Telemetry").add_lambda_consumer(
        "Detector", function=detector.invocable if qualified else detector.function
    )


def event_rule(stack: cdk.Stack, code: Path, qualified: bool) -> None:
    handler = snap_function(stack, "Handler", code)
    EventRouter(stack, "Router").add_rule(
        "Orders",
        pattern={"source": ["shop.orders"]},
        targets=[handler.invocable if qualified else handler.function],
    )


def schedule(stack: cdk.Stack, code: Path, qualified: bool) -> None:
    report = snap_function(stack, "Report", code)
    EventRouter(stack, "Router").add_schedule(
        "Nightly",
        expression=scheduler.ScheduleExpression.cron(minute="30", hour="1"),
        target=report.invocable if qualified else report.function,
    )


def workflow(stack: cdk.Stack, code: Path, qualified: bool) -> None:
    steps = {
        step: snap_function(stack, step.title(), code, invoked_synchronously_by="the order workflow")
        for step in ("payment", "refund", "shipment")
    }
    OrderWorkflow(
        stack,
        "Orders",
        **{f"{step}_function": f.invocable if qualified else f.function for step, f in steps.items()},  # type: ignore[arg-type]
    )


def rest_api(stack: cdk.Stack, code: Path, qualified: bool) -> None:
    handler = snap_function(stack, "ApiHandler", code, invoked_synchronously_by="API Gateway")
    api = apigateway.RestApi(stack, "Api")
    api.root.add_method(
        "GET", apigateway.LambdaIntegration(handler.invocable if qualified else handler.function)
    )


INVOKERS = {
    "FanOut": "AWS::Lambda::EventSourceMapping",
    "StreamPipeline": "AWS::Lambda::EventSourceMapping",
    "EventRouter": "AWS::Events::Rule",
    "EventRouterSchedule": "AWS::Scheduler::Schedule",
    "OrderWorkflow": "AWS::StepFunctions::StateMachine",
}
BUILDERS: dict[str, Callable[[cdk.Stack, Path, bool], None]] = {
    "FanOut": fan_out,
    "StreamPipeline": streaming,
    "EventRouter": event_rule,
    "EventRouterSchedule": schedule,
    "OrderWorkflow": workflow,
}


@pytest.mark.parametrize("construct", sorted(BUILDERS))
def test_each_construct_takes_the_live_alias_through_the_gate_and_invokes_it(
    code: Path, construct: str
) -> None:
    """With the alias, the whole gate (cdk-nag's packs and the wiring checks) passes, and no
    invoker names a SnapStart function unqualified."""
    stack = fresh_stack()
    BUILDERS[construct](stack, code, True)
    document = synthesized(stack)
    assert findings(document) == []
    model = Model({"UserStack": document})
    invokers = [r for r in model.of_type(INVOKERS[construct]) if r.stack == "UserStack"]
    named = {t.resource.type for invoker in invokers for t in model.targets(invoker.properties, "UserStack")}
    assert "AWS::Lambda::Alias" in named, f"no {INVOKERS[construct]} names the live alias"


@pytest.mark.parametrize("construct", sorted(BUILDERS))
def test_the_function_itself_handed_to_a_construct_is_found(code: Path, construct: str) -> None:
    stack = fresh_stack(nag=False)
    BUILDERS[construct](stack, code, False)
    document = synthesized(stack)
    found = findings(document)
    assert found and {document["Resources"][f]["Type"] for f in found} == {INVOKERS[construct]}


def test_an_api_integration_on_the_function_is_found_and_on_the_alias_is_not(code: Path) -> None:
    """API Gateway's Lambda integration URI embeds the invoked ARN (`.../functions/<arn>/
    invocations`): the function's ARN there is $LATEST."""
    for qualified, expected in ((True, 0), (False, 1)):
        stack = fresh_stack(nag=False)
        rest_api(stack, code, qualified)
        document = synthesized(stack)
        found = findings(document)
        assert len(found) == expected
        assert all(document["Resources"][f]["Type"] == "AWS::ApiGateway::Method" for f in found)


def test_a_qualifier_joined_to_the_functions_name_is_not_a_finding(code: Path) -> None:
    """`name:live` (or `arn:...:function:name:7`) invokes a version: what an L1 mapping or an
    imported ARN looks like."""
    stack = fresh_stack(nag=False)
    function = snap_function(stack, "Joined", code)
    for index, name in enumerate(
        (cdk.Fn.join(":", [function.function.function_name, "live"]), function.function.function_name)
    ):
        lambda_.CfnEventSourceMapping(
            stack,
            f"Mapping{index}",
            function_name=name,
            event_source_arn="arn:aws:sqs:eu-west-1:123456789012:q",
        )
    found = findings(synthesized(stack))
    assert found == ["Mapping1"]


def test_a_function_without_snap_start_invoked_unqualified_is_not_a_finding(code: Path) -> None:
    stack = fresh_stack(nag=False)
    plain = PythonFunction(stack, "Plain", code_dir=str(code), handler="steps.handler", service_name="plain")
    FanOut(stack, "Events").add_queue_subscriber("Plain", consumer=plain.function)
    assert findings(synthesized(stack)) == []


def test_the_payment_step_behind_an_alias_still_learns_where_its_tokens_are(code: Path) -> None:
    """The vault's table name is an environment variable of the function; an alias has no
    environment of its own, so it must be set on the function the alias publishes. Without it
    every payment fails at run time, which no synth would show."""
    stack = fresh_stack()
    workflow(stack, code, True)
    document = synthesized(stack)
    (payment,) = [
        r
        for _, r in resources(document, "AWS::Lambda::Function")
        if r["Properties"].get("Handler") == "steps.handler" and "/Payment/" in r["Metadata"]["aws:cdk:path"]
    ]
    assert PAYMENT_TOKENS_ENV in payment["Properties"]["Environment"]["Variables"]


@pytest.mark.parametrize("construct", ["EventRouter", "FanOut"])
def test_the_async_failure_queue_is_configured_for_the_alias_that_is_invoked(
    code: Path, construct: str
) -> None:
    """Lambda keeps an asynchronous-invocation configuration per qualifier
    (PutFunctionEventInvokeConfig's Qualifier; a name that carries one must agree with it), and
    an event sent to `live` follows `live`'s. CDK's EventInvokeConfig given an alias writes
    `name:live` with Qualifier `$LATEST`, which Lambda refuses; the failure queue must be
    configured on the function with Qualifier `live`."""
    stack = fresh_stack(nag=False)
    if construct == "EventRouter":
        event_rule(stack, code, True)
    else:
        subscriber = snap_function(stack, "Notify", code)
        FanOut(stack, "Events").add_function_subscriber("Notify", function=subscriber.invocable)
    document = synthesized(stack)
    (config,) = [r["Properties"] for _, r in resources(document, "AWS::Lambda::EventInvokeConfig")]
    assert config["Qualifier"] == "live"
    assert document["Resources"][config["FunctionName"]["Ref"]]["Type"] == "AWS::Lambda::Function"
