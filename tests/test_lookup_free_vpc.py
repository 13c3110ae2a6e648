"""The kit's VPCs (patterns/shared/vpc.py: L1 resources, because ec2.Vpc looks the AZs up in a
stack with an account and Region) in such a stack: no lookup, the resources and logical IDs of
the ec2.Vpc each replaced (a deployed stack is updated in place), and routing as AWS needs it."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import Duration, Fn
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_elasticloadbalancingv2 as elbv2

from patterns.container_workers import ContainerWorkers
from patterns.multi_tier import Network
from patterns.shared.defaults import PRODUCTION, SANDBOX
from patterns.shared.props import PropError
from patterns.shared.vpc import LookupFreeVpc
from patterns.worker_fleet import WorkerFleet
from stacks.paths import runtime_dir
from tests.fresh_app import ACCOUNT_ENV, CONTEXTS, fresh_app, fresh_stack, lookups, synthesized
from tests.kit import CDK_JSON_CONTEXT, resolve_ref, resources

PUBLIC = ec2.SubnetConfiguration(name="Public", subnet_type=ec2.SubnetType.PUBLIC, cidr_mask=24)
PRIVATE = ec2.SubnetConfiguration(
    name="Private", subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS, cidr_mask=22
)
ISOLATED = ec2.SubnetConfiguration(name="Isolated", subnet_type=ec2.SubnetType.PRIVATE_ISOLATED, cidr_mask=24)
WORKERS = ec2.SubnetConfiguration(
    name="Workers", subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS, cidr_mask=20
)
BOX = ec2.SubnetConfiguration(name="Workers", subnet_type=ec2.SubnetType.PRIVATE_ISOLATED, cidr_mask=20)
LAYOUTS = {  # (subnets, AZs, NAT gateways, restrict the default security group): the kit's VPCs
    "network-sandbox": ([PUBLIC, PRIVATE, ISOLATED], 2, 1, True),
    "network-production": ([PUBLIC, PRIVATE, ISOLATED], 3, 3, True),
    "network-2-nat-of-3": ([PUBLIC, PRIVATE, ISOLATED], 3, 2, True),
    "worker-fleet-sandbox": ([PUBLIC, WORKERS], 2, 1, False),
    "worker-fleet-production": ([PUBLIC, WORKERS], 2, 2, False),
    "container-workers-sandbox": ([BOX], 1, 0, False),
    "container-workers-production": ([BOX], 2, 0, False),
}


def _users_of(stack: cdk.Stack, vpc: ec2.IVpc, scope: Any, public: bool) -> None:
    """What the kit puts in and on a VPC: an S3 gateway endpoint, a flow log, an interface
    endpoint, and (with public subnets) an internet-facing load balancer."""
    scope.add_gateway_endpoint("S3", service=ec2.GatewayVpcEndpointAwsService.S3)
    scope.add_flow_log(
        "FlowLog",
        destination=ec2.FlowLogDestination.to_cloud_watch_logs(),
        traffic_type=ec2.FlowLogTrafficType.ALL,
    )
    scope.add_interface_endpoint(
        "Logs", service=ec2.InterfaceVpcEndpointAwsService.CLOUDWATCH_LOGS, open=False
    )
    if public:
        elbv2.ApplicationLoadBalancer(stack, "LoadBalancer", vpc=vpc, internet_facing=True)


def _without_analytics(document: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in document["Resources"].items() if v["Type"] != "AWS::CDK::Metadata"}


@pytest.mark.parametrize("context", CONTEXTS)
@pytest.mark.parametrize("layout", LAYOUTS)
def test_each_kit_vpc_is_the_ec2_vpc_it_replaced_so_a_deployed_stack_is_updated_in_place(
    layout: str, context: str
) -> None:
    """CloudFormation matches resources by logical ID: a new ID is a new resource and the old
    one is deleted (user guide, "Update behaviors of stack resources"), which for a VPC means
    new subnets and a replaced database. Both stacks env-agnostic, where ec2.Vpc needs no lookup;
    the only difference allowed is CDK's analytics resource (it lists the construct classes)."""
    subnets, zones, nats, restrict = LAYOUTS[layout]
    public = any(s.subnet_type == ec2.SubnetType.PUBLIC for s in subnets)
    documents = []
    for builder in ("ec2.Vpc", "LookupFreeVpc"):
        stack = fresh_stack(context, nag=False)
        if builder == "ec2.Vpc":
            vpc = ec2.Vpc(
                stack,
                "Vpc",
                ip_addresses=ec2.IpAddresses.cidr("10.0.0.0/16"),
                availability_zones=[Fn.select(i, Fn.get_azs()) for i in range(zones)],
                nat_gateways=nats,
                subnet_configuration=subnets,
                restrict_default_security_group=restrict,
            )
            _users_of(stack, vpc, vpc, public)
        else:
            own = LookupFreeVpc(
                stack,
                "Vpc",
                cidr="10.0.0.0/16",
                az_count=zones,
                nat_gateways=nats,
                subnets=subnets,
                restrict_default_security_group=restrict,
            )
            _users_of(stack, own.vpc, own, public)
        documents.append(_without_analytics(synthesized(stack)))
    before, after = documents
    assert sorted(after) == sorted(before)
    for logical_id in before:
        assert after[logical_id] == before[logical_id], logical_id


