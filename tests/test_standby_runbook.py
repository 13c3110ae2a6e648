"""The failover runbook's synthesized definition, executed by moto's Step Functions
interpreter against moto's Lambda and Route 53: promote, shift, verify, failback, and a failed
verify that puts everything back. The verify step is the real probe handler, run in-process (moto
would only echo the payload), probing a real local HTTP server that is up or answering 503.

Route 53 in moto keeps a health check's settings but computes no DNS answers, so "shifted"
is read as AWS defines it: an inverted health check of the primary makes its failover record
unhealthy and Route 53 answer with the secondary ("Inverting health checks", Route 53 DG).
"""

from __future__ import annotations

import io
import json
import threading
import time
import zipfile
from collections.abc import Iterator
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
from patterns.standby import FailoverRunbook
from stacks.paths import lambda_dir
from tests.kit import bare_stack, load_module
from tests.order_workflow_harness import ACCOUNT, MOTO_CONFIG, PSEUDO, REGION, definition_of

HEALTH_CHECK = "PRIMARY-HEALTH-CHECK-ID"
STANDBY_FUNCTIONS = ("orders-create", "orders-read")
probe = load_module("failover_probe", "probe")


class Health(BaseHTTPRequestHandler):
    status: ClassVar[dict[str, int]] = {"/primary/health": 200, "/standby/health": 200}

    def do_GET(self) -> None:
        self.send_response(self.status.get(self.path, 404))
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
        primary_health_url=f"{server}/primary/health",
        standby_health_url=f"{server}/standby/health",
        standby_functions=functions,
    )
    document = Template.from_stack(stack).to_json()
    probe_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:probe"
    return json.dumps(definition_of(document, lambda name: PSEUDO.get(name, probe_arn)))


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

    def inverted(self) -> bool:
        check = self.route53.get_health_check(HealthCheckId=self.health_check)["HealthCheck"]
        return bool(check["HealthCheckConfig"].get("Inverted"))

    def run(self, mode: str) -> dict[str, Any]:
        environment = {
            "PRIMARY_HEALTH_URL": f"{self.server}/primary/health",
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
    Health.status = {"/primary/health": 200, "/standby/health": 200}
    with mock_aws(config=MOTO_CONFIG):  # type: ignore[arg-type]
        yield World(definition, server)


def test_failover_promotes_the_pilot_light_and_shifts_traffic(world: World) -> None:
    world.pilot_light()
    Health.status["/primary/health"] = 503  # the primary is the Region that is down
    result = world.run("failover")
    assert result["status"] == "SUCCEEDED", result
    assert world.inverted() is True
    assert world.throttled() == {name: None for name in STANDBY_FUNCTIONS}


def test_a_failed_verify_rolls_the_shift_and_the_promotion_back(world: World) -> None:
    world.pilot_light()
    Health.status["/standby/health"] = 503
    result = world.run("failover")
    assert result["status"] == "FAILED" and result.get("error") == "VerifyFailed", result
    assert world.inverted() is False
    assert world.throttled() == {name: 0 for name in STANDBY_FUNCTIONS}


def test_failback_returns_traffic_and_demotes_the_standby(world: World) -> None:
    world.pilot_light()
    assert world.run("failover")["status"] == "SUCCEEDED"
    result = world.run("failback")
    assert result["status"] == "SUCCEEDED", result
    assert world.inverted() is False
    assert world.throttled() == {name: 0 for name in STANDBY_FUNCTIONS}


def test_failback_to_a_primary_still_down_keeps_traffic_on_the_standby(world: World) -> None:
    world.pilot_light()
    assert world.run("failover")["status"] == "SUCCEEDED"
    Health.status["/primary/health"] = 503
    result = world.run("failback")
    assert result["status"] == "FAILED" and result.get("error") == "VerifyFailed", result
    assert world.inverted() is True
    assert world.throttled() == {name: None for name in STANDBY_FUNCTIONS}


def test_an_unknown_mode_changes_nothing(world: World) -> None:
    world.pilot_light()
    result = world.run("panic")
    assert result["status"] == "FAILED" and result.get("error") == "UnknownMode"
    assert world.inverted() is False and world.throttled() == {name: 0 for name in STANDBY_FUNCTIONS}


def test_the_probe_reads_its_target_from_its_environment_not_the_event(server: str) -> None:
    with mock.patch.dict(
        "os.environ", {"STANDBY_HEALTH_URL": f"{server}/standby/health", "PRIMARY_HEALTH_URL": "x"}
    ):
        assert probe.handler({"mode": "failover", "url": "http://attacker.test/"}, None)["healthy"] is True
        assert probe.handler({"mode": "elsewhere"}, None)["healthy"] is False
