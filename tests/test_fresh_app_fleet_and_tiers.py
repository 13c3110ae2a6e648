"""WorkerFleet, Network, WebTier, DataTier and ValkeyCache built as a new user builds them
(issue 20): a fresh app with a minimal cdk.json or the one `cdk init` writes, cdk-nag on or off,
a stack with no env or an explicit account and Region, each construct twice in one stack."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import Duration
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3

from patterns.container_workers import ContainerWorkers
from patterns.multi_tier import DataTier, Network, ValkeyCache, WebTier
from patterns.worker_fleet import WorkerFleet
from stacks.paths import runtime_dir
from tests.fresh_app import CONTEXTS, ENVS, USER_CASES, UserCase, case_id, fresh_stack, lookups, synthesized
from tests.kit import resources


def users_bucket(stack: cdk.Stack, construct_id: str) -> s3.Bucket:
    """A bucket as a careful user makes one: SSE-KMS with their own key, TLS only, logged."""
    logs = s3.Bucket(stack, f"{construct_id}Logs", enforce_ssl=True)
    return s3.Bucket(
        stack,
        construct_id,
        encryption=s3.BucketEncryption.KMS,
        encryption_key=kms.Key(stack, f"{construct_id}Key", enable_key_rotation=True),
        enforce_ssl=True,
        server_access_logs_bucket=logs,
    )


def fleet(stack: cdk.Stack, construct_id: str) -> WorkerFleet:
    return WorkerFleet(
        stack,
        construct_id,
        worker_code=runtime_dir("worker_fleet"),
        worker_command="/usr/bin/python3 run_worker.py",
        acceptable_latency=Duration.minutes(5),
        average_processing_time=Duration.seconds(10),
    )


def logical_id(stack: cdk.Stack, key: kms.IKey | None) -> str:
    assert isinstance(key, kms.Key)
    return stack.get_logical_id(key.node.default_child)  # type: ignore[arg-type]


def key_actions(document: dict[str, Any], bucket_key: str) -> list[list[str]]:
    """The KMS actions of each statement of the fleets' roles on `bucket_key`, as granted."""
    found = []
    for _, policy in resources(document, "AWS::IAM::Policy"):
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            if bucket_key in str(statement["Resource"]):
                actions = statement["Action"]
                found.append(sorted(actions if isinstance(actions, list) else [actions]))
    return found


@pytest.mark.parametrize("case", USER_CASES, ids=case_id)
def test_a_fleet_reading_and_writing_the_users_sse_kms_bucket_gets_exactly_what_s3_needs(
    case: UserCase,
) -> None:
    """S3 user guide, "Using server-side encryption with AWS KMS keys": reading an SSE-KMS object
    needs kms:Decrypt, writing one kms:GenerateDataKey; "Multipart upload API and permissions":
    a multipart upload also needs kms:Decrypt (S3 decrypts the parts to complete it; boto3's
    upload_file goes multipart above 8 MB). Nothing needs kms:Encrypt, kms:ReEncrypt* or
    kms:GenerateDataKey*, which cdk-nag's IAM5 refuses on a role. Two fleets, one stack."""
    context, nag, env = case
    stack = fresh_stack(context, nag=nag, env=env)
    inputs, outputs = users_bucket(stack, "Inputs"), users_bucket(stack, "Outputs")
    for construct_id in ("Thumbnails", "Transcodes"):
        workers = fleet(stack, construct_id)
        workers.grant_read_objects(inputs, "uploads/")
        workers.grant_write_objects(outputs, "results/")
    document = synthesized(stack)  # with nag: raises on any finding, IAM5 included
    assert lookups(stack) == []  # the fleets' own VPCs too (patterns/shared/vpc.py)
    read_key, write_key = (logical_id(stack, bucket.encryption_key) for bucket in (inputs, outputs))
    assert key_actions(document, read_key) == [["kms:Decrypt"]] * 2
    assert key_actions(document, write_key) == [["kms:Decrypt", "kms:GenerateDataKey"]] * 2


@pytest.mark.parametrize("case", [c for c in USER_CASES if c.nag], ids=case_id)
def test_two_data_tiers_get_different_proxy_names_with_or_without_the_feature_flags(
    case: UserCase,
) -> None:
    """A DB proxy's name is unique per account and Region (RDS CreateDBProxy, DBProxyName):
    without the flag `@aws-cdk/aws-rds:databaseProxyUniqueResourceName` CDK named every proxy
    after its construct id, so the second one failed to create."""
    context, _, env = case
    stack = fresh_stack(context, nag=True, env=env)
    vpc = Network(stack, "Network").vpc  # no lookup in either env
    for construct_id in ("Orders", "Billing"):
        DataTier(stack, construct_id, vpc=vpc)
    document = synthesized(stack)
    assert lookups(stack) == []
    names = [r["Properties"]["DBProxyName"] for _, r in resources(document, "AWS::RDS::DBProxy")]
    assert len(names) == 2 and len(set(names)) == 2, names
    for name in names:  # RDS: a letter first, letters, digits and hyphens, at most 63
        assert name[0].isalpha() and name.replace("-", "").isalnum() and len(name) <= 63, name