def production_network(context: str) -> tuple[cdk.Stack, dict[str, Any]]:
    stack = fresh_stack(context, nag=True, env="explicit-env")
    Network(stack, "Network", profile=PRODUCTION)  # 3 AZs, a NAT gateway in each
    return stack, synthesized(stack)


def routes_of(document: dict[str, Any], table_id: str) -> list[tuple[str, dict[str, Any]]]:
    return [
        (lid, r)
        for lid, r in resources(document, "AWS::EC2::Route")
        if resolve_ref(document, r["Properties"]["RouteTableId"]) == table_id
    ]


def subnets_by_kind(document: dict[str, Any]) -> dict[str, dict[str, dict[str, Any]]]:
    found: dict[str, dict[str, dict[str, Any]]] = {}
    for lid, subnet in resources(document, "AWS::EC2::Subnet"):
        tags = {t["Key"]: t["Value"] for t in subnet["Properties"]["Tags"]}
        found.setdefault(tags["aws-cdk:subnet-type"], {})[lid] = subnet
    return found


def table_of(document: dict[str, Any], subnet_id: str) -> str:
    """The route table the subnet uses: its own association (otherwise the VPC's main table)."""
    [table] = [
        resolve_ref(document, a["Properties"]["RouteTableId"])
        for _, a in resources(document, "AWS::EC2::SubnetRouteTableAssociation")
        if resolve_ref(document, a["Properties"]["SubnetId"]) == subnet_id
    ]
    return table


@pytest.mark.parametrize("context", CONTEXTS)
def test_a_network_with_an_account_and_region_needs_no_lookup_and_picks_distinct_azs(context: str) -> None:
    """`Fn::GetAZs ""` lists the Region's AZs at deploy time; `Fn::Select [i, ...]` with distinct
    i gives distinct AZs (CloudFormation, "Fn::GetAZs"), so each tier spans az_count AZs."""
    stack, document = production_network(context)
    assert lookups(stack) == []
    for kind, subnets in subnets_by_kind(document).items():
        picks = sorted(s["Properties"]["AvailabilityZone"]["Fn::Select"][0] for s in subnets.values())
        assert picks == [0, 1, 2], kind
        assert all(
            s["Properties"]["AvailabilityZone"]["Fn::Select"][1] == {"Fn::GetAZs": ""}
            for s in subnets.values()
        )


