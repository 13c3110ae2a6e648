"""A Kinesis data stream with Lambda consumers, a Firehose archive to S3, and its alarms.

The stream is on-demand unless the user gives the peak load, in which case it is provisioned
with the shards `shards.plan_shards` computes. It is encrypted with a customer-managed key that
every consumer and the archive can use (CDK's read grants include kms:Decrypt on the key).
Every consumer reads with bounded retries, bisects a failing batch, reports failed records one
by one, and sends what it still cannot handle to an on-failure queue with an alarm.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import jsii
from aws_cdk import Duration, Names, Size, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_kinesis as kinesis
from aws_cdk import aws_kinesisfirehose as firehose
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from ..shared.backup import mark_for_backup
from ..shared.buckets import access_logs_bucket, secure_bucket
from ..shared.defaults import (
    AT_LEAST,
    DLQ_REASON,
    Profile,
    acknowledge,
    dead_letter_queue,
    encryption_key,
    grant_send,
    log_group,
    new_alarm_topic,
    notifying_alarm,
    profile_of,
)
from ..shared.props import PropError, expect, whole_seconds, within
from .archive_role import delivery_role
from .shards import MAX_ENHANCED_FAN_OUT_CONSUMERS, ShardPlan, plan_shards

SANDBOX_RETENTION = Duration.hours(24)
PRODUCTION_RETENTION = Duration.days(7)
ERROR_TYPE = "!{firehose:error-output-type}"
DEFAULT_BUFFER_SIZE = Size.mebibytes(64)
CONSUMER_DLQ_REASON = (
    "This function is invoked synchronously by a Kinesis event source mapping; records it keeps "
    "failing go to the mapping's on-failure queue, which Lambda's dead-letter queue never sees."
)
CMK_REASON = (
    "The stream uses a customer-managed key, not aws/kinesis, on purpose: its key policy, rotation "
    "and deletion window are the stack's, and each reader and writer needs an explicit grant."
)
CIDR_MAPPING = "@aws-cdk--aws-kinesisfirehose.CidrBlocks"
FIREHOSE_SSE_REASON = (
    "A delivery stream whose source is a Kinesis stream cannot have server-side encryption "
    "(Firehose refuses it): it keeps no data at rest, the source stream holds it, encrypted with "
    "this construct's customer-managed key, and the S3 objects are encrypted with the archive key."
)


@dataclass
class LambdaConsumer:
    function: lambda_.IFunction
    failure_queue: sqs.Queue
    """Where Lambda sends the position (shard, sequence numbers) of records it gave up on."""
    stream_consumer: kinesis.StreamConsumer | None
    """The enhanced fan-out consumer it reads through; None for a polling consumer."""
    alarms: list[cloudwatch.Alarm] = field(default_factory=list)


@dataclass
class S3Archive:
    delivery_stream: firehose.DeliveryStream
    bucket: s3.IBucket
    key: kms.Key
    """Encrypts the archived objects; readers of the archive need kms:Decrypt on it."""
    log_group: logs.LogGroup
    alarms: list[cloudwatch.Alarm] = field(default_factory=list)


@jsii.implements(lambda_.IEventSourceDlq)
class FailureQueueDestination:
    """A mapping's on-failure queue, like CDK's SqsDlq but granting the function exactly what
    sending needs (`grant_send`): SqsDlq's grant_send_messages adds kms:Encrypt, kms:ReEncrypt*
    and kms:GenerateDataKey*, which sending never uses."""

    def __init__(self, queue: sqs.IQueue) -> None:
        self.queue = queue

    def bind(
        self, target: lambda_.IEventSourceMapping, target_handler: lambda_.IFunction
    ) -> lambda_.DlqDestinationConfig:
        grant_send(self.queue, target_handler)
        return lambda_.DlqDestinationConfig(destination=self.queue.queue_arn)


class StreamPipeline(Construct):
    """A Kinesis data stream (new or existing), its consumers, archives and alarms.

    Attributes:
        stream: The Kinesis data stream.
        stream_key: The customer-managed key of a new stream; None for an existing stream.
        shard_plan: The shard arithmetic of a provisioned stream; None when on-demand or existing.
        alarm_topic: The topic every alarm of this pipeline notifies.
        failure_key: Encrypts the consumers' on-failure queues.
        consumers: The Lambda consumers, by id.
        archives: The Firehose archives to S3, by id.
        alarms: Every alarm this pipeline owns.
    """

    stream: kinesis.IStream
    stream_key: kms.Key | None
    shard_plan: ShardPlan | None
    alarm_topic: sns.ITopic
    failure_key: kms.Key
    consumers: dict[str, LambdaConsumer]
    archives: dict[str, S3Archive]
    alarms: list[cloudwatch.Alarm]

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        stream: kinesis.IStream | None = None,
        stream_name: str | None = None,
        peak_records_per_second: int | None = None,
        average_record_bytes: int | None = None,
        standard_consumers: int = 1,
        enhanced_fan_out_consumers: int = 0,
        retention: Duration | None = None,
        iterator_age_alarm: Duration = Duration.minutes(5),
        alarm_topic: sns.ITopic | None = None,
        profile: Profile | None = None,
    ) -> None:
        """Build the stream (unless given), its alarm topic, the failure queues' key and the alarms.

        Args:
            stream: An existing stream to consume and archive; refused together with any prop
                that makes one (stream_name, peak_records_per_second, average_record_bytes,
                retention). Default: a new stream encrypted with its own key.
            stream_name: The new stream's name. Default: one CloudFormation generates.
            peak_records_per_second: The busiest second's records, at least 1; with
                average_record_bytes (give both or neither) makes the stream provisioned with
                the shards they need. Default: on-demand.
            average_record_bytes: The average record's size (data plus partition key), 1 byte
                to 1 MiB. Default: none (on-demand).
            standard_consumers: Polling readers of the stream (each Lambda consumer without
                enhanced fan-out, and each Firehose archive). A provisioned stream's shard plan
                counts them: 0 to 5, with at least one reader (of either kind) in all, and a
                polling reader beyond them is refused. Default: 1.
            enhanced_fan_out_consumers: Enhanced fan-out readers (own 2 MiB/s per shard), at
                most 20 (checked with the shard plan); a Lambda consumer with enhanced fan-out
                beyond them (or beyond 20) is refused. Default: 0.
            retention: How long records stay readable, whole hours from 24 hours to 365 days.
                Default: 24 hours in sandbox, 7 days in production.
            iterator_age_alarm: Alarm when the oldest unread record is older than this (the
                stream's readers and each Lambda consumer), whole seconds, at least 60 s.
                Default: 5 minutes.
            alarm_topic: Where alarms go. Default: a new encrypted topic of this construct.
            profile: Sandbox or production. Default: the app's `-c profile`.
        """
        super().__init__(scope, construct_id)
        self._profile = profile or profile_of(self)
        expect("stream", stream, kinesis.IStream, optional=True)
        expect("alarm_topic", alarm_topic, sns.ITopic, optional=True)
        makes_stream = {
            "stream_name": stream_name,
            "peak_records_per_second": peak_records_per_second,
            "average_record_bytes": average_record_bytes,
            "retention": retention,
        }
        given = [name for name, value in makes_stream.items() if value is not None]
        if stream is not None and given:
            raise PropError(
                "stream", f"an existing stream was given together with {', '.join(given)}; pass one"
            )
        if (peak_records_per_second is None) != (average_record_bytes is None):
            raise PropError(
                "peak_records_per_second",
                "a provisioned stream needs both peak_records_per_second and average_record_bytes; "
                "give neither for an on-demand stream",
            )
        self._iterator_age_seconds = whole_seconds("iterator_age_alarm", iterator_age_alarm, low=60)
        self._standard_consumers = standard_consumers
        self._enhanced_fan_out_consumers = enhanced_fan_out_consumers
        self.shard_plan = None
        if peak_records_per_second is not None and average_record_bytes is not None:
            self.shard_plan = plan_shards(
                peak_records_per_second=peak_records_per_second,
                average_record_bytes=average_record_bytes,
                standard_consumers=standard_consumers,
                enhanced_fan_out_consumers=enhanced_fan_out_consumers,
            )
        self.stream_key = None
        if stream is None:
            stream = self._new_stream(stream_name, retention)
        self.stream = stream
        self.alarm_topic = alarm_topic or new_alarm_topic(self, "AlarmTopic", profile=self._profile)
        self.failure_key = encryption_key(
            self, "FailureQueueKey", profile=self._profile, description=f"Encrypts {self.node.path} failures"
        )
        self.consumers = {}
        self.archives = {}
        self.alarms = self._stream_alarms()

    def _new_stream(self, stream_name: str | None, retention: Duration | None) -> kinesis.Stream:
        default = PRODUCTION_RETENTION if self._profile.is_production else SANDBOX_RETENTION
        hours = whole_seconds("retention", retention or default, low=24 * 3600, high=8760 * 3600) / 3600
        if hours != int(hours):
            raise PropError("retention", f"Kinesis keeps records for whole hours, got {hours:g} h")
        self.stream_key = encryption_key(
            self, "StreamKey", profile=self._profile, description=f"Encrypts {self.node.path} records"
        )
        stream = kinesis.Stream(
            self,
            "Stream",
            stream_name=stream_name,
            stream_mode=kinesis.StreamMode.PROVISIONED if self.shard_plan else kinesis.StreamMode.ON_DEMAND,
            shard_count=self.shard_plan.shards if self.shard_plan else None,
            encryption=kinesis.StreamEncryption.KMS,
            encryption_key=self.stream_key,
            retention_period=Duration.hours(int(hours)),
            removal_policy=self._profile.removal_policy,
        )
        acknowledge(stream, "AwsSolutions-KDS3", CMK_REASON)
        return stream

    # --- consumers ----------------------------------------------------------------------------

    def add_lambda_consumer(
        self,
        consumer_id: str,
        *,
        function: lambda_.IFunction,
        batch_size: int = 100,
        max_batching_window: Duration = Duration.seconds(1),
        retry_attempts: int = 3,
        max_record_age: Duration = Duration.hours(1),
        bisect_batch_on_error: bool = True,
        parallelization_factor: int = 1,
        enhanced_fan_out: bool = False,
        starting_position: lambda_.StartingPosition = lambda_.StartingPosition.TRIM_HORIZON,
    ) -> LambdaConsumer:
        """Let `function` read the stream in batches, reporting failed records one by one.

        Args:
            consumer_id: A name for this consumer, unique in the pipeline.
            function: The function that handles the batches; it must return batchItemFailures.
            batch_size: Records per batch, 1 to 10,000; default 100.
            max_batching_window: How long Lambda gathers a batch, 0 to 300 s; default 1 s.
            retry_attempts: Retries of a failing batch, 0 to 10,000; default 3.
            max_record_age: Records older than this are sent to the failure queue unprocessed,
                60 s to 7 days; default 1 hour.
            bisect_batch_on_error: Split a failing batch in two and retry each; default on.
            parallelization_factor: Concurrent batches per shard, 1 to 10 (order is kept per
                partition key); default 1.
            enhanced_fan_out: Read through a dedicated enhanced fan-out consumer
                (SubscribeToShard, own 2 MiB/s per shard, ~70 ms latency; costs per consumer-shard
                hour); default off.
            starting_position: Where a new mapping starts; default TRIM_HORIZON (the oldest).
        """
        if consumer_id in self.consumers or consumer_id in self.archives:
            raise PropError("consumer_id", f"{consumer_id!r} is already a consumer of this pipeline")
        # Not `expect(..., lambda_.IFunction)`: probing IFunction's members reads `connections`,
        # which raises on a function outside a VPC.
        if not callable(getattr(function, "add_event_source", None)):
            raise PropError("function", f"expected aws_lambda.IFunction, got {type(function).__name__}")
        expect("batch_size", batch_size, int)
        within("batch_size", batch_size, 1, 10_000)
        whole_seconds("max_batching_window", max_batching_window, low=0, high=300)
        expect("retry_attempts", retry_attempts, int)
        within("retry_attempts", retry_attempts, 0, 10_000)
        whole_seconds("max_record_age", max_record_age, low=60, high=7 * 24 * 3600)
        expect("parallelization_factor", parallelization_factor, int)
        within("parallelization_factor", parallelization_factor, 1, 10)
        self._count_reader(enhanced=enhanced_fan_out, what=f"consumer {consumer_id!r}")
        scope = Construct(self, consumer_id)
        failure_queue = dead_letter_queue(scope, "FailureQueue", key=self.failure_key, profile=self._profile)
        acknowledge(failure_queue, "AwsSolutions-SQS3", DLQ_REASON)
        options: dict[str, Any] = {
            "starting_position": starting_position,
            "batch_size": batch_size,
            "max_batching_window": max_batching_window,
            "retry_attempts": retry_attempts,
            "max_record_age": max_record_age,
            "bisect_batch_on_error": bisect_batch_on_error,
            "parallelization_factor": parallelization_factor,
            "report_batch_item_failures": True,
            "on_failure": FailureQueueDestination(failure_queue),
        }
        stream_consumer = None
        source: lambda_.IEventSource
        if enhanced_fan_out:
            stream_consumer = kinesis.StreamConsumer(
                scope,
                "StreamConsumer",
                stream=self.stream,
                stream_consumer_name=Names.unique_id(scope)[-128:],
            )
            source = event_sources.KinesisConsumerEventSource(stream_consumer, **options)
        else:
            source = event_sources.KinesisEventSource(self.stream, **options)
        function.add_event_source(source)
        acknowledge(function, "Serverless-LambdaDLQ", CONSUMER_DLQ_REASON)
        consumer = LambdaConsumer(function, failure_queue, stream_consumer)
        consumer.alarms.extend(self._consumer_alarms(scope, function, failure_queue))
        self.consumers[consumer_id] = consumer
        self.alarms.extend(consumer.alarms)
        return consumer

    def _count_reader(self, *, enhanced: bool, what: str) -> None:
        """Refuse a reader the shard plan did not count: it would be throttled at the peak."""
        standard = sum(1 for c in self.consumers.values() if c.stream_consumer is None) + len(self.archives)
        fanned = len(self.consumers) + len(self.archives) - standard
        if enhanced and fanned + 1 > min(self._enhanced_fan_out_consumers, MAX_ENHANCED_FAN_OUT_CONSUMERS):
            raise PropError(
                "enhanced_fan_out_consumers",
                f"{what} would be enhanced fan-out consumer {fanned + 1}, but the pipeline was given "
                f"enhanced_fan_out_consumers={self._enhanced_fan_out_consumers}",
            )
        if not enhanced and self.shard_plan is not None and standard + 1 > self._standard_consumers:
            raise PropError(
                "standard_consumers",
                f"{what} would be polling reader {standard + 1}, but the shard plan counted "
                f"standard_consumers={self._standard_consumers}; raise it so the shards carry its reads",
            )

    # --- archive ------------------------------------------------------------------------------

    def add_s3_archive(
        self,
        archive_id: str,
        *,
        bucket: s3.IBucket | None = None,
        buffering_interval: Duration | None = None,
        buffering_size: Size = DEFAULT_BUFFER_SIZE,
        compression: firehose.Compression = firehose.Compression.GZIP,
        data_output_prefix: str = "readings/!{timestamp:yyyy/MM/dd/HH}/",
        error_output_prefix: str = f"errors/{ERROR_TYPE}/!{{timestamp:yyyy/MM/dd}}/",
        data_freshness_alarm: Duration | None = None,
    ) -> S3Archive:
        """Deliver every record of the stream to S3 through Firehose.

        Args:
            archive_id: A name for this archive, unique in the pipeline.
            bucket: An existing bucket; default: a new private, TLS-only, access-logged bucket,
                kept and versioned in production.
            buffering_interval: How long Firehose buffers before writing an object, 0 to 900 s;
                default 60 s in sandbox, 300 s in production.
            buffering_size: How much Firehose buffers before writing, 1 to 128 MiB; default 64 MiB.
            compression: Object compression; default GZIP.
            data_output_prefix: Object key prefix; default dated, `readings/yyyy/MM/dd/HH/`.
            error_output_prefix: Where records Firehose cannot deliver go; must contain
                `!{firehose:error-output-type}` when it has expressions.
            data_freshness_alarm: Alarm when the oldest record not yet in S3 is older than this;
                default: twice the buffering interval plus 5 minutes.
        """
        if archive_id in self.consumers or archive_id in self.archives:
            raise PropError("archive_id", f"{archive_id!r} is already a consumer of this pipeline")
        expect("bucket", bucket, s3.IBucket, optional=True)
        interval = buffering_interval or Duration.seconds(300 if self._profile.is_production else 60)
        interval_seconds = whole_seconds("buffering_interval", interval, low=0, high=900)
        within("buffering_size", buffering_size.to_mebibytes(), 1, 128, unit="MiB")
        if "!{" in error_output_prefix and ERROR_TYPE not in error_output_prefix:
            raise PropError(
                "error_output_prefix",
                f"an error prefix with expressions must contain {ERROR_TYPE} (Firehose rejects it)",
            )
        if "partitionKeyFrom" in data_output_prefix:
            raise PropError(
                "data_output_prefix",
                "partitionKeyFromQuery/Lambda needs dynamic partitioning, which this construct does not "
                "configure; use !{timestamp:...} expressions",
            )
        freshness = whole_seconds(
            "data_freshness_alarm",
            data_freshness_alarm or Duration.seconds(2 * interval_seconds + 300),
            low=60,
        )
        self._count_reader(enhanced=False, what=f"archive {archive_id!r}")
        scope = Construct(self, archive_id)
        if bucket is None:
            logs_bucket = access_logs_bucket(scope, "AccessLogs", profile=self._profile)
            bucket = secure_bucket(scope, "Bucket", profile=self._profile, access_logs=logs_bucket)
            if self._profile.is_production:  # AWS Backup takes only versioned buckets: production's
                mark_for_backup(bucket)
        key = encryption_key(
            scope, "ArchiveKey", profile=self._profile, description=f"Encrypts {scope.node.path}"
        )
        group = log_group(scope, "DeliveryLogs", profile=self._profile)
        role, policy = delivery_role(
            scope, "DeliveryRole", stream=self.stream, bucket=bucket, key=key, group=group
        )
        delivery_stream = firehose.DeliveryStream(
            scope,
            "DeliveryStream",
            source=firehose.KinesisStreamSource(self.stream),
            role=role.without_policy_updates(),
            destination=firehose.S3Bucket(
                bucket,
                role=role.without_policy_updates(),
                buffering_interval=interval,
                buffering_size=buffering_size,
                compression=compression,
                data_output_prefix=data_output_prefix,
                error_output_prefix=error_output_prefix,
                encryption_key=key,
                logging_config=firehose.EnableLogging(group),
            ),
        )
        delivery_stream.node.add_dependency(policy)
        acknowledge(delivery_stream, "AwsSolutions-KDF1", FIREHOSE_SSE_REASON)
        _drop_unused_cidr_mapping(delivery_stream)
        # CDK's EnableLogging makes the log stream Firehose writes to, retained by default:
        # it follows the profile, like its group, so `cdk destroy` in sandbox leaves nothing.
        stream_of_logs = group.node.try_find_child("S3Destination")
        if isinstance(stream_of_logs, logs.LogStream):
            stream_of_logs.apply_removal_policy(self._profile.removal_policy)
        archive = S3Archive(delivery_stream, bucket, key, group)
        archive.alarms.append(
            notifying_alarm(
                scope,
                "DataFreshness",
                delivery_stream.metric(
                    "DeliveryToS3.DataFreshness", period=Duration.minutes(5), statistic="Maximum"
                ),
                topic=self.alarm_topic,
                threshold=freshness,
                evaluation_periods=1,
                description=f"Records wait more than {freshness} s to reach S3 through "
                f"{delivery_stream.node.path}",
            )
        )
        self.archives[archive_id] = archive
        self.alarms.extend(archive.alarms)
        return archive

    # --- alarms -------------------------------------------------------------------------------

    def _stream_alarms(self) -> list[cloudwatch.Alarm]:
        # CDK's stream metrics carry the StreamName dimension: Kinesis publishes stream-level
        # metrics only per stream, so an alarm without it watches no data and never fires.
        minute = Duration.minutes(1)
        throttled = {
            "WritesThrottled": (
                self.stream.metric_write_provisioned_throughput_exceeded(period=minute, statistic="Sum"),
                "Producers are throttled: the stream needs more shards, or one partition key is hot",
            ),
            "ReadsThrottled": (
                self.stream.metric_read_provisioned_throughput_exceeded(period=minute, statistic="Sum"),
                "Readers are throttled: too many polling consumers for the shards' 2 MiB/s and 5 reads/s",
            ),
        }
        alarms = [
            notifying_alarm(
                self,
                alarm_id,
                metric,
                topic=self.alarm_topic,
                threshold=1,
                comparison=AT_LEAST,
                evaluation_periods=5,
                datapoints_to_alarm=3,
                description=description,
            )
            for alarm_id, (metric, description) in throttled.items()
        ]
        alarms.append(
            notifying_alarm(
                self,
                "IteratorAge",
                self.stream.metric_get_records_iterator_age_milliseconds(period=minute, statistic="Maximum"),
                topic=self.alarm_topic,
                threshold=self._iterator_age_seconds * 1000,
                evaluation_periods=5,
                datapoints_to_alarm=3,
                description=f"A polling reader is more than {self._iterator_age_seconds} s behind the stream",
            )
        )
        return alarms

    def _consumer_alarms(
        self, scope: Construct, function: lambda_.IFunction, failure_queue: sqs.Queue
    ) -> list[cloudwatch.Alarm]:
        minute = Duration.minutes(1)
        return [
            notifying_alarm(
                scope,
                "Errors",
                function.metric_errors(period=Duration.minutes(5), statistic="Sum"),
                topic=self.alarm_topic,
                threshold=1,
                comparison=AT_LEAST,
                evaluation_periods=1,
                description=f"{function.node.path} failed a whole batch (an error, not a reported record)",
            ),
            notifying_alarm(
                scope,
                "IteratorAge",
                # Lambda's own IteratorAge covers enhanced fan-out readers too, which the
                # stream's GetRecords.IteratorAgeMilliseconds does not.
                function.metric("IteratorAge", period=minute, statistic="Maximum"),
                topic=self.alarm_topic,
                threshold=self._iterator_age_seconds * 1000,
                evaluation_periods=5,
                datapoints_to_alarm=3,
                description=f"{function.node.path} is more than {self._iterator_age_seconds} s behind",
            ),
            notifying_alarm(
                scope,
                "FailureQueueNotEmpty",
                failure_queue.metric_approximate_number_of_messages_visible(
                    period=minute, statistic="Maximum"
                ),
                topic=self.alarm_topic,
                threshold=1,
                comparison=AT_LEAST,
                evaluation_periods=1,
                description=f"{function.node.path} gave up on records; their positions are in "
                f"{failure_queue.node.path}",
            ),
        ]


def _drop_unused_cidr_mapping(delivery_stream: firehose.DeliveryStream) -> None:
    """CDK's DeliveryStream adds a mapping of Firehose's CIDR blocks (for Redshift, OpenSearch and
    Splunk destinations) to the stack; an S3 destination never reads it, and CloudFormation's
    validation reports it unused (W7001) on the whole stack."""
    stack = Stack.of(delivery_stream)
    if stack.node.try_find_child(CIDR_MAPPING) is not None:
        stack.node.try_remove_child(CIDR_MAPPING)
