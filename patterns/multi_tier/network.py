"""A VPC for tiers that must not be reachable from the internet.

Three subnet tiers in every AZ: public (load balancers and NAT gateways only), private with
egress (application instances) and isolated (databases and caches: no route out at all).
Flow logs record every connection attempt. Endpoints let instances in private subnets reach S3,
SSM (Session Manager instead of SSH), Secrets Manager and CloudWatch Logs without crossing the
NAT gateway, so a NAT outage does not take those down and their traffic is not billed per GB
through it.
"""

from __future__ import annotations

import ipaddress

from aws_cdk import aws_ec2 as ec2
from constructs import Construct

from ..shared.defaults import Profile, log_group, profile_of
from ..shared.props import PropError, expect, within
from ..shared.vpc import LookupFreeVpc, subnet_blocks
from .provider_logs import own_provider_logs

MIN_AZS = 2
MAX_AZS = 6  # the most AZs a Region has (us-east-1)
SUBNETS = (  # in this order, one of each per AZ
    ec2.SubnetConfiguration(name="Public", subnet_type=ec2.SubnetType.PUBLIC, cidr_mask=24),
    ec2.SubnetConfiguration(name="Private", subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS, cidr_mask=22),
    ec2.SubnetConfiguration(name="Isolated", subnet_type=ec2.SubnetType.PRIVATE_ISOLATED, cidr_mask=24),
)
INTERFACE_ENDPOINTS = {
    "Ssm": ec2.InterfaceVpcEndpointAwsService.SSM,
    "SsmMessages": ec2.InterfaceVpcEndpointAwsService.SSM_MESSAGES,
    "Ec2Messages": ec2.InterfaceVpcEndpointAwsService.EC2_MESSAGES,
    "SecretsManager": ec2.InterfaceVpcEndpointAwsService.SECRETS_MANAGER,
    "Logs": ec2.InterfaceVpcEndpointAwsService.CLOUDWATCH_LOGS,
}


class Network(Construct):
    """A new VPC across `az_count` AZs (2 in sandbox, 3 in production by default).

    Attributes:
        vpc: The VPC: public, private-with-egress and isolated subnets in every AZ.
        flow_log: Its flow log (all traffic) to an encrypted log group.
        endpoints: The interface endpoints by name (`Ssm`, `SsmMessages`, `Ec2Messages`,
            `SecretsManager`, `Logs`); empty with `interface_endpoints=False`.
        az_count: How many AZs the VPC spans.
        profile: The profile the network was built for.
    """

    vpc: ec2.IVpc
    flow_log: ec2.FlowLog
    endpoints: dict[str, ec2.InterfaceVpcEndpoint]
    az_count: int
    profile: Profile

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
        """Build the VPC, its flow log, its S3 gateway endpoint and its interface endpoints.

        Args:
            az_count: AZs to span, 2 to 6 (the most any Region has; a Region with fewer fails
                at deploy, as `Fn::GetAZs` is resolved there). Default: 2 in sandbox, 3 in
                production.
            nat_gateways: NAT gateways, 1 to `az_count`. Default: 1 in sandbox, one per AZ in
                production.
            cidr: The VPC's IPv4 range, a literal `/16` to `/28` big enough for a /24 public,
                a /22 private and a /24 isolated subnet per AZ (a /20 for 2 AZs, a /19 for 3 or
                4, a /18 for 5 or 6). Default: `10.0.0.0/16`.
            interface_endpoints: Whether to create the SSM, SSM messages, EC2 messages, Secrets
                Manager and CloudWatch Logs interface endpoints (one AZ in sandbox, every AZ in
                production). Default: True.
            profile: `SANDBOX` or `PRODUCTION`. Default: the `profile` context value.
        """
        super().__init__(scope, construct_id)
        expect("az_count", az_count, int, optional=True)
        expect("nat_gateways", nat_gateways, int, optional=True)
        expect("cidr", cidr, str)
        expect("interface_endpoints", interface_endpoints, bool)
        expect("profile", profile, Profile, optional=True)
        self.profile = profile or profile_of(self)
        az_count = az_count if az_count is not None else (3 if self.profile.is_production else 2)
        within("az_count", az_count, MIN_AZS, MAX_AZS)
        if nat_gateways is None:
            nat_gateways = az_count if self.profile.is_production else 1
        within("nat_gateways", nat_gateways, 1, az_count)
        _check_cidr(cidr, az_count)
        self.az_count = az_count
        # Not ec2.Vpc, which looks the AZs up in a stack with an account and Region: see
        # patterns/shared/vpc.py. Same resources and logical IDs as the ec2.Vpc this was.
        network = LookupFreeVpc(
            self,
            "Vpc",
            cidr=cidr,
            az_count=az_count,
            nat_gateways=nat_gateways,
            subnets=SUBNETS,
            restrict_default_security_group=True,
        )
        self.vpc = network.vpc
        own_provider_logs(self, self.profile)
        self.flow_log = network.add_flow_log(
            "FlowLog",
            destination=ec2.FlowLogDestination.to_cloud_watch_logs(
                log_group(self, "FlowLogs", profile=self.profile)
            ),
            traffic_type=ec2.FlowLogTrafficType.ALL,
        )
        network.add_gateway_endpoint("S3", service=ec2.GatewayVpcEndpointAwsService.S3)
        self.endpoints: dict[str, ec2.InterfaceVpcEndpoint] = {}
        # An interface endpoint is billed per AZ: sandbox puts each in one AZ (other AZs reach
        # it across the VPC), production in every AZ so an AZ outage does not take them down.
        endpoint_subnets = ec2.SubnetSelection(
            subnets=self.vpc.private_subnets if self.profile.is_production else self.vpc.private_subnets[:1]
        )
        if interface_endpoints:
            for name, service in INTERFACE_ENDPOINTS.items():
                self.endpoints[name] = network.add_interface_endpoint(
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


def smallest_prefix(az_count: int) -> int:
    """The largest VPC prefix (smallest range) holding the subnets of `az_count` AZs, laid out
    as the VPC lays them out (`subnet_blocks`, CDK's allocator): the last block's end, rounded
    up to a power of two."""
    last = ipaddress.IPv4Network(
        subnet_blocks("0.0.0.0/0", [int(s.cidr_mask or 0) for s in SUBNETS], az_count)[-1]
    )
    return 32 - int(last.broadcast_address).bit_length()


def _check_cidr(cidr: str, az_count: int) -> None:
    try:
        network = ipaddress.IPv4Network(cidr)
    except ValueError as error:
        raise PropError("cidr", f"{cidr!r} is not an IPv4 network such as 10.0.0.0/16 ({error})") from None
    if not 16 <= network.prefixlen <= 28:  # what a VPC accepts
        raise PropError("cidr", f"a VPC's range is a /16 to a /28, got {cidr}")
    needed = smallest_prefix(az_count)
    if network.prefixlen > needed:
        raise PropError(
            "cidr",
            f"{cidr} is too small for {az_count} AZs of a /24 public, a /22 private and a /24 "
            f"isolated subnet each: it must be a /{needed} or larger",
        )
