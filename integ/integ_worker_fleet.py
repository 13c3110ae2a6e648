"""WorkerFleet, deployed: what docs/worker-fleet.md promises.

An uploaded file and its job on the queue scale the fleet out of zero; the job's results appear
under `results/<job id>/` in the output bucket; with the queue drained, the fleet returns to zero.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import cast

# The CDK CLI runs this file as a script: make the kit's packages importable.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aws_cdk as cdk
from aws_cdk import aws_s3 as s3
from aws_cdk import integ_tests_alpha as integ

from integ import harness
from stacks.worker_fleet_stack import WorkerFleetStack

# Scale-out of zero: an alarm on one minute of visible messages, then an instance boots (~5 min).
# Scale-in to zero: 15 minutes of low backlog (see the page's scaling section).
INTERVAL, TIMEOUT = cdk.Duration.seconds(60), cdk.Duration.minutes(40)


def build(app: cdk.App) -> integ.IntegTest:
    job_id = f"integ-{harness.run_id()}"
    upload_key = f"uploads/{job_id}/input.txt"
    stack = WorkerFleetStack(
        app, "WorkerFleet", profile=harness.profile(app), stack_name=harness.integ_stack_name("WorkerFleet")
    )
    test = harness.integ_test(app, "WorkerFleetInteg", stack)
    uploads = cast(s3.IBucket, stack.node.find_child("Uploads")).bucket_name
    results = cast(s3.IBucket, stack.node.find_child("Results")).bucket_name
    group = stack.fleet.auto_scaling_group.auto_scaling_group_name

    def fleet_size(instances: int) -> integ.IApiCall:
        call = test.assertions.aws_api_call(
            "AutoScaling", "describeAutoScalingGroups", {"AutoScalingGroupNames": [group]}
        )
        call.expect(integ.ExpectedResult.object_like({"AutoScalingGroups": [{"DesiredCapacity": instances}]}))
        return call.wait_for_assertions(interval=INTERVAL, total_timeout=TIMEOUT)

    upload = test.assertions.aws_api_call(
        "S3", "putObject", {"Bucket": uploads, "Key": upload_key, "Body": "one line\nand another\n"}
    )
    enqueue = harness.may_use_key(
        test.assertions.aws_api_call(
            "SQS",
            "sendMessage",
            {
                "QueueUrl": stack.fleet.queue.queue_url,
                "MessageBody": cdk.Stack.of(stack).to_json_string(
                    {"jobId": job_id, "input": {"bucket": uploads, "key": upload_key}}
                ),
            },
        ),
        stack.fleet.queue_key,
    )
    summary = (
        test.assertions.aws_api_call(
            "S3",
            "getObjectAttributes",
            {
                "Bucket": results,
                "Key": f"results/{job_id}/summary.json",
                "ObjectAttributes": ["StorageClass"],
            },
        )
        .expect(integ.ExpectedResult.object_like({"StorageClass": "STANDARD"}))
        .wait_for_assertions(interval=INTERVAL, total_timeout=TIMEOUT)
    )
    content = (
        test.assertions.aws_api_call(
            "S3",
            "getObjectAttributes",
            {"Bucket": results, "Key": f"results/{job_id}/content.gz", "ObjectAttributes": ["StorageClass"]},
        )
        .expect(integ.ExpectedResult.object_like({"StorageClass": "STANDARD"}))
        .wait_for_assertions(interval=INTERVAL, total_timeout=TIMEOUT)
    )
    upload.next(enqueue).next(fleet_size(1)).next(summary).next(content).next(fleet_size(0))
    return test


if __name__ == "__main__":
    harness.run(build)
