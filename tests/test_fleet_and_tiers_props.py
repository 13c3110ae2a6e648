"""WorkerFleet, WebTier, Network, DataTier and ValkeyCache refuse every prop they cannot honour
at synth, naming the prop and the valid range or type (issue 20), and take what a user brings."""

from __future__ import annotations

import json
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import Duration
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sqs as sqs
from aws_cdk.assertions import Template

from patterns.multi_tier import DataTier, Network, ValkeyCache, WebTier
from patterns.shared.defaults import SANDBOX, dead_letter_queue, secure_queue
from patterns.shared.props import PropError
from patterns.worker_fleet import WorkerFleet
from stacks.paths import runtime_dir
from tests.kit import resources


def stack() -> cdk.Stack:
    return cdk.Stack(cdk.App(), "Props")


def vpc(scope: cdk.Stack, zones: int = 3, *, private: bool = True) -> ec2.IVpc:
    """An existing VPC: public, private (unless `private=False`) and isolated subnets."""
    names = [f"eu-west-1{letter}" for letter in "abc"[:zones]]

    def ids(kind: str, group: int) -> list[str]:
        return [f"{kind}-{group}{i:016x}" for i in range(zones)]

    return ec2.Vpc.from_vpc_attributes(
        scope,
        "Existing",
        vpc_id="vpc-0123456789abcdef0",
        vpc_cidr_block="10.1.0.0/16",
        availability_zones=names,
        public_subnet_ids=ids("subnet", 1),
        public_subnet_route_table_ids=ids("rtb", 1),
        private_subnet_ids=ids("subnet", 2) if private else None,
        private_subnet_route_table_ids=ids("rtb", 2) if private else None,
        isolated_subnet_ids=ids("subnet", 3),
        isolated_subnet_route_table_ids=ids("rtb", 3),
    )


# -- WorkerFleet ----------------------------------------------------------------------------------


def fleet(scope: cdk.Stack, **overrides: Any) -> WorkerFleet:
    options: dict[str, Any] = {
        "worker_code": runtime_dir("worker_fleet"),
        "worker_command": "/usr/bin/python3 run_worker.py",
        "acceptable_latency": Duration.minutes(2),
        "average_processing_time": Duration.seconds(4),
        "profile": SANDBOX,
        **overrides,
    }
    return WorkerFleet(scope, "Fleet", **options)


