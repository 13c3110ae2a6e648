"""`RemoteParameter`: read an SSM parameter of another Region when this stack deploys.

A weak cross-Region reference: the producing stack stays free to change or delete the value
(CDK's strong cross-Region references refuse that, aws/aws-cdk#27902). CloudFormation calls a
custom resource on a stack update only when the resource's properties changed, so a redeploy
of the consumer reads the value again only when `parameter_name` or `refresh` changed: pass as
`refresh` something that changes whenever the value can have (a fingerprint of what produced
it), or the consumer keeps the value it read first.
"""

from __future__ import annotations

from aws_cdk import Stack, Token
from aws_cdk import aws_iam as iam
from aws_cdk import custom_resources as cr
from constructs import Construct

from ..shared.defaults import Profile, acknowledge, log_group
from ..shared.props import PropError, expect

# The id CDK gives the one function that serves every AwsCustomResource of a stack.
PROVIDER_ID = "AWS679f53fac002430cb0da5b7982bd2287"
PROVIDER_FINDINGS = {
    "Serverless-LambdaDLQ": (
        "CloudFormation's custom-resource provider: it reports a failed read to CloudFormation, "
        "which fails and rolls back the deployment; a queued request could answer no one."
    ),
    "Serverless-LambdaTracing": (
        "CloudFormation's custom-resource provider, one SSM read per deployment; the stack's "
        "events record each call and its failure, there is no request path to trace."
    ),
}


class RemoteParameter(Construct):
    """The value of SSM parameter `parameter_name` in `region`, read at deploy time.

    Attributes:
        value: the parameter's value (a token resolved at deploy time).
        reader: the custom resource that reads it (SSM GetParameter in `region`).
    """

    value: str
    reader: cr.AwsCustomResource

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        profile: Profile,
        region: str,
        parameter_name: str,
        refresh: str = "",
    ) -> None:
        """Read the parameter.

        Args:
            profile: sandbox or production: the reader's log group.
            region: the Region the parameter is in.
            parameter_name: its name, starting with `/`.
            refresh: synth-time text (up to 256 characters) whose change makes the next deploy
                read the parameter again, e.g. a fingerprint of the producer's configuration;
                default empty (read on create and when `parameter_name` changes only).
        """
        super().__init__(scope, construct_id)
        expect("profile", profile, Profile)
        expect("region", region, str)
        expect("parameter_name", parameter_name, str)
        expect("refresh", refresh, str)
        if Token.is_unresolved(refresh) or len(refresh) > 256:
            raise PropError("refresh", "must be synth-time text of at most 256 characters")
        logs = log_group(self, "Logs", profile=profile)
        # A role of its own: the provider's default role carries the AWS-managed
        # AWSLambdaBasicExecutionRole (logs anywhere); this one writes to its own group only.
        role = iam.Role(self, "Role", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
        logs.grant_write(role)
        arn = Stack.of(self).format_arn(
            service="ssm", region=region, resource="parameter", resource_name=parameter_name.lstrip("/")
        )
        call = cr.AwsSdkCall(
            service="SSM",
            action="getParameter",
            parameters={"Name": parameter_name},
            region=region,
            # in the call CDK writes into the reader's properties (not sent to SSM): a new
            # `refresh` changes them, so CloudFormation sends the reader an Update, which reads
            physical_resource_id=cr.PhysicalResourceId.of(
                f"{region}{parameter_name}" + (f"@{refresh}" if refresh else "")
            ),
            output_paths=["Parameter.Value"],
        )
        self.reader = cr.AwsCustomResource(
            self,
            "Reader",
            on_create=call,
            on_update=call,
            policy=cr.AwsCustomResourcePolicy.from_statements(
                [iam.PolicyStatement(actions=["ssm:GetParameter"], resources=[arn])]
            ),
            install_latest_aws_sdk=False,  # the runtime's SDK: no download from npm at deploy time
            role=role,
            log_group=logs,
            memory_size=256,
        )
        provider = Stack.of(self).node.find_child(PROVIDER_ID)
        acknowledged = {e.type for e in provider.node.metadata}
        if "aws:cdk:acknowledged-rules" not in acknowledged:  # the provider is one per stack
            for finding, reason in PROVIDER_FINDINGS.items():
                acknowledge(provider, finding, reason)
        self.value = self.reader.get_response_field("Parameter.Value")
