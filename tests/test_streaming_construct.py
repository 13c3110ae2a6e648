"""StreamPipeline alone: the shard arithmetic, the props it refuses, and what it synthesizes."""

from __future__ import annotations

from typing import Any

import pytest
from aws_cdk import Duration
from aws_cdk import aws_kinesis as kinesis
from aws_cdk import aws_lambda as lambda_
from aws_cdk.assertions import Template

from patterns.shared import PythonFunction
from patterns.shared.defaults import PRODUCTION, SANDBOX
from patterns.shared.props import PropError
from patterns.streaming import StreamPipeline, plan_shards
from stacks.paths import lambda_dir
from tests.kit import bare_stack, resources


def test_shards_follow_the_tightest_kinesis_limit() -> None:
    """Per shard: 1,000 records/s and 1 MiB/s in, 2 MiB/s out shared by polling readers
    (AWS, Kinesis Data Streams quotas and limits)."""
    by_count = plan_shards(peak_records_per_second=5000, average_record_bytes=100)
    assert (by_count.shards, by_count.bound_by) == (5, "write records")
    by_bytes = plan_shards(peak_records_per_second=900, average_record_bytes=10 * 1024)
    assert (by_bytes.shards, by_bytes.bound_by) == (9, "write bytes")  # 9,000 KiB/s in
    by_reads = plan_shards(peak_records_per_second=900, average_record_bytes=10 * 1024, standard_consumers=3)
    assert (by_reads.shards, by_reads.bound_by) == (14, "read bytes")  # 27,000 KiB/s out
    fanned = plan_shards(
        peak_records_per_second=900, average_record_bytes=10 * 1024, enhanced_fan_out_consumers=3
    )
    assert fanned.shards == 9  # enhanced fan-out readers bring their own 2 MiB/s per shard
    assert plan_shards(peak_records_per_second=1, average_record_bytes=1).shards == 1


@pytest.mark.parametrize(
    ("props", "prop", "says"),
    [
        ({"average_record_bytes": 1024 * 1024 + 1}, "average_record_bytes", "1 MiB"),
        ({"peak_records_per_second": 0}, "peak_records_per_second", "at least 1"),
        ({"standard_consumers": 6}, "standard_consumers", "5 GetRecords calls"),
        ({"standard_consumers": 0, "enhanced_fan_out_consumers": 21}, "enhanced_fan_out_consumers", "20"),
        ({"standard_consumers": 0}, "standard_consumers", "nobody reads"),
    ],
)
def test_impossible_loads_are_refused_naming_the_prop(props: dict[str, Any], prop: str, says: str) -> None:
    arguments = {"peak_records_per_second": 100, "average_record_bytes": 500, **props}
    with pytest.raises(PropError, match=says) as raised:
        plan_shards(**arguments)
    assert raised.value.prop == prop


def _function(stack: Any, name: str = "Fn", profile: Any = SANDBOX) -> lambda_.IFunction:
    return PythonFunction(
        stack,
        name,
        code_dir=lambda_dir("telemetry_anomalies"),
        handler="handler.handler",
        profile=profile,
        service_name="test",
    ).function


def test_a_provisioned_stream_gets_the_planned_shards_and_the_profile_retention() -> None:
    stack = bare_stack()
    StreamPipeline(stack, "P", peak_records_per_second=3500, average_record_bytes=200, profile=PRODUCTION)
    (stream,) = [
        r["Properties"] for _, r in resources(Template.from_stack(stack).to_json(), "AWS::Kinesis::Stream")
    ]
    assert stream["ShardCount"] == 4 and stream["StreamModeDetails"] == {"StreamMode": "PROVISIONED"}
    assert stream["RetentionPeriodHours"] == 168


@pytest.mark.parametrize(
    ("props", "prop"),
    [
        ({"stream_name": "x", "stream": "existing"}, "stream"),
        ({"peak_records_per_second": 10}, "peak_records_per_second"),
        ({"retention": Duration.hours(12)}, "retention"),
        ({"retention": Duration.minutes(90 * 24 * 60 + 30)}, "retention"),
        ({"iterator_age_alarm": Duration.seconds(10)}, "iterator_age_alarm"),
    ],
)
def test_conflicting_or_out_of_range_props_fail_at_synth(props: dict[str, Any], prop: str) -> None:
    stack = bare_stack()
    if props.get("stream") == "existing":
        props["stream"] = kinesis.Stream.from_stream_arn(
            stack, "Existing", "arn:aws:kinesis:eu-west-1:123456789012:stream/s"
        )
    with pytest.raises(PropError) as raised:
        StreamPipeline(stack, "P", profile=SANDBOX, **props)
    assert raised.value.prop == prop


