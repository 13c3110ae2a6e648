"""The data tier: PostgreSQL writer with read replicas behind RDS Proxy, and a Valkey cache.

- The writer is Multi-AZ (in both profiles: the failover is what the pattern teaches),
  encrypted with a customer-managed key, in isolated subnets, on a non-default port, with IAM
  authentication on, TLS forced, automated backups, and its master credentials in Secrets
  Manager rotated by a hosted rotation function that may reach only the writer and Secrets
  Manager.
- RDS Proxy sits in front of the writer (TLS required): it pools connections, so a fleet of
  instances scaling out does not exhaust the writer's connections, and it holds client
  connections through a Multi-AZ failover instead of dropping them. Its clients connect on
  `PROXY_PORT`, the engine's default port, whatever port the database uses.
- Read replicas (any number, spread over the AZs) take read traffic. They are asynchronous:
  a read that must see the caller's own write goes to the writer (the app routes reads).
- A Valkey replication group caches hot reads; a replica is no substitute for a cache: it
  still runs the query, and lags.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from aws_cdk import Duration, Names, RemovalPolicy, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_rds as rds
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sns as sns
from constructs import Construct

from ..shared.backup import mark_for_backup
from ..shared.defaults import (
    ABOVE,
    BELOW,
    Profile,
    acknowledge,
    encryption_key,
    log_group,
    new_alarm_topic,
    notifying_alarm,
    profile_of,
)
from ..shared.props import PropError, expect, sequence, whole_days, within
from .valkey_cache import DEFAULT_ACCESS_STRING as DEFAULT_CACHE_ACCESS_STRING
from .valkey_cache import DEFAULT_PORT as DEFAULT_CACHE_PORT
from .valkey_cache import ValkeyCache, check_cache_props

SOURCE_HEARTBEAT_SECONDS = 10
"""The longest the writer goes without a commit while its app runs: the demo app's heartbeat
(runtime/web_app/heartbeat.py) commits at least this often. RDS for PostgreSQL's ReplicaLag is
the replica's `now() - pg_last_xact_replay_timestamp()` (RDS User Guide, "Monitoring and
tuning the replication process"), so with no commit at the source it grows until the next one;
the heartbeat caps an idle replica's lag at this (plus the time to ship the commit)."""
REPLICA_LAG_THRESHOLD_SECONDS = 3 * SOURCE_HEARTBEAT_SECONDS
"""The replica-lag alarms' threshold: three heartbeats, so an idle writer's sawtooth (up to one
heartbeat, plus shipping) stays well below it while a replica that really falls behind fires."""

# A current full version: cfn-lint W3691 rejects a bare major ("18") for new instances.
POSTGRES_VERSION = rds.PostgresEngineVersion.VER_18_3
DEFAULT_DATABASE_PORT = 5438  # not 5432: scanners try the default port first
# RDS Proxy listens on the engine's default port whatever port the database uses, and has no
# setting to change it (AWS RDS Proxy limitations; aws/aws-cdk discussion #28321).
PROXY_PORT = 5432
REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-\d")
INSTANCE_IDENTIFIER = re.compile(r"[a-z](?:[a-z0-9]|-(?!-)){0,62}")
MAX_READ_REPLICAS = 15  # RDS for PostgreSQL allows up to 15 replicas per source
DAY_SECONDS = 86_400
MAX_BACKUP_DAYS = 35  # RDS: automated backups are kept 0 (off) to 35 days
MIN_STORAGE_GIB, MAX_STORAGE_GIB = 20, 65_536  # RDS for PostgreSQL on gp3: 20 GiB to 64 TiB
DATABASE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,62}")  # RDS for PostgreSQL DBName
INSTANCE_CLASS = re.compile(r"[a-z0-9-]+\.[a-z0-9]+")
# PostgreSQL's reserved key words (documentation, appendix "SQL Key Words"), which it refuses
# as an unquoted database name, and the names RDS keeps for itself.
RESERVED_NAMES = frozenset(
    [
        "all",
        "analyse",
        "analyze",
        "and",
        "any",
        "array",
        "as",
        "asc",
        "asymmetric",
        "both",
        "case",
        "cast",
        "check",
        "collate",
        "column",
        "constraint",
        "create",
        "current_catalog",
        "current_date",
        "current_role",
        "current_time",
        "current_timestamp",
        "current_user",
        "default",
        "deferrable",
        "desc",
        "distinct",
        "do",
        "else",
        "end",
        "except",
        "false",
        "fetch",
        "for",
        "foreign",
        "from",
        "grant",
        "group",
        "having",
        "in",
        "initially",
        "intersect",
        "into",
        "lateral",
        "leading",
        "limit",
        "localtime",
        "localtimestamp",
        "not",
        "null",
        "offset",
        "on",
        "only",
        "or",
        "order",
        "placing",
        "primary",
        "references",
        "returning",
        "select",
        "session_user",
        "some",
        "symmetric",
        "system_user",
        "table",
        "then",
        "to",
        "trailing",
        "true",
        "union",
        "unique",
        "user",
        "using",
        "variadic",
        "when",
        "where",
        "window",
        "with",
        "rdsadmin",
        "template0",
        "template1",
    ]
)

