"""`WorkerFleet`: uploads land in an input bucket with a job on a queue; a fleet of EC2 workers
sized by the queue's backlog fingerprints and compresses each upload into an output bucket."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Duration, Stack
from constructs import Construct

from patterns.shared.backup import mark_for_backup
from patterns.shared.buckets import access_logs_bucket, secure_bucket
from patterns.shared.defaults import Profile
from patterns.worker_fleet import WorkerFleet
from stacks.paths import runtime_dir

UPLOADS_PREFIX = "uploads/"  # keep equal to UPLOAD_PREFIX in runtime/worker_fleet/producer.py
RESULTS_PREFIX = "results/"  # and to RESULTS_PREFIX in runtime/worker_fleet/demo_job.py
# The largest upload the demo job accepts: it streams, so memory is not the bound; time is (a
# job must finish within the drain timeout on scale-in), and so is disk for the gzip it writes.
MAX_UPLOAD_BYTES = 1024 * 1024 * 1024


class WorkerFleetStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, *, profile: Profile, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        access_logs = access_logs_bucket(self, "AccessLogs", profile=profile)
        uploads = secure_bucket(self, "Uploads", profile=profile, access_logs=access_logs)
        results = secure_bucket(self, "Results", profile=profile, access_logs=access_logs)
        if profile.is_production:
            # AWS Backup backs up only versioned buckets ("Amazon S3 backups": versioning is
            # required), and only production versions them: a sandbox backup job would fail.
            mark_for_backup(uploads)
            mark_for_backup(results)
        fleet = WorkerFleet(
            self,
            "Fleet",
            worker_code=runtime_dir("worker_fleet"),
            worker_command="/usr/bin/python3 run_worker.py",
            worker_environment={
                "OUTPUT_BUCKET": results.bucket_name,
                "MAX_OBJECT_BYTES": str(MAX_UPLOAD_BYTES),
            },
            acceptable_latency=Duration.minutes(5),
            average_processing_time=Duration.seconds(10),
            max_capacity=20 if profile.is_production else 3,
            profile=profile,
        )
        fleet.grant_read_objects(uploads, UPLOADS_PREFIX)
        fleet.grant_write_objects(results, RESULTS_PREFIX)

        self.fleet = fleet
        CfnOutput(self, "InputBucket", value=uploads.bucket_name)
        CfnOutput(self, "OutputBucket", value=results.bucket_name)
        CfnOutput(self, "JobQueueUrl", value=fleet.queue.queue_url)
        CfnOutput(self, "DeadLetterQueueUrl", value=fleet.dead_letter_queue.queue_url)
        CfnOutput(self, "AutoScalingGroupName", value=fleet.auto_scaling_group.auto_scaling_group_name)
        CfnOutput(self, "AlarmTopicArn", value=fleet.alarm_topic.topic_arn)
        CfnOutput(self, "ScalingNotificationsTopicArn", value=fleet.notification_topic.topic_arn)
