"""The same queue workload through aws-cdk-lib's QueueProcessingFargateService and through
ContainerWorkers, synthesized in one run; the tasks each runs for a backlog and how long the
backlog's last message waits, computed from the synthesized scaling policies
(tests/container_scaling_model.py) and written on docs/container-workers.md."""

from __future__ import annotations

import functools
import re
from typing import Any

import aws_cdk as cdk
from aws_cdk import Duration
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_ecs_patterns as ecs_patterns
from aws_cdk import aws_sqs as sqs

from patterns.container_workers import ContainerWorkers
from stacks.paths import runtime_dir
from tests import container_scaling_model as model
from tests.kit import CDK_JSON_CONTEXT, PATH_METADATA, ROOT

BACKLOGS = (1, 10, 100, 1000)
PROCESSING = Duration.seconds(10)
LATENCY = Duration.minutes(5)
MAX_TASKS = 20
CONCURRENCY = "4"
PAGE = ROOT / "docs" / "container-workers.md"
TABLE = re.compile(r"<!-- comparison:begin -->\n(.*?)<!-- comparison:end -->", re.S)


@functools.cache
def templates() -> dict[str, dict[str, Any]]:
    """Both services in one app, one synth: the same image, worker, concurrency, queue settings
    (visibility 2 min, 5 receives before the DLQ) and maximum of tasks; each scales by its own
    defaults from zero tasks."""
    app = cdk.App(context={**CDK_JSON_CONTEXT, **PATH_METADATA})
    image = runtime_dir("worker_fleet")
    anchor = cdk.Stack(app, "Anchor")
    queue_dlq = sqs.Queue(anchor, "Dlq", enforce_ssl=True)
    ecs_patterns.QueueProcessingFargateService(
        anchor,
        "Service",
        image=ecs.ContainerImage.from_asset(image),
        queue=sqs.Queue(
            anchor,
            "Jobs",
            visibility_timeout=Duration.minutes(2),
            dead_letter_queue=sqs.DeadLetterQueue(queue=queue_dlq, max_receive_count=5),
        ),
        environment={"CONCURRENCY": CONCURRENCY, "OUTPUT_BUCKET": "results"},
        min_scaling_capacity=0,
        max_scaling_capacity=MAX_TASKS,
    )
    ours = cdk.Stack(app, "Ours")
    ContainerWorkers(
        ours,
        "Service",
        image_directory=image,
        environment={"OUTPUT_BUCKET": "results"},
        acceptable_latency=LATENCY,
        average_processing_time=PROCESSING,
        concurrency_per_task=int(CONCURRENCY),
        max_capacity=MAX_TASKS,
    )
    assembly = app.synth()
    return {name: assembly.get_stack_by_name(name).template for name in ("Anchor", "Ours")}


def outcomes(stack: str) -> dict[int, model.Outcome]:
    seconds = PROCESSING.to_seconds()
    # Read afresh for each backlog: a run keeps the step policies' cooldown state.
    return {b: model.run(model.read(templates()[stack], "Service/Service"), b, seconds) for b in BACKLOGS}


def _wait(outcome: model.Outcome) -> str:
    if outcome.last_message_minutes is None:
        return "never (no task starts)"
    return f"{outcome.last_message_minutes} min"


def comparison_table() -> str:
    anchor, ours = outcomes("Anchor"), outcomes("Ours")
    lines = [
        "| backlog | QueueProcessingFargateService: tasks | last message waits "
        "| ContainerWorkers: tasks | last message waits |",
        "|---:|---:|---:|---:|---:|",
    ]
    for backlog in BACKLOGS:
        a, o = anchor[backlog], ours[backlog]
        lines.append(f"| {backlog:,} | {a.tasks} | {_wait(a)} | {o.tasks} | {_wait(o)} |")
    return "\n".join(lines) + "\n"


def test_one_message_starts_a_task_here_and_none_with_the_anchor() -> None:
    """QueueProcessingFargateService's default steps add a task only at 100 visible messages
    (aws-cdk-lib docs, QueueProcessingServiceBaseProps.scalingSteps), so from zero tasks a
    backlog under 100 waits until more messages arrive; the backlog policy here starts one task
    for the first message and sizes the service to latency / processing time per task."""
    anchor, ours = outcomes("Anchor"), outcomes("Ours")
    assert anchor[1] == anchor[10] == model.Outcome(0, None)
    assert ours[1].tasks == 1 and ours[1].last_message_minutes is not None
    assert ours[1].last_message_minutes <= 3  # an alarm period, a task start, one job
    for backlog in BACKLOGS:
        assert ours[backlog].last_message_minutes is not None
        a = anchor[backlog].last_message_minutes
        assert a is None or ours[backlog].last_message_minutes <= a


def test_the_anchor_has_no_circuit_breaker_and_adds_cpu_tracking_this_construct_neither() -> None:
    """aws/aws-cdk#20706 and #4719: the pattern's service has no deployment circuit breaker by
    default, so a deployment whose tasks never start retries until CloudFormation's timeout;
    and it adds CPU target tracking unless told not to."""

    def service(stack: str) -> dict[str, Any]:
        [found] = [r for r in templates()[stack]["Resources"].values() if r["Type"] == "AWS::ECS::Service"]
        return dict(found["Properties"])

    def predefined(stack: str) -> list[str]:
        return [
            r["Properties"]["TargetTrackingScalingPolicyConfiguration"]["PredefinedMetricSpecification"][
                "PredefinedMetricType"
            ]
            for r in templates()[stack]["Resources"].values()
            if r["Type"] == "AWS::ApplicationAutoScaling::ScalingPolicy"
            and "PredefinedMetricSpecification"
            in r["Properties"].get("TargetTrackingScalingPolicyConfiguration", {})
        ]

    breaker = service("Anchor").get("DeploymentConfiguration", {}).get("DeploymentCircuitBreaker")
    assert not (breaker or {}).get("Enable")
    assert service("Ours")["DeploymentConfiguration"]["DeploymentCircuitBreaker"] == {
        "Enable": True,
        "Rollback": True,
    }
    assert predefined("Anchor") == ["ECSServiceAverageCPUUtilization"] and predefined("Ours") == []


def test_the_page_shows_the_computed_comparison() -> None:
    found = TABLE.search(PAGE.read_text())
    assert found, f"{PAGE.name} has no comparison markers"
    assert found.group(1) == comparison_table(), "regenerate the table:\n" + comparison_table()
