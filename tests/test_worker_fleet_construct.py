"""The WorkerFleet stack's template in both profiles, and the construct's refusals of bad props."""

from __future__ import annotations

import json
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import Duration
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sqs as sqs
from aws_cdk.assertions import Template

from patterns.shared.defaults import SANDBOX, dead_letter_queue, encryption_key, secure_queue
from patterns.worker_fleet import WorkerFleet
from patterns.worker_fleet.scaling import backlog_target
from stacks.paths import runtime_dir
from tests.kit import PROFILES, bare_stack, one, resolve_ref, resources, template_json

STACK = "WorkerFleet"
MAX_CAPACITY = {"sandbox": 3, "production": 20}
TARGET = 5 * 60 / 10  # the stack: acceptable latency 5 min, 10 s per job


def doc(profile: str) -> dict[str, Any]:
    return template_json(STACK, profile)


def logical(document: dict[str, Any], resource_type: str, path: str) -> str:
    return one(document, resource_type, path)[0]


def props(document: dict[str, Any], resource_type: str, path: str) -> dict[str, Any]:
    return dict(one(document, resource_type, path)[1]["Properties"])


def user_data(document: dict[str, Any]) -> str:
    """The launch template's user data with each reference shown as <logical id>."""
    data = props(document, "AWS::EC2::LaunchTemplate", "Fleet/LaunchTemplate")["LaunchTemplateData"]
    parts = data["UserData"]["Fn::Base64"]["Fn::Join"][1]
    return "".join(_shown(document, p) for p in parts)


def _shown(document: dict[str, Any], part: Any) -> str:
    if isinstance(part, str):
        return part
    if "Fn::Sub" in part:
        return str(part["Fn::Sub"])
    return f"<{resolve_ref(document, part)}>"


@pytest.mark.parametrize("profile", PROFILES)
def test_target_tracking_keeps_the_backlog_per_instance_at_latency_over_processing_time(profile: str) -> None:
    document = doc(profile)
    group, queue = (
        logical(document, "AWS::AutoScaling::AutoScalingGroup", "Fleet/Workers"),
        logical(document, "AWS::SQS::Queue", "Fleet/JobQueue"),
    )
    policy = props(document, "AWS::AutoScaling::ScalingPolicy", "Fleet/ScaleOnBacklogPerInstance")
    assert policy["PolicyType"] == "TargetTrackingScaling"
    assert resolve_ref(document, policy["AutoScalingGroupName"]) == group
    tracking = policy["TargetTrackingConfiguration"]
    assert tracking["TargetValue"] == TARGET
    metrics = {m["Id"]: m for m in tracking["CustomizedMetricSpecification"]["Metrics"]}
    visible, in_service = metrics["visible"]["MetricStat"], metrics["inService"]["MetricStat"]
    assert (visible["Metric"]["Namespace"], visible["Metric"]["MetricName"]) == (
        "AWS/SQS",
        "ApproximateNumberOfMessagesVisible",
    )
    [queue_dimension] = visible["Metric"]["Dimensions"]
    assert queue_dimension["Name"] == "QueueName" and resolve_ref(document, queue_dimension["Value"]) == queue
    assert (in_service["Metric"]["Namespace"], in_service["Metric"]["MetricName"]) == (
        "AWS/AutoScaling",
        "GroupInServiceInstances",
    )
    [group_dimension] = in_service["Metric"]["Dimensions"]
    assert resolve_ref(document, group_dimension["Value"]) == group
    in_flight = metrics["inFlight"]["MetricStat"]["Metric"]
    assert in_flight["MetricName"] == "ApproximateNumberOfMessagesNotVisible"
    assert resolve_ref(document, in_flight["Dimensions"][0]["Value"]) == queue
    # Target tracking sets capacity in proportion to the metric ("Target tracking scaling
    # policies"): messages in flight must count, or a fleet keeping up reads 0 and is scaled in
    # to nothing mid-work.
    assert metrics["backlogPerInstance"]["Expression"] == "(visible + inFlight) / inService"
    assert [m["Id"] for m in metrics.values() if m["ReturnData"]] == ["backlogPerInstance"]


