"""The synthesized `Streaming` stack in both profiles: what the telemetry pipeline promises."""

from __future__ import annotations

from typing import Any

import pytest

from tests.kit import PROFILES, one, path_of, resolve_ref, resources, template_json


@pytest.fixture(params=PROFILES)
def profile(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def document(profile: str) -> dict[str, Any]:
    return template_json("Streaming", profile)


def _statements(document: dict[str, Any], role_id: str) -> list[dict[str, Any]]:
    found = []
    for _, policy in resources(document, "AWS::IAM::Policy"):
        if role_id in [resolve_ref(document, r) for r in policy["Properties"]["Roles"]]:
            found.extend(policy["Properties"]["PolicyDocument"]["Statement"])
    return found


def _allows(
    document: dict[str, Any], statements: list[dict[str, Any]], action: str, resource_id: str
) -> bool:
    for statement in statements:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        targets = (
            statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        )
        if action in actions and any(
            isinstance(t, dict) and resolve_ref(document, t) == resource_id for t in targets
        ):
            return True
    return False


def test_every_reader_of_the_encrypted_stream_can_decrypt_it(document: dict[str, Any]) -> None:
    """With SSE-KMS, GetRecords needs kms:Decrypt on the stream's key, or the reader gets
    KMSAccessDeniedException (AWS, "Permissions to use user-generated KMS keys", Kinesis)."""
    stream_id, stream = one(document, "AWS::Kinesis::Stream", "Telemetry/Stream")
    key_id = resolve_ref(document, stream["Properties"]["StreamEncryption"]["KeyId"])
    assert document["Resources"][key_id]["Properties"]["EnableKeyRotation"] is True
    _, mapping = one(document, "AWS::Lambda::EventSourceMapping", "AnomalyDetector")
    function = document["Resources"][resolve_ref(document, mapping["Properties"]["FunctionName"])]
    detector_role = resolve_ref(document, function["Properties"]["Role"])
    _, delivery = one(document, "AWS::KinesisFirehose::DeliveryStream", "Archive/DeliveryStream")
    source = delivery["Properties"]["KinesisStreamSourceConfiguration"]
    assert resolve_ref(document, source["KinesisStreamARN"]) == stream_id
    firehose_role = resolve_ref(document, source["RoleARN"])
    for role in (detector_role, firehose_role):
        statements = _statements(document, role)
        assert _allows(document, statements, "kms:Decrypt", key_id), role
        assert _allows(document, statements, "kinesis:GetRecords", stream_id), role


def test_the_detector_can_publish_anomalies_to_the_encrypted_topic(document: dict[str, Any]) -> None:
    """Publishing to an SSE topic needs kms:GenerateDataKey and kms:Decrypt on its key."""
    topic_id, topic = one(document, "AWS::SNS::Topic", "AnomalyTopic")
    key_id = resolve_ref(document, topic["Properties"]["KmsMasterKeyId"])
    _, function = one(document, "AWS::Lambda::Function", "AnomalyDetector/Function")
    assert (
        resolve_ref(document, function["Properties"]["Environment"]["Variables"]["ANOMALY_TOPIC_ARN"])
        == topic_id
    )
    statements = _statements(document, resolve_ref(document, function["Properties"]["Role"]))
    assert _allows(document, statements, "sns:Publish", topic_id)
    assert _allows(document, statements, "kms:GenerateDataKey", key_id) and _allows(
        document, statements, "kms:Decrypt", key_id
    )


def test_a_failing_batch_is_bounded_and_what_is_given_up_is_kept_and_alarmed(
    document: dict[str, Any],
) -> None:
    """Without a retry bound a failing Kinesis batch is retried until its records expire,
    holding up the shard; the on-failure destination receives the positions of records Lambda
    gave up on (AWS, "Lambda: Kinesis error handling")."""
    _, mapping = one(document, "AWS::Lambda::EventSourceMapping", "AnomalyDetector")
    properties = mapping["Properties"]
    assert properties["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert properties["BisectBatchOnFunctionError"] is True
    assert 0 <= properties["MaximumRetryAttempts"] < 10 and properties["MaximumRecordAgeInSeconds"] > 0
    queue_id = resolve_ref(document, properties["DestinationConfig"]["OnFailure"]["Destination"])
    watched = [
        d["Value"]
        for _, alarm in resources(document, "AWS::CloudWatch::Alarm")
        for d in alarm["Properties"].get("Dimensions", [])
        if d["Name"] == "QueueName" and alarm["Properties"]["AlarmActions"]
    ]
    assert queue_id in [resolve_ref(document, v) for v in watched]


def test_stream_and_archive_alarms_name_this_stream(document: dict[str, Any]) -> None:
    """Kinesis publishes stream metrics per StreamName and Firehose per DeliveryStreamName: an
    alarm without the dimension watches no data and never fires."""
    stream_id, _ = one(document, "AWS::Kinesis::Stream", "Telemetry/Stream")
    delivery_id, _ = one(document, "AWS::KinesisFirehose::DeliveryStream", "Archive/DeliveryStream")
    by_metric: dict[str, list[str]] = {}
    for _, alarm in resources(document, "AWS::CloudWatch::Alarm"):
        props = alarm["Properties"]
        dimensions = {d["Name"]: resolve_ref(document, d["Value"]) for d in props.get("Dimensions", [])}
        if props.get("Namespace") == "AWS/Kinesis":
            by_metric.setdefault(props["MetricName"], []).append(dimensions["StreamName"])
        if props.get("Namespace") == "AWS/Firehose":
            by_metric.setdefault(props["MetricName"], []).append(dimensions["DeliveryStreamName"])
    assert by_metric == {
        "WriteProvisionedThroughputExceeded": [stream_id],
        "ReadProvisionedThroughputExceeded": [stream_id],
        "GetRecords.IteratorAgeMilliseconds": [stream_id],
        "DeliveryToS3.DataFreshness": [delivery_id],
    }


def test_firehose_archives_dated_compressed_encrypted_with_errors_apart(document: dict[str, Any]) -> None:
    _, delivery = one(document, "AWS::KinesisFirehose::DeliveryStream", "Archive/DeliveryStream")
    s3_config = delivery["Properties"]["ExtendedS3DestinationConfiguration"]
    assert "!{timestamp:" in s3_config["Prefix"]
    assert "!{firehose:error-output-type}" in s3_config["ErrorOutputPrefix"]
    assert s3_config["CompressionFormat"] == "GZIP"
    key_id = resolve_ref(
        document, s3_config["EncryptionConfiguration"]["KMSEncryptionConfig"]["AWSKMSKeyARN"]
    )
    assert document["Resources"][key_id]["Type"] == "AWS::KMS::Key"
    group_id = resolve_ref(document, s3_config["CloudWatchLoggingOptions"]["LogGroupName"])
    assert "/Archive/DeliveryLogs/" in path_of(document["Resources"][group_id])


def test_production_keeps_a_week_of_records_and_the_archive(profile: str, document: dict[str, Any]) -> None:
    """A week of retention lets a consumer that was down for days catch up from the stream. The
    archive joins the backup plan only where it is versioned: AWS Backup backs up S3 buckets only
    with versioning enabled ("Amazon S3 backups", prerequisites)."""
    _, stream = one(document, "AWS::Kinesis::Stream", "Telemetry/Stream")
    _, bucket = one(document, "AWS::S3::Bucket", "Archive/Bucket/")
    hours = stream["Properties"]["RetentionPeriodHours"]
    if profile == "production":
        assert hours == 168 and stream["DeletionPolicy"] == bucket["DeletionPolicy"] == "Retain"
        assert bucket["Properties"]["VersioningConfiguration"]["Status"] == "Enabled"
    else:
        assert hours == 24 and stream.get("DeletionPolicy", "Delete") == "Delete"
    tags = {t["Key"]: t["Value"] for t in bucket["Properties"].get("Tags", [])}
    assert tags.get("refarch:backup") == ("daily" if profile == "production" else None)
