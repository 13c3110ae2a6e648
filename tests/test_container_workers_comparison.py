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


def _ours() -> model.Policies:
    return model.read(templates()["Ours"], "Service/Service")


def test_a_backlog_being_worked_keeps_a_task_until_its_last_message() -> None:
    """20 jobs of 5 minutes, 4 at a time on one task: after about 10 minutes nothing is visible
    while 4 are in flight for 15 more, long enough for target tracking's low alarm. On visible
    messages alone the policy would set ceil(1 x 0 / 30) = 0 tasks mid-work, and the service
    would start again from zero (the counterfactual below, on the same synthesized policy);
    counting the in-flight messages it keeps the task. No backlog of the table, at any job
    length up to 5 minutes, empties the service before its last message."""
    [tracking] = _ours().tracking
    assert tracking.scale_in and tracking.scale_in_cooldown_minutes == 5  # scale-in is live
    kept = model.run(_ours(), 20, 300)
    assert (kept.tasks, kept.emptied_mid_backlog) == (1, 0)
    visible_only = _ours()
    visible_only.tracking[0].expression = "visible / running"
    collapsed = model.run(visible_only, 20, 300)
    assert collapsed.emptied_mid_backlog >= 1
    assert kept.last_message_minutes is not None and collapsed.last_message_minutes is not None
    assert collapsed.last_message_minutes > kept.last_message_minutes
    for backlog in (*BACKLOGS, 20):
        for seconds in (10, 60, 100, 300):
            outcome = model.run(_ours(), backlog, seconds)
            assert outcome.emptied_mid_backlog == 0 and outcome.last_message_minutes is not None


def test_missing_container_insights_data_adds_no_task_to_a_working_service() -> None:
    """With every RunningTaskCount and DesiredTaskCount datapoint missing, FILL(desired, 0)
    reads 0 each minute; the out-of-zero step (+1, 1-minute cooldown) would then add a task a
    minute toward the maximum (the counterfactual), but a message in flight shows the service
    is working, so it starts the one task and no more (target tracking has no value to act on
    without RunningTaskCount)."""
    seconds = PROCESSING.to_seconds()
    alone = model.run(_ours(), 1000, seconds, insights_missing=True)
    assert alone.tasks == 1 and alone.last_message_minutes is not None
    desired_only = _ours()
    [step] = desired_only.steps
    [query] = [q for q in step.alarm_metric["Metrics"] if "Expression" in q]
    query["Expression"] = "IF(FILL(desired, 0) == 0, visible, 0)"
    assert model.run(desired_only, 1000, seconds, insights_missing=True).tasks > 5
