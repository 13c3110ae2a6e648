"""A VPC for tiers that must not be reachable from the internet.

Three subnet tiers in every AZ: public (load balancers and NAT gateways only), private with
egress (application instances) and isolated (databases and caches: no route out at all).
Flow logs record every connection attempt. Endpoints let instances in private subnets reach S3,
SSM (Session Manager instead of SSH), Secrets Manager and CloudWatch Logs without crossing the
NAT gateway, so a NAT outage does not take those down and their traffic is not billed per GB
through it.
"""

from __future__ import annotations

from aws_cdk import Fn
from aws_cdk import aws_ec2 as ec2
from constructs import Construct

from ..shared.defaults import Profile, log_group, profile_of
from .provider_logs import own_provider_logs

MIN_AZS = 2
INTERFACE_ENDPOINTS = {
    "Ssm": ec2.InterfaceVpcEndpointAwsService.SSM,
    "SsmMessages": ec2.InterfaceVpcEndpointAwsService.SSM_MESSAGES,
    "Ec2Messages": ec2.InterfaceVpcEndpointAwsService.EC2_MESSAGES,
    "SecretsManager": ec2.InterfaceVpcEndpointAwsService.SECRETS_MANAGER,
    "Logs": ec2.InterfaceVpcEndpointAwsService.CLOUDWATCH_LOGS,
}


class Network(Construct):
    """A new VPC across `az_count` AZs (2 in sandbox, 3 in production by default).

    Attributes: `vpc`, `flow_log`, `endpoints` (interface endpoints by name), `az_count`.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        az_count: int | None = None,
        nat_gateways: int | None = None,
        cidr: str = "10.0.0.0/16",
        interface_endpoints: bool = True,
        profile: Profile | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.profile = profile or profile_of(self)
        az_count = az_count if az_count is not None else (3 if self.profile.is_production else 2)
        if az_count < MIN_AZS:
            raise ValueError(f"az_count: a multi-tier network needs at least {MIN_AZS} AZs, got {az_count}")
        if nat_gateways is None:
            nat_gateways = az_count if self.profile.is_production else 1
        if not 1 <= nat_gateways <= az_count:
            raise ValueError(f"nat_gateways: must be between 1 and az_count ({az_count}), got {nat_gateways}")
        self.az_count = az_count
        self.vpc = ec2.Vpc(
            self,
            "Vpc",
            ip_addresses=ec2.IpAddresses.cidr(cidr),
            # An environment-agnostic stack knows only 2 AZs by name; these tokens resolve at
            # deploy time to the region's first N AZs, so production gets 3 without a lookup.
            availability_zones=[Fn.select(i, Fn.get_azs()) for i in range(az_count)],
            nat_gateways=nat_gateways,
            subnet_configuration=[
                ec2.SubnetConfiguration(name="Public", subnet_type=ec2.SubnetType.PUBLIC, cidr_mask=24),
                ec2.SubnetConfiguration(
                    name="Private", subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS, cidr_mask=22
                ),
                ec2.SubnetConfiguration(
                    name="Isolated", subnet_type=ec2.SubnetType.PRIVATE_ISOLATED, cidr_mask=24
                ),
            ],
            restrict_default_security_group=True,
        )
        own_provider_logs(self, self.profile)
        self.flow_log = self.vpc.add_flow_log(
            "FlowLog",
            destination=ec2.FlowLogDestination.to_cloud_watch_logs(
                log_group(self, "FlowLogs", profile=self.profile)
            ),
            traffic_type=ec2.FlowLogTrafficType.ALL,
        )
        self.vpc.add_gateway_endpoint("S3", service=ec2.GatewayVpcEndpointAwsService.S3)
        self.endpoints: dict[str, ec2.InterfaceVpcEndpoint] = {}
        # An interface endpoint is billed per AZ: sandbox puts each in one AZ (other AZs reach
        # it across the VPC), production in every AZ so an AZ outage does not take them down.
        endpoint_subnets = ec2.SubnetSelection(
            subnets=self.vpc.private_subnets if self.profile.is_production else self.vpc.private_subnets[:1]
        )
        if interface_endpoints:
            for name, service in INTERFACE_ENDPOINTS.items():
                self.endpoints[name] = self.vpc.add_interface_endpoint(
                    name,
                    service=service,
                    subnets=endpoint_subnets,
                    private_dns_enabled=True,
                    open=False,
                )
                # The VPC's own range, as a literal: a CIDR token would hide it from review.
                self.endpoints[name].connections.allow_default_port_from(
                    ec2.Peer.ipv4(cidr), "HTTPS from inside the VPC"
                )
