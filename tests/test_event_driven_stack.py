"""The synthesized `EventDriven` stack in both profiles: what the AWS services need to deliver,
and that every failure path ends in a queue with an alarm."""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

import pytest

from tests.kit import PROFILES, assembly, one, resolve_ref, resources, template_json


@pytest.fixture(params=PROFILES)
def document(request: pytest.FixtureRequest) -> dict[str, Any]:
    return template_json("EventDriven", request.param)


def test_every_rule_target_has_its_own_dead_letter_queue_and_a_bounded_retry(
    document: dict[str, Any],
) -> None:
    """AWS, "Using dead-letter queues to process undelivered events": without a DLQ an event
    EventBridge cannot deliver after its retry policy is dropped."""
    dlqs = []
    for _, rule in resources(document, "AWS::Events::Rule"):
        for target in rule["Properties"]["Targets"]:
            dlqs.append(resolve_ref(document, target["DeadLetterConfig"]["Arn"]))
            retry = target["RetryPolicy"]
            assert (
                0 <= retry["MaximumRetryAttempts"] <= 185 and 60 <= retry["MaximumEventAgeInSeconds"] <= 86400
            )
    assert len(dlqs) == 4 and len(set(dlqs)) == 4


def test_the_uploads_rule_reads_the_default_bus_where_s3_sends(document: dict[str, Any]) -> None:
    """AWS, "Using EventBridge" (S3 user guide): S3 delivers its events to the default bus only."""
    _, rule = one(document, "AWS::Events::Rule", "/Uploads/Rule/")
    assert rule["Properties"]["EventBusName"] == "default"
    uploads_id, uploads = one(document, "AWS::S3::Bucket", "/Uploads/")
    assert uploads["Properties"]["NotificationConfiguration"]["EventBridgeConfiguration"][
        "EventBridgeEnabled"
    ]
    assert rule["Properties"]["EventPattern"]["detail"]["bucket"]["name"] == [{"Ref": uploads_id}]
    # No Lambda-backed notifications custom resource (it overwrites notifications: aws/aws-cdk#29653).
    assert not list(resources(document, "Custom::S3BucketNotifications"))


def test_rule_queues_admit_only_their_rule(document: dict[str, Any]) -> None:
    """EventBridge sends to SQS as events.amazonaws.com: the queue policy must allow it, and
    aws:SourceArn keeps other rules (of any account) out (confused deputy)."""
    for rule_id, rule in resources(document, "AWS::Events::Rule"):
        for target in rule["Properties"]["Targets"]:
            for queue_id in (
                resolve_ref(document, target["Arn"]),
                resolve_ref(document, target["DeadLetterConfig"]["Arn"]),
            ):
                statements = [
                    s
                    for _, p in resources(document, "AWS::SQS::QueuePolicy")
                    if {"Ref": queue_id} in p["Properties"]["Queues"]
                    for s in p["Properties"]["PolicyDocument"]["Statement"]
                    if s.get("Principal", {}).get("Service") == "events.amazonaws.com"
                ]
                assert statements, queue_id
                for statement in statements:
                    assert (
                        resolve_ref(document, statement["Condition"]["ArnEquals"]["aws:SourceArn"]) == rule_id
                    )


def test_bus_and_archive_are_encrypted_with_keys_that_admit_eventbridge(document: dict[str, Any]) -> None:
    """AWS, "Authorizing EventBridge to use a customer managed key": the key policy must allow
    events.amazonaws.com kms:GenerateDataKey, kms:Decrypt and kms:DescribeKey."""
    (_, bus), (_, archive) = (
        one(document, "AWS::Events::EventBus", "/Events/Bus/"),
        one(document, "AWS::Events::Archive", "/Events/Archive/"),
    )
    for holder in (bus, archive):
        key = document["Resources"][resolve_ref(document, holder["Properties"]["KmsKeyIdentifier"])]
        granted = set()
        for statement in key["Properties"]["KeyPolicy"]["Statement"]:
            if statement.get("Principal", {}).get("Service") == "events.amazonaws.com":
                actions = statement["Action"]
                granted |= set(actions if isinstance(actions, list) else [actions])
        assert {"kms:GenerateDataKey", "kms:Decrypt", "kms:DescribeKey"} <= granted
    assert resolve_ref(document, bus["Properties"]["DeadLetterConfig"]["Arn"])