def existing_queue(scope: cdk.Stack) -> sqs.Queue:
    key = kms.Key(scope, "UsersKey", enable_key_rotation=True)
    dlq = dead_letter_queue(scope, "UsersDlq", key=key, profile=SANDBOX)
    return secure_queue(
        scope,
        "UsersJobs",
        key=key,
        dead_letter=dlq,
        max_receive_count=3,
        visibility_timeout=Duration.minutes(1),
        profile=SANDBOX,
    )


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        # SQS redrive policy: maxReceiveCount is 1 to 1,000 (0 was silently turned into 5)
        ({"max_receive_count": 0}, r"max_receive_count: must be between 1 and 1000, got 0"),
        ({"max_receive_count": 1001}, r"max_receive_count: must be between 1 and 1000"),
        ({"worker_command": ""}, r"worker_command: must be one command line, got ''"),
        ({"worker_command": "run\nrm -rf /"}, r"worker_command: must be one command line"),
        ({"worker_code": "/nonexistent/worker"}, r"worker_code: '/nonexistent/worker' is not a folder"),
        # SQS: visibility 0 s to 12 hours; 0 makes a running job visible to another worker at once
        ({"visibility_timeout": Duration.seconds(0)}, r"visibility_timeout: must be between 1 and 43200 s"),
        ({"visibility_timeout": Duration.hours(13)}, r"visibility_timeout: must be between 1 and 43200 s"),
        ({"visibility_timeout": Duration.millis(1500)}, r"visibility_timeout: must be whole seconds"),
        ({"retention_period": Duration.seconds(30)}, r"retention_period: SQS keeps a message 1 minute to 14"),
        ({"retention_period": Duration.days(15)}, r"retention_period: SQS keeps a message 1 minute to 14"),
        ({"worker_environment": {"MY-VAR": "x"}}, r"worker_environment: 'MY-VAR' is not a variable name"),
        ({"worker_environment": {"1ST": "x"}}, r"worker_environment: '1ST' is not a variable name"),
        ({"worker_environment": {"OK": 5}}, r"worker_environment\['OK'\]: expected str, got int 5"),
        ({"worker_environment": {"AWS_DEFAULT_REGION": "eu-west-1"}}, r"worker_environment: AWS_DEFAULT"),
        ({"drain_timeout": Duration.hours(2)}, r"drain_timeout: must be between 30 and 7140 s"),
        ({"min_capacity": 1.5}, r"min_capacity: expected int, got float 1.5"),
        (
            {"queue": "arn:aws:sqs:eu-west-1:111111111111:jobs"},
            r"queue: expected aws_sqs\.IQueue \(or None\)",
        ),
        ({"visibility_timeout": 30}, r"visibility_timeout: expected Duration \(or None\), got int 30"),
        ({"instance_type": "t4g.small"}, r"instance_type: expected aws_ec2\.InstanceType, got str"),
        ({"alarm_topic": "arn:aws:sns:eu-west-1:111111111111:a"}, r"alarm_topic: expected aws_sns\.ITopic"),
    ],
)
def test_worker_fleet_refuses_props_it_cannot_honour(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(PropError, match=message):
        fleet(stack(), **overrides)


@pytest.mark.parametrize("prop", ["queue_key", "max_receive_count", "retention_period"])
def test_an_existing_queue_is_exclusive_with_the_props_that_make_a_new_one(prop: str) -> None:
    scope = stack()
    value = {
        "queue_key": kms.Key(scope, "Other", enable_key_rotation=True),
        "max_receive_count": 3,
        "retention_period": Duration.days(1),
    }[prop]
    with pytest.raises(PropError, match=rf"^{prop}: not with queue: an existing queue brings its own"):
        fleet(scope, queue=existing_queue(scope), **{prop: value})


def test_a_vpc_without_private_subnets_is_refused_naming_vpc_or_vpc_subnets() -> None:
    scope = stack()
    public_only = vpc(scope, private=False)
    with pytest.raises(PropError, match=r"^vpc: .*the workers need private subnets with egress"):
        fleet(scope, vpc=public_only)
    scope = stack()
    chosen = ec2.SubnetSelection(availability_zones=["eu-west-9z"])
    with pytest.raises(PropError, match=r"^vpc_subnets: selects no subnet"):
        fleet(scope, vpc=vpc(scope), vpc_subnets=chosen)


def test_the_fleet_encrypts_its_new_queues_with_the_users_key_and_makes_none() -> None:
    scope = stack()
    key = kms.Key(scope, "UsersKey", enable_key_rotation=True)
    workers = fleet(scope, queue_key=key, retention_period=Duration.days(2))
    assert workers.queue_key is key
    document = Template.from_stack(scope).to_json()
    key_id = scope.get_logical_id(key.node.default_child)  # type: ignore[arg-type]
    made = [k["Properties"].get("Description", "") for _, k in resources(document, "AWS::KMS::Key")]
    assert not [d for d in made if "jobs" in d]  # no queue key of its own (alarm and log keys remain)
    queues = dict(resources(document, "AWS::SQS::Queue"))
    assert len(queues) == 2
    for queue in queues.values():
        assert queue["Properties"]["KmsMasterKeyId"] == {"Fn::GetAtt": [key_id, "Arn"]}
    retention = sorted(q["Properties"]["MessageRetentionPeriod"] for q in queues.values())
    assert retention == [2 * 86_400, 14 * 86_400]  # the job queue as asked; the DLQ keeps the most
    # the workers can read what they consume and write what they dead-letter (SQS "Key management")
    policies = json.dumps([p for _, p in resources(document, "AWS::IAM::Policy")])
    assert '"kms:Decrypt"' in policies and '"kms:GenerateDataKey"' in policies


# -- WebTier ----------------------------------------------------------------------------------------


def image_parameter(document: dict[str, Any]) -> str:
    """The SSM parameter path the launch template's image comes from."""
    [image] = [p["Default"] for p in document["Parameters"].values() if "ami-amazon-linux" in str(p)]
    return str(image)


@pytest.mark.parametrize(
    ("instance_type", "architecture"),
    [("t3.micro", "x86_64"), ("c7i.large", "x86_64"), ("t4g.micro", "arm64")],
)
def test_the_web_tier_image_follows_the_instance_types_cpu(instance_type: str, architecture: str) -> None:
    """An arm64 AMI does not boot on an x86 instance type, nor the reverse (EC2 refuses the
    launch: the AMI's architecture must match the instance type's)."""
    scope = stack()
    WebTier(
        scope,
        "Web",
        vpc=vpc(scope),
        user_data=ec2.UserData.for_linux(),
        instance_type=ec2.InstanceType(instance_type),
        profile=SANDBOX,
    )
    assert image_parameter(Template.from_stack(scope).to_json()).endswith(architecture)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"app_port": "8080"}, r"app_port: expected int, got str '8080'"),
        ({"boot_timeout": 900}, r"boot_timeout: expected Duration, got int 900"),
        (
            {"certificate": "arn:aws:acm:eu-west-1:1:certificate/x"},
            r"certificate: expected aws_certificatemanager",
        ),
        ({"user_data": "#!/bin/bash"}, r"user_data: expected aws_ec2\.UserData, got str"),
    ],
)
def test_web_tier_refuses_a_wrong_type_naming_the_prop(overrides: dict[str, Any], message: str) -> None:
    scope = stack()
    options: dict[str, Any] = {"vpc": vpc(scope), "user_data": ec2.UserData.for_linux(), "profile": SANDBOX}
    with pytest.raises(PropError, match=message):
        WebTier(scope, "Web", **{**options, **overrides})