@pytest.mark.parametrize("context", CONTEXTS)
def test_each_private_subnet_goes_out_through_the_nat_gateway_of_its_own_az(context: str) -> None:
    """Amazon VPC user guide, "NAT gateways": a public NAT gateway is created in a public subnet
    and private subnets' route tables send 0.0.0.0/0 to it; "to create an Availability
    Zone-independent architecture, create a NAT gateway in each Availability Zone and configure
    your routing to ensure that resources use the NAT gateway in the same Availability Zone"."""
    _, document = production_network(context)
    subnets = subnets_by_kind(document)
    for private_id, private in subnets["Private"].items():
        [(_, route)] = routes_of(document, table_of(document, private_id))
        assert route["Properties"]["DestinationCidrBlock"] == "0.0.0.0/0"
        gateway = document["Resources"][resolve_ref(document, route["Properties"]["NatGatewayId"])]
        assert gateway["Type"] == "AWS::EC2::NatGateway"
        public_id = resolve_ref(document, gateway["Properties"]["SubnetId"])
        assert public_id in subnets["Public"]
        assert (
            subnets["Public"][public_id]["Properties"]["AvailabilityZone"]
            == private["Properties"]["AvailabilityZone"]
        )
        assert "AllocationId" in gateway["Properties"]  # a public NAT gateway needs an Elastic IP


@pytest.mark.parametrize("context", CONTEXTS)
def test_public_subnets_route_to_the_internet_gateway_once_it_is_attached(context: str) -> None:
    """A public subnet is one whose route table sends 0.0.0.0/0 to an internet gateway attached
    to the VPC (Amazon VPC user guide, "Subnets"). CloudFormation user guide, "DependsOn
    attribute": Amazon VPC routes that include the internet gateway (and load balancers with
    public addresses) depend on the VPC-gateway attachment, and must say so with DependsOn."""
    _, document = production_network(context)
    [(vpc_id, _)] = resources(document, "AWS::EC2::VPC")
    [(attachment_id, attachment)] = resources(document, "AWS::EC2::VPCGatewayAttachment")
    assert resolve_ref(document, attachment["Properties"]["VpcId"]) == vpc_id
    gateway_id = resolve_ref(document, attachment["Properties"]["InternetGatewayId"])
    for subnet_id, subnet in subnets_by_kind(document)["Public"].items():
        assert subnet["Properties"]["MapPublicIpOnLaunch"] is True
        [(_, route)] = routes_of(document, table_of(document, subnet_id))
        assert route["Properties"]["DestinationCidrBlock"] == "0.0.0.0/0"
        assert resolve_ref(document, route["Properties"]["GatewayId"]) == gateway_id
        assert attachment_id in route["DependsOn"]


def test_an_internet_facing_load_balancer_waits_for_the_public_routes() -> None:
    """Same DependsOn rule for an internet-facing load balancer: the imported subnets the kit
    hands on carry the routes as dependencies, as ec2.Vpc's subnets do."""
    stack = fresh_stack("minimal", nag=False, env="explicit-env")
    network = Network(stack, "Network", profile=SANDBOX)
    elbv2.ApplicationLoadBalancer(stack, "LoadBalancer", vpc=network.vpc, internet_facing=True)
    document = synthesized(stack)
    [(_, balancer)] = resources(document, "AWS::ElasticLoadBalancingV2::LoadBalancer")
    public = subnets_by_kind(document)["Public"]
    for subnet_id in public:
        [(route_id, _)] = routes_of(document, table_of(document, subnet_id))
        assert route_id in balancer["DependsOn"]


@pytest.mark.parametrize("context", CONTEXTS)
def test_isolated_subnets_have_no_route_out(context: str) -> None:
    """An isolated subnet's route table has only the local route (Amazon VPC user guide,
    "Subnets": no route to an internet or NAT gateway), which every route table has implicitly."""
    _, document = production_network(context)
    for subnet_id in subnets_by_kind(document)["Isolated"]:
        assert routes_of(document, table_of(document, subnet_id)) == []