def test_the_bus_dead_letter_queue_admits_eventbridge_for_this_bus_only(document: dict[str, Any]) -> None:
    """EventBridge user guide, "Using dead-letter queues to capture encrypted event errors" ->
    "Using dead-letter queues" ("Granting permissions to the dead-letter queue"): EventBridge
    sends an event it cannot encrypt or decrypt to the bus's DLQ as events.amazonaws.com, so
    the queue policy must allow sqs:SendMessage, with aws:SourceArn the bus (confused deputy);
    the queue's key must admit EventBridge too."""
    bus_id, bus = one(document, "AWS::Events::EventBus", "/Events/Bus/")
    dlq_id = resolve_ref(document, bus["Properties"]["DeadLetterConfig"]["Arn"])
    statements = [
        s
        for _, p in resources(document, "AWS::SQS::QueuePolicy")
        if {"Ref": dlq_id} in p["Properties"]["Queues"]
        for s in p["Properties"]["PolicyDocument"]["Statement"]
        if s["Effect"] == "Allow" and s.get("Principal", {}).get("Service") == "events.amazonaws.com"
    ]
    assert len(statements) == 1
    (statement,) = statements
    assert statement["Action"] == "sqs:SendMessage"
    assert resolve_ref(document, statement["Resource"]) == dlq_id
    assert resolve_ref(document, statement["Condition"]["ArnEquals"]["aws:SourceArn"]) == bus_id
    key = document["Resources"][
        resolve_ref(document, document["Resources"][dlq_id]["Properties"]["KmsMasterKeyId"])
    ]
    assert any(
        s.get("Principal", {}).get("Service") == "events.amazonaws.com"
        and "kms:GenerateDataKey*" in _list(s["Action"])
        for s in key["Properties"]["KeyPolicy"]["Statement"]
    )


def test_the_thumbnail_role_may_list_the_prefixes_whose_absence_the_handler_reads(
    document: dict[str, Any],
) -> None:
    """S3 API reference, HeadObject (and GetObject), "Permissions": "If you don't have the
    s3:ListBucket permission, Amazon S3 returns an HTTP status code 403 Forbidden error" for a
    missing key, 404 only with it. The handler reads 404 as "no thumbnail yet" (HeadObject on
    the thumbnails bucket) and "the upload was deleted since" (GetObject on uploads), so without
    ListBucket every new upload fails until the dead-letter queue; moto does not enforce IAM,
    so only the policy shows it. The grant is unconditioned: AWS does not document whether an
    s3:prefix condition applies to that implicit check."""
    _, function = one(document, "AWS::Lambda::Function", "/Thumbnail/Function/")
    variables = function["Properties"]["Environment"]["Variables"]
    role_id = resolve_ref(document, function["Properties"]["Role"])
    statements = [
        s
        for _, p in resources(document, "AWS::IAM::Policy")
        if {"Ref": role_id} in p["Properties"]["Roles"]
        for s in p["Properties"]["PolicyDocument"]["Statement"]
    ]
    listed = [
        (resolve_ref(document, resource), s.get("Condition"))
        for s in statements
        if s["Effect"] == "Allow" and "s3:ListBucket" in _list(s["Action"])
        for resource in _list(s["Resource"])
    ]
    expected = {resolve_ref(document, variables[name]) for name in ("THUMBNAILS_BUCKET", "UPLOADS_BUCKET")}
    assert sorted(listed) == sorted((bucket, None) for bucket in expected)  # no other bucket


def test_archive_retention_follows_the_profile(document: dict[str, Any]) -> None:
    _, archive = one(document, "AWS::Events::Archive", "/Events/Archive/")
    days = archive["Properties"]["RetentionDays"]
    production = "production" in document["Description"]
    assert days == (365 if production else 7)  # never 0, which CloudFormation reads as "forever"


