"""`FailoverRunbook`: failover and failback of the orders API as a Step Functions state machine,
to be deployed in the standby Region (the primary may be the Region that is down).

failover: promote the standby (pilot light: lift its functions' reserved concurrency of 0),
shift traffic (point the primary's Route 53 health check at a path the primary never answers
with 2xx/3xx, so the check is unhealthy whether the primary is up or down and the failover
record answers with the standby), verify the standby answers; a failed verify puts the check's
path and the standby back. failback: restore the check's path (it reads the primary again),
verify the primary, then demote the standby (pilot light: reserved concurrency 0 again); a
failed verify points the check away again.

Why not invert the check: an inverted check is healthy when its endpoint is unhealthy ("Inverting
health checks", Route 53 DG), so in a real outage inverting the already failing check of the
primary makes it healthy and sends traffic back to the dead primary.
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Duration, Stack, Token
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from ..shared.defaults import Profile, acknowledge, log_group
from ..shared.props import PropError, expect
from ..shared.python_function import PythonFunction

# Appended to the check's own path: a resource the API does not have. API Gateway answers a
# request for a resource or method a REST API lacks with 403 (gateway response
# MISSING_AUTHENTICATION_TOKEN, "including the cases when the client attempts to invoke an
# unsupported API method or resource", API Gateway DG "Gateway response types"), and Route 53
# counts anything but 2xx/3xx as a failure ("How Amazon Route 53 determines whether a health
# check is healthy"); an API that is down fails it as well.
FORCED_DOWN_SUFFIX = "/failed-over-by-runbook"


class FailoverRunbook(Construct):
    """The failover and failback state machine of the orders API, and its verify probe.

    Attributes:
        state_machine: start it with `{"mode": "failover"}` or `{"mode": "failback"}`; any
            other mode fails (UnknownMode). An execution times out after 30 minutes.
        probe: the function that verifies the Region traffic was shifted to.
    """

    state_machine: sfn.StateMachine
    probe: lambda_.IFunction

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        profile: Profile,
        probe_code_dir: str,
        primary_health_check_id: str,
        primary_health_path: str,
        primary_health_url: str,
        standby_health_url: str,
        standby_functions: Sequence[lambda_.IFunction] = (),
        pilot_light: bool = True,
    ) -> None:
        """Build the probe and the state machine.

        Args:
            profile: sandbox or production: the probe's and the state machine's log groups;
                production leaves execution data out of the state machine's logs.
            probe_code_dir: the folder of the probe function (the kit's `lambda/failover_probe`).
            primary_health_check_id: the Route 53 health check of the primary's failover record,
                which the runbook points at a path the primary cannot answer to shift traffic.
            primary_health_path: that check's own resource path (e.g. `/v1/health`), which
                failback and a failed failover's rollback write back.
            primary_health_url: what failback verifies (the primary API's health path).
            standby_health_url: what failover verifies (the standby API's health path).
            standby_functions: the standby's functions: failover deletes their reserved
                concurrency, failback (and a failed failover) sets it to 0 again. Required
                (non-empty) with `pilot_light`; ignored without it. Default: none.
            pilot_light: whether the standby is held at reserved concurrency 0 until promoted
                (True, the default) or serves all the time, smaller (False, warm standby:
                nothing is scaled).
        """
        super().__init__(scope, construct_id)
        expect("profile", profile, Profile)
        for name, value in (
            ("primary_health_check_id", primary_health_check_id),
            ("primary_health_path", primary_health_path),
            ("primary_health_url", primary_health_url),
            ("standby_health_url", standby_health_url),
        ):
            expect(name, value, str)
        if pilot_light and not standby_functions:
            raise PropError("standby_functions", "a pilot light needs the standby functions it promotes")
        if not Token.is_unresolved(primary_health_path) and not primary_health_path.startswith("/"):
            raise PropError("primary_health_path", f"{primary_health_path!r} must start with /")
        self._health_check_id = primary_health_check_id
        self._health_path = primary_health_path
        self._forced_down_path = primary_health_path.rstrip("/") + FORCED_DOWN_SUFFIX
        self._functions = list(standby_functions) if pilot_light else []
        self.probe = PythonFunction(
            self,
            "Probe",
            code_dir=probe_code_dir,
            handler="probe.handler",
            profile=profile,
            service_name="failover-probe",
            timeout=Duration.seconds(20),  # the probe's 3 attempts of 4 s, 1 s and 2 s apart
            environment={"PRIMARY_HEALTH_URL": primary_health_url, "STANDBY_HEALTH_URL": standby_health_url},
            invoked_synchronously_by="the failover runbook's state machine",
        ).function
        self.state_machine = sfn.StateMachine(
            self,
            "StateMachine",
            definition_body=sfn.DefinitionBody.from_chainable(self._definition()),
            timeout=Duration.minutes(30),
            tracing_enabled=True,
            logs=sfn.LogOptions(
                destination=log_group(self, "Logs", profile=profile),
                level=sfn.LogLevel.ALL,
                include_execution_data=not profile.is_production,
            ),
        )
        policy = self.state_machine.role.node.find_child("DefaultPolicy")
        acknowledge(
            policy,
            "AwsSolutions-IAM5[Resource::*]",
            "CloudWatch Logs delivery and X-Ray trace actions support no resource-level "
            "permissions; AWS documents Resource '*'.",
        )
        probe_id = Stack.of(self).get_logical_id(self.probe.node.default_child)  # type: ignore[arg-type]
        acknowledge(
            policy,
            f"AwsSolutions-IAM5[Resource::<{probe_id}.Arn>:*]",
            "lambda:InvokeFunction on the probe's versions and aliases (ARN:*), which CDK's "
            "LambdaInvoke grants with the function; the probe is this runbook's own function.",
        )

    # States -------------------------------------------------------------------------------------

    def _point_check(self, state_id: str, *, forced_down: bool) -> tasks.CallAwsService:
        """Forced down: the check probes a path the primary never answers 2xx/3xx, so it is
        unhealthy in an outage and on a game day alike and the failover record answers with its
        secondary. Otherwise: its own path again. Never inverted (an older runbook's inversion
        is undone too): an inverted check of a dead primary is healthy."""
        path = self._forced_down_path if forced_down else self._health_path
        return tasks.CallAwsService(
            self,
            state_id,
            service="route53",
            action="updateHealthCheck",
            parameters={"HealthCheckId": self._health_check_id, "ResourcePath": path, "Inverted": False},
            iam_resources=[self._health_check_arn()],
            result_path=sfn.JsonPath.DISCARD,
        )

    def _concurrency(self, state_id: str, *, throttled: bool) -> sfn.IChainable:
        """Pilot light: reserved concurrency 0 throttles every invocation; deleting it promotes."""
        if not self._functions:
            return sfn.Pass(self, state_id, comment="warm standby: nothing to scale")
        branches = sfn.Parallel(self, state_id, result_path=sfn.JsonPath.DISCARD)
        for index, function in enumerate(self._functions):
            action = "putFunctionConcurrency" if throttled else "deleteFunctionConcurrency"
            parameters: dict[str, object] = {"FunctionName": function.function_name}
            if throttled:
                parameters["ReservedConcurrentExecutions"] = 0
            branches.branch(
                tasks.CallAwsService(
                    self,
                    f"{state_id}{index}",
                    service="lambda",
                    action=action,
                    parameters=parameters,
                    iam_resources=[function.function_arn],
                    iam_action=f"lambda:{action[0].upper()}{action[1:]}",
                )
            )
        return branches

    def _verify(self, state_id: str, mode: str) -> tasks.LambdaInvoke:
        return tasks.LambdaInvoke(
            self,
            state_id,
            lambda_function=self.probe,
            payload=sfn.TaskInput.from_object({"mode": mode}),
            payload_response_only=True,
            result_path="$.verify",
        )

    def _definition(self) -> sfn.IChainable:
        failed_over = sfn.Succeed(self, "FailedOver")
        failed_back = sfn.Succeed(self, "FailedBack")
        rolled_back = sfn.Fail(self, "VerifyFailedRolledBack", error="VerifyFailed", cause="see $.verify")
        failover = (
            sfn.Chain.start(self._concurrency("Promote", throttled=False))
            .next(self._point_check("ShiftToStandby", forced_down=True))
            .next(self._verify("VerifyStandby", "failover"))
            .next(
                sfn.Choice(self, "StandbyHealthy")
                .when(sfn.Condition.boolean_equals("$.verify.healthy", True), failed_over)
                .otherwise(
                    self._point_check("RollBackShift", forced_down=False)
                    .next(self._concurrency("RollBackPromote", throttled=True))
                    .next(rolled_back)
                )
            )
        )
        failback = (
            sfn.Chain.start(self._point_check("ShiftToPrimary", forced_down=False))
            .next(self._verify("VerifyPrimary", "failback"))
            .next(
                sfn.Choice(self, "PrimaryHealthy")
                .when(
                    sfn.Condition.boolean_equals("$.verify.healthy", True),
                    sfn.Chain.start(self._concurrency("Demote", throttled=True)).next(failed_back),
                )
                .otherwise(self._point_check("BackToStandby", forced_down=True).next(rolled_back))
            )
        )
        return (
            sfn.Choice(self, "Mode")
            .when(sfn.Condition.string_equals("$.mode", "failover"), failover)
            .when(sfn.Condition.string_equals("$.mode", "failback"), failback)
            .otherwise(sfn.Fail(self, "UnknownMode", error="UnknownMode", cause="mode: failover or failback"))
        )

    def _health_check_arn(self) -> str:
        return Stack.of(self).format_arn(
            service="route53",
            region="",
            account="",
            resource="healthcheck",
            resource_name=self._health_check_id,
        )
