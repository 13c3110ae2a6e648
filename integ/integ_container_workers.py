"""ContainerWorkers, deployed: what docs/container-workers.md promises.

An uploaded file and its job on the queue start the first Fargate task out of zero; the job's
results appear under `results/<job id>/` in the output bucket (the same worker as the EC2 fleet,
in the image built from runtime/worker_fleet/Dockerfile); with the queue drained, the service
returns to zero tasks.
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
from stacks.container_workers_stack import ContainerWorkersStack

# Out of zero: one minute of visible messages, then a task starts (image pull, ~1 min).
# Back to zero: target tracking's scale-in (5-minute cooldown, 15 minutes of low backlog).
INTERVAL, TIMEOUT = cdk.Duration.seconds(30), cdk.Duration.minutes(30)


def build(app: cdk.App) -> integ.IntegTest:
    job_id = f"integ-{harness.run_id()}"
    upload_key = f"uploads/{job_id}/input.txt"
    stack = ContainerWorkersStack(
        app,
        "ContainerWorkers",
        profile=harness.profile(app),
        stack_name=harness.integ_stack_name("ContainerWorkers"),
    )
    test = harness.integ_test(app, "ContainerWorkersInteg", stack)
    uploads = cast(s3.IBucket, stack.node.find_child("Uploads")).bucket_name
    results = cast(s3.IBucket, stack.node.find_child("Results")).bucket_name
    workers = stack.workers

    def running_tasks(count: int) -> integ.IApiCall:
        call = test.assertions.aws_api_call(
            "ECS",
            "describeServices",
            {"cluster": workers.cluster.cluster_name, "services": [workers.service.service_name]},
        )
        call.expect(integ.ExpectedResult.object_like({"services": [{"runningCount": count}]}))
        return call.wait_for_assertions(interval=INTERVAL, total_timeout=TIMEOUT)

    upload = test.assertions.aws_api_call(
        "S3", "putObject", {"Bucket": uploads, "Key": upload_key, "Body": "one line\nand another\n"}
    )
    enqueue = harness.may_use_key(
        test.assertions.aws_api_call(
            "SQS",
            "sendMessage",
            {
                "QueueUrl": workers.queue.queue_url,
                "MessageBody": cdk.Stack.of(stack).to_json_string(
                    {"jobId": job_id, "input": {"bucket": uploads, "key": upload_key}}
                ),
            },
        ),
        workers.queue_key,
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
    upload.next(enqueue).next(running_tasks(1)).next(summary).next(running_tasks(0))
    return test


if __name__ == "__main__":
    harness.run(build)
