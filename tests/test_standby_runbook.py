"""The failover runbook's synthesized definition, executed by moto's Step Functions
interpreter against moto's Lambda and Route 53: promote, shift, verify, failback, and a failed
verify that puts everything back. The verify step is the real probe handler, run in-process (moto
would only echo the payload), probing a real local HTTP server that is up or answering 503.

Route 53 in moto keeps a health check's settings (it stores UpdateHealthCheck's ResourcePath
and Inverted) but never probes and computes no DNS answers (its status is hard-coded
"Success"), so the tests evaluate the check themselves, as Route 53 does, against the local
server standing in for the primary API (`route53_healthy`): "shifted" means the primary's check
is unhealthy, so the PRIMARY failover record is unhealthy and Route 53 answers with the
SECONDARY ("How Amazon Route 53 chooses records when health checking is configured").
"""

from __future__ import annotations

import io
import json
import threading
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar
from unittest import mock

import boto3
import pytest
from aws_cdk import aws_lambda as lambda_
from aws_cdk.assertions import Template
from moto import mock_aws
from moto.awslambda_simple.models import LambdaSimpleBackend

from patterns.shared.defaults import SANDBOX
from patterns.shared.props import PropError
from patterns.standby import FailoverRunbook
from stacks.paths import lambda_dir
from tests.kit import bare_stack, load_module, one, resources
from tests.order_workflow_harness import ACCOUNT, MOTO_CONFIG, PSEUDO, REGION, definition_of

HEALTH_CHECK = "PRIMARY-HEALTH-CHECK-ID"
STANDBY_FUNCTIONS = ("orders-create", "orders-read")
probe = load_module("failover_probe", "probe")


PRIMARY_HEALTH_PATH = "/primary/health"


class Health(BaseHTTPRequestHandler):
    """Two APIs on one server, by first path segment, answering as API Gateway does: an API that
    is down answers 503 on every path; one that is up answers its health path with 200 and a
    resource it does not have with 403 (API Gateway DG, "Gateway response types":
    MISSING_AUTHENTICATION_TOKEN, "including the cases when the client attempts to invoke an
    unsupported API method or resource")."""

    down: ClassVar[set[str]] = set()
    cold: ClassVar[dict[str, int]] = {}  # API: how many requests it fails first (cold starts)
    known: ClassVar[tuple[str, ...]] = (PRIMARY_HEALTH_PATH, "/standby/health")

    def do_GET(self) -> None:
        api = self.path.split("/")[1]
        if self.cold.get(api, 0) > 0:
            self.cold[api] -= 1
            self.send_response(503)
        else:
            self.send_response(503 if api in self.down else 200 if self.path in self.known else 403)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Health)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


@pytest.fixture(scope="module")
def definition(server: str) -> str:
    stack = bare_stack()
    functions = [
        lambda_.Function.from_function_arn(stack, name, f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}")
        for name in STANDBY_FUNCTIONS
    ]
    FailoverRunbook(
        stack,
        "Runbook",
        profile=SANDBOX,
        probe_code_dir=lambda_dir("failover_probe"),
        primary_health_check_id=HEALTH_CHECK,
        primary_health_path=PRIMARY_HEALTH_PATH,
        primary_health_url=f"{server}{PRIMARY_HEALTH_PATH}",
        standby_health_url=f"{server}/standby/health",
        standby_functions=functions,
    )
    document = Template.from_stack(stack).to_json()
    probe_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:probe"
    return json.dumps(definition_of(document, lambda name: PSEUDO.get(name, probe_arn)))


def route53_healthy(config: dict[str, Any], server: str) -> bool:
    """Route 53's verdict on an HTTP(S) health check, one checker's probe: healthy when the
    endpoint answers `ResourcePath` with 2xx or 3xx in time ("How Amazon Route 53 determines
    whether a health check is healthy", Route 53 DG); an inverted check is the opposite,
    unhealthy when the endpoint is healthy and healthy when it is not ("Inverting health
    checks"). moto never probes, so this is the probe; the server stands in for the endpoint."""
    request = urllib.request.Request(server + config["ResourcePath"])
    try:
        with urllib.request.urlopen(request, timeout=2) as response:
            status = response.status
    except urllib.error.HTTPError as error:
        status = error.code
    except OSError:
        status = 0
    healthy = 200 <= status < 400
    return not healthy if config.get("Inverted") else healthy


