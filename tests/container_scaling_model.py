"""How many tasks an ECS service's synthesized scaling policies run for a backlog, and how long
the last message of that backlog waits: a minute-by-minute model read from the template.

What the model takes from the template: the scalable target's min and max, every step scaling
policy with the alarm that drives it (metric or metric math, threshold, comparison, period) and
its step adjustments and cooldown, every target tracking policy on a customized metric (its
metric math and target), and the worker's CONCURRENCY from the task definition.

What it assumes, the same for every service compared:
- a backlog of N messages arrives at once into a service at its minimum, nothing else arrives;
- a running task holds up to CONCURRENCY messages in flight (ApproximateNumberOfMessagesNotVisible)
  and processes CONCURRENCY messages every `processing_seconds`; the rest are visible;
- an alarm evaluates at the end of each of its periods on the state then; CloudWatch keeps
  invoking an Application Auto Scaling action once per minute while its alarm stays in ALARM
  (CloudWatch User Guide, "Alarm actions"), subject to the policy's cooldown;
- target tracking on a customized metric sets desired = ceil(running x metric / target) each
  minute the metric is above the target, and, unless the policy disables scale-in, the same
  lower figure once the metric has been below the target for SCALE_IN_MINUTES minutes in a row
  (the low alarm Application Auto Scaling creates for it) and the policy's ScaleInCooldown has
  passed since its last scale-in; a metric without a value (a division by zero running tasks,
  a missing Container Insights datapoint) does neither;
- a task asked for runs one minute later (Fargate's start for a small image; the page says so);
  a task stopped by scale-in releases its messages (the worker's SIGTERM path), which become
  visible again;
- predefined CPU target tracking never acts (an I/O-bound job; it cannot start a task from zero
  either, with no task to measure).
"""

from __future__ import annotations

import copy
import math
import re
from dataclasses import dataclass, field
from typing import Any

HORIZON_MINUTES = 24 * 60
START_MINUTES = 1
SCALE_IN_MINUTES = 15
"""Datapoints of the low alarm target tracking creates (1-minute metric): not in the template."""


@dataclass
class Step:
    alarm_metric: dict[str, Any]
    threshold: float
    comparison: str
    period_minutes: int
    adjustments: list[tuple[float | None, float | None, int]]
    cooldown_minutes: int
    last_action: int = -(10**9)


@dataclass
class Tracking:
    expression: str
    queries: dict[str, str]
    """{query id: metric name}"""
    target: float
    scale_in: bool
    scale_in_cooldown_minutes: int
    low_minutes: int = 0
    last_scale_in: int = -(10**9)


@dataclass
class Policies:
    min_capacity: int
    max_capacity: int
    concurrency: int
    steps: list[Step] = field(default_factory=list)
    tracking: list[Tracking] = field(default_factory=list)


def _ref(value: Any) -> str | None:
    if isinstance(value, dict) and "Ref" in value:
        return str(value["Ref"])
    return None


def read(document: dict[str, Any], service_path: str) -> Policies:
    """The scaling of the one ECS service whose construct path contains `service_path`."""
    resources = document["Resources"]

    def path(resource: dict[str, Any]) -> str:
        return str(resource.get("Metadata", {}).get("aws:cdk:path", ""))

    [service_id] = [
        k for k, r in resources.items() if r["Type"] == "AWS::ECS::Service" and service_path in path(r)
    ]
    task = resources[_ref(resources[service_id]["Properties"]["TaskDefinition"]) or ""]
    environment = {
        e["Name"]: e["Value"] for e in task["Properties"]["ContainerDefinitions"][0].get("Environment", [])
    }
    [(target_id, target)] = [
        (k, r)
        for k, r in resources.items()
        if r["Type"] == "AWS::ApplicationAutoScaling::ScalableTarget"
        and service_id in str(r["Properties"]["ResourceId"])
    ]
    found = Policies(
        int(target["Properties"]["MinCapacity"]),
        int(target["Properties"]["MaxCapacity"]),
        int(environment.get("CONCURRENCY", "1")),
    )
    alarms = [r for r in resources.values() if r["Type"] == "AWS::CloudWatch::Alarm"]
    for policy_id, policy in resources.items():
        if policy["Type"] != "AWS::ApplicationAutoScaling::ScalingPolicy":
            continue
        props = policy["Properties"]
        if _ref(props.get("ScalingTargetId")) != target_id:
            continue
        if props["PolicyType"] == "StepScaling":
            config = props["StepScalingPolicyConfiguration"]
            assert config["AdjustmentType"] == "ChangeInCapacity"
            [alarm] = [a for a in alarms if {"Ref": policy_id} in a["Properties"].get("AlarmActions", [])]
            a = alarm["Properties"]
            period = a.get("Period") or max(q.get("MetricStat", {}).get("Period", 60) for q in a["Metrics"])
            found.steps.append(
                Step(
                    copy.deepcopy(a),
                    float(a["Threshold"]),
                    a["ComparisonOperator"],
                    int(period) // 60,
                    [
                        (
                            s.get("MetricIntervalLowerBound"),
                            s.get("MetricIntervalUpperBound"),
                            int(s["ScalingAdjustment"]),
                        )
                        for s in config["StepAdjustments"]
                    ],
                    int(config.get("Cooldown", 0)) // 60,
                )
            )
        else:
            config = props["TargetTrackingScalingPolicyConfiguration"]
            custom = config.get("CustomizedMetricSpecification")
            if custom is None:
                continue  # predefined (CPU): see the module docstring
            queries = {
                q["Id"]: q["MetricStat"]["Metric"]["MetricName"]
                for q in custom["Metrics"]
                if "MetricStat" in q
            }
            [expression] = [
                q["Expression"] for q in custom["Metrics"] if q.get("ReturnData", True) and "Expression" in q
            ]
            found.tracking.append(
                Tracking(
                    expression,
                    queries,
                    float(config["TargetValue"]),
                    not config.get("DisableScaleIn", False),
                    int(config.get("ScaleInCooldown", 300)) // 60,
                )
            )
    return found


