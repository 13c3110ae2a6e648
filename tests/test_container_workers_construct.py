"""The ContainerWorkers stack's template in both profiles, the construct's options and its
refusals of bad props. Each assertion is on what ECS, Fargate or Application Auto Scaling does
with the setting (cited), not on the setting for its own sake."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest
from aws_cdk import Duration
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_sqs as sqs
from aws_cdk.assertions import Template

from patterns.container_workers import ContainerWorkers
from patterns.shared.defaults import SANDBOX, dead_letter_queue, encryption_key, secure_queue
from stacks.paths import runtime_dir
from tests.kit import PROFILES, ROOT, bare_stack, one, resolve_ref, resources, template_json

STACK = "ContainerWorkers"
MAX_TASKS = {"sandbox": 3, "production": 20}
TARGET = 5 * 60 / 10  # the stack: acceptable latency 5 min, 10 s per job


def doc(profile: str) -> dict[str, Any]:
    return template_json(STACK, profile)


def props(document: dict[str, Any], resource_type: str, path: str) -> dict[str, Any]:
    return dict(one(document, resource_type, path)[1]["Properties"])


def container(document: dict[str, Any]) -> dict[str, Any]:
    [definition] = props(document, "AWS::ECS::TaskDefinition", "Workers/TaskDefinition")[
        "ContainerDefinitions"
    ]
    return dict(definition)


def environment(document: dict[str, Any]) -> dict[str, Any]:
    return {e["Name"]: e["Value"] for e in container(document)["Environment"]}


@pytest.mark.parametrize("profile", PROFILES)
def test_target_tracking_keeps_messages_waiting_or_in_flight_per_running_task_at_latency_over_processing(
    profile: str,
) -> None:
    """Application Auto Scaling takes metric math in CustomizedMetricSpecification.Metrics; the
    divisor is Container Insights' RunningTaskCount of this service, which exists only with
    Container Insights on the cluster (AWS, "Amazon ECS Container Insights metrics"). The
    in-flight messages count, so the metric stays above 0 while tasks work through a backlog
    with nothing visible (tests/test_container_workers_comparison.py runs that case)."""
    document = doc(profile)
    service_id, _ = one(document, "AWS::ECS::Service", "Workers/Service")
    cluster_id, cluster = one(document, "AWS::ECS::Cluster", "Workers/Cluster")
    queue_id, _ = one(document, "AWS::SQS::Queue", "Workers/JobQueue")
    target_id, target = one(document, "AWS::ApplicationAutoScaling::ScalableTarget", "Workers/Service")
    assert (target["Properties"]["MinCapacity"], target["Properties"]["MaxCapacity"]) == (
        0,
        MAX_TASKS[profile],
    )
    assert service_id in json.dumps(target["Properties"]["ResourceId"])
    policy = props(document, "AWS::ApplicationAutoScaling::ScalingPolicy", "Workers/ScaleOnBacklogPerTask")
    assert (
        policy["PolicyType"] == "TargetTrackingScaling"
        and resolve_ref(document, policy["ScalingTargetId"]) == target_id
    )
    tracking = policy["TargetTrackingScalingPolicyConfiguration"]
    assert tracking["TargetValue"] == TARGET
    metrics = {m["Id"]: m for m in tracking["CustomizedMetricSpecification"]["Metrics"]}
    visible, running = metrics["visible"]["MetricStat"]["Metric"], metrics["running"]["MetricStat"]["Metric"]
    assert (visible["Namespace"], visible["MetricName"]) == ("AWS/SQS", "ApproximateNumberOfMessagesVisible")
    assert resolve_ref(document, visible["Dimensions"][0]["Value"]) == queue_id
    in_flight = metrics["inFlight"]["MetricStat"]["Metric"]
    assert (in_flight["Namespace"], in_flight["MetricName"]) == (
        "AWS/SQS",
        "ApproximateNumberOfMessagesNotVisible",
    )
    assert resolve_ref(document, in_flight["Dimensions"][0]["Value"]) == queue_id
    assert (running["Namespace"], running["MetricName"]) == ("ECS/ContainerInsights", "RunningTaskCount")
    dimensions = {d["Name"]: resolve_ref(document, d["Value"]) for d in running["Dimensions"]}
    assert dimensions == {"ClusterName": cluster_id, "ServiceName": service_id}
    assert metrics["backlogPerTask"]["Expression"] == "(visible + inFlight) / running"
    assert [m["Id"] for m in metrics.values() if m["ReturnData"]] == ["backlogPerTask"]
    insights = {s["Name"]: s["Value"] for s in cluster["Properties"]["ClusterSettings"]}["containerInsights"]
    assert insights == ("enhanced" if profile == "production" else "enabled")


@pytest.mark.parametrize("profile", PROFILES)
def test_an_empty_service_starts_a_task_when_a_message_waits(profile: str) -> None:
    """With no task running, visible / running has no value and target tracking does nothing:
    a step policy, driven by an alarm on waiting messages while the desired count is zero and
    none is in flight, adds the first task. The in-flight condition keeps a late or missing
    Container Insights datapoint (FILL gives 0) from adding tasks to a service at work."""
    document = doc(profile)
    step_id, step = one(document, "AWS::ApplicationAutoScaling::ScalingPolicy", "Workers/ScaleOutOfZero/")
    config = step["Properties"]["StepScalingPolicyConfiguration"]
    assert config["AdjustmentType"] == "ChangeInCapacity"
    assert config["StepAdjustments"] == [{"MetricIntervalLowerBound": 0, "ScalingAdjustment": 1}]
    alarm = props(document, "AWS::CloudWatch::Alarm", "Workers/ScaleOutOfZeroAlarm")
    assert [resolve_ref(document, a) for a in alarm["AlarmActions"]] == [step_id]
    assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (0, "GreaterThanThreshold")
    queries = {m["Id"]: m for m in alarm["Metrics"]}
    [expression] = [m["Expression"] for m in queries.values() if m.get("ReturnData", True)]
    assert expression == "IF(FILL(desired, 0) == 0 AND FILL(inFlight, 0) == 0, visible, 0)"
    assert queries["desired"]["MetricStat"]["Metric"]["MetricName"] == "DesiredTaskCount"
    in_flight = queries["inFlight"]["MetricStat"]
    assert (in_flight["Metric"]["MetricName"], in_flight["Stat"]) == (
        "ApproximateNumberOfMessagesNotVisible",
        "Maximum",
    )
    assert queries["visible"]["MetricStat"]["Period"] == 60


@pytest.mark.parametrize("profile", PROFILES)
def test_the_task_stops_within_fargates_stop_timeout_as_a_non_root_user_on_a_read_only_root(
    profile: str,
) -> None:
    """Fargate: stopTimeout at most 120 s, then SIGKILL (AWS, "Task definition parameters");
    with readonlyRootFilesystem only mounted volumes are writable, so /tmp is a volume; an init
    process forwards SIGTERM to the worker."""
    document = doc(profile)
    definition = container(document)
    env = environment(document)
    assert definition["StopTimeout"] <= 120
    assert env["WORKER_HOST"] == "ecs" and int(env["STOP_TIMEOUT_SECONDS"]) == definition["StopTimeout"]
    assert int(env["DRAIN_SECONDS"]) < definition["StopTimeout"]
    assert definition["ReadonlyRootFilesystem"] is True
    assert definition["User"].split(":")[0] not in ("", "0", "root")
    assert definition["LinuxParameters"]["InitProcessEnabled"] is True
    [mount] = definition["MountPoints"]
    task = props(document, "AWS::ECS::TaskDefinition", "Workers/TaskDefinition")
    assert mount["ContainerPath"] == "/tmp" and mount["ReadOnly"] is False
    assert [v["Name"] for v in task["Volumes"]] == [mount["SourceVolume"]]
    assert task["RuntimePlatform"] == {"CpuArchitecture": "ARM64", "OperatingSystemFamily": "LINUX"}
    assert task["RequiresCompatibilities"] == ["FARGATE"]


@pytest.mark.parametrize("profile", PROFILES)
def test_the_service_deploys_with_rollback_in_subnets_with_no_route_out(profile: str) -> None:
    """The circuit breaker stops and rolls back a deployment whose tasks fail to start (AWS,
    "deployment circuit breaker"); tasks without a public IP in subnets whose route tables have
    no default route reach AWS only through the VPC endpoints."""
    document = doc(profile)
    service = props(document, "AWS::ECS::Service", "Workers/Service")
    assert service["DeploymentConfiguration"]["DeploymentCircuitBreaker"] == {
        "Enable": True,
        "Rollback": True,
    }
    assert service["DeploymentConfiguration"]["MinimumHealthyPercent"] == 100
    network = service["NetworkConfiguration"]["AwsvpcConfiguration"]
    assert network["AssignPublicIp"] == "DISABLED"
    subnets = {resolve_ref(document, s) for s in network["Subnets"]}
    assert len(subnets) == (2 if profile == "production" else 1)
    routes = [r["Properties"] for _, r in resources(document, "AWS::EC2::Route")]
    assert routes == []  # no internet or NAT gateway route anywhere in the VPC
    endpoints = [r["Properties"] for _, r in resources(document, "AWS::EC2::VPCEndpoint")]
    services = {json.dumps(e["ServiceName"]).split(".")[-1].strip('"]}') for e in endpoints}
    # The worker calls SQS and S3 (runtime/worker_fleet); ECS pulls from ECR and writes CloudWatch Logs.
    assert services == {"sqs", "api", "dkr", "logs", "s3"}
    assert not any(resources(document, "AWS::EC2::NatGateway"))
    group = props(document, "AWS::EC2::SecurityGroup", "Workers/SecurityGroup")
    assert "SecurityGroupIngress" not in group


@pytest.mark.parametrize("profile", PROFILES)
def test_the_task_role_consumes_only_its_queue_and_the_execution_role_only_pulls_and_logs(
    profile: str,
) -> None:
    document = doc(profile)
    queue_id, _ = one(document, "AWS::SQS::Queue", "Workers/JobQueue")
    dlq_id, _ = one(document, "AWS::SQS::Queue", "Workers/DeadLetterQueue")
    task_statements = props(document, "AWS::IAM::Policy", "Workers/TaskRole/DefaultPolicy")["PolicyDocument"][
        "Statement"
    ]
    sqs_targets = {
        resolve_ref(document, s["Resource"])
        for s in task_statements
        if any(
            str(a).startswith("sqs:")
            for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
        )
    }
    assert sqs_targets == {queue_id, dlq_id}
    assert all(s["Resource"] != "*" for s in task_statements)
    execution = props(document, "AWS::IAM::Policy", "Workers/ExecutionRole/DefaultPolicy")["PolicyDocument"][
        "Statement"
    ]
    actions = {a for s in execution for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])}
    assert all(a.startswith(("ecr:", "logs:")) for a in actions)
    [anywhere] = [s for s in execution if s["Resource"] == "*"]
    assert anywhere["Action"] == "ecr:GetAuthorizationToken"  # has no resource-level permission


@pytest.mark.parametrize("profile", PROFILES)
def test_every_alarm_but_the_scaling_one_tells_the_alarm_topic(profile: str) -> None:
    document = doc(profile)
    topic_id, _ = one(document, "AWS::SNS::Topic", "Workers/AlarmTopic")
    alarms = {
        resource["Metadata"]["aws:cdk:path"].split("/")[-2]: resource["Properties"]
        for _, resource in resources(document, "AWS::CloudWatch::Alarm", "Workers/")
    }
    assert set(alarms) == {
        "ScaleOutOfZeroAlarm",
        "DeadLetterQueueNotEmpty",
        "OldestJobOverLatencyTarget",
        "TasksAtMaxCapacity",
        "CpuHigh",
        "MemoryHigh",
    }
    for name, alarm in alarms.items():
        if name != "ScaleOutOfZeroAlarm":
            assert [resolve_ref(document, a) for a in alarm["AlarmActions"]] == [topic_id], name
    assert alarms["TasksAtMaxCapacity"]["Threshold"] == MAX_TASKS[profile]
    assert alarms["OldestJobOverLatencyTarget"]["Threshold"] > 5 * 60
    log = props(document, "AWS::Logs::LogGroup", "Workers/WorkerLogs")
    assert log["RetentionInDays"] == (365 if profile == "production" else 7)
    assert container(document)["LogConfiguration"]["LogDriver"] == "awslogs"


def workers(stack: Any = None, **overrides: Any) -> ContainerWorkers:
    options: dict[str, Any] = {
        "image_directory": runtime_dir("worker_fleet"),
        "environment": {"OUTPUT_BUCKET": "results"},
        "acceptable_latency": Duration.minutes(2),
        "average_processing_time": Duration.seconds(4),
        **overrides,
    }
    return ContainerWorkers(stack or bare_stack(), "Workers", **options)


@pytest.mark.parametrize(
    ("overrides", "prop"),
    [
        ({"spot": True}, "spot"),  # ARM64 by default: Fargate Spot has no ARM64
        ({"cpu": 300}, "cpu"),
        ({"cpu": 256, "memory_limit_mib": 4096}, "memory_limit_mib"),
        ({"stop_timeout": Duration.seconds(300)}, "stop_timeout"),
        ({"cpu_architecture": "arm"}, "cpu_architecture"),
        ({"min_capacity": 5, "max_capacity": 2}, "min_capacity"),
        ({"environment": {"QUEUE_URL": "elsewhere"}}, "environment"),
        ({"max_receive_count": 3, "queue": "not a queue"}, "queue"),
        ({"acceptable_latency": Duration.seconds(1)}, "acceptable_latency"),
    ],
)
def test_bad_props_fail_naming_the_prop(overrides: dict[str, Any], prop: str) -> None:
    with pytest.raises(ValueError, match=f"^{prop}:"):
        workers(**overrides)


def test_vpc_and_cluster_together_are_refused_naming_both() -> None:
    stack = bare_stack()
    vpc = ec2.Vpc(stack, "Vpc")
    cluster = ecs.Cluster(stack, "Cluster", vpc=vpc)
    with pytest.raises(ValueError, match=r"^vpc: give vpc or cluster"):
        workers(stack, vpc=vpc, cluster=cluster)


def test_spot_on_x86_keeps_an_on_demand_base_and_an_existing_queues_key_is_granted() -> None:
    """Fargate capacity providers: `base` tasks go to FARGATE first, the rest by weight; the
    task role of an existing SSE-KMS queue gets kms:Decrypt on its key, or every receive fails."""
    stack = bare_stack()
    key = encryption_key(stack, "Key", profile=SANDBOX, description="existing jobs")
    dlq = dead_letter_queue(stack, "Dlq", key=key, profile=SANDBOX)
    queue = secure_queue(
        stack,
        "Jobs",
        key=key,
        dead_letter=dlq,
        max_receive_count=3,
        visibility_timeout=Duration.minutes(2),
        profile=SANDBOX,
    )
    built = workers(stack, queue=queue, spot=True, cpu_architecture="X86_64", on_demand_base=2)
    assert built.dead_letter_queue is dlq
    document = Template.from_stack(stack).to_json()
    service = props(document, "AWS::ECS::Service", "Workers/Service")
    assert service["CapacityProviderStrategy"] == [
        {"Base": 2, "CapacityProvider": "FARGATE", "Weight": 1},
        {"CapacityProvider": "FARGATE_SPOT", "Weight": 4},
    ]
    key_id, _ = one(document, "AWS::KMS::Key", "Bare/Key")
    statements = props(document, "AWS::IAM::Policy", "Workers/TaskRole/DefaultPolicy")["PolicyDocument"][
        "Statement"
    ]
    assert any(
        "kms:Decrypt" in s["Action"] and resolve_ref(document, s["Resource"]) == key_id for s in statements
    )


def test_an_existing_queue_without_a_visible_dead_letter_queue_is_refused() -> None:
    stack = bare_stack()
    with pytest.raises(ValueError, match=r"^dead_letter_queue:"):
        workers(stack, queue=sqs.Queue(stack, "Plain", enforce_ssl=True))


def test_synth_builds_no_image_and_needs_no_docker() -> None:
    """ContainerImage.from_asset only fingerprints the folder at synth; the CLI builds the image
    at deploy time. Synthesized here with no docker on PATH and CDK_DOCKER naming a missing
    binary: the assembly names the Dockerfile and the task's platform."""
    script = (
        "import aws_cdk as cdk\n"
        "from stacks.container_workers_stack import ContainerWorkersStack\n"
        "from patterns.shared.defaults import SANDBOX\n"
        "import sys\n"
        "app = cdk.App(outdir=sys.argv[1])\n"
        "ContainerWorkersStack(app, 'ContainerWorkers', profile=SANDBOX)\n"
        "app.synth()\n"
    )
    outdir = ROOT / ".pytest_cache" / "no-docker"
    env = {
        **os.environ,
        "PATH": os.pathsep.join(
            p for p in os.environ["PATH"].split(os.pathsep) if not os.path.exists(os.path.join(p, "docker"))
        ),
        "CDK_DOCKER": "/nonexistent/docker",
        "PYTHONPATH": str(ROOT),
    }
    done = subprocess.run(
        [sys.executable, "-c", script, str(outdir)], env=env, capture_output=True, text=True, cwd=ROOT
    )
    assert done.returncode == 0, done.stderr[-2000:]
    images = json.loads((outdir / "ContainerWorkers.assets.json").read_text())["dockerImages"]
    [image] = images.values()
    assert image["source"]["dockerFile"] == "Dockerfile" and image["source"]["platform"] == "linux/arm64"
    built = outdir / image["source"]["directory"]
    assert (built / "Dockerfile").is_file() and (built / "hosts.py").is_file()