@pytest.mark.parametrize("profile", PROFILES)
def test_an_empty_fleet_starts_when_jobs_wait(profile: str) -> None:
    document = doc(profile)
    step_id = logical(document, "AWS::AutoScaling::ScalingPolicy", "Fleet/ScaleOutOfZero/")
    step = props(document, "AWS::AutoScaling::ScalingPolicy", "Fleet/ScaleOutOfZero/")
    assert step["PolicyType"] == "StepScaling" and step["AdjustmentType"] == "ChangeInCapacity"
    assert step["StepAdjustments"] == [{"MetricIntervalLowerBound": 0, "ScalingAdjustment": 1}]
    alarm = props(document, "AWS::CloudWatch::Alarm", "Fleet/ScaleOutOfZeroAlarm")
    assert [resolve_ref(document, action) for action in alarm["AlarmActions"]] == [step_id]
    assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (0, "GreaterThanThreshold")
    queries = {m["Id"]: m for m in alarm["Metrics"]}
    [expression] = [m for m in queries.values() if m.get("ReturnData", True)]
    assert expression["Expression"] == "IF(desired == 0, visible, 0)"
    assert queries["desired"]["MetricStat"]["Metric"]["MetricName"] == "GroupDesiredCapacity"
    assert queries["visible"]["MetricStat"]["Metric"]["MetricName"] == "ApproximateNumberOfMessagesVisible"


@pytest.mark.parametrize("profile", PROFILES)
def test_the_group_scales_to_zero_from_a_launch_template_with_metrics_and_notifications(profile: str) -> None:
    document = doc(profile)
    group = one(document, "AWS::AutoScaling::AutoScalingGroup", "Fleet/Workers")[1]
    properties = group["Properties"]
    assert (properties["MinSize"], properties["MaxSize"]) == ("0", str(MAX_CAPACITY[profile]))
    assert "LaunchConfigurationName" not in properties
    assert resolve_ref(document, properties["LaunchTemplate"]["LaunchTemplateId"]) == logical(
        document, "AWS::EC2::LaunchTemplate", "Fleet/LaunchTemplate"
    )
    assert properties["LaunchTemplate"]["Version"] == {
        "Fn::GetAtt": [
            logical(document, "AWS::EC2::LaunchTemplate", "Fleet/LaunchTemplate"),
            "LatestVersionNumber",
        ]
    }
    assert properties["MetricsCollection"] == [{"Granularity": "1Minute"}]
    [notifications] = properties["NotificationConfigurations"]
    assert len(notifications["NotificationTypes"]) == 4
    topic = props(document, "AWS::SNS::Topic", "Fleet/ScalingNotifications")
    assert "alias/aws/sns" in json.dumps(topic["KmsMasterKeyId"])
    # the stack's fleet of 3 (sandbox) or 20 (production) is replaced a quarter at a time
    expected_batch = 5 if profile == "production" else 1
    assert group["UpdatePolicy"]["AutoScalingRollingUpdate"]["MaxBatchSize"] == expected_batch
    private = {logical(document, "AWS::EC2::Subnet", f"Vpc/WorkersSubnet{i}/") for i in (1, 2)}
    assert {resolve_ref(document, s) for s in properties["VPCZoneIdentifier"]} == private


@pytest.mark.parametrize("profile", PROFILES)
def test_scale_in_waits_for_the_worker_to_drain(profile: str) -> None:
    document = doc(profile)
    hook = props(document, "AWS::AutoScaling::LifecycleHook", "Fleet/Workers/LifecycleHook")
    assert hook["LifecycleTransition"] == "autoscaling:EC2_INSTANCE_TERMINATING"
    assert hook["DefaultResult"] == "CONTINUE"
    boot = user_data(document)
    assert f"LIFECYCLE_HOOK_NAME={hook['LifecycleHookName']}\n" in boot
    assert "DRAIN_SECONDS=300\n" in boot and "TimeoutStopSec=330\n" in boot
    assert hook["HeartbeatTimeout"] > 330  # the hook outlasts systemd's stop timeout
    policy = props(document, "AWS::IAM::Policy", "Fleet/CompleteLifecycleAction")
    [statement] = policy["PolicyDocument"]["Statement"]
    assert statement["Action"] == "autoscaling:CompleteLifecycleAction"
    arn = json.dumps(statement["Resource"])
    assert logical(document, "AWS::AutoScaling::AutoScalingGroup", "Fleet/Workers") in arn


@pytest.mark.parametrize("profile", PROFILES)
def test_instances_are_locked_down(profile: str) -> None:
    document = doc(profile)
    data = props(document, "AWS::EC2::LaunchTemplate", "Fleet/LaunchTemplate")["LaunchTemplateData"]
    assert data["MetadataOptions"]["HttpTokens"] == "required"
    assert data["MetadataOptions"]["HttpPutResponseHopLimit"] == 1
    assert "KeyName" not in data
    assert data["InstanceType"] == "t4g.small"
    assert "arm64" in data["ImageId"]["Ref"].lower()
    assert all(device["Ebs"]["Encrypted"] for device in data["BlockDeviceMappings"])
    group = props(document, "AWS::EC2::SecurityGroup", "Fleet/SecurityGroup")
    assert "SecurityGroupIngress" not in group
    assert [(r["FromPort"], r["ToPort"]) for r in group["SecurityGroupEgress"]] == [(443, 443)]
    assert not list(resources(document, "AWS::EC2::SecurityGroupIngress"))
    role = props(document, "AWS::IAM::Role", "Fleet/InstanceRole")
    # No AWS managed policy: AmazonSSMManagedInstanceCore reads every parameter of the account
    # (the role's scope is tested in tests/test_instance_fleet.py).
    assert "ManagedPolicyArns" not in role
    boot = user_data(document)
    assert "systemctl enable --now worker-fleet" in boot
    assert f"QUEUE_URL=<{logical(document, 'AWS::SQS::Queue', 'Fleet/JobQueue')}>" in boot