def test_the_schedule_role_may_send_to_its_dead_letter_queue_and_use_its_key(
    document: dict[str, Any],
) -> None:
    """Scheduler sends to a schedule's DLQ with the schedule's execution role, not a queue
    policy (aws/aws-cdk#31785); the DLQ is KMS-encrypted, so the role also needs the key."""
    _, schedule = one(document, "AWS::Scheduler::Schedule", "/NightlyReport/")
    target = schedule["Properties"]["Target"]
    assert schedule["Properties"]["ScheduleExpressionTimezone"] == "Europe/Dublin"
    assert schedule["Properties"]["FlexibleTimeWindow"]["Mode"] == "FLEXIBLE"
    role_id = resolve_ref(document, target["RoleArn"])
    dlq_id = resolve_ref(document, target["DeadLetterConfig"]["Arn"])
    key_id = resolve_ref(document, document["Resources"][dlq_id]["Properties"]["KmsMasterKeyId"])
    statements = [
        s
        for _, p in resources(document, "AWS::IAM::Policy")
        if {"Ref": role_id} in p["Properties"]["Roles"]
        for s in p["Properties"]["PolicyDocument"]["Statement"]
    ]

    def allowed(action: str, resource_id: str) -> bool:
        return any(
            action in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])
            and any(
                isinstance(r, dict) and resolve_ref(document, r) == resource_id for r in _list(s["Resource"])
            )
            for s in statements
        )

    assert allowed("sqs:SendMessage", dlq_id)
    assert allowed("kms:GenerateDataKey", key_id)
    role = document["Resources"][role_id]["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]
    assert role["Principal"]["Service"] == "scheduler.amazonaws.com" and "aws:SourceAccount" in str(
        role["Condition"]
    )


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_every_dead_letter_queue_has_an_alarm(document: dict[str, Any]) -> None:
    watched = set()
    for _, alarm in resources(document, "AWS::CloudWatch::Alarm"):
        for dimension in alarm["Properties"].get("Dimensions", []):
            if dimension["Name"] == "QueueName":
                watched.add(resolve_ref(document, dimension["Value"]))
    dead_letters = {
        logical_id
        for logical_id, queue in resources(document, "AWS::SQS::Queue")
        if "RedrivePolicy" not in queue["Properties"]
    }
    assert dead_letters and dead_letters <= watched


def test_rules_and_schedules_alarm_on_failed_deliveries(document: dict[str, Any]) -> None:
    metrics = {
        (a["Properties"].get("Namespace"), a["Properties"].get("MetricName"))
        for _, a in resources(document, "AWS::CloudWatch::Alarm")
    }
    assert {("AWS/Events", "FailedInvocations"), ("AWS/Events", "InvocationsSentToDlq")} <= metrics
    assert ("AWS/Scheduler", "TargetErrorCount") in metrics


def test_the_order_workflow_puts_order_completed_on_this_bus(document: dict[str, Any]) -> None:
    workflow = template_json("OrderWorkflow", "sandbox")
    _, machine = one(workflow, "AWS::StepFunctions::StateMachine", "/Orders/StateMachine/")
    assert "events:putEvents" in str(machine["Properties"]["DefinitionString"])
    assert "OrderCompleted" in str(machine["Properties"]["DefinitionString"])


# --- the native layer ------------------------------------------------------------------------

ELF_AARCH64 = 183  # e_machine of an AArch64 ELF file


def test_the_pillow_layer_holds_aarch64_code_for_python_3_14() -> None:
    """Lambda's arm64 runtime loads only aarch64 ELF shared objects, and CPython 3.14 only
    extension modules tagged cpython-314; an x86_64 wheel would fail at the first import."""
    document = template_json("EventDriven", "sandbox")
    _, layer = one(document, "AWS::Lambda::LayerVersion", "/Pillow/")
    asset_hash = layer["Properties"]["Content"]["S3Key"].removesuffix(".zip")
    asset = Path(assembly("sandbox").directory) / f"asset.{asset_hash}"  # what cdk deploy zips
    shared = list(asset.rglob("*.so*"))
    extensions = [p for p in shared if p.name.endswith(".so") and "cpython" in p.name]
    assert extensions and all("cpython-314-aarch64-linux-gnu" in p.name for p in extensions)
    for library in shared:
        header = library.read_bytes()[:20]
        assert header[:4] == b"\x7fELF"
        assert struct.unpack("<H", header[18:20])[0] == ELF_AARCH64, library.name
    assert (asset / "python" / "PIL" / "Image.py").is_file()
    assert layer["Properties"]["CompatibleArchitectures"] == ["arm64"]
    _, function = one(document, "AWS::Lambda::Function", "/Thumbnail/Function/")
    assert function["Properties"]["Architectures"] == ["arm64"]
    assert {
        "Ref": next(i for i, _ in resources(document, "AWS::Lambda::LayerVersion", "/Pillow/"))
    } in function["Properties"]["Layers"]
