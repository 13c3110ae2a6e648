"""ALB access logs for an environment-agnostic stack.

CDK's `log_access_logs` needs the stack's region at synth time to pick the bucket policy's
principal. ELB writes logs as a regional AWS account in regions launched before August 2022 and
as the `logdelivery.elasticloadbalancing.amazonaws.com` service in newer ones; this grants both,
choosing the account at deploy time from a mapping of CDK's own region facts, so the stack keeps
no region. A region CDK does not know yet falls back to the service principal alone.
"""

from __future__ import annotations

from aws_cdk import Aws, CfnCondition, CfnMapping, Fn, ICfnRuleConditionExpression, Stack
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from aws_cdk.region_info import RegionInfo
from constructs import Construct

MAX_CONDITIONS_PER_OR = 10
MAPPING_ID = "ElbLogAccounts"
CONDITION_ID = "ElbLogsByAccount"


def log_access_to(
    scope: Construct, load_balancer: elbv2.ApplicationLoadBalancer, bucket: s3.IBucket, prefix: str
) -> None:
    accounts, in_legacy_region = _region_facts(Stack.of(scope))
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


def _region_facts(stack: Stack) -> tuple[CfnMapping, CfnCondition]:
    """The mapping and the condition, once per stack: a second load balancer in the stack (two
    web tiers) reuses them, where copies would be equivalent conditions (CloudFormation
    validation W9053, which the `cdk init` flags report as a synth failure)."""
    found = stack.node.try_find_child(MAPPING_ID), stack.node.try_find_child(CONDITION_ID)
    if isinstance(found[0], CfnMapping) and isinstance(found[1], CfnCondition):
        return found[0], found[1]
    legacy = {region.name: region.elbv2_account for region in RegionInfo.regions if region.elbv2_account}
    accounts = CfnMapping(
        stack,
        MAPPING_ID,
        mapping={region: {"account": account} for region, account in sorted(legacy.items())},
        lazy=True,
    )
    return accounts, CfnCondition(stack, CONDITION_ID, expression=_any_region(sorted(legacy)))


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