SINGLE_AZ_ON_REQUEST_REASON = (
    "The caller passed multi_az=False for a sandbox writer (the default is Multi-AZ in both "
    "profiles, and the production profile refuses False)."
)
SANDBOX_NO_DELETION_PROTECTION_REASON = (
    "Sandbox profile promises that cdk destroy leaves nothing behind; the production profile "
    "turns deletion protection on and snapshots on removal."
)
REPLICA_AVAILABILITY_REASON = (
    "A read replica is a read-scaling copy, not the data's home: when it does not answer, the "
    "application reads from another replica or from the writer."
)
SANDBOX_REPLICA_DELETION_REASON = (
    "Sandbox profile promises that cdk destroy leaves nothing behind; a replica only copies the "
    "writer, and the production profile turns deletion protection on for replicas too."
)
REPLICA_ENCRYPTION_REASON = (
    "A read replica of an encrypted instance is always encrypted with its source's key; "
    "CloudFormation rejects StorageEncrypted on a replica, so the property is left out."
)
REPLICA_PORT_REASON = (
    "The replica listens on the same non-default port as the writer (Port is set); the rule "
    "reads the engine to find the default port, and a replica carries no Engine property."
)
MONITORING_POLICY_REASON = (
    "AmazonRDSEnhancedMonitoringRole is the AWS-maintained policy RDS enhanced monitoring "
    "requires: it only lets RDS write OS metrics to the RDSOSMetrics log group."
)


