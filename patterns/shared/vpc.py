"""A new VPC that needs no availability-zone lookup, in a stack with or without an environment.

L1, not `ec2.Vpc`: aws-cdk-lib 2.275's `Vpc` constructor always reads
`Stack.of(this).availability_zones`, even when given `availability_zones` (it validates them
against the stack's: `Vpc.resolveStackAvailabilityZones` in aws-ec2/lib/vpc.js), and in a stack
with an explicit account and Region that getter is a context lookup (provider
`availability-zones`) the CLI can answer only with AWS credentials. A `NestedStack` inherits its
parent's environment, and a construct cannot set context on a stack that already has children.
So `LookupFreeVpc` writes the CloudFormation resources `ec2.Vpc` writes for the kit's layouts,
on the same construct paths (`Vpc/Resource`, `Vpc/PublicSubnet1/Subnet`, `.../RouteTable`,
`.../DefaultRoute`, `.../EIP`, `.../NATGateway`, `Vpc/IGW`, `Vpc/VPCGW`, ...), hence the same
logical IDs, so a stack deployed with `ec2.Vpc` is updated in place; the subnets' AZs are
`Fn::Select [i, Fn::GetAZs ""]`, resolved by CloudFormation at deploy time. The rest of the kit
gets an `ec2.IVpc` (`Vpc.from_vpc_attributes`) whose subnets carry the same dependencies an
`ec2.Vpc`'s do (an internet-facing load balancer waits for the public routes).

Only what the kit's VPCs use: one subnet group per type (public, private with egress through
NAT gateways, isolated), IPv4, endpoints and flow logs added through the methods below.
"""

from __future__ import annotations

import functools
import ipaddress
import tarfile
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from aws_cdk import (
    CustomResource,
    CustomResourceProvider,
    CustomResourceProviderRuntime,
    Fn,
    Stack,
    Tags,
)
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_logs as logs
from constructs import Construct, DependencyGroup, IDependable

from .defaults import Profile, log_group

KINDS = {  # the subnet types the kit uses, with ec2.Vpc's tag value for each
    ec2.SubnetType.PUBLIC: "Public",
    ec2.SubnetType.PRIVATE_WITH_EGRESS: "Private",
    ec2.SubnetType.PRIVATE_ISOLATED: "Isolated",
}
RESTRICT_SG = "Custom::VpcRestrictDefaultSG"  # ec2.Vpc's resource type and provider id
RESTRICT_SG_HANDLER = "custom-resource-handlers/dist/aws-ec2/restrict-default-security-group-handler"


@dataclass
class _Subnet:
    """One subnet's resources, under the construct `scope` (`PublicSubnet1`, ...)."""

    scope: Construct
    resource: ec2.CfnSubnet
    cidr: str
    table: ec2.CfnRouteTable
    association: ec2.CfnSubnetRouteTableAssociation
    routes: list[ec2.CfnRoute] = field(default_factory=list)