def test_the_kit_keeps_its_proxy_name() -> None:
    """With the kit's own flags the name is what the flag produced before: no replacement of a
    deployed proxy (a new DBProxyName replaces it)."""
    stack = fresh_stack("cdk-init", nag=False)
    network = Network(stack, "Network")
    tier = DataTier(stack, "Data", vpc=network.vpc)
    document = synthesized(stack)
    [name] = [r["Properties"]["DBProxyName"] for _, r in resources(document, "AWS::RDS::DBProxy")]
    assert name == cdk.Names.unique_resource_name(tier.proxy, max_length=60)


@pytest.mark.parametrize("case", [c for c in USER_CASES if c.nag], ids=case_id)
def test_web_tier_and_cache_twice_in_one_stack_pass_the_gate_without_a_lookup(
    case: UserCase,
) -> None:
    context, _, env = case
    stack = fresh_stack(context, nag=True, env=env)
    vpc = (
        ec2.Vpc(
            stack,
            "UsersVpc",
            availability_zones=[cdk.Fn.select(i, cdk.Fn.get_azs()) for i in range(2)],
            nat_gateways=1,
            flow_logs={"All": ec2.FlowLogOptions()},
            subnet_configuration=[
                ec2.SubnetConfiguration(name="Public", subnet_type=ec2.SubnetType.PUBLIC),
                ec2.SubnetConfiguration(name="App", subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS),
                ec2.SubnetConfiguration(name="Data", subnet_type=ec2.SubnetType.PRIVATE_ISOLATED),
            ],
        )
        if env == "no-env"
        else _vpc_from_ids(stack)
    )
    for construct_id in ("Shop", "Admin"):
        WebTier(stack, construct_id, vpc=vpc, user_data=ec2.UserData.for_linux())
        ValkeyCache(stack, f"{construct_id}Cache", vpc=vpc, replicas=1)
    document = synthesized(stack)
    assert lookups(stack) == []  # the user's VPC: no construct here reads the stack's AZs
    assert len(list(resources(document, "AWS::ElastiCache::ReplicationGroup"))) == 2
    user_ids = [r["Properties"]["UserId"] for _, r in resources(document, "AWS::ElastiCache::User")]
    assert len(set(user_ids)) == len(user_ids) == 4  # unique per account and Region, like the groups'


def _id(kind: str, number: int) -> str:
    return f"{kind}-{number:017x}"  # the format CloudFormation validates: 17 hex digits


def _vpc_from_ids(stack: cdk.Stack) -> ec2.IVpc:
    """An existing VPC, as a user with an explicit env imports it (no lookup)."""
    return ec2.Vpc.from_vpc_attributes(
        stack,
        "UsersVpc",
        vpc_id="vpc-0123456789abcdef0",
        vpc_cidr_block="10.1.0.0/16",
        availability_zones=["eu-west-1a", "eu-west-1b"],
        public_subnet_ids=[_id("subnet", 1), _id("subnet", 2)],
        public_subnet_route_table_ids=[_id("rtb", 1), _id("rtb", 2)],
        private_subnet_ids=[_id("subnet", 3), _id("subnet", 4)],
        private_subnet_route_table_ids=[_id("rtb", 3), _id("rtb", 4)],
        isolated_subnet_ids=[_id("subnet", 5), _id("subnet", 6)],
        isolated_subnet_route_table_ids=[_id("rtb", 5), _id("rtb", 6)],
    )


@pytest.mark.parametrize("env", ENVS)
@pytest.mark.parametrize("context", CONTEXTS)
def test_network_needs_no_lookup_with_or_without_an_account_and_region(context: str, env: str) -> None:
    """With an account and Region, ec2.Vpc made the CLI look the AZs up (credentials at synth);
    the kit's VPC picks them with Fn::GetAZs at deploy time in every stack."""
    stack = fresh_stack(context, nag=True, env=env)
    for construct_id in ("Blue", "Green"):
        Network(stack, construct_id, az_count=3)
    document = synthesized(stack)
    assert lookups(stack) == []
    zones = {str(r["Properties"]["AvailabilityZone"]) for _, r in resources(document, "AWS::EC2::Subnet")}
    assert all("Fn::GetAZs" in zone for zone in zones) and len(zones) == 3


@pytest.mark.parametrize("env", ENVS)
@pytest.mark.parametrize("context", CONTEXTS)
def test_container_workers_own_vpc_needs_no_lookup(context: str, env: str) -> None:
    stack = fresh_stack(context, nag=True, env=env)
    for construct_id in ("Resize", "Transcode"):
        ContainerWorkers(
            stack,
            construct_id,
            image_directory=runtime_dir("worker_fleet"),
            acceptable_latency=Duration.minutes(5),
            average_processing_time=Duration.seconds(10),
        )
    document = synthesized(stack)
    assert lookups(stack) == []
    assert len(list(resources(document, "AWS::EC2::VPC"))) == 2