SERIES = {
    "ApproximateNumberOfMessagesVisible": "visible",
    "ApproximateNumberOfMessagesNotVisible": "in_flight",
    "RunningTaskCount": "running",
    "DesiredTaskCount": "desired",
}


def _evaluate(expression: str, queries: dict[str, str], state: dict[str, float | None]) -> float | None:
    """A CloudWatch metric math expression of the forms the policies use, on the model's state
    (None: the metric has no datapoint)."""
    names = {query: state[SERIES[metric]] for query, metric in queries.items()}
    expression = re.sub(r"\bAND\b", "and", re.sub(r"\bOR\b", "or", expression))

    def if_(condition: Any, then: Any, otherwise: Any) -> Any:
        return then if condition else otherwise

    def fill(value: Any, default: Any) -> Any:
        return default if value is None else value

    try:
        value = eval(expression, {"__builtins__": {}, "IF": if_, "FILL": fill}, names)
    except (ZeroDivisionError, TypeError):
        return None  # CloudWatch: no value (division by zero, or a missing datapoint)
    return float(value)


def _alarm_value(step: Step, state: dict[str, float | None]) -> float | None:
    alarm = step.alarm_metric
    if "Metrics" in alarm:
        queries = {
            q["Id"]: q["MetricStat"]["Metric"]["MetricName"] for q in alarm["Metrics"] if "MetricStat" in q
        }
        [expression] = [q["Expression"] for q in alarm["Metrics"] if "Expression" in q]
        return _evaluate(expression, queries, state)
    return state[SERIES[alarm["MetricName"]]]


def _breaching(step: Step, value: float) -> bool:
    return {
        "GreaterThanThreshold": value > step.threshold,
        "GreaterThanOrEqualToThreshold": value >= step.threshold,
        "LessThanThreshold": value < step.threshold,
        "LessThanOrEqualToThreshold": value <= step.threshold,
    }[step.comparison]


def _adjustment(step: Step, value: float) -> int:
    over = value - step.threshold
    for lower, upper, change in step.adjustments:
        if (lower is None or over >= lower) and (upper is None or over < upper):
            return change
    return 0


@dataclass(frozen=True)
class Outcome:
    tasks: int
    """The most tasks the service asked for while the backlog lasted."""
    last_message_minutes: int | None
    """Minutes until the backlog's last message was processed; None: not within a day."""
    emptied_mid_backlog: int = 0
    """Times the service was scaled to no task while messages remained."""


def run(
    policies: Policies, backlog: int, processing_seconds: float, *, insights_missing: bool = False
) -> Outcome:
    """`insights_missing`: every Container Insights datapoint (RunningTaskCount,
    DesiredTaskCount) is missing, as when its publishing lags."""
    remaining = float(backlog)
    desired = policies.min_capacity
    starting: list[tuple[int, int]] = []  # (minute it runs, tasks)
    running = policies.min_capacity
    peak = desired
    emptied = 0
    per_minute = policies.concurrency * 60 / processing_seconds
    for minute in range(1, HORIZON_MINUTES + 1):
        running += sum(n for at, n in starting if at == minute)
        starting = [(at, n) for at, n in starting if at != minute]
        remaining = max(0.0, remaining - running * per_minute)
        if remaining == 0:
            return Outcome(peak, minute, emptied)
        in_flight = min(remaining, float(running * policies.concurrency))
        state: dict[str, float | None] = {
            "visible": remaining - in_flight,
            "in_flight": in_flight,
            "running": None if insights_missing else float(running),
            "desired": None if insights_missing else float(desired),
        }
        wanted = desired
        scale_ins: list[int] = []
        for tracking in policies.tracking:
            metric = _evaluate(tracking.expression, tracking.queries, state)
            if metric is None or metric >= tracking.target:
                tracking.low_minutes = 0
                if metric is not None and metric > tracking.target:
                    wanted = max(wanted, math.ceil(running * metric / tracking.target))
                continue
            tracking.low_minutes += 1
            if (
                tracking.scale_in
                and tracking.low_minutes >= SCALE_IN_MINUTES
                and minute - tracking.last_scale_in >= tracking.scale_in_cooldown_minutes
            ):
                scale_ins.append(math.ceil(running * metric / tracking.target))
                tracking.last_scale_in = minute
        if wanted == desired and scale_ins and len(scale_ins) == len(policies.tracking):
            # Application Auto Scaling scales in only when every target tracking policy would.
            wanted = max(scale_ins)
        for step in policies.steps:
            if minute % step.period_minutes or minute - step.last_action < step.cooldown_minutes:
                continue
            value = _alarm_value(step, state)
            if value is not None and _breaching(step, value):
                change = _adjustment(step, value)
                if change:
                    step.last_action = minute
                    wanted += change
        wanted = max(policies.min_capacity, min(policies.max_capacity, wanted))
        if wanted > desired:
            starting.append((minute + START_MINUTES, wanted - desired))
        elif wanted < desired:
            excess = desired - wanted  # tasks not yet running go first, then running ones
            while excess and starting:
                at, n = starting.pop()
                if n > excess:
                    starting.append((at, n - excess))
                excess -= min(n, excess)
            running -= excess
            if wanted == 0:
                emptied += 1
        desired = wanted
        peak = max(peak, desired)
    return Outcome(peak, None, emptied)
