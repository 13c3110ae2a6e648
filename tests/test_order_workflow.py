"""The synthesized order workflow, in both profiles: every forward step retries and catches,
failures reach the compensations newest first, retries are jittered and capped, logging and
tracing are on; and the construct's props fail at synth when they contradict each other."""

from __future__ import annotations

import json
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import Duration
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk.assertions import Template

from patterns.order_workflow import OrderWorkflow, QueueStarter, RetryPolicy
from patterns.shared import SANDBOX, PythonFunction
from stacks.paths import lambda_dir
from tests.kit import (
    PROFILES,
    bare_stack,
    cross_stack_name,
    one,
    path_of,
    resolve_ref,
    resources,
    template_json,
)
from tests.order_workflow_harness import STACK, all_states, definition_of
from tests.test_kit import acknowledgements

FORWARD_TASKS = ("TakePayment", "ArrangeShipment", "RecordOrderCompleted", "PublishOrderCompleted")
FORWARD_MAPS = ("ReserveInventory", "CommitInventory")
LAMBDA_STEPS = ("TakePayment", "ArrangeShipment", "RefundPayment")
COMPENSATIONS = ("RefundPayment", "ReleaseInventory")
TERMINAL = {"Choice", "Succeed", "Fail"}
REF = dynamodb.Attribute(name="ref", type=dynamodb.AttributeType.STRING)


def states(profile: str) -> dict[str, Any]:
    return dict(definition_of(template_json(STACK, profile))["States"])


def chain_from(all_top: dict[str, Any], start: str) -> list[str]:
    """The states a failure runs through from `start` until the saga decides the outcome."""
    visited, name = [], start
    while all_top[name]["Type"] not in TERMINAL:
        visited.append(name)
        name = all_top[name]["Next"]
    return visited


def catch_target(state: dict[str, Any], error: str) -> str:
    return str(next(c["Next"] for c in state["Catch"] if error in c["ErrorEquals"]))


@pytest.mark.parametrize("profile", PROFILES)
def test_every_forward_step_retries_and_catches(profile: str) -> None:
    top = states(profile)
    for name in FORWARD_TASKS:
        assert top[name]["Retry"], f"{name} has no Retry"
        assert top[name]["Catch"], f"{name} has no Catch"
    for name in FORWARD_MAPS:
        assert top[name]["Catch"], f"{name} has no Catch"
        inner = top[name]["ItemProcessor"]["States"]
        tasks = [s for s in inner.values() if s["Type"] == "Task"]
        assert tasks and all(s.get("Retry") for s in tasks), f"a task inside {name} does not retry"


@pytest.mark.parametrize("profile", PROFILES)
def test_every_retry_backs_off_with_full_jitter_and_a_cap(profile: str) -> None:
    retriers = [r for _, s in all_states(states(profile)) for r in s.get("Retry", [])]
    assert len(retriers) > 10
    for retrier in retriers:
        assert retrier["JitterStrategy"] == "FULL", retrier
        assert retrier["MaxDelaySeconds"] >= retrier["IntervalSeconds"], retrier
        assert retrier["BackoffRate"] > 1, retrier


@pytest.mark.parametrize("profile", PROFILES)
def test_lambda_steps_retry_throttling_and_service_errors_and_time_out(profile: str) -> None:
    top = states(profile)
    for name in LAMBDA_STEPS:
        step = top[name]
        retried = {error for retrier in step["Retry"] for error in retrier["ErrorEquals"]}
        assert step["TimeoutSeconds"] > 0, name
        if name in COMPENSATIONS:
            assert retried == {"States.ALL"}, f"{name}: a compensation retries whatever failed"
            continue
        for error in ("Lambda.TooManyRequestsException", "Lambda.ServiceException", "States.Timeout"):
            assert error in retried, f"{name} does not retry {error}"
        assert "PaymentDeclined" not in retried and "States.ALL" not in retried, name


@pytest.mark.parametrize("profile", PROFILES)
def test_each_failure_point_reaches_the_compensations_of_completed_steps_newest_first(profile: str) -> None:
    top = states(profile)
    expected = {
        ("ReserveInventory", "States.ALL"): ["ReleaseInventory", "ForgetPaymentToken"],
        ("TakePayment", "PaymentDeclined"): ["ReleaseInventory", "ForgetPaymentToken"],
        ("TakePayment", "States.ALL"): ["RefundPayment", "ReleaseInventory", "ForgetPaymentToken"],
        ("ArrangeShipment", "States.ALL"): ["RefundPayment", "ReleaseInventory", "ForgetPaymentToken"],
    }
    for (step, error), compensations in expected.items():
        ran = chain_from(top, catch_target(top[step], error))
        assert ran == compensations, f"{step} failing with {error} runs {ran}"
        assert top[ran[-1]]["Next"] == "HowTheOrderEnds"