@pytest.mark.parametrize("cdk_json", ["kit", "minimal"])
def test_the_three_constructs_with_an_account_and_region_need_no_lookup(cdk_json: str) -> None:
    """The issue's case with the kit's own cdk.json (its feature flags) and with a bare one: each
    construct that makes a VPC, in one stack with an explicit env, through the security gate."""
    app = fresh_app("minimal", extra=CDK_JSON_CONTEXT if cdk_json == "kit" else None)
    stack = cdk.Stack(app, "UserStack", env=ACCOUNT_ENV)
    Network(stack, "Network")
    WorkerFleet(
        stack,
        "Fleet",
        worker_code=runtime_dir("worker_fleet"),
        worker_command="/usr/bin/python3 run_worker.py",
        acceptable_latency=Duration.minutes(5),
        average_processing_time=Duration.seconds(10),
    )
    ContainerWorkers(
        stack,
        "Containers",
        image_directory=runtime_dir("worker_fleet"),
        acceptable_latency=Duration.minutes(5),
        average_processing_time=Duration.seconds(10),
    )
    document = synthesized(stack)
    assert lookups(stack) == []
    assert len(list(resources(document, "AWS::EC2::VPC"))) == 3


def test_az_count_above_what_network_allows_is_still_refused_with_an_account_and_region() -> None:
    stack = fresh_stack("minimal", nag=False, env="explicit-env")
    with pytest.raises(PropError, match=r"az_count: must be between 2 and 6, got 7"):
        Network(stack, "Network", az_count=7)


@pytest.mark.parametrize(
    ("subnets", "nats", "message"),
    [
        ([PUBLIC, PUBLIC], 1, "one subnet group per type"),
        ([PRIVATE, ISOLATED], 1, "need a public subnet group and a NAT gateway"),
        ([PUBLIC, PRIVATE], 0, "need a public subnet group and a NAT gateway"),
    ],
)
def test_the_builder_refuses_layouts_it_does_not_build(
    subnets: list[ec2.SubnetConfiguration], nats: int, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        LookupFreeVpc(
            fresh_stack(), "Vpc", cidr="10.0.0.0/16", az_count=2, nat_gateways=nats, subnets=subnets
        )


@pytest.mark.parametrize("network_first", [True, False])
def test_a_network_beside_the_users_own_ec2_vpc_shares_cdks_one_lockdown_function(
    network_first: bool,
) -> None:
    """Both lock their default security group down through the stack's one provider function
    (ec2.Vpc finds it by id, as the kit's builder does), whichever comes first; the function's
    role may change exactly the two default groups (EC2 security-group ARNs)."""
    stack = fresh_stack("cdk-init", nag=True)  # no env: the user's ec2.Vpc would look AZs up
    builders = [
        lambda: Network(stack, "Network", interface_endpoints=False),
        lambda: ec2.Vpc(
            stack,
            "UsersVpc",
            max_azs=2,
            nat_gateways=1,
            restrict_default_security_group=True,
            flow_logs={"All": ec2.FlowLogOptions()},
        ),
    ]
    for build in builders if network_first else reversed(builders):
        build()
    document = synthesized(stack)
    [(function_id, _)] = [
        (lid, r) for lid, r in resources(document, "AWS::Lambda::Function") if "VpcRestrictDefaultSG" in lid
    ]
    lockdowns = [r for _, r in resources(document, "Custom::VpcRestrictDefaultSG")]
    assert len(lockdowns) == 2
    assert all(resolve_ref(document, r["Properties"]["ServiceToken"]) == function_id for r in lockdowns)
    [(_, role)] = [
        (lid, r) for lid, r in resources(document, "AWS::IAM::Role") if "VpcRestrictDefaultSG" in lid
    ]
    groups = {
        resolve_ref(document, part)
        for policy in role["Properties"]["Policies"]
        for statement in policy["PolicyDocument"]["Statement"]
        for arn in statement["Resource"]
        for part in arn["Fn::Join"][1]
        if isinstance(part, dict) and "Fn::GetAtt" in part
    }
    assert groups == {resolve_ref(document, {"Ref": lid}) for lid, _ in resources(document, "AWS::EC2::VPC")}