@pytest.mark.parametrize("profile", PROFILES)
def test_the_role_reaches_only_its_queue_its_logs_its_code_and_its_prefixes(profile: str) -> None:
    document = doc(profile)
    policy = props(document, "AWS::IAM::Policy", "Fleet/InstanceRole/DefaultPolicy")
    resources_by_action: dict[str, list[str]] = {}
    for statement in policy["PolicyDocument"]["Statement"]:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        targets = (
            statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        )
        assert "*" not in targets
        for action in actions:
            resources_by_action.setdefault(action, []).extend(json.dumps(t) for t in targets)
    queue = logical(document, "AWS::SQS::Queue", "Fleet/JobQueue")
    assert all(queue in t for t in resources_by_action["sqs:ReceiveMessage"])
    assert all(queue in t for t in resources_by_action["sqs:DeleteMessage"])
    # a job that can never succeed goes to the DLQ at once (SQS "Key management": a producer
    # needs kms:GenerateDataKey and kms:Decrypt on the queue's key)
    dead_letters = logical(document, "AWS::SQS::Queue", "Fleet/DeadLetterQueue")
    key = logical(document, "AWS::KMS::Key", "Fleet/QueueKey")
    assert [dead_letters in t for t in resources_by_action["sqs:SendMessage"]] == [True]
    assert all(
        key in t for t in resources_by_action["kms:GenerateDataKey"] + resources_by_action["kms:Decrypt"]
    )
    assert f"DEAD_LETTER_QUEUE_URL=<{dead_letters}>" in user_data(document)
    writes = resources_by_action["s3:PutObject"]
    assert len(writes) == 1 and "/results/*" in writes[0]
    assert logical(document, "AWS::S3::Bucket", "WorkerFleet/Results/") in writes[0]
    uploads = logical(document, "AWS::S3::Bucket", "WorkerFleet/Uploads/")
    assert any(uploads in t and "/uploads/*" in t for t in resources_by_action["s3:GetObject"])
    assert not any(a.endswith("*") and a.startswith("s3:") for a in resources_by_action)


@pytest.mark.parametrize("profile", PROFILES)
def test_alarms_watch_failed_jobs_latency_and_capacity(profile: str) -> None:
    document = doc(profile)
    topic = logical(document, "AWS::SNS::Topic", "Fleet/AlarmTopic/")

    def alarm(name: str) -> dict[str, Any]:
        found = props(document, "AWS::CloudWatch::Alarm", f"Fleet/{name}/")
        assert [resolve_ref(document, a) for a in found["AlarmActions"]] == [topic]
        return found

    dlq = alarm("DeadLetterQueueNotEmpty")
    assert (dlq["MetricName"], dlq["Threshold"]) == ("ApproximateNumberOfMessagesVisible", 1)
    dead_letters = logical(document, "AWS::SQS::Queue", "Fleet/DeadLetterQueue")
    assert resolve_ref(document, dlq["Dimensions"][0]["Value"]) == dead_letters
    age = alarm("OldestJobOverLatencyTarget")
    assert (age["MetricName"], age["Threshold"]) == ("ApproximateAgeOfOldestMessage", 300)
    full = alarm("FleetAtMaxCapacity")
    assert (full["MetricName"], full["Threshold"]) == ("GroupDesiredCapacity", MAX_CAPACITY[profile])
    assert full["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"


def test_the_new_vpc_logs_its_flows_and_costs_one_nat_gateway_in_sandbox() -> None:
    for profile, gateways in (("sandbox", 1), ("production", 2)):
        document = doc(profile)
        assert len(list(resources(document, "AWS::EC2::NatGateway"))) == gateways
        flow_log = props(document, "AWS::EC2::FlowLog", "Fleet/Vpc")
        assert flow_log["ResourceType"] == "VPC" and flow_log["TrafficType"] == "ALL"


# Props --------------------------------------------------------------------------------------


def fleet(stack: cdk.Stack, **overrides: Any) -> WorkerFleet:
    options: dict[str, Any] = {
        "worker_code": runtime_dir("worker_fleet"),
        "worker_command": "/usr/bin/python3 run_worker.py",
        "acceptable_latency": Duration.minutes(2),
        "average_processing_time": Duration.seconds(4),
        "profile": SANDBOX,
        **overrides,
    }
    return WorkerFleet(stack, "Fleet", **options)


def test_the_target_is_latency_over_processing_time() -> None:
    assert backlog_target(Duration.minutes(1), Duration.millis(500)) == 120
    assert backlog_target(Duration.seconds(10), Duration.seconds(10)) == 1
    assert fleet(bare_stack()).backlog_target == 30


@pytest.mark.parametrize(
    ("latency", "processing", "message"),
    [
        (Duration.minutes(1), Duration.seconds(0), "average_processing_time: must be more than zero"),
        (Duration.seconds(0), Duration.seconds(1), "acceptable_latency: must be more than zero"),
        (
            Duration.seconds(5),
            Duration.seconds(30),
            "acceptable_latency: 5 s is shorter than average_processing_time 30 s",
        ),
    ],
)
def test_nonsense_latency_or_processing_time_is_refused(
    latency: Duration, processing: Duration, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        fleet(bare_stack(), acceptable_latency=latency, average_processing_time=processing)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"min_capacity": -1}, "min_capacity: must be 0 or more"),
        ({"max_capacity": 0}, "max_capacity: must be at least 1"),
        ({"min_capacity": 5, "max_capacity": 2}, "min_capacity: 5 is above max_capacity 2"),
        ({"concurrency_per_instance": 0}, "concurrency_per_instance"),
        ({"drain_timeout": Duration.seconds(5)}, "drain_timeout"),
        ({"worker_environment": {"QUEUE_URL": "elsewhere"}}, "worker_environment: QUEUE_URL are set by"),
        ({"dead_letter_queue": "given without a queue"}, "dead_letter_queue: only with an existing queue"),
    ],
)
def test_contradictory_capacity_or_queue_props_are_refused(overrides: dict[str, Any], message: str) -> None:
    stack = bare_stack()
    if overrides.get("dead_letter_queue"):
        overrides["dead_letter_queue"] = sqs.Queue(stack, "Other")
    with pytest.raises(ValueError, match=message):
        fleet(stack, **overrides)