class DataTier(Construct):
    """PostgreSQL (writer, proxy, replicas) and a Valkey cache in an existing VPC's isolated subnets.

    Call `allow_from(peer)` for the application's security group: it opens the proxy, the
    replicas and the cache to it, never the writer.

    Attributes:
        key: The customer-managed KMS key of the storage, the secret, Performance Insights and
            the cache.
        database: The writer (`rds.DatabaseInstance`), Multi-AZ by default.
        secret: The writer's master credentials (Secrets Manager), rotated every `rotation`.
        proxy: RDS Proxy in front of the writer (TLS required), named uniquely in the account
            and Region whatever the app's feature flags.
        proxy_port: The port clients of the proxy connect to: 5432, the engine's default,
            whatever `database_port` is (RDS Proxy listens on it).
        replicas: The read replicas (`rds.DatabaseInstanceReadReplica`).
        replica_endpoints: The replicas' endpoint addresses, in the order of `replicas`.
        cache: The `ValkeyCache` (its `endpoint`, `user_id`, `grant_connect`, ...).
        database_port: The writer's and the replicas' port.
        database_name: The database created on the writer.
        database_security_group: The writer's security group (the proxy and rotation only).
        replica_security_group: The replicas' security group (`allow_from` opens it).
        proxy_security_group: The proxy's security group (`allow_from` opens it).
        rotation_log_group: The log group of the hosted rotation function.
        alarm_topic: Where the alarms go (new, or `alarm_topic`).
        alarms: Writer CPU and free storage, each replica's lag and CPU, each cache node's
            evictions.
        profile: The profile the tier was built for.
    """

    key: kms.Key
    database: rds.DatabaseInstance
    secret: secretsmanager.ISecret
    proxy: rds.DatabaseProxy
    proxy_port: int
    replicas: list[rds.DatabaseInstanceReadReplica]
    replica_endpoints: list[str]
    cache: ValkeyCache
    database_port: int
    database_name: str
    database_security_group: ec2.SecurityGroup
    replica_security_group: ec2.SecurityGroup
    proxy_security_group: ec2.SecurityGroup
    rotation_log_group: logs.LogGroup
    alarm_topic: sns.ITopic
    alarms: list[cloudwatch.Alarm]
    profile: Profile

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        vpc: ec2.IVpc,
        database_name: str = "app",
        database_port: int = DEFAULT_DATABASE_PORT,
        instance_type: ec2.InstanceType | str | None = None,
        multi_az: bool | None = None,
        read_replicas: int | None = None,
        allocated_storage_gib: int = 20,
        max_allocated_storage_gib: int | None = None,
        backup_retention: Duration | None = None,
        rotation: Duration = Duration.days(30),
        cache_node_type: str | None = None,
        cache_replicas: int | None = None,
        cache_port: int = DEFAULT_CACHE_PORT,
        cache_access_string: str = DEFAULT_CACHE_ACCESS_STRING,
        secrets_manager_endpoint: ec2.IConnectable | None = None,
        instance_identifier: str | None = None,
        secret_replica_regions: Sequence[str] = (),
        alarm_topic: sns.ITopic | None = None,
        profile: Profile | None = None,
    ) -> None:
        """Build the writer, its proxy, rotation, replicas, the cache and their alarms in `vpc`.

        Args:
            vpc: The VPC; everything goes into its isolated subnets, and the rotation function
                into its private subnets with egress (a `Network`'s VPC has both).
            database_name: The database to create: 1 to 63 letters, digits or underscores,
                starting with a letter, not a PostgreSQL reserved word. Default: `app`.
            database_port: The writer's and the replicas' port, 1150 to 65535 but not 5432.
                Default: 5438.
            instance_type: The writer's and the replicas' class, with or without the `db.`
                prefix (`t4g.micro` or `db.t4g.micro`). Default: db.t4g.micro in sandbox,
                db.m7g.large in production.
            multi_az: Whether the writer has a standby in another AZ (production refuses
                False). Default: True.
            read_replicas: Read replicas, 0 to 15. Default: 1 in sandbox, 2 in production.
            allocated_storage_gib: The writer's gp3 storage, 20 to 65,536 GiB. Default: 20.
            max_allocated_storage_gib: The storage autoscaling ceiling, above
                `allocated_storage_gib` and at most 65,536 GiB. Default: none (no autoscaling).
            backup_retention: How long automated backups are kept, whole days from 1 to 35.
                Default: 1 day in sandbox, 14 days in production.
            rotation: How often the master secret rotates, 1 to 365 days. Default: 30 days.
            cache_node_type: The cache's node type (`cache.` prefix). Default: cache.t4g.micro
                in sandbox, cache.m7g.large in production.
            cache_replicas: The cache's replicas, 0 to 5. Default: 0 in sandbox, 2 in production.
            cache_port: The cache's port, 1024 to 65535, not 6379 nor the database's or the
                proxy's port. Default: 6380.
            cache_access_string: The ElastiCache access string of the app's cache user.
                Default: every key, every command but `@dangerous`.
            secrets_manager_endpoint: The VPC's Secrets Manager interface endpoint
                (`Network.endpoints["SecretsManager"]`), which the proxy and the rotation
                function reach on 443. Default: none (they may reach 443 in the VPC's range).
            instance_identifier: The writer's identifier, 1 to 63 lower-case letters, digits or
                single hyphens, starting with a letter; the master secret is then named
                `<identifier>/master`. Needed where another stack names the writer, such as a
                cross-Region replica's source ARN. Default: one CloudFormation generates.
            secret_replica_regions: Regions the master secret is replicated to (Secrets
                Manager replicas, encrypted there with `aws/secretsmanager`), so that an app
                next to a cross-Region replica reads its credentials in its own Region.
                Default: none.
            alarm_topic: Your topic for the alarms. Default: a new encrypted topic.
            profile: `SANDBOX` or `PRODUCTION`. Default: the `profile` context value.
        """
        super().__init__(scope, construct_id)
        _check_types(
            vpc=vpc,
            database_name=database_name,
            database_port=database_port,
            multi_az=multi_az,
            read_replicas=read_replicas,
            allocated_storage_gib=allocated_storage_gib,
            max_allocated_storage_gib=max_allocated_storage_gib,
            backup_retention=backup_retention,
            rotation=rotation,
            cache_node_type=cache_node_type,
            cache_replicas=cache_replicas,
            cache_port=cache_port,
            cache_access_string=cache_access_string,
            secrets_manager_endpoint=secrets_manager_endpoint,
            instance_identifier=instance_identifier,
            alarm_topic=alarm_topic,
            profile=profile,
        )
        replica_regions = _replica_regions(secret_replica_regions, instance_identifier)
        self.profile = profile = profile or profile_of(self)
        production = profile.is_production
        read_replicas = read_replicas if read_replicas is not None else (2 if production else 1)
        cache_replicas = cache_replicas if cache_replicas is not None else (2 if production else 0)
        multi_az = True if multi_az is None else multi_az
        backup_retention = backup_retention or Duration.days(14 if production else 1)
        _validate(
            database_name=database_name,
            database_port=database_port,
            cache_port=cache_port,
            read_replicas=read_replicas,
            backup_retention=backup_retention,
            rotation=rotation,
            allocated_storage_gib=allocated_storage_gib,
            max_allocated_storage_gib=max_allocated_storage_gib,
            production=production,
            multi_az=multi_az,
        )
        check_cache_props(
            vpc=vpc,
            node_type=cache_node_type,
            replicas=cache_replicas,
            port=cache_port,
            production=production,
            prefix="cache_",
        )
        self.database_name = database_name
        self.database_port = database_port
        self.proxy_port = PROXY_PORT
        self._secrets_manager_endpoint = secrets_manager_endpoint
        self._vpc_cidr = vpc.vpc_cidr_block
        self.alarm_topic: sns.ITopic = alarm_topic or new_alarm_topic(self, "AlarmTopic", profile=profile)
        self.alarms: list[cloudwatch.Alarm] = []
        isolated = ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED)
        instance_type = _instance_class(instance_type) or ec2.InstanceType.of(
            ec2.InstanceClass.M7G if production else ec2.InstanceClass.T4G,
            ec2.InstanceSize.LARGE if production else ec2.InstanceSize.MICRO,
        )
        self.key = encryption_key(
            self, "Key", profile=profile, description=f"Encrypts {self.node.path} data at rest"
        )
        engine = rds.DatabaseInstanceEngine.postgres(version=POSTGRES_VERSION)
        parameters = rds.ParameterGroup(
            self,
            "Parameters",
            engine=engine,
            description="TLS only; log slow statements",
            parameters={"rds.force_ssl": "1", "log_min_duration_statement": "1000"},
        )
        self.database_security_group = ec2.SecurityGroup(
            self,
            "DatabaseSecurityGroup",
            vpc=vpc,
            description="PostgreSQL writer: reached only through the proxy (and by rotation)",
            allow_all_outbound=False,
        )
        self.replica_security_group = ec2.SecurityGroup(
            self,
            "ReplicaSecurityGroup",
            vpc=vpc,
            description="PostgreSQL read replicas",
            allow_all_outbound=False,
        )
        common: dict[str, object] = {
            "vpc": vpc,
            "vpc_subnets": isolated,
            "port": database_port,
            "parameter_group": parameters,
            **self._enhanced_monitoring(production),
            "enable_performance_insights": production,
            "performance_insight_encryption_key": self.key if production else None,
            "auto_minor_version_upgrade": True,
            "deletion_protection": profile.deletion_protection,
            "publicly_accessible": False,
        }
        self.database = rds.DatabaseInstance(
            self,
            "Writer",
            engine=engine,
            instance_type=instance_type,
            database_name=database_name,
            instance_identifier=instance_identifier,
            credentials=rds.Credentials.from_generated_secret(
                "app_admin",
                encryption_key=self.key,
                secret_name=f"{instance_identifier}/master" if instance_identifier else None,
                # A replica in another Region cannot use this Region's key: the AWS-managed key
                # there (a customer key would have to exist before this stack, in that one).
                replica_regions=[secretsmanager.ReplicaRegion(region=region) for region in replica_regions],
            ),
            multi_az=multi_az,
            storage_type=rds.StorageType.GP3,
            allocated_storage=allocated_storage_gib,
            max_allocated_storage=max_allocated_storage_gib,
            storage_encrypted=True,
            storage_encryption_key=self.key,
            iam_authentication=True,
            backup_retention=backup_retention,
            delete_automated_backups=not production,
            copy_tags_to_snapshot=True,
            removal_policy=RemovalPolicy.SNAPSHOT if production else RemovalPolicy.DESTROY,
            security_groups=[self.database_security_group],
            **common,  # type: ignore[arg-type]
        )
        # The instance itself: the proxy under it takes no tags on its target group (cfn-lint F3002).
        mark_for_backup(self.database.node.default_child or self.database)
        assert self.database.secret is not None
        self.secret: secretsmanager.ISecret = self.database.secret
        # Production keeps the credentials with the final snapshot they belong to. `secret` is
        # the secret's target attachment; the secret itself is its scope.
        generated = self.secret.node.scope
        if isinstance(generated, secretsmanager.Secret):
            generated.apply_removal_policy(profile.removal_policy)
        if not multi_az:
            acknowledge(self.database, "AwsSolutions-RDS3", SINGLE_AZ_ON_REQUEST_REASON)
        if not profile.deletion_protection:
            acknowledge(self.database, "AwsSolutions-RDS10", SANDBOX_NO_DELETION_PROTECTION_REASON)
        self._add_rotation(vpc, rotation)
        self.proxy_security_group = ec2.SecurityGroup(
            self,
            "ProxySecurityGroup",
            vpc=vpc,
            description="RDS Proxy in front of the writer",
            allow_all_outbound=False,
        )
        self.proxy = self.database.add_proxy(
            "Proxy",
            secrets=[self.secret],
            vpc=vpc,
            vpc_subnets=isolated,
            security_groups=[self.proxy_security_group],
            require_tls=True,
            borrow_timeout=Duration.seconds(30),
        )
        # A proxy's name is its identity in the account and Region. Without the feature flag
        # `@aws-cdk/aws-rds:databaseProxyUniqueResourceName` CDK names every proxy after its
        # construct id, literally `Proxy`, so two data tiers would collide at deploy: name it
        # as that flag does (from the construct path, with the stack name), flag or not.
        proxy_resource = self.proxy.node.default_child
        assert isinstance(proxy_resource, rds.CfnDBProxy)
        proxy_resource.db_proxy_name = Names.unique_resource_name(self.proxy, max_length=60)
        self.database.connections.allow_default_port_from(
            self.proxy_security_group, "RDS Proxy to the writer"
        )
        # The proxy reads its secret from inside the VPC: from isolated subnets that means the
        # Secrets Manager interface endpoint (which Network creates) on 443.
        self._allow_secrets_manager(self.proxy_security_group)
        self.replicas = [
            self._replica(i, instance_type, production, vpc, common) for i in range(read_replicas)
        ]
        self.replica_endpoints = [replica.db_instance_endpoint_address for replica in self.replicas]
        self.cache = ValkeyCache(
            self,
            "Cache",
            vpc=vpc,
            node_type=cache_node_type,
            replicas=cache_replicas,
            port=cache_port,
            access_string=cache_access_string,
            key=self.key,
            alarm_topic=self.alarm_topic,
            profile=profile,
        )
        self.alarms.extend(self.cache.alarms)
        self._add_database_alarms(allocated_storage_gib)

    # -- wiring -------------------------------------------------------------------------------

    def allow_from(self, peer: ec2.IConnectable, description: str = "application") -> None:
        """Let `peer` reach the proxy, the replicas and the cache; never the writer directly."""
        self.proxy_security_group.connections.allow_from(
            peer, ec2.Port.tcp(self.proxy_port), f"{description} to the proxy"
        )
        self.replica_security_group.connections.allow_from(
            peer, ec2.Port.tcp(self.database_port), f"{description} to the replicas"
        )
        self.cache.allow_from(peer, description)

    # -- parts --------------------------------------------------------------------------------

    def _enhanced_monitoring(self, production: bool) -> dict[str, object]:
        """OS metrics every minute, in production. RDS writes them to the account-wide
        RDSOSMetrics log group, which no stack can own: sandbox leaves them off so that
        `cdk destroy` leaves nothing behind (CloudWatch's instance metrics remain)."""
        if not production:
            return {}
        role = iam.Role(
            self,
            "MonitoringRole",
            assumed_by=iam.ServicePrincipal("monitoring.rds.amazonaws.com"),
            managed_policies=[
                iam.ManagedPolicy.from_aws_managed_policy_name("service-role/AmazonRDSEnhancedMonitoringRole")
            ],
        )
        acknowledge(
            role,
            "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole]",
            MONITORING_POLICY_REASON,
        )
        return {"monitoring_interval": Duration.seconds(60), "monitoring_role": role}

    def _allow_secrets_manager(self, group: ec2.SecurityGroup) -> None:
        if self._secrets_manager_endpoint is not None:
            group.connections.allow_to(self._secrets_manager_endpoint, ec2.Port.tcp(443), "Secrets Manager")
        else:
            group.add_egress_rule(
                ec2.Peer.ipv4(self._vpc_cidr), ec2.Port.tcp(443), "Secrets Manager endpoint"
            )

    def _add_rotation(self, vpc: ec2.IVpc, rotation: Duration) -> None:
        # The single-user rotation function talks to Secrets Manager (443) and the writer, and
        # to nothing else: no route to the internet on any other port or protocol.
        rotation_security_group = ec2.SecurityGroup(
            self,
            "RotationSecurityGroup",
            vpc=vpc,
            description="Secrets Manager hosted rotation function",
            allow_all_outbound=False,
        )
        self.database.connections.allow_default_port_from(rotation_security_group, "rotation function")
        self._allow_secrets_manager(rotation_security_group)
        # The hosted rotation function is created by a CloudFormation transform, outside this
        # stack; naming it lets the stack own its log group (retention, and `cdk destroy`).
        function_name = f"{Stack.of(self).stack_name[:40]}-{self.node.addr[:10]}-rotation"  # <= 64
        self.rotation_log_group = log_group(
            self, "RotationLogs", profile=self.profile, log_group_name=f"/aws/lambda/{function_name}"
        )
        schedule = self.secret.add_rotation_schedule(
            "Rotation",
            automatically_after=rotation,
            hosted_rotation=secretsmanager.HostedRotation.postgre_sql_single_user(
                function_name=function_name,
                vpc=vpc,
                vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS),
                security_groups=[rotation_security_group],
            ),
        )
        schedule.node.add_dependency(self.rotation_log_group)

    def _replica(
        self,
        index: int,
        instance_type: ec2.InstanceType,
        production: bool,
        vpc: ec2.IVpc,
        common: dict[str, object],
    ) -> rds.DatabaseInstanceReadReplica:
        zones = vpc.availability_zones
        replica = rds.DatabaseInstanceReadReplica(
            self,
            f"Replica{index + 1}",
            source_database_instance=self.database,
            instance_type=instance_type,
            storage_type=rds.StorageType.GP3,
            # Spread over the AZs, starting after the writer's, so one AZ loss leaves replicas.
            availability_zone=zones[(index + 1) % len(zones)] if production else None,
            # A replica holds only a copy of the writer, whose final snapshot production keeps:
            # retaining it would leave an instance billing after `cdk destroy`.
            removal_policy=RemovalPolicy.DESTROY,
            security_groups=[self.replica_security_group],
            **common,  # type: ignore[arg-type]
        )
        acknowledge(replica, "AwsSolutions-RDS3", REPLICA_AVAILABILITY_REASON)
        acknowledge(replica, "AwsSolutions-RDS2", REPLICA_ENCRYPTION_REASON)
        acknowledge(replica, "AwsSolutions-RDS11", REPLICA_PORT_REASON)
        if not self.profile.deletion_protection:
            acknowledge(replica, "AwsSolutions-RDS10", SANDBOX_REPLICA_DELETION_REASON)
        return replica

    def _add_database_alarms(self, allocated_storage_gib: int) -> None:
        self._alarm(
            "WriterCpu",
            self.database.metric_cpu_utilization(period=Duration.minutes(5)),
            threshold=80,
            description="The writer's CPU has been above 80% for 15 minutes",
        )
        self._alarm(
            "WriterFreeStorage",
            self.database.metric_free_storage_space(period=Duration.minutes(5)),
            threshold=allocated_storage_gib * 1024**3 * 0.1,
            comparison=BELOW,
            description="The writer has less than 10% of its allocated storage free",
        )
        for index, replica in enumerate(self.replicas, start=1):
            # The minute's Maximum of ReplicaLag: at idle it is the heartbeat's sawtooth peak
            # (SOURCE_HEARTBEAT_SECONDS, plus shipping), a third of the threshold; without a
            # commit at the source every few seconds it would grow until the alarm fired.
            self._alarm(
                f"Replica{index}Lag",
                replica.metric("ReplicaLag", statistic="Maximum", period=Duration.minutes(1)),
                threshold=REPLICA_LAG_THRESHOLD_SECONDS,
                evaluation_periods=5,
                description=f"Replica {index} is more than {REPLICA_LAG_THRESHOLD_SECONDS} s behind"
                " the writer",
            )
            self._alarm(
                f"Replica{index}Cpu",
                replica.metric_cpu_utilization(period=Duration.minutes(5)),
                threshold=80,
                description=f"Replica {index}'s CPU has been above 80% for 15 minutes",
            )

    def _alarm(
        self,
        alarm_id: str,
        metric: cloudwatch.IMetric,
        *,
        threshold: float,
        description: str,
        evaluation_periods: int = 3,
        comparison: cloudwatch.ComparisonOperator = ABOVE,
    ) -> None:
        self.alarms.append(
            notifying_alarm(
                self,
                alarm_id,
                metric,
                topic=self.alarm_topic,
                threshold=threshold,
                description=description,
                evaluation_periods=evaluation_periods,
                comparison=comparison,
            )
        )