class World:
    def __init__(self, definition: str, server: str) -> None:
        self.lambda_ = boto3.client("lambda", region_name=REGION)
        self.route53 = boto3.client("route53", region_name=REGION)
        self.sfn = boto3.client("stepfunctions", region_name=REGION)
        role = boto3.client("iam").create_role(RoleName="r", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        archive = io.BytesIO()
        with zipfile.ZipFile(archive, "w") as zipped:
            zipped.writestr("index.py", "def handler(event, context): return event")
        for name in (*STANDBY_FUNCTIONS, "probe"):
            self.lambda_.create_function(
                FunctionName=name,
                Runtime="python3.12",
                Role=role,
                Handler="index.handler",
                Code={"ZipFile": archive.getvalue()},
            )
        self.health_check = self.route53.create_health_check(
            CallerReference="primary",
            HealthCheckConfig={
                "Type": "HTTPS",
                "FullyQualifiedDomainName": "primary.example.test",
                "Port": 443,
                "ResourcePath": PRIMARY_HEALTH_PATH,
            },
        )["HealthCheck"]["Id"]
        body = definition.replace(HEALTH_CHECK, self.health_check)
        self.machine = self.sfn.create_state_machine(name="runbook", definition=body, roleArn=role)[
            "stateMachineArn"
        ]
        self.server = server
        self.runs = 0

    def pilot_light(self) -> None:
        for name in STANDBY_FUNCTIONS:
            self.lambda_.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=0)

    def throttled(self) -> dict[str, int | None]:
        return {
            name: self.lambda_.get_function_concurrency(FunctionName=name).get("ReservedConcurrentExecutions")
            for name in STANDBY_FUNCTIONS
        }

    def shifted(self) -> bool:
        """Whether Route 53 answers with the standby: the primary's check is unhealthy."""
        check = self.route53.get_health_check(HealthCheckId=self.health_check)["HealthCheck"]
        return not route53_healthy(check["HealthCheckConfig"], self.server)

    def run(self, mode: str) -> dict[str, Any]:
        environment = {
            "PRIMARY_HEALTH_URL": f"{self.server}{PRIMARY_HEALTH_PATH}",
            "STANDBY_HEALTH_URL": f"{self.server}/standby/health",
        }

        def invoke(
            backend: Any, function_name: str, qualifier: Any, body: Any, headers: Any, response_headers: Any
        ) -> bytes:
            assert "probe" in function_name, f"the runbook invoked {function_name}"
            with mock.patch.dict("os.environ", environment):
                return json.dumps(probe.handler(json.loads(body), None)).encode()

        with mock.patch.object(LambdaSimpleBackend, "invoke", invoke):
            self.runs += 1
            execution = self.sfn.start_execution(
                stateMachineArn=self.machine, name=f"{mode}-{self.runs}", input=json.dumps({"mode": mode})
            )
            for _ in range(300):
                described = self.sfn.describe_execution(executionArn=execution["executionArn"])
                if described["status"] != "RUNNING":
                    return dict(described)
                time.sleep(0.05)
        raise AssertionError("the runbook did not finish")


@pytest.fixture
def world(definition: str, server: str) -> Iterator[World]:
    Health.down, Health.cold = set(), {}
    # the probe's pauses between attempts, not what is tested here
    with mock_aws(config=MOTO_CONFIG), mock.patch.object(probe, "BACKOFF_SECONDS", (0.0, 0.0)):  # type: ignore[arg-type]
        yield World(definition, server)


def test_failover_promotes_the_pilot_light_and_shifts_traffic(world: World) -> None:
    """A game day: the primary is up, the runbook alone moves traffic."""
    world.pilot_light()
    assert world.shifted() is False
    result = world.run("failover")
    assert result["status"] == "SUCCEEDED", result
    assert world.shifted() is True
    assert world.throttled() == {name: None for name in STANDBY_FUNCTIONS}


