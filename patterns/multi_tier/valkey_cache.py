"""A Valkey replication group for cache-aside reads, in a VPC's isolated subnets.

Encrypted in transit (TLS required) and at rest (customer-managed key), on a non-default port.
With replicas, a failed primary is replaced automatically by a replica in another AZ.

Clients authenticate with IAM (ElastiCache RBAC, "Authenticating with IAM"): the group's app
user has authentication mode `iam` (its user id equals its user name, as IAM authentication
requires), so its password is a SigV4-signed token valid 15 minutes that the client makes with
its own role's credentials; `grant_connect` gives a role `elasticache:Connect` on the
replication group and that user. There is no static secret to store, rotate or lose. The user
named `default`, which every user group must hold, is switched off.
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import ArnFormat, Duration, RemovalPolicy, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_elasticache as elasticache
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from constructs import Construct

from ..shared.defaults import (
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
DEFAULT_ACCESS_STRING = "on ~* +@all -@dangerous"
"""The app user's rights unless told otherwise: every key, no administrative command."""
IAM_AUTH_REASON = (
    "Clients authenticate as an RBAC user with IAM authentication (UserGroupIds, short-lived "
    "signed tokens); the rule only recognises a static AuthToken, which IAM auth replaces."
)


@dataclass(frozen=True)
class CacheEndpoint:
    host: str
    port: str


class ValkeyCache(Construct):
    """Attributes: `replication_group` (L1), `security_group`, `user` and `user_id` (the IAM
    user clients authenticate as), `user_group`, `endpoint`, `port`, `node_count`,
    `alarm_topic`, `alarms` (evictions, one per node). `grant_connect(role)` lets a role
    authenticate; `allow_from(peer)` lets it reach the port."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        vpc: ec2.IVpc,
        node_type: str | None = None,
        replicas: int | None = None,
        port: int = DEFAULT_PORT,
        access_string: str = DEFAULT_ACCESS_STRING,
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
        if access_string.split()[:1] != ["on"]:
            raise ValueError("access_string: must start with 'on' (ElastiCache turns a user without it off)")
        key = key or encryption_key(self, "Key", profile=profile, description=f"Encrypts {self.node.path}")
        self.port = port
        self.node_count = 1 + replicas
        self.alarm_topic: sns.ITopic = alarm_topic or new_alarm_topic(self, "AlarmTopic", profile=profile)
        self.security_group = ec2.SecurityGroup(
            self, "SecurityGroup", vpc=vpc, description="Valkey cache", allow_all_outbound=False
        )
        self._add_users(access_string)
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
            user_group_ids=[self.user_group.ref],
            port=port,
            cache_subnet_group_name=subnets.ref,
            security_group_ids=[self.security_group.security_group_id],
            snapshot_retention_limit=7 if production else 0,
            auto_minor_version_upgrade=True,
        )
        self.replication_group.apply_removal_policy(
            RemovalPolicy.SNAPSHOT if production else RemovalPolicy.DESTROY
        )
        self.replication_group.add_dependency(self.user_group)
        acknowledge(self.replication_group, "AwsSolutions-AEC6", IAM_AUTH_REASON)
        if replicas == 0:
            acknowledge(self.replication_group, "AwsSolutions-AEC4", SINGLE_NODE_REASON)
        self.endpoint = CacheEndpoint(
            host=self.replication_group.attr_primary_end_point_address,
            port=self.replication_group.attr_primary_end_point_port,
        )
        self.alarms = [self._evictions_alarm(node) for node in range(1, self.node_count + 1)]

    def _add_users(self, access_string: str) -> None:
        # User and group ids are unique in an account and region: derived from this construct's
        # unique address. Engine "redis": the engine ElastiCache documents for RBAC users and
        # groups of Valkey caches, whose groups must hold a user named "default".
        suffix = self.node.addr[2:22]
        self.user_id = f"app-{suffix}"
        self.user = elasticache.CfnUser(
            self,
            "AppUser",
            engine="redis",
            user_id=self.user_id,
            user_name=self.user_id,  # IAM authentication requires the two to be equal
            authentication_mode={"Type": "iam"},
            access_string=access_string,
        )
        disabled_default = elasticache.CfnUser(
            self,
            "DefaultUser",
            engine="redis",
            user_id=f"default-{suffix}",
            user_name="default",
            authentication_mode={"Type": "no-password-required"},
            access_string="off -@all",  # off: nobody can authenticate as it, password or not
        )
        self.user_group = elasticache.CfnUserGroup(
            self,
            "Users",
            engine="redis",
            user_group_id=f"users-{suffix}",
            user_ids=[self.user_id, disabled_default.user_id],
        )
        self.user_group.add_dependency(self.user)
        self.user_group.add_dependency(disabled_default)

    def grant_connect(self, grantee: iam.IGrantable) -> iam.Grant:
        """`elasticache:Connect` as this cache's user, on this replication group only."""
        group_arn = Stack.of(self).format_arn(
            service="elasticache",
            resource="replicationgroup",
            resource_name=self.replication_group.ref,
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )
        return iam.Grant.add_to_principal(
            grantee=grantee, actions=["elasticache:Connect"], resource_arns=[group_arn, self.user.attr_arn]
        )

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
