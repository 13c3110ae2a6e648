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
from ..shared.props import PropError, expect, within

VALKEY_VERSION = "8.0"
DEFAULT_PORT = 6380  # not 6379: scanners try the default port first
MAX_REPLICAS = 5
MIN_PORT = 1024  # unprivileged ports only
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
    """Where clients connect: the primary endpoint's address and port (tokens until deploy)."""

    host: str
    port: str


class ValkeyCache(Construct):
    """A Valkey replication group in a VPC's isolated subnets, with IAM authentication.

    `grant_connect(role)` lets a role authenticate as the cache's user; `allow_from(peer)` lets
    it reach the port.

    Attributes:
        replication_group: The replication group (L1: aws-cdk-lib has no ElastiCache L2).
        security_group: The cache's security group (no rule until `allow_from`).
        user: The RBAC user clients authenticate as, with authentication mode `iam`.
        user_id: That user's id, equal to its name (IAM authentication requires it).
        user_group: The user group: the app's user and the `default` user, switched off.
        endpoint: The primary endpoint (`host`, `port`).
        port: The port the cache listens on.
        node_count: Nodes in the group: 1 + `replicas`.
        alarm_topic: Where the alarms go (new, or `alarm_topic`).
        alarms: One evictions alarm per node.
    """

    replication_group: elasticache.CfnReplicationGroup
    security_group: ec2.SecurityGroup
    user: elasticache.CfnUser
    user_id: str
    user_group: elasticache.CfnUserGroup
    endpoint: CacheEndpoint
    port: int
    node_count: int
    alarm_topic: sns.ITopic
    alarms: list[cloudwatch.Alarm]

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
        """Build the replication group, its users and its alarms in `vpc`'s isolated subnets.

        Args:
            vpc: The VPC; the cache goes into its isolated subnets (replicas need them in at
                least 2 AZs).
            node_type: An ElastiCache node type (`cache.` prefix). Default: cache.t4g.micro in
                sandbox, cache.m7g.large in production.
            replicas: Replicas of the primary, 0 to 5; with one or more, Multi-AZ with
                automatic failover. Default: 0 in sandbox, 2 in production (where 0 fails).
            port: The port, 1024 to 65535 but not 6379 (scanners try the default first).
                Default: 6380.
            access_string: The app user's ElastiCache access string; must start with `on`.
                Default: every key, every command but `@dangerous`.
            key: Your KMS key for encryption at rest. Default: a new customer-managed key.
            alarm_topic: Your topic for the alarms. Default: a new encrypted topic.
            profile: `SANDBOX` or `PRODUCTION`. Default: the `profile` context value.
        """
        super().__init__(scope, construct_id)
        expect("vpc", vpc, ec2.IVpc)
        expect("node_type", node_type, str, optional=True)
        expect("replicas", replicas, int, optional=True)
        expect("port", port, int)
        expect("access_string", access_string, str)
        expect("key", key, kms.IKey, optional=True)
        expect("alarm_topic", alarm_topic, sns.ITopic, optional=True)
        expect("profile", profile, Profile, optional=True)
        profile = profile or profile_of(self)
        production = profile.is_production
        replicas = replicas if replicas is not None else (2 if production else 0)
        check_cache_props(vpc=vpc, node_type=node_type, replicas=replicas, port=port, production=production)
        if access_string.split()[:1] != ["on"]:
            raise PropError("access_string", "must start with 'on' (ElastiCache turns a user without it off)")
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


def check_cache_props(
    *, vpc: ec2.IVpc, node_type: str | None, replicas: int, port: int, production: bool, prefix: str = ""
) -> None:
    """The cache's props, named with `prefix` (DataTier passes `cache_`)."""
    if node_type is not None and not node_type.startswith("cache."):
        raise PropError(
            f"{prefix}node_type",
            f"an ElastiCache node type starts with 'cache.', e.g. cache.t4g.micro; got {node_type!r}",
        )
    within(f"{prefix}port", port, MIN_PORT, 65535)
    if port == 6379:
        raise PropError(f"{prefix}port", "6379 is Valkey's default port; choose another")
    within(f"{prefix}replicas", replicas, 0, MAX_REPLICAS)
    if production and replicas == 0:
        raise PropError(
            f"{prefix}replicas", "the production profile needs at least one for automatic failover"
        )
    zones = isolated_zones(vpc)
    if not zones:
        raise PropError("vpc", "has no isolated subnets (PRIVATE_ISOLATED) for the cache")
    if replicas and len(zones) < 2:
        raise PropError(
            f"{prefix}replicas",
            f"Multi-AZ failover puts replicas in other AZs, and the VPC's isolated subnets are in "
            f"{len(zones)} AZ; use replicas=0 or a VPC with isolated subnets in 2 or more AZs",
        )


def isolated_zones(vpc: ec2.IVpc) -> list[str]:
    """The AZs of the VPC's isolated subnets (none when it has no such subnet group)."""
    try:
        return list(vpc.select_subnets(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED).availability_zones)
    except RuntimeError:  # CDK: "There are no 'Isolated' subnet groups in this VPC"
        return []