def test_in_an_outage_the_shift_keeps_the_dead_primarys_check_unhealthy(world: World) -> None:
    """The primary is the Region that is down, so its check already fails: inverting it (the old
    shift) would make it healthy and send traffic back to the dead primary. The shift must leave
    it unhealthy, and keep it so when the primary comes back, until failback."""
    world.pilot_light()
    Health.down.add("primary")
    assert world.shifted() is True  # Route 53 already fails over on its own
    result = world.run("failover")
    assert result["status"] == "SUCCEEDED", result
    assert world.shifted() is True
    Health.down.clear()  # the primary recovers: traffic stays on the standby until failback
    assert world.shifted() is True
    assert world.run("failback")["status"] == "SUCCEEDED"
    assert world.shifted() is False


def test_a_standby_failing_its_first_cold_requests_still_verifies(world: World) -> None:
    """A freshly promoted function's first invocations are cold: the verify asks again (three
    attempts in all) before it rolls back; a standby failing every attempt is rolled back."""
    world.pilot_light()
    Health.cold["standby"] = 2
    result = world.run("failover")
    assert result["status"] == "SUCCEEDED", result
    assert json.loads(result["output"])["verify"] == {"healthy": True, "status": 200, "attempts": 3}
    assert world.run("failback")["status"] == "SUCCEEDED"
    Health.cold["standby"] = 3
    assert world.run("failover").get("error") == "VerifyFailed"
    assert world.shifted() is False


def test_a_failed_verify_sends_traffic_back_and_leaves_the_standby_promoted(world: World) -> None:
    """The check reads the primary again, so traffic follows the primary's real health; the
    standby is not demoted: if the primary is down too, Route 53 answers with the standby, and
    a demotion would throttle the only Region left."""
    world.pilot_light()
    Health.down.add("standby")
    result = world.run("failover")
    assert result["status"] == "FAILED" and result.get("error") == "VerifyFailed", result
    assert world.shifted() is False
    assert world.throttled() == {name: None for name in STANDBY_FUNCTIONS}
    assert "run failback to demote" in result["cause"]
    assert world.run("failback")["status"] == "SUCCEEDED"  # what demotes it, once wanted
    assert world.throttled() == {name: 0 for name in STANDBY_FUNCTIONS}


def test_failback_returns_traffic_and_demotes_the_standby(world: World) -> None:
    world.pilot_light()
    assert world.run("failover")["status"] == "SUCCEEDED"
    result = world.run("failback")
    assert result["status"] == "SUCCEEDED", result
    assert world.shifted() is False
    assert world.throttled() == {name: 0 for name in STANDBY_FUNCTIONS}


def test_failback_to_a_primary_still_down_keeps_traffic_on_the_standby(world: World) -> None:
    world.pilot_light()
    assert world.run("failover")["status"] == "SUCCEEDED"
    Health.down.add("primary")
    result = world.run("failback")
    assert result["status"] == "FAILED" and result.get("error") == "VerifyFailed", result
    Health.down.clear()  # back up a moment later: traffic stays on the standby all the same
    assert world.shifted() is True
    assert world.throttled() == {name: None for name in STANDBY_FUNCTIONS}


def test_an_unknown_mode_changes_nothing(world: World) -> None:
    world.pilot_light()
    result = world.run("panic")
    assert result["status"] == "FAILED" and result.get("error") == "UnknownMode"
    assert world.shifted() is False and world.throttled() == {name: 0 for name in STANDBY_FUNCTIONS}


def test_the_probe_reads_its_target_from_its_environment_not_the_event(server: str) -> None:
    with mock.patch.dict(
        "os.environ", {"STANDBY_HEALTH_URL": f"{server}/standby/health", "PRIMARY_HEALTH_URL": "x"}
    ):
        assert probe.handler({"mode": "failover", "url": "http://attacker.test/"}, None)["healthy"] is True
        assert probe.handler({"mode": "elsewhere"}, None)["healthy"] is False


