"""`ContainerWorkers`: the `WorkerFleet` demo on ECS Fargate. Uploads land in an input bucket with
a job on a queue; Fargate tasks, sized by the queue's backlog per task and none when it is empty,
fingerprint and compress each upload into an output bucket, with the same worker code."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Duration, Stack
from constructs import Construct

from patterns.container_workers import ContainerWorkers
from patterns.shared.buckets import access_logs_bucket, secure_bucket
from patterns.shared.defaults import Profile
from stacks.paths import runtime_dir

UPLOADS_PREFIX = "uploads/"  # keep equal to UPLOAD_PREFIX in runtime/worker_fleet/producer.py
RESULTS_PREFIX = "results/"  # and to RESULTS_PREFIX in runtime/worker_fleet/demo_job.py
# A task has 20 GiB of ephemeral storage by default (the gzip is written to /tmp) and must
# finish a job within the drain after SIGTERM, so the demo accepts smaller uploads than on EC2.
MAX_UPLOAD_BYTES = 256 * 1024 * 1024


class ContainerWorkersStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, *, profile: Profile, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        access_logs = access_logs_bucket(self, "AccessLogs", profile=profile)
        uploads = secure_bucket(self, "Uploads", profile=profile, access_logs=access_logs)
        results = secure_bucket(self, "Results", profile=profile, access_logs=access_logs)
        workers = ContainerWorkers(
            self,
            "Workers",
            image_directory=runtime_dir("worker_fleet"),
            environment={"OUTPUT_BUCKET": results.bucket_name, "MAX_OBJECT_BYTES": str(MAX_UPLOAD_BYTES)},
            acceptable_latency=Duration.minutes(5),
            average_processing_time=Duration.seconds(10),
            max_capacity=20 if profile.is_production else 3,
            profile=profile,
        )
        workers.grant_read_objects(uploads, UPLOADS_PREFIX)
        workers.grant_write_objects(results, RESULTS_PREFIX)

        self.workers = workers
        CfnOutput(self, "InputBucket", value=uploads.bucket_name)
        CfnOutput(self, "OutputBucket", value=results.bucket_name)
        CfnOutput(self, "JobQueueUrl", value=workers.queue.queue_url)
        CfnOutput(self, "DeadLetterQueueUrl", value=workers.dead_letter_queue.queue_url)
        CfnOutput(self, "ClusterName", value=workers.cluster.cluster_name)
        CfnOutput(self, "ServiceName", value=workers.service.service_name)
        CfnOutput(self, "AlarmTopicArn", value=workers.alarm_topic.topic_arn)