@pytest.mark.parametrize("profile", PROFILES)
def test_a_compensation_that_gives_up_is_reported_to_the_dead_letter_queue_and_the_chain_goes_on(
    profile: str,
) -> None:
    top = states(profile)
    for newer, older in (("RefundPayment", "ReleaseInventory"), ("ReleaseInventory", "ForgetPaymentToken")):
        report = top[catch_target(top[newer], "States.ALL")]
        assert report["Resource"].endswith(":sqs:sendMessage")
        assert report["Parameters"]["QueueUrl"].startswith("<OrdersDeadLetterQueue")
        assert report["Next"] == older


@pytest.mark.parametrize("profile", PROFILES)
def test_business_outcomes_decline_and_anything_else_fails(profile: str) -> None:
    top = states(profile)
    ending = top["HowTheOrderEnds"]
    declined = next(c for c in ending["Choices"] if "Or" in c)
    assert {c["StringEquals"] for c in declined["Or"]} == {"OutOfStock", "PaymentDeclined"}
    assert chain_from(top, declined["Next"]) == ["RecordOrderDeclined"]
    assert top[top["RecordOrderDeclined"]["Next"]]["Type"] == "Succeed"
    assert top[top["RecordOrderFailed"]["Next"]]["Type"] == "Fail"


@pytest.mark.parametrize("profile", PROFILES)
def test_the_state_machine_logs_every_event_without_execution_data_traces_and_keeps_logs_per_profile(
    profile: str,
) -> None:
    """With IncludeExecutionData, Step Functions writes each event's input and output (the
    order, the customer's details) into CloudWatch Logs ("Execution history events may contain
    either input or output properties", AWS Step Functions Developer Guide, Using CloudWatch
    Logs to log execution history); without it, the events stay and the data goes. Level ALL is
    what cdk-nag's AwsSolutions-SF1 asks for, and it costs no data."""
    document = template_json(STACK, profile)
    _, machine = one(document, "AWS::StepFunctions::StateMachine", "/StateMachine/")
    properties = machine["Properties"]
    assert properties["StateMachineType"] == "STANDARD"
    assert properties["TracingConfiguration"] == {"Enabled": True}
    logging = properties["LoggingConfiguration"]
    assert (logging["Level"], logging["IncludeExecutionData"]) == ("ALL", False)
    group_id = resolve_ref(document, logging["Destinations"][0]["CloudWatchLogsLogGroup"]["LogGroupArn"])
    group = document["Resources"][group_id]
    assert group["Properties"]["RetentionInDays"] == (365 if profile == "production" else 7)


@pytest.mark.parametrize("profile", PROFILES)
def test_only_the_starter_writes_and_only_the_payment_function_reads_the_payment_token_vault(
    profile: str,
) -> None:
    """An item of a table encrypted with a customer-managed key can be read only by a principal
    allowed both the DynamoDB action and the use of that key (AWS DynamoDB Developer Guide,
    Encryption at rest: how Amazon DynamoDB uses AWS KMS), so the token is readable by exactly
    the principals granted GetItem on the table and Decrypt on its key. TTL deletes expired
    tokens; point-in-time recovery keeps one day, its minimum."""
    document = template_json(STACK, profile)
    vault_id, vault = one(document, "AWS::DynamoDB::Table", "/Orders/PaymentTokens/")
    properties = vault["Properties"]
    key_id = properties["SSESpecification"]["KMSMasterKeyId"]["Fn::GetAtt"][0]
    assert path_of(document["Resources"][key_id]).endswith("/Orders/PaymentTokensKey/Resource")
    assert properties["TimeToLiveSpecification"] == {"AttributeName": "expiresAt", "Enabled": True}
    assert properties["PointInTimeRecoverySpecification"]["RecoveryPeriodInDays"] == 1
    uses: dict[str, set[str]] = {}
    for _, policy in resources(document, "AWS::IAM::Policy"):
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            targets = (
                statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
            )
            if any(
                json.dumps(target).count(f'"{name}"') for target in targets for name in (vault_id, key_id)
            ):
                actions = (
                    statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
                )
                uses.setdefault(path_of(policy).split("/Role/")[0], set()).update(actions)
    # by their roles' paths
    payment, starter = f"{STACK}/Payment", f"{STACK}/Orders/Starter/Function"
    machine = f"{STACK}/Orders/StateMachine"
    assert set(uses) == {payment, starter, machine}, "no one else may touch the vault or its key"
    table_actions = {who: {a for a in actions if a.startswith("dynamodb:")} for who, actions in uses.items()}
    assert table_actions[payment] == {"dynamodb:GetItem", "dynamodb:DeleteItem"}
    assert table_actions[starter] == {"dynamodb:PutItem", "dynamodb:ConditionCheckItem"}, "never reads"
    assert table_actions[machine] == {"dynamodb:DeleteItem"}, "forgets, never reads"
    assert "kms:Decrypt" in uses[payment]
    _, function = one(document, "AWS::Lambda::Function", "/Payment/Function/")
    assert function["Properties"]["Environment"]["Variables"]["PAYMENT_TOKENS_TABLE"] == {"Ref": vault_id}


