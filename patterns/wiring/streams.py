"""Kinesis streams and their readers: the stream's key, and alarms that name the stream.

cdk-nag sees that a stream is encrypted; it cannot see that a consumer defined elsewhere (or a
hand-written role) may not use the key, which Kinesis reports only at run time, to the reader.
"""

from __future__ import annotations

from collections.abc import Iterator

from .core import Settings, Violation, rule
from .encryption import RolePolicies, Writer, can_use
from .model import Model, Resource, as_list

STREAM, CONSUMER, ROLE = "AWS::Kinesis::Stream", "AWS::Kinesis::StreamConsumer", "AWS::IAM::Role"
FUNCTION = "AWS::Lambda::Function"
READ, WRITE = ("kms:Decrypt",), ("kms:GenerateDataKey",)
WRITE_ACTIONS = {"kinesis:putrecord", "kinesis:putrecords"}
# Namespace -> the dimension every metric of a single stream is published with.
STREAM_DIMENSIONS = {"AWS/Kinesis": "StreamName", "AWS/Firehose": "DeliveryStreamName"}


def stream_key(model: Model, stream: Resource) -> Resource | None:
    encryption = stream.properties.get("StreamEncryption") or {}
    if encryption.get("EncryptionType") != "KMS":
        return None
    return model.one_target(encryption.get("KeyId"), stream.stack, "AWS::KMS::Key")


def _stream_of(model: Model, value: object, stack: str) -> Resource | None:
    """The stream an ARN names, directly or through an enhanced fan-out consumer."""
    stream = model.one_target(value, stack, STREAM)
    if stream is not None:
        return stream
    consumer = model.one_target(value, stack, CONSUMER)
    if consumer is None:
        return None
    return model.one_target(consumer.properties.get("StreamARN"), consumer.stack, STREAM)


def users(
    model: Model, roles: RolePolicies
) -> Iterator[tuple[Resource, Resource, Resource, str, tuple[str, ...]]]:
    """(holder, role, stream, what it does, the KMS actions that needs) for each reader and writer."""
    for mapping in model.of_type("AWS::Lambda::EventSourceMapping"):
        stream = _stream_of(model, mapping.properties.get("EventSourceArn"), mapping.stack)
        function = model.one_target(mapping.properties.get("FunctionName"), mapping.stack, FUNCTION)
        role = function and model.one_target(function.properties.get("Role"), function.stack, ROLE)
        if stream and role:
            yield mapping, role, stream, "reads", READ
    for delivery in model.of_type("AWS::KinesisFirehose::DeliveryStream"):
        source = delivery.properties.get("KinesisStreamSourceConfiguration") or {}
        stream = model.one_target(source.get("KinesisStreamARN"), delivery.stack, STREAM)
        role = model.one_target(source.get("RoleARN"), delivery.stack, ROLE)
        if stream and role:
            yield delivery, role, stream, "reads", READ
    for role, statements in roles.statements.items():
        for statement, stack in statements:
            actions = {str(a).lower() for a in as_list(statement.get("Action"))}
            if statement.get("Effect") == "Allow" and actions & (WRITE_ACTIONS | {"kinesis:*", "*"}):
                for stream in model.targets_of_type(statement.get("Resource"), stack, STREAM):
                    yield role, role, stream, "writes to", WRITE


@rule(
    "StreamKeyAccess",
    doc="Every reader of a KMS-encrypted Kinesis stream (Lambda event source mappings, enhanced "
    "fan-out consumers, Firehose) can kms:Decrypt with its key, and every role allowed to put "
    "records can kms:GenerateDataKey: otherwise Kinesis refuses them with KMSAccessDeniedException.",
    source="https://docs.aws.amazon.com/streams/latest/dev/permissions-user-key-KMS.html; "
    "https://docs.aws.amazon.com/firehose/latest/dev/controlling-access.html"
    "#using-iam-kinesis-streams",
)
def stream_key_access(model: Model, settings: Settings) -> Iterator[Violation]:
    roles = RolePolicies(model)
    seen: set[tuple[Resource, Resource, str]] = set()
    for holder, role, stream, verb, actions in users(model, roles):
        key = stream_key(model, stream)
        if key is None or (holder, stream, verb) in seen:
            continue
        seen.add((holder, stream, verb))
        if not can_use(model, Writer(holder, "Properties", role=role), key, actions, roles):
            yield Violation(
                "StreamKeyAccess",
                holder,
                f"the role {role.path} {verb} {stream.path}, but may not use {' and '.join(actions)} "
                f"on its key {key.path}: Kinesis refuses every call with KMSAccessDeniedException.",
                f"Grant the role {' and '.join(actions)} on {key.path} (stream.grant_read / grant_write "
                "include it).",
            )


@rule(
    "StreamAlarmDimension",
    doc="An alarm on a Kinesis or Firehose metric names its stream (StreamName, DeliveryStreamName): "
    "both services publish those metrics only per stream, so an alarm without the dimension has no "
    "data and never fires.",
    source="https://docs.aws.amazon.com/streams/latest/dev/monitoring-with-cloudwatch.html; "
    "https://docs.aws.amazon.com/firehose/latest/dev/monitoring-with-cloudwatch-metrics.html",
)
def stream_alarm_dimension(model: Model, settings: Settings) -> Iterator[Violation]:
    for alarm in model.of_type("AWS::CloudWatch::Alarm"):
        props = alarm.properties
        metrics = [props] + [
            (m.get("MetricStat") or {}).get("Metric") or {} for m in as_list(props.get("Metrics"))
        ]
        for metric in metrics:
            dimension = STREAM_DIMENSIONS.get(str(metric.get("Namespace")))
            names = {d.get("Name") for d in as_list(metric.get("Dimensions"))}
            if dimension and dimension not in names:
                yield Violation(
                    "StreamAlarmDimension",
                    alarm,
                    f"watches {metric.get('Namespace')} {metric.get('MetricName')} without the {dimension} "
                    "dimension: no such series is published, so the alarm never fires.",
                    f"Use the stream's own metric (stream.metric_...()) or add {dimension}.",
                )