def test_an_existing_queue_must_bring_its_dead_letter_queue_and_its_own_redrive() -> None:
    for extra, message in (
        ({}, "dead_letter_queue: the existing queue has no dead-letter queue"),
        ({"max_receive_count": 3}, "max_receive_count: not with queue: an existing queue brings its own"),
    ):
        stack = bare_stack()
        with pytest.raises(ValueError, match=message):
            fleet(stack, queue=sqs.Queue(stack, "NoRedrive", enforce_ssl=True), **extra)


def test_prefix_grants_refuse_wildcards() -> None:
    stack = bare_stack()
    workers = fleet(stack)
    bucket = s3.Bucket(stack, "Bucket")
    for prefix in ("", "results", "results/*", "*"):
        with pytest.raises(ValueError, match="prefix:"):
            workers.grant_write_objects(bucket, prefix)


def test_an_existing_vpc_and_queue_are_used_as_they_are() -> None:
    stack = bare_stack()
    vpc = ec2.Vpc(stack, "Network", max_azs=2, nat_gateways=1, flow_logs={"All": ec2.FlowLogOptions()})
    key = encryption_key(stack, "Key", profile=SANDBOX, description="existing queue key")
    dead_letters = dead_letter_queue(stack, "ExistingDlq", key=key, profile=SANDBOX)
    jobs = secure_queue(
        stack,
        "ExistingJobs",
        key=key,
        dead_letter=dead_letters,
        max_receive_count=4,
        visibility_timeout=Duration.minutes(1),
        profile=SANDBOX,
    )
    workers = fleet(stack, vpc=vpc, queue=jobs, instance_type=ec2.InstanceType("c7g.large"))
    assert workers.queue is jobs and workers.dead_letter_queue is dead_letters and workers.vpc is vpc
    document = Template.from_stack(stack).to_json()
    assert len(list(resources(document, "AWS::EC2::VPC"))) == 1
    assert not list(resources(document, "AWS::SQS::Queue", "Fleet/"))
    subnets = props(document, "AWS::AutoScaling::AutoScalingGroup", "Fleet/Workers")["VPCZoneIdentifier"]
    assert all("NetworkPrivate" in resolve_ref(document, s) for s in subnets)
    alarm = props(document, "AWS::CloudWatch::Alarm", "Fleet/DeadLetterQueueNotEmpty")
    assert resolve_ref(document, alarm["Dimensions"][0]["Value"]) == logical(
        document, "AWS::SQS::Queue", "ExistingDlq"
    )
    data = props(document, "AWS::EC2::LaunchTemplate", "Fleet/LaunchTemplate")["LaunchTemplateData"]
    assert data["InstanceType"] == "c7g.large"