def test_a_reader_the_shard_plan_did_not_count_is_refused() -> None:
    stack = bare_stack()
    pipeline = StreamPipeline(
        stack, "P", peak_records_per_second=100, average_record_bytes=100, profile=SANDBOX
    )
    pipeline.add_lambda_consumer("One", function=_function(stack))
    with pytest.raises(PropError, match="standard_consumers=1") as raised:
        pipeline.add_s3_archive("Archive")
    assert raised.value.prop == "standard_consumers"
    with pytest.raises(PropError) as raised:
        pipeline.add_lambda_consumer("Fanned", function=_function(stack, "Fn2"), enhanced_fan_out=True)
    assert raised.value.prop == "enhanced_fan_out_consumers"


@pytest.mark.parametrize(
    ("props", "prop"),
    [
        ({"batch_size": 0}, "batch_size"),
        ({"retry_attempts": -1}, "retry_attempts"),
        ({"max_record_age": Duration.seconds(30)}, "max_record_age"),
        ({"parallelization_factor": 11}, "parallelization_factor"),
        ({"max_batching_window": Duration.seconds(301)}, "max_batching_window"),
        ({"function": "not a function"}, "function"),
    ],
)
def test_consumer_props_outside_lambda_s_ranges_are_refused(props: dict[str, Any], prop: str) -> None:
    stack = bare_stack()
    pipeline = StreamPipeline(stack, "P", profile=SANDBOX)
    with pytest.raises(PropError) as raised:
        pipeline.add_lambda_consumer("C", **{"function": _function(stack), **props})
    assert raised.value.prop == prop


def test_an_error_prefix_without_the_error_type_is_refused() -> None:
    """Firehose requires !{firehose:error-output-type} in an ErrorOutputPrefix with expressions
    (AWS, "Understand custom prefixes for Amazon S3 objects")."""
    stack = bare_stack()
    pipeline = StreamPipeline(stack, "P", profile=SANDBOX)
    with pytest.raises(PropError) as raised:
        pipeline.add_s3_archive("A", error_output_prefix="errors/!{timestamp:yyyy}/")
    assert raised.value.prop == "error_output_prefix"


def test_an_enhanced_fan_out_consumer_subscribes_through_its_own_registered_consumer() -> None:
    """Lambda reads an enhanced fan-out consumer with SubscribeToShard on the consumer's ARN
    (AWS, "Using Lambda with Kinesis": enhanced fan-out permissions)."""
    stack = bare_stack()
    pipeline = StreamPipeline(stack, "P", enhanced_fan_out_consumers=1, profile=SANDBOX)
    function = _function(stack)
    consumer = pipeline.add_lambda_consumer("Fanned", function=function, enhanced_fan_out=True)
    document = Template.from_stack(stack).to_json()
    (registered_id,) = [lid for lid, _ in resources(document, "AWS::Kinesis::StreamConsumer")]
    (mapping,) = [r["Properties"] for _, r in resources(document, "AWS::Lambda::EventSourceMapping")]
    assert mapping["EventSourceArn"] == {"Fn::GetAtt": [registered_id, "ConsumerARN"]}
    statements = [
        s
        for _, policy in resources(document, "AWS::IAM::Policy")
        for s in policy["Properties"]["PolicyDocument"]["Statement"]
    ]
    subscribe = [s for s in statements if "kinesis:SubscribeToShard" in s["Action"]]
    assert {"Fn::GetAtt": [registered_id, "ConsumerARN"]} in [s["Resource"] for s in subscribe]
    assert consumer.stream_consumer is not None


@pytest.mark.parametrize("profile", [SANDBOX, PRODUCTION], ids=["sandbox", "production"])
def test_the_defaults_pass_the_security_gate_on_demand(profile: Any) -> None:
    """Only required props, one consumer and one archive, through cdk-nag and the wiring checks
    (Template.from_stack raises on any unacknowledged finding)."""
    stack = bare_stack({"profile": profile.name})
    pipeline = StreamPipeline(stack, "P", profile=profile)
    pipeline.add_lambda_consumer("C", function=_function(stack, profile=profile))
    pipeline.add_s3_archive("A")
    document = Template.from_stack(stack).to_json()
    (stream,) = [r["Properties"] for _, r in resources(document, "AWS::Kinesis::Stream")]
    assert stream["StreamModeDetails"] == {"StreamMode": "ON_DEMAND"} and "ShardCount" not in stream
    assert pipeline.shard_plan is None and len(pipeline.alarms) == 7
