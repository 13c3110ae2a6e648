"""What every EC2 fleet of the kit shares: an instance role that allows Session Manager and
nothing account-wide, and the topic its Auto Scaling group notifies.

The role replaces the AWS managed `AmazonSSMManagedInstanceCore`, which also allows
`ssm:GetParameter(s)` on every parameter of the account: an instance (an internet-facing web
server, say) that is compromised could read them all. Here the instance reaches Session Manager
and Run Command, and reads parameters only under its own stack's path (`/<stack name>/...`).
"""

from __future__ import annotations

from aws_cdk import Aws, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from constructs import Construct

from .defaults import acknowledge, route_notifications
from .nag_findings import wildcard_resource

# "Create a custom IAM role for Session Manager" (the minimal instance permissions) and, for Run
# Command, the ec2messages calls of "Create an IAM instance profile for Systems Manager". None of
# these actions defines a resource type in the Service Authorization Reference.
SESSION_MANAGER_ACTIONS = (
    "ssm:UpdateInstanceInformation",
    "ssmmessages:CreateControlChannel",
    "ssmmessages:CreateDataChannel",
    "ssmmessages:OpenControlChannel",
    "ssmmessages:OpenDataChannel",
)
RUN_COMMAND_ACTIONS = (
    "ec2messages:AcknowledgeMessage",
    "ec2messages:DeleteMessage",
    "ec2messages:FailMessage",
    "ec2messages:GetEndpoint",
    "ec2messages:GetMessages",
    "ec2messages:SendReply",
)
SESSION_MANAGER_REASON = (
    "Session Manager and Run Command calls of the SSM Agent (ssm:UpdateInstanceInformation, "
    "ssmmessages channels, ec2messages) define no resource type in the Service Authorization "
    "Reference, so the policy can only name *; it allows nothing else."
)
OWN_PARAMETERS_REASON = (
    "The instance may read parameters only under its own stack's path (/<stack name>/...), "
    "where an operator can keep its configuration; the wildcard is the name below that path."
)
METRICS_REASON = (
    "cloudwatch:PutMetricData defines no resource type in the Service Authorization Reference; "
    "the statement is held to this fleet's one metric namespace by the cloudwatch:namespace key."
)


def instance_role(
    scope: Construct, construct_id: str, *, description: str, metric_namespace: str | None = None
) -> iam.Role:
    """A role for EC2 instances: Session Manager and Run Command (no SSH), parameters under
    `/<stack name>/`, and with `metric_namespace` custom metrics in that namespace only.

    Grant everything else (a queue, a log group, an object) on the returned role.
    """
    role = iam.Role(
        scope, construct_id, assumed_by=iam.ServicePrincipal("ec2.amazonaws.com"), description=description
    )
    session_manager = iam.Policy(
        role,
        "SessionManager",
        roles=[role],
        statements=[
            iam.PolicyStatement(actions=[*SESSION_MANAGER_ACTIONS, *RUN_COMMAND_ACTIONS], resources=["*"])
        ],
    )
    acknowledge(session_manager, "AwsSolutions-IAM5[Resource::*]", SESSION_MANAGER_REASON)
    parameters = Stack.of(scope).format_arn(
        service="ssm", resource="parameter", resource_name=f"{Aws.STACK_NAME}/*"
    )
    own_parameters = iam.Policy(
        role,
        "OwnParameters",
        roles=[role],
        statements=[
            iam.PolicyStatement(actions=["ssm:GetParameter", "ssm:GetParameters"], resources=[parameters])
        ],
    )
    acknowledge(own_parameters, wildcard_resource(scope, parameters), OWN_PARAMETERS_REASON)
    if metric_namespace is not None:
        metrics = iam.Policy(
            role,
            "Metrics",
            roles=[role],
            statements=[
                iam.PolicyStatement(
                    actions=["cloudwatch:PutMetricData"],
                    resources=["*"],
                    conditions={"StringEquals": {"cloudwatch:namespace": metric_namespace}},
                )
            ],
        )
        acknowledge(metrics, "AwsSolutions-IAM5[Resource::*]", METRICS_REASON)
    return role


def scaling_notification_topic(scope: Construct, construct_id: str) -> sns.Topic:
    """The topic an Auto Scaling group notifies of launches, terminations and their failures.

    Encrypted with the AWS managed SNS key: Auto Scaling publishes through its service-linked
    role (AWSServiceRoleForAutoScaling), whose permissions include AWS managed keys but not
    customer managed ones, and the AWS managed key's policy admits every principal of the
    account calling through SNS. A customer managed key admitting only the account root and
    CloudWatch would drop every notification.
    """
    key = kms.Alias.from_alias_name(scope, f"{construct_id}Key", "alias/aws/sns")
    topic = sns.Topic(scope, construct_id, master_key=key, enforce_ssl=True)
    route_notifications(topic)
    return topic


def amazon_linux_for(instance_type: ec2.InstanceType) -> ec2.IMachineImage:
    """Amazon Linux 2023 for the instance type's CPU architecture (an arm64 image does not boot
    on an x86 instance, nor the reverse), resolved from a public SSM parameter at deploy time:
    no lookup at synth, so the stack stays environment-agnostic."""
    arm = instance_type.architecture == ec2.InstanceArchitecture.ARM_64
    cpu = ec2.AmazonLinuxCpuType.ARM_64 if arm else ec2.AmazonLinuxCpuType.X86_64
    return ec2.MachineImage.latest_amazon_linux2023(cpu_type=cpu)