@pytest.mark.parametrize("profile", PROFILES)
def test_each_invoke_acknowledgement_names_the_one_function_and_step_it_covers(profile: str) -> None:
    """cdk-nag reports the ARN:* of each invoked function as its own IAM5 finding; the reason of
    each must describe that function, not its neighbours."""
    document = template_json(STACK, profile)
    invoked = {
        state["Parameters"]["FunctionName"].strip("<>"): name
        for name, state in all_states(definition_of(document)["States"])
        if state.get("Resource", "").endswith(":lambda:invoke")
    }
    assert len(invoked) == 3
    reasons = {
        finding.removeprefix("Annotation::"): reason
        for path, finding, reason in acknowledgements(profile)
        if path.startswith(f"/{STACK}/Orders/StateMachine/Role/DefaultPolicy")
    }
    for function_id, step in invoked.items():
        reason = reasons[f"AwsSolutions-IAM5[Resource::<{function_id}.Arn>:*]"]
        function_path = path_of(document["Resources"][function_id]).removesuffix("/Resource")
        assert step in reason and function_path in reason, reason
        others = [s for s in invoked.values() if s != step]
        assert not any(other in reason for other in others), f"{reason!r} names another step"


@pytest.mark.parametrize("profile", PROFILES)
def test_alarms_watch_failed_timed_out_and_throttled_executions_and_the_dead_letter_queues(
    profile: str,
) -> None:
    document = template_json(STACK, profile)
    metrics = {
        alarm["Properties"]["MetricName"]
        for _, alarm in resources(document, "AWS::CloudWatch::Alarm", "/Orders/")
        if alarm["Properties"].get("Namespace") == "AWS/States"
    }
    assert metrics == {"ExecutionsFailed", "ExecutionsTimedOut", "ExecutionThrottled"}
    dlq_alarms = [
        alarm
        for _, alarm in resources(document, "AWS::CloudWatch::Alarm", "/Orders/")
        if alarm["Properties"].get("MetricName") == "ApproximateNumberOfMessagesVisible"
    ]
    assert len(dlq_alarms) == 2
    assert all(alarm["Properties"]["AlarmActions"] for alarm in dlq_alarms)


def test_the_workflow_publishes_to_the_fan_out_topic_with_its_key() -> None:
    document = template_json(STACK, "sandbox")
    _, policy = one(document, "AWS::IAM::Policy", "/StateMachine/Role/")
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    imports: dict[str, Any] = {}
    for statement in statements:
        targets = (
            statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        )
        for target in targets:
            if (name := cross_stack_name(target)) is not None:
                imports[name] = statement["Action"]
    topic = next(name for name in imports if "OrderEventsTopic" in name and "Key" not in name)
    key = next(name for name in imports if "OrderEventsTopicKey" in name)
    assert imports[topic] == "sns:Publish"
    assert "kms:GenerateDataKey*" in imports[key]


