"""StreamPipeline in an app of your own: provisioned shards sized from your peak, a consumer that
publishes anomalies to your topic, and every record archived to your bucket."""

from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from cdk_nag import AwsSolutionsChecks, ServerlessChecks

from patterns.shared import PythonFunction
from patterns.streaming import StreamPipeline  # where you copied it, e.g. myapp.constructs.streaming

# Your consumer's folder; here the kit's demo anomaly detector.
CODE = Path(__file__).resolve().parents[2] / "lambda" / "telemetry_anomalies"

app = cdk.App()
cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app), ServerlessChecks(app))
stack = cdk.Stack(app, "Telemetry")

key = kms.Key(stack, "AnomalyKey", enable_key_rotation=True)
anomalies = sns.Topic(stack, "Anomalies", master_key=key, enforce_ssl=True)
logs = s3.Bucket(stack, "AccessLogs", enforce_ssl=True)
archive = s3.Bucket(stack, "Archive", enforce_ssl=True, server_access_logs_bucket=logs)

pipeline = StreamPipeline(
    stack,
    "Readings",
    peak_records_per_second=2_000,  # with the record size: provisioned shards (none given: on demand)
    average_record_bytes=300,
    standard_consumers=2,  # the detector and the archive each poll every shard
    retention=cdk.Duration.days(2),
)
detector = PythonFunction(
    stack,
    "Detector",
    code_dir=CODE,
    handler="handler.handler",  # returns batchItemFailures
    service_name="anomalies",
    timeout=cdk.Duration.seconds(60),
    environment={"ANOMALY_TOPIC_ARN": anomalies.topic_arn, "Z_THRESHOLD": "4", "WINDOW": "30"},
)
# What publishing to an encrypted topic uses (CDK's grant_publish adds kms:ReEncrypt*, GenerateDataKey*).
publish = iam.PolicyStatement(actions=["sns:Publish"], resources=[anomalies.topic_arn])
detector.function.add_to_role_policy(publish)
key.grant(detector.function, "kms:GenerateDataKey", "kms:Decrypt")
pipeline.add_lambda_consumer("Detector", function=detector.function, batch_size=500)
pipeline.add_s3_archive("Archive", bucket=archive)

app.synth()
