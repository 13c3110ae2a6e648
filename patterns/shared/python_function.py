"""A Lambda function in Python with the kit's defaults: current runtime, arm64, X-Ray tracing,
JSON logs into its own log group, least-privilege role, and Powertools from the AWS-published
layer (resolved per region at deploy time, so the stack stays environment-agnostic and synth
needs neither Docker nor a network lookup)."""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import Duration, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from .defaults import Profile, acknowledge, log_group

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


class PythonFunction(Construct):
    """A function from a folder of Python code, e.g. `lambda/order_events`.

    Attributes: `function`, `role`, `log_group`.

    Attributes:
        invocable: what callers must invoke: the `live` alias of the published version with
            `snap_start`, else the function itself.
    """

    invocable: lambda_.IFunction

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        code_dir: str,
        handler: str,
        profile: Profile,
        service_name: str,
        environment: Mapping[str, str] | None = None,
        timeout: Duration = Duration.seconds(30),
        memory_size: int = 512,
        description: str | None = None,
        invoked_synchronously_by: str | None = None,
        snap_start: bool = False,
    ) -> None:
        """`invoked_synchronously_by` names the caller (e.g. "API Gateway") when nothing invokes
        the function asynchronously: a dead-letter queue would then never receive anything.
        Leave it unset for asynchronous callers and give the function a failure destination.

        Args:
            snap_start: Lambda SnapStart: publish a version, snapshot it after Init, and resume
                new execution environments from the snapshot instead of running Init again.
                Only published versions restore from a snapshot, so callers must invoke
                `invocable` (the `live` alias), never the function. Default off: the snapshot's
                cache and every restore are billed (docs/serverless-api.md, "Cold start").
        """
        super().__init__(scope, construct_id)
        if timeout.to_seconds() < 1 or timeout.to_seconds() > 900:
            raise ValueError(f"timeout: must be between 1 and 900 seconds, got {timeout.to_seconds()}")
        self.log_group: logs.LogGroup = log_group(self, "Logs", profile=profile)
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
            code=lambda_.Code.from_asset(code_dir, exclude=["__pycache__", "*.pyc"]),
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