def test_orders_arrive_through_a_starter_that_reports_failed_records_one_by_one() -> None:
    document = template_json(STACK, "sandbox")
    _, mapping = one(document, "AWS::Lambda::EventSourceMapping", "/Orders/Starter/")
    assert mapping["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    queue_id = resolve_ref(document, mapping["Properties"]["EventSourceArn"])
    assert document["Resources"][queue_id]["Metadata"]["aws:cdk:path"].endswith(
        "/Orders/Starter/Queue/Resource"
    )
    # QueueStarter's default: five failed starts, then the message waits in the DLQ
    assert document["Resources"][queue_id]["Properties"]["RedrivePolicy"]["maxReceiveCount"] == 5


def test_the_starter_may_start_and_describe_only_this_machines_executions() -> None:
    """Describing is how it tells a redelivered order from a changed one reusing the id."""
    document = template_json(STACK, "sandbox")
    machine_id, _ = one(document, "AWS::StepFunctions::StateMachine", "/StateMachine/")
    _, policy = one(document, "AWS::IAM::Policy", "/Orders/Starter/Function/Role/DefaultPolicy")
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    by_action = {s["Action"]: s["Resource"] for s in statements if str(s["Action"]).startswith("states:")}
    assert by_action["states:StartExecution"] == {"Ref": machine_id}
    executions = by_action["states:DescribeExecution"]["Fn::Join"][1]
    assert ":execution:" in executions
    assert {"Fn::Select": [6, {"Fn::Split": [":", {"Ref": machine_id}]}]} in executions
    assert executions[-1] == ":*"


# The construct on its own -----------------------------------------------------------------------


def _functions(stack: cdk.Stack, timeout: int = 10) -> dict[str, lambda_.IFunction]:
    def function(name: str, handler: str) -> lambda_.IFunction:
        return PythonFunction(
            stack,
            name,
            code_dir=lambda_dir("order_saga"),
            handler=handler,
            profile=SANDBOX,
            service_name="test",
            timeout=Duration.seconds(timeout),
        ).function

    return {
        "payment_function": function("Pay", "payment.charge"),
        "refund_function": function("Refund", "payment.refund"),
        "shipment_function": function("Ship", "shipment.arrange"),
    }


def test_without_a_topic_the_construct_publishes_to_an_encrypted_topic_of_its_own() -> None:
    stack = bare_stack()
    workflow = OrderWorkflow(stack, "Workflow", **_functions(stack))
    document = Template.from_stack(stack).to_json()
    _, topic = one(document, "AWS::SNS::Topic", "/Workflow/Events/")
    assert "KmsMasterKeyId" in topic["Properties"]
    publish = next(
        s
        for _, s in all_states(definition_of(document)["States"])
        if s.get("Resource", "").endswith(":sns:publish")
    )
    assert (
        publish["Parameters"]["TopicArn"] == f"<{one(document, 'AWS::SNS::Topic', '/Workflow/Events/')[0]}>"
    )
    assert workflow.events_topic.node.path.endswith("/Events")


@pytest.mark.parametrize(
    ("props", "message"),
    [
        ({"task_timeout": Duration.seconds(5)}, "task_timeout: 5 s is shorter than the timeout of"),
        (
            {"task_timeout": Duration.seconds(60), "execution_timeout": Duration.seconds(60)},
            "execution_timeout: must be longer than task_timeout",
        ),
        (
            {
                "step_retry": RetryPolicy(
                    max_attempts=0, interval=Duration.seconds(1), max_delay=Duration.seconds(5)
                )
            },
            "step_retry.max_attempts: must be between 1 and 99999999, got 0",
        ),
        (
            {
                "compensation_retry": RetryPolicy(
                    max_attempts=3, interval=Duration.seconds(10), max_delay=Duration.seconds(5)
                )
            },
            "compensation_retry.max_delay: must be between 10 and 31622400 s, got 5 s",
        ),
        ({"reservation_concurrency": 0}, "reservation_concurrency: must be 1 to 40"),
    ],
)
def test_contradictory_props_fail_at_synth_naming_the_prop(props: dict[str, Any], message: str) -> None:
    stack = bare_stack()
    with pytest.raises(ValueError, match=message):
        OrderWorkflow(stack, "Workflow", **_functions(stack), **props)


@pytest.mark.parametrize(
    ("props", "message"),
    [
        ({"name_field": " "}, "name_field: must name"),
        ({"batch_size": 11}, "batch_size: must be 1 to 10"),
        ({"sealed_field": "paymentToken"}, "sealed_field: give it together with vault"),
        ({"sealed_field": "orderId", "vault": "table"}, "sealed_field: must name a message field other than"),
        ({"sealed_field": "paymentToken", "vault": "table", "sealed_ttl": Duration.seconds(5)}, "sealed_ttl"),
    ],
)
def test_the_starter_refuses_props_sqs_or_the_handler_cannot_honour(
    props: dict[str, Any], message: str
) -> None:
    stack = bare_stack()
    machine = sfn.StateMachine(
        stack, "Machine", definition_body=sfn.DefinitionBody.from_chainable(sfn.Pass(stack, "P"))
    )
    if props.get("vault") == "table":
        props = {**props, "vault": dynamodb.Table(stack, "Vault", partition_key=REF)}
    with pytest.raises(ValueError, match=message):
        QueueStarter(
            stack,
            "Starter",
            state_machine=machine,
            key=kms.Key(stack, "Key"),
            alarm_topic=sns.Topic(stack, "Alarms"),
            profile=SANDBOX,
            **props,
        )
