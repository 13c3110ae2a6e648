"""`FailoverRunbook`: failover and failback of the orders API as a Step Functions state machine,
to be deployed in the standby Region (the primary may be the Region that is down).

failover: note which standby functions are throttled (reserved concurrency 0), promote those
(pilot light: delete that reserved concurrency), shift traffic (point the primary's Route 53
health check at a path the primary never answers with 2xx/3xx, so the check is unhealthy whether
the primary is up or down and the failover record answers with the standby), verify the standby
answers; a failed shift or verify puts the check's own path back.
failback: restore the check's path (it reads the primary again), verify the primary, then demote
the standby (pilot light: reserved concurrency 0 again); a failed verify points the check away
again.

Route 53's and Lambda's control planes answer bursts with throttling (Route 53: five requests
per second per account, then HTTP 400 `Throttling`, "Quotas" in the Route 53 DG;
`PriorRequestNotComplete` while an earlier change is applied, Route 53 API Reference), so every
call retries those errors with exponential backoff and full jitter before it counts as failed.
A step that still fails is caught and the execution ends in a named Fail state (PromoteFailed,
ShiftFailed, VerifyFailed, DemoteFailed, RollbackIncomplete) that the construct's
ExecutionsFailed alarm reports.

No failure of a failover demotes the standby; only failback does. The likeliest cause of a step
that fails past its retries is Route 53's or Lambda's control plane being impaired, and in a
primary-Region outage the primary's check is failing by itself, so Route 53's data plane already
answers with the standby: demoting it would throttle the only Region serving, and no probe from
the standby Region can tell that outage apart from a healthy primary the way Route 53's checkers
see it. A promoted standby that gets no traffic costs nothing (requests are billed). So a failed
shift or verify only writes the check's own path back (a timed-out UpdateHealthCheck may have
landed; writing the path is idempotent), and the traffic follows the primary's real health.
Promotion touches only the functions found at 0: a reservation someone set on purpose stays.

Why not invert the check: an inverted check is healthy when its endpoint is unhealthy ("Inverting
health checks", Route 53 DG), so in a real outage inverting the already failing check of the
primary makes it healthy and sends traffic back to the dead primary.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from aws_cdk import Duration, Stack, Token
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from ..shared.defaults import AT_LEAST, Profile, acknowledge, log_group, new_alarm_topic, notifying_alarm
from ..shared.props import PropError, expect
from ..shared.python_function import PythonFunction

# Appended to the check's own path: a resource the API does not have. API Gateway answers a
# request for a resource or method a REST API lacks with 403 (gateway response
# MISSING_AUTHENTICATION_TOKEN, "including the cases when the client attempts to invoke an
# unsupported API method or resource", API Gateway DG "Gateway response types"), and Route 53
# counts anything but 2xx/3xx as a failure ("How Amazon Route 53 determines whether a health
# check is healthy"); an API that is down fails it as well.
FORCED_DOWN_SUFFIX = "/failed-over-by-runbook"

# Errors of an AWS SDK integration are `<Service>.<Error>Exception` ("Learning to use AWS
# service SDK integrations", Step Functions DG); an error the service's API model does not
# name comes as `<Service>.<Service>Exception`. One policy for every call: retry the errors AWS
# names as throttling or transient, and a catch-all only where a transient error arrives through
# it. Route 53's throttling is the common `Throttling`, not in its model, so it arrives only as
# the catch-all `Route53.Route53Exception`, which permanent errors (AccessDenied, say) share:
# they then fail after the retries, about 25 s of backoff, instead of at once.
ROUTE53_TRANSIENT = (
    "Route53.ThrottlingException",
    "Route53.PriorRequestNotCompleteException",
    "Route53.Route53Exception",  # the plain `Throttling` (see above)
    "Route53.SdkClientException",
)
# Get/Put/DeleteFunctionConcurrency: TooManyRequests, ServiceException and ResourceConflict
# (another operation on the function in progress), all named in the Lambda API Reference, so no
# catch-all (`Lambda.LambdaException`): a permanent error fails at once.
LAMBDA_TRANSIENT = (
    "Lambda.TooManyRequestsException",
    "Lambda.ServiceException",
    "Lambda.ResourceConflictException",
    "Lambda.SdkClientException",
)
# The probe's invocation (the optimized Lambda integration): the transient errors "Handle Lambda
# service exceptions" (Step Functions DG) names, AWSLambdaException among them, and throttling,
# which CDK's default retry of LambdaInvoke lacks (aws/aws-cdk#26470).
INVOKE_TRANSIENT = (
    "Lambda.TooManyRequestsException",
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.ClientExecutionTimeoutException",
)
RETRY_ATTEMPTS = 6
RETRY_INTERVAL = Duration.seconds(1)
RETRY_MAX_DELAY = Duration.seconds(20)
FAILURE_PATH = "$.failure"
STANDBY_PATH = "$.standby"  # each standby function's GetFunctionConcurrency before Promote
Task = TypeVar("Task", bound=sfn.TaskStateBase)


class FailoverRunbook(Construct):
    """The failover and failback state machine of the orders API, and its verify probe.

    Attributes:
        state_machine: start it with `{"mode": "failover"}` or `{"mode": "failback"}`; any
            other mode fails (UnknownMode). An execution times out after 30 minutes.
        probe: the function that verifies the Region traffic was shifted to.
        alarm_topic: where the alarms notify (yours, or the new one).
        alarms: an execution that failed, and one that timed out.
    """

    state_machine: sfn.StateMachine
    probe: lambda_.IFunction
    alarm_topic: sns.ITopic
    alarms: list[cloudwatch.Alarm]

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
        alarm_topic: sns.ITopic | None = None,
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
            standby_functions: the standby's functions: failover deletes the reserved
                concurrency of those it finds at 0, failback sets it to 0 again (a failed
                failover leaves them as they are: see the module's docstring). Required
                (non-empty) with `pilot_light`; ignored without it. Default: none.
            pilot_light: whether the standby is held at reserved concurrency 0 until promoted
                (True, the default) or serves all the time, smaller (False, warm standby:
                nothing is scaled).
            alarm_topic: where the alarms on failed and timed-out executions go; default a new
                encrypted topic CloudWatch may publish to.
        """
        super().__init__(scope, construct_id)
        expect("profile", profile, Profile)
        expect("alarm_topic", alarm_topic, sns.ITopic, optional=True)
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

        self.alarm_topic = alarm_topic or new_alarm_topic(self, "AlarmTopic", profile=profile)
        self.alarms = [
            notifying_alarm(
                self,
                name,
                metric(period=Duration.minutes(1), statistic="Sum"),
                topic=self.alarm_topic,
                threshold=1,
                evaluation_periods=1,
                comparison=AT_LEAST,
                description=f"{self.node.path}: a runbook execution {what}; read its error and "
                "the state it ended in before starting it again",
            )
            for name, metric, what in (
                ("ExecutionsFailed", self.state_machine.metric_failed, "failed"),
                ("ExecutionsTimedOut", self.state_machine.metric_timed_out, "timed out"),
            )
        ]

    # States -------------------------------------------------------------------------------------

    def _point_check(self, state_id: str, *, forced_down: bool) -> tasks.CallAwsService:
        """Forced down: the check probes a path the primary never answers 2xx/3xx, so it is
        unhealthy in an outage and on a game day alike and the failover record answers with its
        secondary. Otherwise: its own path again. Never inverted (an older runbook's inversion
        is undone too): an inverted check of a dead primary is healthy."""
        path = self._forced_down_path if forced_down else self._health_path
        task = tasks.CallAwsService(
            self,
            state_id,
            service="route53",
            action="updateHealthCheck",
            parameters={"HealthCheckId": self._health_check_id, "ResourcePath": path, "Inverted": False},
            iam_resources=[self._health_check_arn()],
            result_path=sfn.JsonPath.DISCARD,
        )
        return _retried(task, ROUTE53_TRANSIENT)

    def _lambda_call(
        self, state_id: str, action: str, function: lambda_.IFunction, **extra: object
    ) -> sfn.IChainable:
        task = tasks.CallAwsService(
            self,
            state_id,
            service="lambda",
            action=action,
            parameters={"FunctionName": function.function_name, **extra},
            iam_resources=[function.function_arn],
            iam_action=f"lambda:{action[0].upper()}{action[1:]}",
            result_path=sfn.JsonPath.DISCARD,
        )
        return _retried(task, LAMBDA_TRANSIENT)

    def _note_concurrency(self, failed: sfn.IChainable) -> sfn.Chain:
        """Each standby function's GetFunctionConcurrency answer, at `_noted(index)`: what this
        run promotes. The answer has no ReservedConcurrentExecutions
        for a function without one (Lambda API Reference). One after another, not in a Parallel:
        a Parallel's output is an array, and a path into it by index is where moto's JSONPath
        departs from Step Functions' (it answers a one-element list)."""
        chain: sfn.Chain | None = None
        for index, function in enumerate(self._functions):
            read = tasks.CallAwsService(
                self,
                f"NoteConcurrency{index}",
                service="lambda",
                action="getFunctionConcurrency",
                parameters={"FunctionName": function.function_name},
                iam_resources=[function.function_arn],
                iam_action="lambda:GetFunctionConcurrency",
                result_path=_noted(index),
            )
            _retried(read, LAMBDA_TRANSIENT).add_catch(failed, result_path=FAILURE_PATH)
            chain = sfn.Chain.start(read) if chain is None else chain.next(read)
        assert chain is not None
        return chain

    def _concurrency(
        self, state_id: str, *, throttled: bool, noted_only: bool = True
    ) -> sfn.Parallel | sfn.Pass:
        """Pilot light: reserved concurrency 0 throttles every invocation; deleting it promotes.
        `noted_only`: only the functions `_note_concurrency` found at 0 (a reservation someone
        set on purpose is left as it is)."""
        if not self._functions:
            return sfn.Pass(self, state_id, comment="warm standby: nothing to scale")
        branches = sfn.Parallel(self, state_id, result_path=sfn.JsonPath.DISCARD)
        for index, function in enumerate(self._functions):
            call: sfn.IChainable
            if throttled:
                call = self._lambda_call(
                    f"{state_id}{index}", "putFunctionConcurrency", function, ReservedConcurrentExecutions=0
                )
            else:
                call = self._lambda_call(f"{state_id}{index}", "deleteFunctionConcurrency", function)
            if noted_only:
                reserved = f"{_noted(index)}.ReservedConcurrentExecutions"
                was_throttled = sfn.Condition.and_(
                    sfn.Condition.is_present(reserved), sfn.Condition.number_equals(reserved, 0)
                )
                left_as_is = sfn.Pass(self, f"{state_id}{index}LeftAsIs", comment="not at 0 before this run")
                call = (
                    sfn.Choice(self, f"{state_id}{index}WasThrottled")
                    .when(was_throttled, call)
                    .otherwise(left_as_is)
                )
            branches.branch(call)
        return branches

    def _verify(self, state_id: str, mode: str) -> tasks.LambdaInvoke:
        task = tasks.LambdaInvoke(
            self,
            state_id,
            lambda_function=self.probe,
            payload=sfn.TaskInput.from_object({"mode": mode}),
            payload_response_only=True,
            retry_on_service_exceptions=False,
            result_path="$.verify",
        )
        return _retried(task, INVOKE_TRANSIENT)

    def _fail(self, state_id: str, cause: str, error: str | None = None) -> sfn.Fail:
        return sfn.Fail(self, state_id, error=error or state_id, cause=cause)

    def _rollback(self, prefix: str, *, ending: sfn.Fail) -> sfn.IChainable:
        """Put the check's own path back, then end in `ending` (RollbackIncomplete if that fails
        after its retries). A rollback never demotes the standby: while the primary is down its
        check fails by itself and Route 53 answers with the standby, which a demotion would
        throttle, and the standby probe cannot tell that case from a healthy primary as Route
        53's checkers see it. A promoted standby that gets no traffic costs nothing (requests
        are billed); failback demotes it."""
        incomplete = self._fail(
            f"{prefix}RollbackIncomplete",
            "writing the health check's own path back failed after its retries (see $.failure): "
            "the check may still point away from the primary; write its path back by hand "
            "(aws route53 update-health-check --resource-path) or run failback"
            + (
                "; the standby is left promoted, so it serves whatever Route 53 sends it"
                if self._functions
                else ""
            ),
            error="RollbackIncomplete",
        )
        put_back = self._point_check(f"{prefix}RollBackShift", forced_down=False)
        put_back.add_catch(incomplete, result_path=FAILURE_PATH)
        return put_back.next(ending)

    def _definition(self) -> sfn.IChainable:
        failover = self._failover()
        failback = self._failback()
        return (
            sfn.Choice(self, "Mode")
            .when(sfn.Condition.string_equals("$.mode", "failover"), failover)
            .when(sfn.Condition.string_equals("$.mode", "failback"), failback)
            .otherwise(sfn.Fail(self, "UnknownMode", error="UnknownMode", cause="mode: failover or failback"))
        )

    def _failover(self) -> sfn.IChainable:
        """Note, promote, shift, verify. A failed shift or verify writes the check's own path
        back; nothing demotes the standby (see `_rollback`)."""
        promote = self._concurrency("Promote", throttled=False)
        shift = self._point_check("ShiftToStandby", forced_down=True)
        verify = self._verify("VerifyStandby", "failover")
        left = " The standby is left promoted: run failback to demote it." if self._functions else ""
        chain = sfn.Chain.start(promote)
        if isinstance(promote, sfn.Parallel):  # a pilot light: a branch may have run
            note_failed = self._fail(
                "NoteFailed",
                "reading the standby's reserved concurrency failed (see $.failure); nothing changed",
                error="PromoteFailed",
            )
            chain = self._note_concurrency(note_failed).next(promote)
            promote.add_catch(
                self._fail(
                    "PromoteFailed",
                    "promoting the standby failed after its retries (see $.failure); the health "
                    "check was not touched. The functions promoted before the failure stay "
                    "promoted (idle, they cost nothing): run failover again, or failback to demote",
                ),
                result_path=FAILURE_PATH,
            )
        # A failed UpdateHealthCheck may have landed (a timeout): the rollback writes the path back.
        shift.add_catch(
            self._rollback(
                "Shift",
                ending=self._fail(
                    "ShiftFailed",
                    "updating the primary's health check failed after its retries (see $.failure); "
                    "its own path is written back." + left,
                ),
            ),
            result_path=FAILURE_PATH,
        )
        verify_failed = self._rollback(
            "Verify",
            ending=self._fail(
                "VerifyFailed",
                "the standby did not answer its health path (see $.verify), or the verify call "
                "itself failed (see $.failure); the check's own path is written back." + left,
            ),
        )
        verify.add_catch(verify_failed, result_path=FAILURE_PATH)
        return (
            chain.next(shift)
            .next(verify)
            .next(
                sfn.Choice(self, "StandbyHealthy")
                .when(sfn.Condition.boolean_equals("$.verify.healthy", True), sfn.Succeed(self, "FailedOver"))
                .otherwise(verify_failed)
            )
        )

    def _failback(self) -> sfn.IChainable:
        """Shift back, verify the primary, demote; a failed verify points the check away again."""
        shift = self._point_check("ShiftToPrimary", forced_down=False)
        shift.add_catch(
            self._fail(
                "FailbackShiftFailed",
                "updating the primary's health check failed (see $.failure); nothing changed, traffic "
                "stays on the standby",
                error="ShiftFailed",
            ),
            result_path=FAILURE_PATH,
        )
        verify = self._verify("VerifyPrimary", "failback")
        back = self._point_check("BackToStandby", forced_down=True)
        primary_failed = self._fail(
            "PrimaryVerifyFailed",
            "the primary did not answer its health path (see $.verify), or the verify call itself "
            "failed (see $.failure); traffic stays on the standby",
            error="VerifyFailed",
        )
        back.add_catch(
            self._fail(
                "FailbackRollbackIncomplete",
                "pointing the check away from the unhealthy primary failed (see $.failure): the check "
                "reads the primary again, so traffic follows the primary's health; start failover again",
                error="RollbackIncomplete",
            ),
            result_path=FAILURE_PATH,
        )
        back.next(primary_failed)
        verify.add_catch(back, result_path=FAILURE_PATH)
        demote = self._concurrency("Demote", throttled=True, noted_only=False)
        failed_back = sfn.Succeed(self, "FailedBack")
        if isinstance(demote, sfn.Parallel):
            demote.add_catch(
                self._fail(
                    "DemoteFailed",
                    "traffic is back on the primary, but demoting the standby failed (see $.failure): "
                    "it stays promoted (it costs nothing idle); start failback again",
                ),
                result_path=FAILURE_PATH,
            )
        return (
            sfn.Chain.start(shift)
            .next(verify)
            .next(
                sfn.Choice(self, "PrimaryHealthy")
                .when(sfn.Condition.boolean_equals("$.verify.healthy", True), demote.next(failed_back))
                .otherwise(back)
            )
        )

    def _health_check_arn(self) -> str:
        return Stack.of(self).format_arn(
            service="route53",
            region="",
            account="",
            resource="healthcheck",
            resource_name=self._health_check_id,
        )


def _noted(index: int) -> str:
    return f"{STANDBY_PATH}.function{index}"


def _retried(task: Task, errors: tuple[str, ...]) -> Task:
    """Retry `errors` with exponential backoff (1 s, doubling, at most 20 s) and full jitter."""
    task.add_retry(
        errors=list(errors),
        max_attempts=RETRY_ATTEMPTS,
        interval=RETRY_INTERVAL,
        max_delay=RETRY_MAX_DELAY,
        backoff_rate=2.0,
        jitter_strategy=sfn.JitterType.FULL,
    )
    return task
