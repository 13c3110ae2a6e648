"""A Valkey replication group for cache-aside reads, in a VPC's isolated subnets.

Encrypted in transit (TLS required) and at rest (customer-managed key), clients authenticate
with an AUTH token kept in Secrets Manager, on a non-default port. With replicas, a failed
primary is replaced automatically by a replica in another AZ.
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_elasticache as elasticache
from aws_cdk import aws_kms as kms
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sns as sns
from constructs import Construct

from patterns.defaults import (
    Profile,
    acknowledge,
    encryption_key,
    new_alarm_topic,
    notifying_alarm,
    profile_of,
)

VALKEY_VERSION = "8.0"
DEFAULT_PORT = 6380  # not 6379: scanners try the default port first
MAX_REPLICAS = 5
SINGLE_NODE_REASON = (
    "Sandbox profile runs a single cache node to keep idle cost low; the production profile "
    "adds replicas in other AZs with automatic failover."
)
TOKEN_ROTATION_REASON = (
    "The Valkey AUTH token is read by CloudFormation at deploy time; rotating it needs the "
    "ElastiCache ROTATE strategy run by a redeploy, not a Secrets Manager rotation function."
)


@dataclass(frozen=True)
class CacheEndpoint:
    host: str
    port: str


class ValkeyCache(Construct):
    """Attributes: `replication_group` (L1), `security_group`, `auth_token` (secret), `endpoint`,
    `port`, `node_count`, `alarm_topic`, `alarms` (evictions, one per node)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        vpc: ec2.IVpc,
        node_type: str | None = None,
        replicas: int | None = None,
        port: int = DEFAULT_PORT,
        key: kms.IKey | None = None,
        alarm_topic: sns.ITopic | None = None,
        profile: Profile | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        profile = profile or profile_of(self)
        production = profile.is_production
        replicas = replicas if replicas is not None else (2 if production else 0)
        if port == 6379:
            raise ValueError("port: 6379 is Valkey's default port; choose another")
        if not 0 <= replicas <= MAX_REPLICAS:
            raise ValueError(f"replicas: must be between 0 and {MAX_REPLICAS}, got {replicas}")
        if production and replicas == 0:
            raise ValueError("replicas: the production profile needs at least one for automatic failover")
        key = key or encryption_key(self, "Key", profile=profile, description=f"Encrypts {self.node.path}")
        self.port = port
        self.node_count = 1 + replicas
        self.alarm_topic: sns.ITopic = alarm_topic or new_alarm_topic(self, "AlarmTopic", profile=profile)
        self.security_group = ec2.SecurityGroup(
            self, "SecurityGroup", vpc=vpc, description="Valkey cache", allow_all_outbound=False
        )
        self.auth_token = secretsmanager.Secret(
            self,
            "AuthToken",
            description="AUTH token of the Valkey cache",
            encryption_key=key,
            generate_secret_string=secretsmanager.SecretStringGenerator(
                password_length=64, exclude_punctuation=True
            ),
        )
        acknowledge(self.auth_token, "AwsSolutions-SMG4", TOKEN_ROTATION_REASON)
        subnets = elasticache.CfnSubnetGroup(
            self,
            "Subnets",
            description="Isolated subnets of the Valkey cache",
            subnet_ids=vpc.select_subnets(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED).subnet_ids,
        )
        # L1 only: aws-cdk-lib has no ElastiCache L2 at all, and the alpha module covers only
        # serverless caches, not node-based replication groups with replicas and failover.
        self.replication_group = elasticache.CfnReplicationGroup(
            self,
            "ReplicationGroup",
            replication_group_description=f"Valkey cache of {self.node.path}",
            engine="valkey",
            engine_version=VALKEY_VERSION,
            cache_node_type=node_type or ("cache.m7g.large" if production else "cache.t4g.micro"),
            num_cache_clusters=self.node_count,
            automatic_failover_enabled=replicas > 0,
            multi_az_enabled=replicas > 0,
            at_rest_encryption_enabled=True,
            kms_key_id=key.key_arn,
            transit_encryption_enabled=True,
            transit_encryption_mode="required",
            auth_token=self.auth_token.secret_value.unsafe_unwrap(),
            port=port,
            cache_subnet_group_name=subnets.ref,
            security_group_ids=[self.security_group.security_group_id],
            snapshot_retention_limit=7 if production else 0,
            auto_minor_version_upgrade=True,
        )
        self.replication_group.apply_removal_policy(
            RemovalPolicy.SNAPSHOT if production else RemovalPolicy.DESTROY
        )
        if replicas == 0:
            acknowledge(self.replication_group, "AwsSolutions-AEC4", SINGLE_NODE_REASON)
        self.endpoint = CacheEndpoint(
            host=self.replication_group.attr_primary_end_point_address,
            port=self.replication_group.attr_primary_end_point_port,
        )
        self.alarms = [self._evictions_alarm(node) for node in range(1, self.node_count + 1)]

    def allow_from(self, peer: ec2.IConnectable, description: str = "application") -> None:
        self.security_group.connections.allow_from(
            peer, ec2.Port.tcp(self.port), f"{description} to the cache"
        )

    def _evictions_alarm(self, node: int) -> cloudwatch.Alarm:
        return notifying_alarm(
            self,
            f"Node{node}Evictions",
            cloudwatch.Metric(
                namespace="AWS/ElastiCache",
                metric_name="Evictions",
                # Member clusters of a replication group are named <group id>-001, -002...
                dimensions_map={"CacheClusterId": f"{self.replication_group.ref}-{node:03d}"},
                statistic="Sum",
                period=Duration.minutes(5),
            ),
            topic=self.alarm_topic,
            threshold=100,
            description=f"Cache node {node} evicts keys: the cache is too small for its hot set",
        )