def _instance_class(instance_type: ec2.InstanceType | str | None) -> ec2.InstanceType | None:
    """The class without RDS's `db.` prefix, which CDK adds itself (`db.db.t4g.micro` otherwise)."""
    expect("instance_type", instance_type, ec2.InstanceType, str, optional=True)
    if instance_type is None:
        return None
    given = instance_type if isinstance(instance_type, str) else instance_type.to_string()
    name = given.removeprefix("db.")
    if not INSTANCE_CLASS.fullmatch(name):
        raise PropError("instance_type", f"expected a class such as t4g.micro or db.t4g.micro, got {given!r}")
    return ec2.InstanceType(name)


def _check_types(**props: Any) -> None:
    types: dict[str, tuple[tuple[type, ...], bool]] = {
        "vpc": ((ec2.IVpc,), False),
        "database_name": ((str,), False),
        "database_port": ((int,), False),
        "multi_az": ((bool,), True),
        "read_replicas": ((int,), True),
        "allocated_storage_gib": ((int,), False),
        "max_allocated_storage_gib": ((int,), True),
        "backup_retention": ((Duration,), True),
        "rotation": ((Duration,), False),
        "cache_node_type": ((str,), True),
        "cache_replicas": ((int,), True),
        "cache_port": ((int,), False),
        "cache_access_string": ((str,), False),
        "secrets_manager_endpoint": ((ec2.IConnectable,), True),
        "instance_identifier": ((str,), True),
        "alarm_topic": ((sns.ITopic,), True),
        "profile": ((Profile,), True),
    }
    for name, (expected, optional) in types.items():
        expect(name, props[name], *expected, optional=optional)


