"""API Gateway's account-level logging role: one setting per account and Region, so one per stack.

A REST API stage writes execution logs only once the account's API Gateway settings name a
CloudWatch role (`AWS::ApiGateway::Account`). CDK's `RestApi(cloud_watch_role=True)` makes that
resource once per API, so two APIs in a stack would both set the one account setting; here every
ServerlessApi of a stack shares one, and each stage waits for it.
"""

from __future__ import annotations

from aws_cdk import RemovalPolicy, Stack
from aws_cdk import aws_apigateway as apigateway
from aws_cdk import aws_iam as iam
from constructs import Construct, IConstruct

from ..shared.defaults import acknowledge

ACCOUNT_LOGGING_ID = "ApiGatewayAccountLogging"
ACCOUNT_ROLE_REASON = (
    "AmazonAPIGatewayPushToCloudWatchLogs is the AWS-documented policy for API Gateway's "
    "account-level logging role, assumable only by apigateway.amazonaws.com; the role is one "
    "per account and Region and writes the execution logs of every REST API there, so no "
    "static ARN narrower than the policy's covers it."
)


class AccountLogging(Construct):
    """The role API Gateway writes execution logs with, set as the account's CloudWatch role.

    Attributes:
        role: the role (AmazonAPIGatewayPushToCloudWatchLogs), assumable by API Gateway only.
        account: the `AWS::ApiGateway::Account` setting naming the role.
    """

    role: iam.Role
    account: apigateway.CfnAccount

    def __init__(self, scope: Construct, construct_id: str, *, removal_policy: RemovalPolicy) -> None:
        super().__init__(scope, construct_id)
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("apigateway.amazonaws.com"),
            managed_policies=[
                iam.ManagedPolicy.from_aws_managed_policy_name(
                    "service-role/AmazonAPIGatewayPushToCloudWatchLogs"
                )
            ],
        )
        self.role.apply_removal_policy(removal_policy)
        acknowledge(
            self.role,
            "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
            "AmazonAPIGatewayPushToCloudWatchLogs]",
            ACCOUNT_ROLE_REASON,
        )
        # L1: CDK has no L2 for the account settings other than RestApi(cloud_watch_role=True),
        # which makes one per API.
        self.account = apigateway.CfnAccount(self, "Account", cloud_watch_role_arn=self.role.role_arn)
        self.account.apply_removal_policy(removal_policy)


def account_logging(scope: IConstruct, *, removal_policy: RemovalPolicy) -> AccountLogging:
    """The stack's one AccountLogging, made by the first API that asks."""
    stack = Stack.of(scope)
    existing = stack.node.try_find_child(ACCOUNT_LOGGING_ID)
    if isinstance(existing, AccountLogging):
        return existing
    return AccountLogging(stack, ACCOUNT_LOGGING_ID, removal_policy=removal_policy)
