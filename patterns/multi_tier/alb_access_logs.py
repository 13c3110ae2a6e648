"""ALB access logs for an environment-agnostic stack.

CDK's `log_access_logs` needs the stack's region at synth time to pick the bucket policy's
principal. ELB writes logs as a regional AWS account in regions launched before August 2022 and
as the `logdelivery.elasticloadbalancing.amazonaws.com` service in newer ones; this grants both,
choosing the account at deploy time from a mapping of CDK's own region facts, so the stack keeps
no region. A region CDK does not know yet falls back to the service principal alone.
"""

from __future__ import annotations

from aws_cdk import Aws, CfnCondition, CfnMapping, Fn, ICfnRuleConditionExpression
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from aws_cdk.region_info import RegionInfo
from constructs import Construct

MAX_CONDITIONS_PER_OR = 10


def log_access_to(
    scope: Construct, load_balancer: elbv2.ApplicationLoadBalancer, bucket: s3.IBucket, prefix: str
) -> None:
    legacy = {region.name: region.elbv2_account for region in RegionInfo.regions if region.elbv2_account}
    accounts = CfnMapping(
        scope,
        "ElbLogAccounts",
        mapping={region: {"account": account} for region, account in sorted(legacy.items())},
        lazy=True,
    )
    in_legacy_region = CfnCondition(scope, "ElbLogsByAccount", expression=_any_region(sorted(legacy)))
    elb_account = Fn.condition_if(
        in_legacy_region.logical_id,
        accounts.find_in_map(Aws.REGION, "account"),
        Aws.ACCOUNT_ID,  # newer regions: the bucket owner itself, which changes nothing
    ).to_string()
    objects = bucket.arn_for_objects(f"{prefix}/AWSLogs/{Aws.ACCOUNT_ID}/*")
    bucket.add_to_resource_policy(
        iam.PolicyStatement(
            actions=["s3:PutObject"],
            resources=[objects],
            principals=[
                iam.ArnPrincipal(f"arn:{Aws.PARTITION}:iam::{elb_account}:root"),
                iam.ServicePrincipal("logdelivery.elasticloadbalancing.amazonaws.com"),
            ],
        )
    )
    load_balancer.set_attribute("access_logs.s3.enabled", "true")
    load_balancer.set_attribute("access_logs.s3.bucket", bucket.bucket_name)
    load_balancer.set_attribute("access_logs.s3.prefix", prefix)
    # ELB checks it may write when the attribute is set: the policy must exist first.
    if bucket.policy is not None:
        load_balancer.node.add_dependency(bucket.policy)


def _any_region(regions: list[str]) -> ICfnRuleConditionExpression:
    conditions = [Fn.condition_equals(Aws.REGION, region) for region in regions]
    while len(conditions) > 1:
        conditions = [
            Fn.condition_or(*conditions[i : i + MAX_CONDITIONS_PER_OR])
            if len(conditions[i : i + MAX_CONDITIONS_PER_OR]) > 1
            else conditions[i]
            for i in range(0, len(conditions), MAX_CONDITIONS_PER_OR)
        ]
    return conditions[0]
