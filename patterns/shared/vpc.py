"""A VPC for workers, as the worker constructs make one when the user gives none."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import aws_ec2 as ec2
from constructs import Construct

from .defaults import Profile, log_group


def worker_vpc(
    scope: Construct,
    *,
    profile: Profile,
    max_azs: int,
    nat_gateways: int,
    subnets: Sequence[ec2.SubnetConfiguration],
) -> ec2.Vpc:
    """`Vpc` in `scope` with `subnets`, a free S3 gateway endpoint, and flow logs of all traffic
    into `FlowLogs`, a log group of the profile's retention."""
    flow_logs = log_group(scope, "FlowLogs", profile=profile)
    return ec2.Vpc(
        scope,
        "Vpc",
        max_azs=max_azs,
        nat_gateways=nat_gateways,
        restrict_default_security_group=False,
        subnet_configuration=list(subnets),
        gateway_endpoints={"S3": ec2.GatewayVpcEndpointOptions(service=ec2.GatewayVpcEndpointAwsService.S3)},
        flow_logs={
            "All": ec2.FlowLogOptions(
                destination=ec2.FlowLogDestination.to_cloud_watch_logs(flow_logs),
                traffic_type=ec2.FlowLogTrafficType.ALL,
            )
        },
    )