# -- Network ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"az_count": 7}, r"az_count: must be between 2 and 6, got 7"),
        ({"az_count": 1}, r"az_count: must be between 2 and 6, got 1"),
        ({"cidr": "10.0.0.0/21"}, r"cidr: 10\.0\.0\.0/21 is too small for 2 AZs .* must be a /20 or larger"),
        ({"cidr": "10.0.0.0/20", "az_count": 3}, r"cidr: .* too small for 3 AZs .* must be a /19 or larger"),
        ({"cidr": "10.0.0.0/8"}, r"cidr: a VPC's range is a /16 to a /28, got 10\.0\.0\.0/8"),
        ({"cidr": "10.0.0.1/16"}, r"cidr: '10\.0\.0\.1/16' is not an IPv4 network"),
        ({"nat_gateways": 0}, r"nat_gateways: must be between 1 and 2, got 0"),
        ({"az_count": "3"}, r"az_count: expected int \(or None\), got str"),
    ],
)
def test_network_refuses_azs_and_ranges_it_cannot_lay_out(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(PropError, match=message):
        Network(stack(), "Network", profile=SANDBOX, **overrides)


def test_the_smallest_range_the_network_asks_for_is_enough() -> None:
    """The size the message names is one CDK's own allocator accepts, for 2 and 3 AZs, and the
    network lays its subnets out in it as that allocator does (ec2.Vpc, which it replaced)."""
    for zones, prefix in ((2, 20), (3, 19)):
        cidr = f"10.0.0.0/{prefix}"
        ours, cdks = stack(), stack()
        Network(ours, "Network", az_count=zones, cidr=cidr, profile=SANDBOX)
        ec2.Vpc(
            cdks,
            "Vpc",
            ip_addresses=ec2.IpAddresses.cidr(cidr),
            availability_zones=[cdk.Fn.select(i, cdk.Fn.get_azs()) for i in range(zones)],
            subnet_configuration=[
                ec2.SubnetConfiguration(name=name, subnet_type=kind, cidr_mask=mask)
                for name, kind, mask in (
                    ("Public", ec2.SubnetType.PUBLIC, 24),
                    ("Private", ec2.SubnetType.PRIVATE_WITH_EGRESS, 22),
                    ("Isolated", ec2.SubnetType.PRIVATE_ISOLATED, 24),
                )
            ],
        )
        blocks = [
            sorted(
                r["Properties"]["CidrBlock"]
                for _, r in resources(Template.from_stack(s).to_json(), "AWS::EC2::Subnet")
            )
            for s in (ours, cdks)
        ]
        assert blocks[0] == blocks[1]


# -- DataTier ---------------------------------------------------------------------------------------


def data_tier(scope: cdk.Stack, **overrides: Any) -> DataTier:
    return DataTier(scope, "Data", vpc=vpc(scope), profile=SANDBOX, **overrides)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        # RDS for PostgreSQL on gp3: 20 GiB to 64 TiB
        ({"allocated_storage_gib": 0}, r"allocated_storage_gib: must be between 20 and 65536 GiB, got 0"),
        ({"allocated_storage_gib": 5}, r"allocated_storage_gib: must be between 20 and 65536 GiB, got 5"),
        ({"allocated_storage_gib": -1}, r"allocated_storage_gib: must be between 20 and 65536 GiB"),
        ({"max_allocated_storage_gib": 70_000}, r"max_allocated_storage_gib: must be between 20 and 65536"),
        # RDS CreateDBInstance DBName for PostgreSQL: 1-63 letters, digits, _; a letter first
        ({"database_name": "1app"}, r"database_name: RDS for PostgreSQL takes 1 to 63 letters"),
        ({"database_name": "my-app"}, r"database_name: RDS for PostgreSQL takes"),
        ({"database_name": "a" * 64}, r"database_name: RDS for PostgreSQL takes"),
        ({"database_name": "select"}, r"database_name: .*no reserved word; got 'select'"),
        ({"database_name": "template1"}, r"database_name: .*no reserved word"),
        (
            {"cache_node_type": "t4g.micro"},
            r"cache_node_type: an ElastiCache node type starts with 'cache\.'",
        ),
        ({"cache_port": 0}, r"cache_port: must be between 1024 and 65535, got 0"),
        ({"cache_port": 80}, r"cache_port: must be between 1024 and 65535, got 80"),
        ({"cache_port": 5438}, r"cache_port: 5438 is the database's or the proxy's port"),
        ({"cache_port": 5432}, r"cache_port: 5432 is the database's or the proxy's port"),
        ({"database_port": 80}, r"database_port: must be between 1150 and 65535, got 80"),
        # RDS: automated backups are kept 1 to 35 days (0 turns them off, which replicas refuse)
        ({"backup_retention": Duration.days(0)}, r"backup_retention: must be between 1 and 35 days, got 0"),
        ({"backup_retention": Duration.days(36)}, r"backup_retention: must be between 1 and 35 days, got 36"),
        ({"backup_retention": Duration.hours(36)}, r"backup_retention: must be whole days, got 1\.5 days"),
        (
            {"instance_type": "db.t4g"},
            r"instance_type: expected a class such as t4g\.micro or db\.t4g\.micro",
        ),
        ({"instance_type": 3}, r"instance_type: expected aws_ec2\.InstanceType or str \(or None\), got int"),
        ({"secrets_manager_endpoint": "vpce-1"}, r"secrets_manager_endpoint: expected aws_ec2\.IConnectable"),
    ],
)
def test_data_tier_refuses_props_rds_or_elasticache_would_refuse(
    overrides: dict[str, Any], message: str
) -> None:
    with pytest.raises(PropError, match=message):
        data_tier(stack(), **overrides)


