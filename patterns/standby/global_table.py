"""`GlobalTable`: a DynamoDB global table (`TableV2`) in this Region with one replica in another,
each encrypted with a customer-managed key of its own Region, and an alarm on how far the
replica lags behind."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Duration, Stack, Token
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from constructs import Construct

from ..serverless_api import TableIndex
from ..shared.backup import mark_for_backup
from ..shared.defaults import Profile, encryption_key, new_alarm_topic, notifying_alarm
from ..shared.props import PropError, expect, sequence, whole_seconds
from .keys import alias_arn, check_alias_name

DEFAULT_LATENCY_ALARM = Duration.minutes(1)


def replication_latency_alarm(
    scope: Construct,
    construct_id: str,
    *,
    table_name: str,
    receiving_region: str,
    topic: sns.ITopic,
    threshold: Duration = DEFAULT_LATENCY_ALARM,
) -> cloudwatch.Alarm:
    """DynamoDB publishes `ReplicationLatency` of a global table in the Region where the write
    happened, one series per `ReceivingRegion` ("DynamoDB metrics and dimensions"); an idle
    table publishes nothing, which is not a breach."""
    metric = cloudwatch.Metric(
        namespace="AWS/DynamoDB",
        metric_name="ReplicationLatency",
        dimensions_map={"TableName": table_name, "ReceivingRegion": receiving_region},
        statistic="Average",
        period=Duration.minutes(1),
    )
    return notifying_alarm(
        scope,
        construct_id,
        metric,
        topic=topic,
        threshold=threshold.to_milliseconds(),
        evaluation_periods=5,
        datapoints_to_alarm=3,
        description=f"{table_name}: replication to {receiving_region} lags more than "
        f"{threshold.to_seconds():g} s (what a failover now would lose)",
    )


class GlobalTable(Construct):
    """An on-demand global table replicated to `replica_region`, keys per Region, PITR in both.

    Attributes:
        table: the global table (`TableV2`; its `replicas` are in the template of this stack).
        key: the key of this Region's replica (yours, or the new one).
        replica_key_arn: what the replica in `replica_region` is encrypted with (an alias ARN).
        alarm_topic: where the replication-latency alarm notifies (yours, or the new one).
        alarms: replication latency to `replica_region`.
    """

    table: dynamodb.TableV2
    key: kms.IKey
    replica_key_arn: str
    alarm_topic: sns.ITopic
    alarms: list[cloudwatch.Alarm]

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        profile: Profile,
        table_name: str,
        replica_region: str,
        replica_key_alias: str,
        partition_key: str = "id",
        indexes: Sequence[TableIndex] = (),
        time_to_live_attribute: str | None = None,
        key: kms.IKey | None = None,
        alarm_topic: sns.ITopic | None = None,
        latency_alarm: Duration = DEFAULT_LATENCY_ALARM,
    ) -> None:
        """Build the table, its replica, this Region's key and the latency alarm.

        Args:
            profile: sandbox or production: deletion protection and removal of both replicas.
            table_name: the table's name, the same in every Region: the other Region's stack
                finds its replica by it (`TableV2.from_table_name`).
            replica_region: the Region of the replica; not this stack's Region.
            replica_key_alias: the alias (`alias/<name>`) of the replica's key in
                `replica_region`, which must exist before this stack deploys (`ReplicaKey`).
            partition_key: the table's partition key (a string); default `id`.
            indexes: global secondary indexes (replicated with the table); default none.
            time_to_live_attribute: the TTL attribute; default none.
            key: an existing key for this Region's replica; default a new rotating key.
            alarm_topic: where the alarm goes; default a new encrypted topic.
            latency_alarm: the replication latency that alarms (average over 3 of 5 minutes);
                default 1 minute.
        """
        super().__init__(scope, construct_id)
        expect("profile", profile, Profile)
        expect("table_name", table_name, str)
        expect("replica_region", replica_region, str)
        expect("key", key, kms.IKey, optional=True)
        expect("alarm_topic", alarm_topic, sns.ITopic, optional=True)
        expect("time_to_live_attribute", time_to_live_attribute, str, optional=True)
        sequence("indexes", indexes, TableIndex)
        check_alias_name("replica_key_alias", replica_key_alias)
        whole_seconds("latency_alarm", latency_alarm, low=1)
        region = Stack.of(self).region
        if Token.is_unresolved(region):
            raise PropError("replica_region", "a global table's stack needs an explicit Region (env=...)")
        if replica_region == region:
            raise PropError("replica_region", f"{replica_region} is this stack's Region; name another")
        self.key = key or encryption_key(
            self, "Key", profile=profile, description=f"Encrypts the table {table_name} in {region}"
        )
        self.replica_key_arn = alias_arn(self, region=replica_region, alias_name=replica_key_alias)
        pitr = dynamodb.PointInTimeRecoverySpecification(point_in_time_recovery_enabled=True)
        string = dynamodb.AttributeType.STRING
        self.table = dynamodb.TableV2(
            self,
            "Table",
            table_name=table_name,
            partition_key=dynamodb.Attribute(name=partition_key, type=string),
            billing=dynamodb.Billing.on_demand(),
            encryption=dynamodb.TableEncryptionV2.customer_managed_key(
                self.key, replica_key_arns={replica_region: self.replica_key_arn}
            ),
            point_in_time_recovery_specification=pitr,
            time_to_live_attribute=time_to_live_attribute,
            deletion_protection=profile.deletion_protection,
            removal_policy=profile.removal_policy,
            replicas=[
                dynamodb.ReplicaTableProps(
                    region=replica_region,
                    point_in_time_recovery_specification=pitr,
                    deletion_protection=profile.deletion_protection,
                )
            ],
        )
        for index in indexes:
            self.table.add_global_secondary_index(
                index_name=index.name,
                partition_key=dynamodb.Attribute(name=index.partition_key, type=string),
                sort_key=dynamodb.Attribute(name=index.sort_key, type=string) if index.sort_key else None,
            )
        mark_for_backup(self.table)
        self.alarm_topic = alarm_topic or new_alarm_topic(self, "AlarmTopic", profile=profile)
        self.alarms = [
            replication_latency_alarm(
                self,
                "ReplicationLatency",
                table_name=table_name,
                receiving_region=replica_region,
                topic=self.alarm_topic,
                threshold=latency_alarm,
            )
        ]
