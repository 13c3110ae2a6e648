"""WorkerFleet in an app of your own: workers read uploads from your SSE-KMS bucket and write
results to another, scaled on the job queue's backlog."""

from pathlib import Path

import aws_cdk as cdk
from aws_cdk import Duration
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from cdk_nag import AwsSolutionsChecks, ServerlessChecks

from patterns.worker_fleet import WorkerFleet  # where you copied it, e.g. myapp.constructs.worker_fleet

# Your worker's folder (shipped to every instance); here the kit's demo worker.
WORKER_CODE = Path(__file__).resolve().parents[2] / "runtime" / "worker_fleet"

app = cdk.App()
cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app), ServerlessChecks(app))
stack = cdk.Stack(app, "Jobs")

logs = s3.Bucket(stack, "AccessLogs", enforce_ssl=True)
key = kms.Key(stack, "DataKey", enable_key_rotation=True)
uploads, results = (
    s3.Bucket(
        stack,
        name,
        encryption=s3.BucketEncryption.KMS,
        encryption_key=key,
        enforce_ssl=True,
        server_access_logs_bucket=logs,
        server_access_logs_prefix=f"{name.lower()}/",
    )
    for name in ("Uploads", "Results")
)

fleet = WorkerFleet(
    stack,
    "Fleet",
    worker_code=str(WORKER_CODE),
    worker_command="/usr/bin/python3 run_worker.py",  # run from that folder by systemd
    worker_environment={"OUTPUT_BUCKET": results.bucket_name},
    acceptable_latency=Duration.minutes(5),
    average_processing_time=Duration.seconds(10),
    max_receive_count=3,
    max_capacity=3,
)
fleet.grant_read_objects(uploads, "uploads/")  # kms:Decrypt on the key
fleet.grant_write_objects(results, "results/")  # kms:Decrypt and kms:GenerateDataKey

app.synth()