def test_a_check_path_without_a_leading_slash_fails_naming_the_prop() -> None:
    """Route 53 requests `ResourcePath` as given; failback would write back a path no check has."""
    stack = bare_stack()
    with pytest.raises(PropError, match="primary_health_path"):
        FailoverRunbook(
            stack,
            "Runbook",
            profile=SANDBOX,
            probe_code_dir=lambda_dir("failover_probe"),
            primary_health_check_id=HEALTH_CHECK,
            primary_health_path="health",
            primary_health_url="https://primary.example.test/health",
            standby_health_url="https://standby.example.test/health",
            pilot_light=False,
        )


# Faults at the control planes -----------------------------------------------------------------
#
# Route 53 answers more than five requests a second per account with HTTP 400 `Throttling`
# ("Quotas", Route 53 DG: "Route 53 API requests") and a change made while an earlier one is
# applied with `PriorRequestNotComplete` (Route 53 API Reference); Lambda answers bursts of
# control-plane calls with TooManyRequestsException (PutFunctionConcurrency, Lambda API
# Reference). A Task state sees an AWS SDK integration's error as `<Service>.<Error>Exception`
# with the service name in PascalCase, and an error the service's model does not name as
# `<Service>.<Service>Exception` ("Learning to use AWS service SDK integrations", Step Functions
# DG). moto's interpreter builds those names but keeps the lower-case name of the Resource
# (`route53.ThrottlingException`); the tests give it the PascalCase names AWS uses
# (`service_names`). moto's waits between retries are real sleeps; they are recorded instead.


@pytest.fixture
def service_names() -> Iterator[list[float]]:
    from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
        state_task_service_aws_sdk as aws_sdk,
    )

    sleeps: list[float] = []
    names = {**aws_sdk._SERVICE_ERROR_NAMES, "route53": "Route53", "lambda": "Lambda"}
    with (
        mock.patch.object(aws_sdk, "_SERVICE_ERROR_NAMES", names),
        mock.patch.object(retrier_decl, "time", mock.Mock(sleep=sleeps.append)),
    ):
        yield sleeps


