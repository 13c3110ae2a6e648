"""`Streaming`: device telemetry. A producer CLI sends readings to a Kinesis stream; a Lambda
consumer publishes anomalies (rolling z-score per device) to an SNS topic; Firehose archives
every reading to S3."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Duration, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sns as sns
from constructs import Construct

from patterns.shared import PythonFunction
from patterns.shared.defaults import Profile, encryption_key
from patterns.shared.props import expect
from patterns.streaming import StreamPipeline
from stacks.paths import lambda_dir

Z_THRESHOLD = "4"
WINDOW = "30"


class StreamingStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        profile: Profile,
        anomaly_topic: sns.ITopic | None = None,
        **kwargs: Any,
    ) -> None:
        """`anomaly_topic`: where anomalies go; default: an encrypted topic of this stack."""
        super().__init__(scope, construct_id, **kwargs)
        expect("anomaly_topic", anomaly_topic, sns.ITopic, optional=True)
        if anomaly_topic is None:
            key = encryption_key(self, "AnomalyTopicKey", profile=profile, description="Encrypts anomalies")
            anomaly_topic = sns.Topic(self, "AnomalyTopic", master_key=key, enforce_ssl=True)
        self.anomaly_topic = anomaly_topic

        pipeline = StreamPipeline(self, "Telemetry", profile=profile)
        detector = PythonFunction(
            self,
            "AnomalyDetector",
            code_dir=lambda_dir("telemetry_anomalies"),
            handler="handler.handler",
            profile=profile,
            service_name="telemetry-anomalies",
            timeout=Duration.seconds(60),
            environment={
                "ANOMALY_TOPIC_ARN": anomaly_topic.topic_arn,
                "Z_THRESHOLD": Z_THRESHOLD,
                "WINDOW": WINDOW,
            },
        )
        grant_publish(anomaly_topic, detector.function)
        pipeline.add_lambda_consumer("Detector", function=detector.function)
        archive = pipeline.add_s3_archive("Archive")

        self.pipeline = pipeline
        self.detector_log_group = detector.log_group
        CfnOutput(self, "StreamName", value=pipeline.stream.stream_name)
        CfnOutput(self, "AnomalyTopicArn", value=anomaly_topic.topic_arn)
        CfnOutput(self, "ArchiveBucket", value=archive.bucket.bucket_name)
        CfnOutput(self, "FailureQueueUrl", value=pipeline.consumers["Detector"].failure_queue.queue_url)


def grant_publish(topic: sns.ITopic, grantee: iam.IGrantable) -> None:
    """sns:Publish, and on an encrypted topic exactly kms:GenerateDataKey and kms:Decrypt, what
    the SNS developer guide lists for publishers; CDK's grant_publish adds kms:ReEncrypt* and
    kms:GenerateDataKey*, which publishing never uses."""
    iam.Grant.add_to_principal_or_resource(
        grantee=grantee, actions=["sns:Publish"], resource_arns=[topic.topic_arn], resource=topic
    )
    if topic.master_key is not None:
        topic.master_key.grant(grantee, "kms:GenerateDataKey", "kms:Decrypt")
