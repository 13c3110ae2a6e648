"""ContainerWorkers in an app of your own: Fargate tasks read uploads from your SSE-KMS bucket and
write results to another, scaled on the job queue's backlog, none when it is empty."""

from pathlib import Path

import aws_cdk as cdk
from aws_cdk import Duration
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from cdk_nag import AwsSolutionsChecks, ServerlessChecks

from patterns.container_workers import ContainerWorkers  # e.g. myapp.constructs.container_workers

# Your image's folder (its Dockerfile is built by `cdk deploy`, not at synth); here the kit's demo.
IMAGE = Path(__file__).resolve().parents[2] / "runtime" / "worker_fleet"

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

workers = ContainerWorkers(
    stack,
    "Workers",
    image_directory=str(IMAGE),
    environment={"OUTPUT_BUCKET": results.bucket_name},
    acceptable_latency=Duration.minutes(5),
    average_processing_time=Duration.seconds(10),
    max_capacity=3,
)
workers.grant_read_objects(uploads, "uploads/")  # kms:Decrypt on the key
workers.grant_write_objects(results, "results/")  # kms:Decrypt and kms:GenerateDataKey
cdk.CfnOutput(stack, "JobQueueUrl", value=workers.queue.queue_url)

app.synth()