def failing(
    backend: type,
    method: str,
    error: Callable[[str, str], Exception],
    code: str,
    times: int,
    *,
    after: int = 0,
) -> Any:
    """`backend.method` answering the error `code` on calls after+1 .. after+times; every call,
    failed or not, is counted in the patch's `calls`."""
    original = getattr(backend, method)
    calls: list[str] = []

    def answer(self: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(code)
        if after < len(calls) <= after + times:
            raise error(code, f"injected {code}")
        return original(self, *args, **kwargs)

    patch = mock.patch.object(backend, method, answer)
    patch.calls = calls  # type: ignore[attr-defined]
    return patch


def route53_update(code: str, times: int, *, after: int = 0) -> Any:
    from moto.route53.exceptions import Route53ClientError
    from moto.route53.models import Route53Backend

    return failing(Route53Backend, "update_health_check", Route53ClientError, code, times, after=after)


@pytest.mark.parametrize("code", ["ThrottlingException", "PriorRequestNotComplete", "Throttling"])
# Route 53 answers a plain `Throttling` (a common error, not in its service model's error shapes),
# so moto warns that it finds no shape for it: that is the case under test.
@pytest.mark.filterwarnings("ignore:Exception\\(Route53ClientError\\) with code Throttling:UserWarning")
def test_a_throttled_shift_is_retried_and_the_failover_completes(
    world: World, service_names: list[float], code: str
) -> None:
    world.pilot_light()
    patch = route53_update(code, times=2)
    with patch:
        result = world.run("failover")
    assert result["status"] == "SUCCEEDED", result
    assert patch.calls == [code] * 3  # two refusals, then the change
    assert world.shifted() is True
    assert world.throttled() == {name: None for name in STANDBY_FUNCTIONS}
    assert len(service_names) == 2 and all(0 <= wait <= 20 for wait in service_names)


def test_a_throttled_promotion_is_retried(world: World, service_names: list[float]) -> None:
    from moto.awslambda.exceptions import LambdaClientError
    from moto.awslambda.models import LambdaBackend

    world.pilot_light()
    patch = failing(
        LambdaBackend, "delete_function_concurrency", LambdaClientError, "TooManyRequestsException", times=2
    )
    with patch:
        result = world.run("failover")
    assert result["status"] == "SUCCEEDED", result
    assert len(patch.calls) == 2 + len(STANDBY_FUNCTIONS)  # two refusals, then one change each
    assert world.throttled() == {name: None for name in STANDBY_FUNCTIONS}


def refusing_the_shift(code: str, *, landed: bool = False) -> Any:
    """Route 53 refusing every UpdateHealthCheck that forces the check down (the shift, all its
    attempts) with `code`, and taking the one that writes the check's own path back. `landed`:
    each refused shift is applied first, as a request that timed out on the client's side
    (`SdkClientException`) may have been; moto's backend cannot time the client out, so the
    error comes after the change instead, which leaves the service in the same state."""
    from moto.route53.exceptions import Route53ClientError
    from moto.route53.models import Route53Backend

    original = Route53Backend.update_health_check
    calls: list[str] = []

    def answer(self: Any, health_check_id: str, args: dict[str, Any]) -> Any:
        shift = str(args.get("resource_path", "")).endswith("/failed-over-by-runbook")
        calls.append("shift" if shift else "restore")
        if shift and landed:
            original(self, health_check_id, args)
        if shift:
            raise Route53ClientError(code, f"injected {code}")
        return original(self, health_check_id, args)

    patch = mock.patch.object(Route53Backend, "update_health_check", answer)
    patch.calls = calls  # type: ignore[attr-defined]
    return patch


def test_a_shift_that_keeps_failing_writes_the_path_back_and_keeps_the_promotion(
    world: World, service_names: list[float]
) -> None:
    """A game day on which Route 53 refuses the shift and takes the rollback's write: the check
    reads its own path, traffic stays with the healthy primary, the standby stays promoted."""
    world.pilot_light()
    with refusing_the_shift("ThrottlingException"):
        result = world.run("failover")
    assert result["status"] == "FAILED" and result.get("error") == "ShiftFailed", result
    assert world.shifted() is False
    assert world.throttled() == {name: None for name in STANDBY_FUNCTIONS}


def test_a_failed_shift_that_landed_is_written_back(world: World, service_names: list[float]) -> None:
    """The shift's UpdateHealthCheck answers an error after the change was made (a timeout):
    the rollback writes the check's own path back all the same."""
    world.pilot_light()
    patch = refusing_the_shift("PriorRequestNotComplete", landed=True)
    with patch:
        result = world.run("failover")
    assert result.get("error") == "ShiftFailed", result
    assert patch.calls[-1] == "restore"
    assert world.shifted() is False


@pytest.mark.filterwarnings("ignore:Exception\\(Route53ClientError\\) with code Throttling:UserWarning")
def test_in_an_outage_a_failed_shift_leaves_the_hand_promoted_standby_serving(
    world: World, service_names: list[float]
) -> None:
    """The primary Region is down (its check fails by itself, Route 53 already answers with the
    standby), an operator promoted the standby by hand as the page says, and Route 53's control
    plane answers `Throttling` to every call. An earlier version ended ShiftFailed with the
    standby demoted to 0, throttling the only Region serving."""
    Health.down.add("primary")
    with route53_update("Throttling", times=1000):
        result = world.run("failover")
    assert result["status"] == "FAILED" and result.get("error") == "RollbackIncomplete", result
    assert "left promoted" in result["cause"]
    assert world.throttled() == {name: None for name in STANDBY_FUNCTIONS}
    assert world.shifted() is True  # Route 53 answers with the standby, which serves


def test_in_an_outage_a_failed_shift_keeps_what_the_run_promoted(
    world: World, service_names: list[float]
) -> None:
    """The same outage with the pilot light still at 0: the run's promotion stands."""
    world.pilot_light()
    Health.down.add("primary")
    with route53_update("ThrottlingException", times=1000):
        result = world.run("failover")
    assert result.get("error") == "RollbackIncomplete" and "left promoted" in result["cause"], result
    assert world.throttled() == {name: None for name in STANDBY_FUNCTIONS}


def test_a_landed_shift_whose_write_back_fails_leaves_the_standby_serving(
    world: World, service_names: list[float]
) -> None:
    """The standby fails its verify, then writing the check's path back fails every attempt:
    the check still points away from a healthy primary, so Route 53 answers with the standby.
    An earlier version demoted it then, and nothing served."""
    world.pilot_light()
    Health.down.add("standby")
    with route53_update("ThrottlingException", times=1000, after=1):  # the shift passes, the rollback not
        result = world.run("failover")
    assert result["status"] == "FAILED" and result.get("error") == "RollbackIncomplete", result
    assert world.shifted() is True  # what could not be undone, reported by the error above
    assert world.throttled() == {name: None for name in STANDBY_FUNCTIONS}


def test_a_reservation_set_on_purpose_is_left_as_it_is(world: World) -> None:
    """Promotion deletes reserved concurrency only where it is 0 (the pilot light's switch): a
    function someone gave a reservation of its own keeps it through failover and its failure."""
    world.pilot_light()
    world.lambda_.put_function_concurrency(FunctionName=STANDBY_FUNCTIONS[0], ReservedConcurrentExecutions=5)
    assert world.run("failover")["status"] == "SUCCEEDED"
    assert world.throttled() == {STANDBY_FUNCTIONS[0]: 5, STANDBY_FUNCTIONS[1]: None}


def test_a_failed_verify_invocation_is_handled_like_a_failed_verify(
    world: World, service_names: list[float]
) -> None:
    world.pilot_light()

    def broken(*args: Any, **kwargs: Any) -> bytes:
        raise RuntimeError("the probe's runtime failed")

    with mock.patch.object(probe, "handler", broken):
        result = world.run("failover")
    assert result["status"] == "FAILED" and result.get("error") == "VerifyFailed", result
    assert world.shifted() is False
    assert world.throttled() == {name: None for name in STANDBY_FUNCTIONS}


def test_failed_and_timed_out_executions_alarm_a_topic_cloudwatch_can_publish_to() -> None:
    """Step Functions publishes ExecutionsFailed and ExecutionsTimedOut per state machine in
    AWS/States with the StateMachineArn dimension ("Monitoring Step Functions metrics using
    CloudWatch", Step Functions DG). CloudWatch can publish an alarm to a topic encrypted with a
    customer managed key only when the key policy lets cloudwatch.amazonaws.com use it
    (kms:GenerateDataKey* and kms:Decrypt; SNS DG, "Configure AWS KMS permissions": events from
    AWS services to encrypted topics)."""
    stack = bare_stack()
    FailoverRunbook(
        stack,
        "Runbook",
        profile=SANDBOX,
        probe_code_dir=lambda_dir("failover_probe"),
        primary_health_check_id=HEALTH_CHECK,
        primary_health_path=PRIMARY_HEALTH_PATH,
        primary_health_url="https://primary.example.test/v1/health",
        standby_health_url="https://standby.example.test/v1/health",
        pilot_light=False,
    )
    document = Template.from_stack(stack).to_json()
    machine = one(document, "AWS::StepFunctions::StateMachine", "/StateMachine/")[0]
    watched = {}
    for _, alarm in resources(document, "AWS::CloudWatch::Alarm"):
        props = alarm["Properties"]
        if props.get("Namespace") != "AWS/States":
            continue
        dimensions = {d["Name"]: d["Value"] for d in props["Dimensions"]}
        assert dimensions["StateMachineArn"] == {"Ref": machine}
        assert props["Threshold"] >= 1 and props["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
        (action,) = props["AlarmActions"]
        watched[props["MetricName"]] = action["Ref"]
    assert set(watched) == {"ExecutionsFailed", "ExecutionsTimedOut"}
    topic = document["Resources"][next(iter(watched.values()))]
    key = document["Resources"][topic["Properties"]["KmsMasterKeyId"]["Fn::GetAtt"][0]]
    allowed = set()
    for statement in key["Properties"]["KeyPolicy"]["Statement"]:
        if statement.get("Principal", {}).get("Service") == "cloudwatch.amazonaws.com":
            actions = statement["Action"]
            allowed |= set([actions] if isinstance(actions, str) else actions)
    assert {"kms:Decrypt"} <= allowed and any(a.startswith("kms:GenerateDataKey") for a in allowed), allowed