@pytest.mark.parametrize("given", ["db.r7g.large", "r7g.large", ec2.InstanceType("db.r7g.large")])
def test_data_tier_takes_the_instance_class_with_or_without_the_db_prefix(given: Any) -> None:
    """RDS names classes `db.<type>`, and CDK adds the prefix itself (`db.db.r7g.large` before)."""
    scope = stack()
    data_tier(scope, instance_type=given)
    classes = {
        r["Properties"]["DBInstanceClass"]
        for _, r in resources(Template.from_stack(scope).to_json(), "AWS::RDS::DBInstance")
    }
    assert classes == {"db.r7g.large"}


# -- ValkeyCache ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"port": 80}, r"^port: must be between 1024 and 65535, got 80"),
        ({"port": 70_000}, r"^port: must be between 1024 and 65535, got 70000"),
        ({"port": 6379}, r"^port: 6379 is Valkey's default port"),
        ({"node_type": "m7g.large"}, r"^node_type: an ElastiCache node type starts with 'cache\.'"),
        ({"replicas": 6}, r"^replicas: must be between 0 and 5, got 6"),
        ({"replicas": "2"}, r"^replicas: expected int \(or None\), got str"),
        ({"key": "alias/aws/elasticache"}, r"^key: expected aws_kms\.IKey"),
    ],
)
def test_valkey_cache_refuses_props_elasticache_would_refuse(overrides: dict[str, Any], message: str) -> None:
    scope = stack()
    with pytest.raises(PropError, match=message):
        ValkeyCache(scope, "Cache", vpc=vpc(scope), profile=SANDBOX, **overrides)


def test_cache_replicas_need_isolated_subnets_in_a_second_az() -> None:
    """ElastiCache Multi-AZ with automatic failover puts the replicas in other AZs than the
    primary: in one AZ there is nothing to fail over to."""
    scope = stack()
    one_zone = vpc(scope, zones=1)
    with pytest.raises(PropError, match=r"^replicas: Multi-AZ failover .* isolated subnets are in 1 AZ"):
        ValkeyCache(scope, "Cache", vpc=one_zone, replicas=1, profile=SANDBOX)
    ValkeyCache(scope, "Single", vpc=one_zone, replicas=0, profile=SANDBOX)  # one node is fine there
    with pytest.raises(PropError, match=r"^cache_replicas: Multi-AZ failover"):
        DataTier(scope, "Data", vpc=one_zone, cache_replicas=1, read_replicas=0, profile=SANDBOX)
