"""A cross-Region read replica of an RDS for PostgreSQL instance, in this stack's Region.

Why L1 (`rds.CfnDBInstance`): CDK's `DatabaseInstanceReadReplica` takes the source as an
`IDatabaseInstance` and passes its `instanceArn` as `SourceDBInstanceIdentifier`; an instance
imported with `DatabaseInstance.fromDatabaseInstanceAttributes` builds that ARN with
`Stack.of(this).formatArn(...)`, i.e. in the replica's own Region (aws-cdk-lib 2.275,
aws-rds/lib/instance.js), so it names an instance that does not exist. A strong reference to
the source in the home stack is a cross-Region export, which CloudFormation does not have
(aws/aws-cdk#27902). So the source is the ARN built here from its Region and identifier, which
CloudFormation requires for a source in another Region.

AWS's rules this encodes (RDS User Guide, "Creating a read replica in a different AWS Region";
CloudFormation `AWS::RDS::DBInstance`):
- `SourceDBInstanceIdentifier` must be the source's ARN when it is in another Region.
- An encrypted cross-Region replica needs `KmsKeyId`, a key in the replica's Region: a KMS key
  cannot be used outside its Region, and RDS re-encrypts the copy with it.
- The source must have automated backups on (retention above 0): DataTier keeps at least 1 day.
"""

from __future__ import annotations

import re

from aws_cdk import ArnFormat, Duration, RemovalPolicy, Stack, Token
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_kms as kms
from aws_cdk import aws_rds as rds
from aws_cdk import aws_sns as sns
from constructs import Construct

from ..multi_tier.data_tier import (
    DEFAULT_DATABASE_PORT,
    INSTANCE_IDENTIFIER,
    POSTGRES_VERSION,
    PROXY_PORT,
    REGION,
    REPLICA_LAG_THRESHOLD_SECONDS,
    SOURCE_HEARTBEAT_SECONDS,
)
from ..shared.defaults import (
    Profile,
    acknowledge,
    encryption_key,
    new_alarm_topic,
    notifying_alarm,
    profile_of,
)
from ..shared.props import PropError, expect, whole_seconds, within

INSTANCE_CLASS = re.compile(r"[a-z][a-z0-9]*\.[a-z0-9]+")

ENCRYPTED_BY_KEY_REASON = (
    "The replica is encrypted with KmsKeyId, a customer-managed key of its Region; CloudFormation "
    "takes no StorageEncrypted on a read replica (it follows its source, which is encrypted)."
)
SINGLE_AZ_REASON = (
    "A read Region's replica is a read-scaling copy: when it does not answer, the app reads from "
    "the home Region (runtime/web_app/regions.py)."
)
SANDBOX_DELETION_REASON = (
    "Sandbox profile promises that cdk destroy leaves nothing behind; the replica only copies the "
    "home writer, and production turns deletion protection on."
)
PORT_REASON = (
    "The replica listens on the non-default port given (Port is set); the rule reads the engine "
    "to find the default port, and a replica carries no Engine property."
)