def _replica_regions(regions: Sequence[str], instance_identifier: str | None) -> list[str]:
    listed = sequence("secret_replica_regions", regions, str)
    for region in listed:
        if not REGION.fullmatch(region):
            raise PropError(
                "secret_replica_regions", f"expected Regions such as ap-northeast-1, got {region!r}"
            )
    if instance_identifier is not None and (
        not INSTANCE_IDENTIFIER.fullmatch(instance_identifier) or instance_identifier.endswith("-")
    ):
        raise PropError(
            "instance_identifier",
            "RDS identifiers are 1 to 63 lower-case letters, digits or single hyphens, starting with "
            f"a letter and not ending with a hyphen; got {instance_identifier!r}",
        )
    return listed


def _validate(
    *,
    database_name: str,
    database_port: int,
    cache_port: int,
    read_replicas: int,
    backup_retention: Duration,
    rotation: Duration,
    allocated_storage_gib: int,
    max_allocated_storage_gib: int | None,
    production: bool,
    multi_az: bool,
) -> None:
    if not DATABASE_NAME.fullmatch(database_name) or database_name.lower() in RESERVED_NAMES:
        raise PropError(
            "database_name",
            "RDS for PostgreSQL takes 1 to 63 letters, digits or underscores starting with a letter, "
            f"and no reserved word; got {database_name!r}",
        )
    within("database_port", database_port, 1150, 65535)  # what RDS accepts
    if database_port == PROXY_PORT:
        raise PropError("database_port", "5432 is PostgreSQL's default port; choose another")
    if cache_port in (database_port, PROXY_PORT):
        raise PropError("cache_port", f"{cache_port} is the database's or the proxy's port; choose another")
    within("read_replicas", read_replicas, 0, MAX_READ_REPLICAS)
    whole_days("backup_retention", backup_retention, low=1, high=MAX_BACKUP_DAYS)  # RDS: 0 (off) to 35
    whole_days("rotation", rotation, low=1, high=365)  # Secrets Manager rotates every 1 to 365 days
    within("allocated_storage_gib", allocated_storage_gib, MIN_STORAGE_GIB, MAX_STORAGE_GIB, unit="GiB")
    if max_allocated_storage_gib is not None:
        if max_allocated_storage_gib <= allocated_storage_gib:
            raise PropError(
                "max_allocated_storage_gib", "must be above allocated_storage_gib to allow growth"
            )
        within(
            "max_allocated_storage_gib",
            max_allocated_storage_gib,
            MIN_STORAGE_GIB,
            MAX_STORAGE_GIB,
            unit="GiB",
        )
    if production and not multi_az:
        raise PropError("multi_az", "the production profile keeps the writer Multi-AZ")
