"""Streaming, deployed: what docs/streaming.md promises.

- Fifteen readings of one device, the last 30 degrees above the rest, and one record that is
  not a reading, sent in one PutRecords call under the device's partition key (one shard).
- The detector logs the spike as an anomaly (it publishes it to the anomaly topic the same way).
- The bad record's position ends in the detector's on-failure queue after the mapping's retries,
  and that queue's alarm goes to ALARM.

Not asserted here: the archive's objects. Their keys are Firehose's own, so only a listing can
find them, and integ-tests-alpha grants an SDK call the action named after its API
(`s3:ListObjectsV2`), which IAM does not have (S3 lists under `s3:ListBucket`): cfn-lint flags
it and the call would be denied. docs/streaming.md's "try" step lists `readings/` by hand.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

# The CDK CLI runs this file as a script: make the kit's packages importable.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aws_cdk as cdk
from aws_cdk import integ_tests_alpha as integ

from integ import harness
from stacks.streaming_stack import StreamingStack

# Retries (3, bisected) take seconds; the failure queue's alarm then needs its 1-minute period.
INTERVAL, TIMEOUT = cdk.Duration.seconds(30), cdk.Duration.minutes(10)


def readings(device: str) -> list[dict[str, object]]:
    normal = [
        {"deviceId": device, "timestamp": 1_800_000_000 + i, "temperature": 21 + (i % 3) * 0.2}
        for i in range(14)
    ]
    return [*normal, {"deviceId": device, "timestamp": 1_800_000_014, "temperature": 51.0}]


def build(app: cdk.App) -> integ.IntegTest:
    device = f"integ-{harness.run_id()}"
    stack = StreamingStack(
        app, "Streaming", profile=harness.profile(app), stack_name=harness.integ_stack_name("Streaming")
    )
    test = harness.integ_test(app, "StreamingInteg", stack)
    pipeline = stack.pipeline
    detector = pipeline.consumers["Detector"]
    records = [{"PartitionKey": device, "Data": json.dumps(r)} for r in readings(device)]
    records.append({"PartitionKey": device, "Data": '{"deviceId": '})
    sent = harness.may_use_key(
        test.assertions.aws_api_call(
            "Kinesis", "putRecords", {"StreamName": pipeline.stream.stream_name, "Records": records}
        ),
        pipeline.stream_key,
    )
    logged = (
        test.assertions.aws_api_call(
            "CloudWatchLogs",
            "filterLogEvents",
            {
                "logGroupName": stack.detector_log_group.log_group_name,
                "filterPattern": f'"anomaly" "{device}"',
            },
        )
        .expect(
            integ.ExpectedResult.object_like(
                {
                    "events": integ.Match.array_with(
                        [integ.Match.object_like({"message": integ.Match.string_like_regexp(device)})]
                    )
                }
            )
        )
        .wait_for_assertions(interval=INTERVAL, total_timeout=TIMEOUT)
    )
    given_up = (
        test.assertions.aws_api_call(
            "SQS",
            "getQueueAttributes",
            {"QueueUrl": detector.failure_queue.queue_url, "AttributeNames": ["ApproximateNumberOfMessages"]},
        )
        .expect(integ.ExpectedResult.object_like({"Attributes": {"ApproximateNumberOfMessages": "1"}}))
        .wait_for_assertions(interval=INTERVAL, total_timeout=TIMEOUT)
    )
    failure_alarm = next(a for a in detector.alarms if a.node.id == "FailureQueueNotEmpty")
    alarm_state = (
        test.assertions.aws_api_call(
            "CloudWatch", "describeAlarms", {"AlarmNames": [failure_alarm.alarm_name]}
        )
        .expect(integ.ExpectedResult.object_like({"MetricAlarms": [{"StateValue": "ALARM"}]}))
        .wait_for_assertions(interval=INTERVAL, total_timeout=TIMEOUT)
    )
    sent.next(logged).next(given_up).next(alarm_state)
    return test


if __name__ == "__main__":
    harness.run(build)