class LookupFreeVpc(Construct):
    """A VPC over the Region's first `az_count` AZs, one subnet group per entry of `subnets`.

    Attributes:
        vpc: The VPC as an `ec2.IVpc`, for every construct that takes one.
        resource: The `AWS::EC2::VPC`.
    """

    vpc: ec2.IVpc
    resource: ec2.CfnVPC

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        cidr: str,
        az_count: int,
        nat_gateways: int,
        subnets: Sequence[ec2.SubnetConfiguration],
        restrict_default_security_group: bool = False,
    ) -> None:
        """Args:
        cidr: The VPC's IPv4 range (a literal), laid out as `ec2.Vpc` lays it out.
        az_count: AZs to span: subnet `i` of each group is in `Fn::Select [i, Fn::GetAZs ""]`.
        nat_gateways: NAT gateways, in the first public subnets; each private subnet routes
            to the one in its AZ, or (with fewer gateways than AZs) to them in turn.
        subnets: One `SubnetConfiguration` per type, each with its `cidr_mask`.
        restrict_default_security_group: Remove every rule of the default security group,
            with aws-cdk-lib's own custom resource, as `ec2.Vpc` does.
        """
        super().__init__(scope, construct_id)
        kinds = [group.subnet_type for group in subnets]
        if len(set(kinds)) != len(kinds) or not set(kinds) <= set(KINDS):
            raise ValueError(f"one subnet group per type of {sorted(KINDS.values())}, got {kinds}")
        if any(group.cidr_mask is None for group in subnets):
            raise ValueError("every subnet group needs its cidr_mask")
        needs_nat = ec2.SubnetType.PRIVATE_WITH_EGRESS in kinds
        if needs_nat and (ec2.SubnetType.PUBLIC not in kinds or nat_gateways < 1):
            raise ValueError("private subnets with egress need a public subnet group and a NAT gateway")
        Tags.of(self).add("Name", self.node.path)
        self.resource = ec2.CfnVPC(
            self,
            "Resource",
            cidr_block=cidr,
            enable_dns_hostnames=True,
            enable_dns_support=True,
            instance_tenancy="default",
        )
        self._zones = [Fn.select(i, Fn.get_azs()) for i in range(az_count)]
        blocks = iter(subnet_blocks(cidr, [int(group.cidr_mask or 0) for group in subnets], az_count))
        made = {
            group.subnet_type: [self._subnet(group, i, next(blocks)) for i in range(az_count)]
            for group in subnets
        }
        self.vpc = ec2.Vpc.from_vpc_attributes(
            self,
            "Attributes",
            vpc_id=self.resource.ref,
            vpc_cidr_block=self.resource.attr_cidr_block,
            availability_zones=self._zones,
            **_subnet_attributes(subnets, made),  # type: ignore[arg-type]  # lists of ids, by name
        )
        public = made.get(ec2.SubnetType.PUBLIC, [])
        if public:
            self._route_public_subnets(public)
        if ec2.SubnetType.PRIVATE_WITH_EGRESS in made:
            self._route_private_subnets(public[:nat_gateways], made[ec2.SubnetType.PRIVATE_WITH_EGRESS])
        handed = {
            ec2.SubnetType.PUBLIC: self.vpc.public_subnets,
            ec2.SubnetType.PRIVATE_WITH_EGRESS: self.vpc.private_subnets,
            ec2.SubnetType.PRIVATE_ISOLATED: self.vpc.isolated_subnets,
        }
        for kind, own in made.items():  # what an ec2.Vpc's subnet makes its dependants wait for
            for subnet, imported in zip(own, handed[kind], strict=True):
                _group(imported.internet_connectivity_established).add(subnet.association, *subnet.routes)
        if restrict_default_security_group:
            self._restrict_default_security_group()

    def add_gateway_endpoint(
        self, construct_id: str, *, service: ec2.IGatewayVpcEndpointService
    ) -> ec2.GatewayVpcEndpoint:
        """A gateway endpoint routed from every subnet, where `ec2.Vpc.add_gateway_endpoint` puts it."""
        return ec2.GatewayVpcEndpoint(self, construct_id, vpc=self.vpc, service=service)

    def add_interface_endpoint(
        self, construct_id: str, *, service: ec2.IInterfaceVpcEndpointService, **options: object
    ) -> ec2.InterfaceVpcEndpoint:
        """An interface endpoint (`options` as `ec2.InterfaceVpcEndpointOptions`), where
        `ec2.Vpc.add_interface_endpoint` puts it."""
        return ec2.InterfaceVpcEndpoint(self, construct_id, vpc=self.vpc, service=service, **options)  # type: ignore[arg-type]

    def add_flow_log(
        self, construct_id: str, *, destination: ec2.FlowLogDestination, traffic_type: ec2.FlowLogTrafficType
    ) -> ec2.FlowLog:
        """A flow log of the whole VPC, where `ec2.Vpc.add_flow_log` puts it."""
        return ec2.FlowLog(
            self,
            construct_id,
            resource_type=ec2.FlowLogResourceType.from_vpc(self.vpc),
            destination=destination,
            traffic_type=traffic_type,
        )

    # Parts -----------------------------------------------------------------------------------

    def _subnet(self, group: ec2.SubnetConfiguration, index: int, block: str) -> _Subnet:
        kind = KINDS[group.subnet_type]
        subnet = Construct(self, f"{group.name}Subnet{index + 1}")
        Tags.of(subnet).add("Name", subnet.node.path)
        for key, value in (("aws-cdk:subnet-name", group.name), ("aws-cdk:subnet-type", kind)):
            Tags.of(subnet).add(key, value, include_resource_types=[ec2.CfnSubnet.CFN_RESOURCE_TYPE_NAME])
        resource = ec2.CfnSubnet(
            subnet,
            "Subnet",
            vpc_id=self.resource.ref,
            availability_zone=self._zones[index],
            cidr_block=block,
            map_public_ip_on_launch=group.subnet_type == ec2.SubnetType.PUBLIC,
        )
        table = ec2.CfnRouteTable(subnet, "RouteTable", vpc_id=self.resource.ref)
        association = ec2.CfnSubnetRouteTableAssociation(
            subnet, "RouteTableAssociation", subnet_id=resource.ref, route_table_id=table.ref
        )
        return _Subnet(subnet, resource, block, table, association)

    def _route_public_subnets(self, public: list[_Subnet]) -> None:
        """The internet gateway and each public subnet's default route to it. A route through
        an internet gateway declared in the same template must wait for the gateway's
        attachment to the VPC (CloudFormation user guide, "DependsOn attribute"), which the
        route's `GatewayId` reference alone does not make it do."""
        gateway = ec2.CfnInternetGateway(self, "IGW")
        attachment = ec2.CfnVPCGatewayAttachment(
            self, "VPCGW", vpc_id=self.resource.ref, internet_gateway_id=gateway.ref
        )
        _group(self.vpc.internet_connectivity_established).add(gateway)
        for subnet in public:
            route = ec2.CfnRoute(
                subnet.scope,
                "DefaultRoute",
                route_table_id=subnet.table.ref,
                destination_cidr_block="0.0.0.0/0",
                gateway_id=gateway.ref,
            )
            route.node.add_dependency(attachment)
            subnet.routes.append(route)

    def _route_private_subnets(self, nat_subnets: list[_Subnet], private: list[_Subnet]) -> None:
        """A NAT gateway (with its Elastic IP) in each of `nat_subnets`, created once its subnet
        routes to the internet; each private subnet's default route to the gateway in its AZ,
        or, where its AZ has none, to the gateways in turn (as `ec2.Vpc` picks them)."""
        gateways = []
        for subnet in nat_subnets:
            address = ec2.CfnEIP(subnet.scope, "EIP", domain="vpc")
            gateway = ec2.CfnNatGateway(
                subnet.scope,
                "NATGateway",
                subnet_id=subnet.resource.ref,
                allocation_id=address.attr_allocation_id,
            )
            gateway.node.add_dependency(*subnet.routes, subnet.association)
            gateways.append(gateway)
        elsewhere = 0
        for index, subnet in enumerate(private):
            if index < len(gateways):
                gateway = gateways[index]
            else:
                gateway, elsewhere = gateways[elsewhere % len(gateways)], elsewhere + 1
            route = ec2.CfnRoute(
                subnet.scope,
                "DefaultRoute",
                route_table_id=subnet.table.ref,
                destination_cidr_block="0.0.0.0/0",
                nat_gateway_id=gateway.ref,
            )
            subnet.routes.append(route)

    def _restrict_default_security_group(self) -> None:
        """`ec2.Vpc`'s `restrict_default_security_group`: aws-cdk-lib's custom resource with its
        own handler, on the same paths, so the function and its asset are the ones ec2.Vpc
        deploys (aws-cdk-lib does not export that provider class)."""
        provider = CustomResourceProvider.get_or_create_provider(
            self,
            RESTRICT_SG,
            code_directory=str(aws_cdk_lib_folder(RESTRICT_SG_HANDLER)),
            runtime=CustomResourceProviderRuntime.NODEJS_24_X,
            description=(
                "Lambda function for removing all inbound/outbound rules from the VPC default security group"
            ),
        )
        stack = Stack.of(self)
        default_group = self.resource.attr_default_security_group
        provider.add_to_role_policy(
            {
                "Effect": "Allow",
                "Action": [
                    "ec2:AuthorizeSecurityGroupIngress",
                    "ec2:AuthorizeSecurityGroupEgress",
                    "ec2:RevokeSecurityGroupIngress",
                    "ec2:RevokeSecurityGroupEgress",
                ],
                "Resource": [
                    stack.format_arn(service="ec2", resource="security-group", resource_name=default_group)
                ],
            }
        )
        CustomResource(
            self,
            "RestrictDefaultSecurityGroupCustomResource",
            resource_type=RESTRICT_SG,
            service_token=provider.service_token,
            properties={"DefaultSecurityGroupId": default_group, "Account": stack.account},
        )


