"""A Lambda function in Python with the kit's defaults: current runtime, arm64, X-Ray tracing,
JSON logs into its own log group, least-privilege role, and Powertools from the AWS-published
layer (resolved per region at deploy time, so the stack stays environment-agnostic and synth
needs neither Docker nor a network lookup)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from aws_cdk import Annotations, Duration, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from .defaults import Profile, acknowledge, log_group, profile_of
from .props import PropError, expect, whole_seconds, within

RUNTIME = lambda_.Runtime.PYTHON_3_14
ARCHITECTURE = lambda_.Architecture.ARM_64
POWERTOOLS_VERSION = "3.37.0"  # keep equal to aws-lambda-powertools in requirements-dev.txt


def powertools_layer(scope: Construct) -> lambda_.ILayerVersion:
    """The Powertools layer of this region, one per stack.

    Powertools publishes each layer's ARN as a public SSM parameter; CloudFormation resolves it
    at deploy time in whatever region the stack goes to.
    """
    stack = Stack.of(scope)
    existing = stack.node.try_find_child("PowertoolsLayer")
    if existing is not None:
        return existing  # type: ignore[return-value]
    python = RUNTIME.name.removeprefix("python")
    parameter = f"/aws/service/powertools/python/{ARCHITECTURE.name}/python{python}/{POWERTOOLS_VERSION}"
    arn = ssm.StringParameter.value_for_string_parameter(stack, parameter)
    return lambda_.LayerVersion.from_layer_version_arn(stack, "PowertoolsLayer", arn)


HANDLER = re.compile(r"^[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*\.[A-Za-z_]\w*$")
# Lambda's own pattern for environment variable names.
ENVIRONMENT_NAME = re.compile(r"^[a-zA-Z][a-zA-Z0-9_]+$")
# Names the Lambda runtime sets itself: a function that sets one is refused at deployment
# (AWS Lambda Developer Guide, "Defined runtime environment variables").
RESERVED_ENVIRONMENT = frozenset(
    {
        "_HANDLER",
        "_X_AMZN_TRACE_ID",
        "AWS_ACCESS_KEY",
        "AWS_ACCESS_KEY_ID",
        "AWS_DEFAULT_REGION",
        "AWS_EXECUTION_ENV",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
        "AWS_LAMBDA_FUNCTION_NAME",
        "AWS_LAMBDA_FUNCTION_VERSION",
        "AWS_LAMBDA_INITIALIZATION_TYPE",
        "AWS_LAMBDA_LOG_GROUP_NAME",
        "AWS_LAMBDA_LOG_STREAM_NAME",
        "AWS_LAMBDA_RUNTIME_API",
        "AWS_REGION",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "LAMBDA_RUNTIME_DIR",
        "LAMBDA_TASK_ROOT",
    }
)
MEMORY_MB = (128, 10240)  # what Lambda accepts
TIMEOUT_SECONDS = (1, 900)


def check_environment(prop: str, environment: Mapping[str, str] | None, set_here: Mapping[str, str]) -> None:
    """Refuse an environment that is not a mapping of valid names to strings, names a variable
    the Lambda runtime reserves, or one the construct sets itself (`set_here`: name -> the prop
    that sets it)."""
    expect(prop, environment, Mapping, optional=True)
    for name, value in (environment or {}).items():
        if not isinstance(name, str) or not ENVIRONMENT_NAME.fullmatch(name):
            raise PropError(prop, f"{name!r} is not a valid variable name (letters, digits, _)")
        if name in RESERVED_ENVIRONMENT:
            raise PropError(prop, f"{name} is set by the Lambda runtime, which refuses it at deployment")
        if name in set_here:
            raise PropError(prop, f"{name} is set by this construct; use {set_here[name]} instead")
        expect(f"{prop}[{name!r}]", value, str)


class PythonFunction(Construct):
    """A function from a folder of Python code, e.g. `lambda/order_events`.

    Attributes:
        function: the Lambda function (Python, arm64, X-Ray tracing, JSON logs, Powertools layer).
        role: its execution role; writes to its own log group only (grant more to it).
        log_group: the function's own log group, encrypted with the stack's log key.
        invocable: what callers must invoke: the `live` alias of the published version with
            `snap_start`, else the function itself.
    """

    function: lambda_.Function
    role: iam.Role
    log_group: logs.LogGroup
    invocable: lambda_.IFunction

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        code_dir: str | Path,
        handler: str,
        service_name: str,
        profile: Profile | None = None,
        environment: Mapping[str, str] | None = None,
        timeout: Duration = Duration.seconds(30),
        memory_size: int = 512,
        description: str | None = None,
        invoked_synchronously_by: str | None = None,
        snap_start: bool = False,
    ) -> None:
        """Build the function.

        Args:
            code_dir: the folder of the function's code; only what the function ships.
            handler: `module.function` (the module may be dotted: `package.module.function`).
            service_name: the Powertools service name (POWERTOOLS_SERVICE_NAME); not empty.
            profile: sandbox or production (log retention, removal); default: the `profile`
                context value, sandbox when unset.
            environment: extra variables; names the Lambda runtime reserves and
                POWERTOOLS_SERVICE_NAME (use service_name) are refused. Never secrets.
            timeout: 1 s to 900 s (Lambda's range); default 30 s.
            memory_size: 128 to 10240 MB (Lambda's range); default 512 MB.
            description: the function's description; default none.
            invoked_synchronously_by: names the caller (e.g. "API Gateway") when nothing invokes
                the function asynchronously, which acknowledges that it needs no dead-letter
                queue. Default None: give the function a failure destination.
            snap_start: Lambda SnapStart: publish a version, snapshot it after Init, and resume
                new execution environments from the snapshot instead of running Init again.
                Only published versions restore from a snapshot, so callers must invoke
                `invocable` (the `live` alias), never the function. Default off: the snapshot's
                cache and every restore are billed (docs/serverless-api.md, "Cold start").
        """
        super().__init__(scope, construct_id)
        expect("code_dir", code_dir, str, Path)
        if not Path(code_dir).is_dir():
            raise PropError("code_dir", f"{str(code_dir)!r} is not a folder")
        expect("handler", handler, str)
        if not HANDLER.fullmatch(handler):
            raise PropError("handler", f"must be module.function (e.g. app.handler), got {handler!r}")
        expect("service_name", service_name, str)
        if not service_name.strip():
            raise PropError("service_name", "must not be empty (it names the function in logs and traces)")
        expect("profile", profile, Profile, optional=True)
        check_environment("environment", environment, {"POWERTOOLS_SERVICE_NAME": "service_name"})
        whole_seconds("timeout", timeout, low=TIMEOUT_SECONDS[0], high=TIMEOUT_SECONDS[1])
        expect("memory_size", memory_size, int)
        within("memory_size", memory_size, *MEMORY_MB, unit="MB")
        expect("description", description, str, optional=True)
        expect("invoked_synchronously_by", invoked_synchronously_by, str, optional=True)
        expect("snap_start", snap_start, bool)
        profile = profile or profile_of(self)
        self.log_group = log_group(self, "Logs", profile=profile)
        # Our own role instead of AWSLambdaBasicExecutionRole: the managed policy lets the
        # function write to any log group in the account; this one writes only to its own.
        self.role = iam.Role(self, "Role", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
        self.role.add_to_policy(
            iam.PolicyStatement(
                actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                resources=[self.log_group.log_group_arn],
            )
        )
        self.function = lambda_.Function(
            self,
            "Function",
            runtime=RUNTIME,
            architecture=ARCHITECTURE,
            code=lambda_.Code.from_asset(str(code_dir), exclude=["__pycache__", "*.pyc"]),
            handler=handler,
            role=self.role,
            timeout=timeout,
            memory_size=memory_size,
            description=description,
            tracing=lambda_.Tracing.ACTIVE,
            log_group=self.log_group,
            logging_format=lambda_.LoggingFormat.JSON,
            layers=[powertools_layer(self)],
            snap_start=lambda_.SnapStartConf.ON_PUBLISHED_VERSIONS if snap_start else None,
            environment={
                "POWERTOOLS_SERVICE_NAME": service_name,
                "POWERTOOLS_LOG_LEVEL": "INFO",
                **(environment or {}),
            },
        )
        self.invocable = self.function
        if snap_start:
            # An alias on the current version: every code or configuration change publishes a
            # new version (and snapshot), and the alias moves to it.
            self.invocable = lambda_.Alias(
                self, "Live", alias_name="live", version=self.function.current_version
            )
            Annotations.of(self.function).acknowledge_warning(
                "@aws-cdk/aws-lambda:snapStartRequirePublish",
                "the Live alias publishes the function's current version, and callers invoke it",
            )
        if invoked_synchronously_by:
            acknowledge(
                self.function,
                "Serverless-LambdaDLQ",
                f"Invoked synchronously by {invoked_synchronously_by}, which sees every failure; "
                "Lambda sends only asynchronous invocations to a dead-letter queue.",
            )
        acknowledge(
            self.role.node.find_child("DefaultPolicy"),
            "AwsSolutions-IAM5[Resource::*]",
            "X-Ray PutTraceSegments and PutTelemetryRecords support no resource-level "
            "permissions; AWS documents Resource '*' as the only valid value.",
        )