class CrossRegionReplica(Construct):
    """A read replica, in this stack's Region, of an RDS for PostgreSQL instance in another.

    Call `allow_from(peer)` for the application's security group.

    Attributes:
        instance: The replica (`rds.CfnDBInstance`: see the module docstring for why L1).
        source_database_arn: The source instance's ARN, built from its Region and identifier.
        endpoint_address: The replica's endpoint address.
        port: The port the replica listens on.
        key: The KMS key of this Region that encrypts the replica (new, or `key`).
        security_group: The replica's security group (`allow_from` opens it).
        parameter_group: TLS-only parameters for the replica.
        lag_alarm: Fires when `ReplicaLag` stays above `max_lag` for 5 minutes.
        alarms: The lag alarm and the CPU alarm.
        alarm_topic: Where the alarms go (new, or `alarm_topic`).
        profile: The profile the replica was built for.
    """

    instance: rds.CfnDBInstance
    source_database_arn: str
    endpoint_address: str
    port: int
    key: kms.IKey
    security_group: ec2.SecurityGroup
    parameter_group: rds.ParameterGroup
    lag_alarm: cloudwatch.Alarm
    alarms: list[cloudwatch.Alarm]
    alarm_topic: sns.ITopic
    profile: Profile

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        vpc: ec2.IVpc,
        source_region: str,
        source_instance_identifier: str,
        instance_type: str | None = None,
        port: int = DEFAULT_DATABASE_PORT,
        key: kms.IKey | None = None,
        max_lag: Duration = Duration.seconds(REPLICA_LAG_THRESHOLD_SECONDS),
        alarm_topic: sns.ITopic | None = None,
        profile: Profile | None = None,
    ) -> None:
        """Build the replica, its key, security group and alarms in `vpc`'s isolated subnets.

        Args:
            vpc: The VPC of this Region; the replica goes into its isolated subnets.
            source_region: The source instance's Region (e.g. `us-east-1`); not this stack's.
            source_instance_identifier: The source instance's identifier (lower case, as RDS
                stores it), e.g. DataTier's `instance_identifier`.
            instance_type: The replica's class with the `db.` prefix. Default: db.t4g.micro in
                sandbox, db.m7g.large in production.
            port: The port the replica listens on, 1150 to 65535 but not 5432. Default: 5438,
                DataTier's.
            key: An existing KMS key of this Region to encrypt the replica with. Default: a
                new customer-managed key with rotation.
            max_lag: The `ReplicaLag` above which the lag alarm fires (after 5 minutes), whole
                seconds from twice the source's heartbeat (20 s: below that an idle home,
                whose replica's lag climbs to one heartbeat between commits, would set it off)
                to 3600; the app's own bound (`MAX_REPLICA_LAG`) should match. Default: 30 s.
            alarm_topic: Your topic for the alarms. Default: a new encrypted topic.
            profile: `SANDBOX` or `PRODUCTION`. Default: the `profile` context value.
        """
        super().__init__(scope, construct_id)
        expect("vpc", vpc, ec2.IVpc)
        expect("source_region", source_region, str)
        expect("source_instance_identifier", source_instance_identifier, str)
        expect("instance_type", instance_type, str, optional=True)
        expect("port", port, int)
        expect("key", key, kms.IKey, optional=True)
        expect("alarm_topic", alarm_topic, sns.ITopic, optional=True)
        expect("profile", profile, Profile, optional=True)
        if not REGION.fullmatch(source_region):
            raise PropError("source_region", f"expected a Region such as us-east-1, got {source_region!r}")
        here = Stack.of(self).region
        if not Token.is_unresolved(here) and here == source_region:
            raise PropError(
                "source_region",
                f"{source_region} is this stack's Region: a cross-Region replica needs another",
            )
        if not INSTANCE_IDENTIFIER.fullmatch(
            source_instance_identifier
        ) or source_instance_identifier.endswith("-"):
            raise PropError(
                "source_instance_identifier",
                "RDS identifiers are 1 to 63 lower-case letters, digits or single hyphens, starting with "
                f"a letter and not ending with a hyphen; got {source_instance_identifier!r}",
            )
        if instance_type is not None and not (
            instance_type.startswith("db.") and INSTANCE_CLASS.fullmatch(instance_type.removeprefix("db."))
        ):
            raise PropError("instance_type", f"expected a class such as db.t4g.micro, got {instance_type!r}")
        within("port", port, 1150, 65535)
        if port == PROXY_PORT:
            raise PropError("port", "5432 is PostgreSQL's default port; choose another")
        lag_seconds = whole_seconds("max_lag", max_lag, low=2 * SOURCE_HEARTBEAT_SECONDS, high=3600)
        if key is not None and not Token.is_unresolved(key.key_arn) and not Token.is_unresolved(here):
            key_region = key.key_arn.split(":")[3]
            if key_region != here:  # KMS keys never leave their Region: RDS could not use it here
                raise PropError(
                    "key", f"the key is in {key_region}; the replica is in {here} and needs a key there"
                )
        self.profile = profile = profile or profile_of(self)
        production = profile.is_production
        self.port = port
        self.alarm_topic = alarm_topic or new_alarm_topic(self, "AlarmTopic", profile=profile)
        self.key = key or encryption_key(
            self, "Key", profile=profile, description=f"Encrypts {self.node.path} (a cross-Region replica)"
        )
        self.source_database_arn = Stack.of(self).format_arn(
            service="rds",
            region=source_region,
            resource="db",
            resource_name=source_instance_identifier,
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )
        self.security_group = ec2.SecurityGroup(
            self,
            "SecurityGroup",
            vpc=vpc,
            description="Cross-Region PostgreSQL read replica",
            allow_all_outbound=False,
        )
        subnets = rds.SubnetGroup(
            self,
            "Subnets",
            vpc=vpc,
            description="Isolated subnets of the cross-Region replica",
            vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED),
            removal_policy=RemovalPolicy.DESTROY,
        )
        self.parameter_group = rds.ParameterGroup(
            self,
            "Parameters",
            engine=rds.DatabaseInstanceEngine.postgres(version=POSTGRES_VERSION),
            description="TLS only (the replica of a TLS-only writer)",
            parameters={"rds.force_ssl": "1"},
        )
        self.instance = rds.CfnDBInstance(
            self,
            "Resource",
            source_db_instance_identifier=self.source_database_arn,
            source_region=source_region,
            db_instance_class=instance_type or ("db.m7g.large" if production else "db.t4g.micro"),
            kms_key_id=self.key.key_arn,
            db_subnet_group_name=subnets.subnet_group_name,
            vpc_security_groups=[self.security_group.security_group_id],
            db_parameter_group_name=self.parameter_group.bind_to_instance().parameter_group_name,
            port=str(port),
            storage_type="gp3",
            publicly_accessible=False,
            auto_minor_version_upgrade=True,
            copy_tags_to_snapshot=True,
            enable_iam_database_authentication=True,
            # Backups on the replica: promoted after losing the home Region, it is the new writer.
            backup_retention_period=7 if production else 1,
            deletion_protection=profile.deletion_protection,
        )
        # A copy of the home writer, whose own backups keep the data: destroy never leaves it billing.
        self.instance.apply_removal_policy(RemovalPolicy.DESTROY)
        self.endpoint_address = self.instance.attr_endpoint_address
        acknowledge(self.instance, "AwsSolutions-RDS2", ENCRYPTED_BY_KEY_REASON)
        acknowledge(self.instance, "AwsSolutions-RDS3", SINGLE_AZ_REASON)
        acknowledge(self.instance, "AwsSolutions-RDS11", PORT_REASON)
        if not profile.deletion_protection:
            acknowledge(self.instance, "AwsSolutions-RDS10", SANDBOX_DELETION_REASON)
        # The minute's Maximum of ReplicaLag, which RDS measures as the age of the last commit
        # replayed: at idle it peaks at the home app's heartbeat interval (plus shipping), so
        # max_lag must stay above that (it is at least twice it) or every quiet hour alarms.
        self.lag_alarm = notifying_alarm(
            self,
            "LagAlarm",
            self._metric("ReplicaLag", "Maximum", Duration.minutes(1)),
            topic=self.alarm_topic,
            threshold=lag_seconds,
            evaluation_periods=5,
            description=f"The cross-Region replica is more than {lag_seconds} s behind the home writer",
        )
        cpu = notifying_alarm(
            self,
            "CpuAlarm",
            self._metric("CPUUtilization", "Average", Duration.minutes(5)),
            topic=self.alarm_topic,
            threshold=80,
            description="The cross-Region replica's CPU has been above 80% for 15 minutes",
        )
        self.alarms = [self.lag_alarm, cpu]

    def _metric(self, name: str, statistic: str, period: Duration) -> cloudwatch.Metric:
        return cloudwatch.Metric(
            namespace="AWS/RDS",
            metric_name=name,
            dimensions_map={"DBInstanceIdentifier": self.instance.ref},
            statistic=statistic,
            period=period,
        )

    def allow_from(self, peer: ec2.IConnectable, description: str = "application") -> None:
        """Let `peer` reach the replica on its port."""
        self.security_group.connections.allow_from(
            peer, ec2.Port.tcp(self.port), f"{description} to the replica"
        )