def subnet_blocks(cidr: str, masks: Sequence[int], az_count: int) -> list[str]:
    """Each group's `az_count` blocks in turn, every block aligned to its size, from the start of
    `cidr`: the layout of `ec2.IpAddresses.cidr`, so a VPC keeps its subnets' ranges."""
    network = ipaddress.IPv4Network(cidr)
    start, blocks = int(network.network_address), []
    for mask in masks:
        size = 2 ** (32 - mask)
        for _ in range(az_count):
            start = -(-start // size) * size  # align up
            block = ipaddress.IPv4Network((start, mask))
            if not block.subnet_of(network):
                raise ValueError(f"{cidr} has no room for another /{mask}")
            blocks.append(str(block))
            start += size
    return blocks


@functools.cache
def aws_cdk_lib_folder(folder: str) -> Path:
    """A folder of the installed aws-cdk-lib's package, read out of its jsii bundle into a
    private temporary directory once per process (removed at exit; a shared cache in /tmp
    could be planted with other code, which would then be deployed)."""
    [bundle] = (f for f in resources.files("aws_cdk._jsii").iterdir() if f.name.endswith(".jsii.tgz"))
    scratch = tempfile.TemporaryDirectory(prefix="refarch-aws-cdk-lib-")
    _SCRATCH.append(scratch)
    target, prefix, found = Path(scratch.name) / folder, f"package/{folder}/", False
    with resources.as_file(bundle) as path, tarfile.open(path, "r|gz") as archive:
        for member in archive:  # streamed, and left once past the folder: well under a second
            if not member.name.startswith(prefix):
                if found:
                    break
                continue
            found = True
            content = archive.extractfile(member) if member.isfile() else None
            if content is not None:
                file = target / member.name.removeprefix(prefix)
                file.parent.mkdir(parents=True, exist_ok=True)
                file.write_bytes(content.read())
    if not found:
        raise RuntimeError(f"{bundle.name} has no {prefix}: the VPC builder needs updating for it")
    return target


_SCRATCH: list[tempfile.TemporaryDirectory[str]] = []  # kept until exit


def worker_vpc(
    scope: Construct,
    *,
    profile: Profile,
    az_count: int,
    nat_gateways: int,
    subnets: Sequence[ec2.SubnetConfiguration],
) -> LookupFreeVpc:
    """`Vpc` in `scope` with `subnets` in `10.0.0.0/16`, a free S3 gateway endpoint, and flow logs
    of all traffic (`Vpc/All`) into `FlowLogs`, a log group of the profile's retention."""
    flow_logs: logs.ILogGroup = log_group(scope, "FlowLogs", profile=profile)
    vpc = LookupFreeVpc(
        scope, "Vpc", cidr="10.0.0.0/16", az_count=az_count, nat_gateways=nat_gateways, subnets=subnets
    )
    vpc.add_gateway_endpoint("S3", service=ec2.GatewayVpcEndpointAwsService.S3)
    vpc.add_flow_log(
        "All",
        destination=ec2.FlowLogDestination.to_cloud_watch_logs(flow_logs),
        traffic_type=ec2.FlowLogTrafficType.ALL,
    )
    return vpc


def _subnet_attributes(
    groups: Sequence[ec2.SubnetConfiguration], made: dict[ec2.SubnetType, list[_Subnet]]
) -> dict[str, list[str]]:
    """`Vpc.from_vpc_attributes`'s subnet arguments (`public_subnet_ids`, ...) for `made`."""
    found = {}
    for group in groups:
        prefix, subnets = KINDS[group.subnet_type].lower(), made[group.subnet_type]
        found[f"{prefix}_subnet_ids"] = [subnet.resource.ref for subnet in subnets]
        found[f"{prefix}_subnet_names"] = [group.name]
        found[f"{prefix}_subnet_route_table_ids"] = [subnet.table.ref for subnet in subnets]
        found[f"{prefix}_subnet_ipv4_cidr_blocks"] = [subnet.cidr for subnet in subnets]
    return found


def _group(dependable: IDependable) -> DependencyGroup:
    """An imported VPC's or subnet's `internet_connectivity_established`: an empty
    `DependencyGroup` that the kit fills as `ec2.Vpc` fills its own."""
    assert isinstance(dependable, DependencyGroup)
    return dependable
