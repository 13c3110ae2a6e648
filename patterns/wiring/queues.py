"""Queues and their consumers: visibility, redrive, partial batch failures, alarms on DLQs."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from .core import Settings, Violation, rule
from .model import Model, Resource, as_list
from .state_machines import failure_sinks

QUEUE, FUNCTION = "AWS::SQS::Queue", "AWS::Lambda::Function"
DEFAULT_VISIBILITY_TIMEOUT = 30  # seconds, SQS's default
DEFAULT_FUNCTION_TIMEOUT = 3  # seconds, Lambda's default
# What a handler that reports partial batch failures contains (its own code, or Powertools').
PARTIAL_FAILURE_MARKERS = re.compile(r"batchItemFailures|process_partial_response|processPartialResponse")
HANDLER_SUFFIXES = (".py", ".js", ".mjs", ".cjs", ".ts")
# Redriven messages are not counted in NumberOfMessagesSent; these metrics see them.
DLQ_METRICS = {"ApproximateNumberOfMessagesVisible", "ApproximateAgeOfOldestMessage"}


def queue_consumers(model: Model) -> Iterator[tuple[Resource, Resource, Resource]]:
    """(event source mapping, queue, function) for every Lambda consumer of an SQS queue."""
    for mapping in model.of_type("AWS::Lambda::EventSourceMapping"):
        queue = model.one_target(mapping.properties.get("EventSourceArn"), mapping.stack, QUEUE)
        function = model.one_target(mapping.properties.get("FunctionName"), mapping.stack, FUNCTION)
        if queue and function:
            yield mapping, queue, function


def dead_letter_queues(model: Model) -> dict[Resource, str]:
    """Every queue something sends its failures to, with what does."""
    found: dict[Resource, str] = {}

    def mark(value: object, stack: str, why: str) -> None:
        for queue in model.targets_of_type(value, stack, QUEUE):
            found.setdefault(queue, why)

    for queue in model.of_type(QUEUE):
        mark(
            (queue.properties.get("RedrivePolicy") or {}).get("deadLetterTargetArn"),
            queue.stack,
            f"dead-letter queue of {queue.path}",
        )
    for subscription in model.of_type("AWS::SNS::Subscription"):
        redrive = subscription.properties.get("RedrivePolicy") or {}
        mark(
            redrive.get("deadLetterTargetArn"),
            subscription.stack,
            f"dead-letter queue of {subscription.path}",
        )
    for function in model.of_type(FUNCTION):
        mark(
            (function.properties.get("DeadLetterConfig") or {}).get("TargetArn"),
            function.stack,
            f"dead-letter queue of {function.path}",
        )
    for holder in model.of_type("AWS::Lambda::EventInvokeConfig", "AWS::Lambda::EventSourceMapping"):
        on_failure = ((holder.properties.get("DestinationConfig") or {}).get("OnFailure") or {}).get(
            "Destination"
        )
        mark(on_failure, holder.stack, f"on-failure destination of {holder.path}")
    for event_rule in model.of_type("AWS::Events::Rule"):
        for target in as_list(event_rule.properties.get("Targets")):
            mark(
                (target.get("DeadLetterConfig") or {}).get("Arn"),
                event_rule.stack,
                f"dead-letter queue of {event_rule.path}",
            )
    for schedule in model.of_type("AWS::Scheduler::Schedule"):
        target = schedule.properties.get("Target") or {}
        mark(
            (target.get("DeadLetterConfig") or {}).get("Arn"),
            schedule.stack,
            f"dead-letter queue of {schedule.path}",
        )
    for bus in model.of_type("AWS::Events::EventBus"):
        mark(
            (bus.properties.get("DeadLetterConfig") or {}).get("Arn"),
            bus.stack,
            f"dead-letter queue of {bus.path} (events it cannot encrypt or decrypt)",
        )
    for queue, why in failure_sinks(model).items():
        found.setdefault(queue, why)
    return found


def _seconds(value: object, default: int) -> float:
    try:
        return float(value) if value is not None else default  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return default


@rule(
    "QueueVisibilityTimeout",
    doc="A queue with a Lambda consumer has a visibility timeout of at least 6 x the function's "
    "timeout plus the mapping's batching window, or messages are received twice while in flight.",
    source="https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-configure.html "
    "(queue visibility timeout)",
)
def queue_visibility_timeout(model: Model, settings: Settings) -> Iterator[Violation]:
    for mapping, queue, function in queue_consumers(model):
        visibility = _seconds(queue.properties.get("VisibilityTimeout"), DEFAULT_VISIBILITY_TIMEOUT)
        timeout = _seconds(function.properties.get("Timeout"), DEFAULT_FUNCTION_TIMEOUT)
        window = _seconds(mapping.properties.get("MaximumBatchingWindowInSeconds"), 0)
        needed = 6 * timeout + window
        if visibility < needed:
            yield Violation(
                "QueueVisibilityTimeout",
                queue,
                f"visibility timeout {visibility:g} s is shorter than 6 x the timeout of its consumer "
                f"{function.path} ({timeout:g} s) plus the batching window ({window:g} s) = {needed:g} s.",
                f"Set the queue's visibility_timeout to at least {needed:g} s, "
                "or shorten the function's timeout.",
                "Properties/VisibilityTimeout",
            )


@rule(
    "QueueConsumerRedrive",
    doc="A queue with a Lambda consumer has a redrive policy: an SQS event source has no on-failure "
    "destination, so a message that always fails is retried until it expires, then lost.",
    source="https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-errorhandling.html",
)
def queue_consumer_redrive(model: Model, settings: Settings) -> Iterator[Violation]:
    for _mapping, queue, function in queue_consumers(model):
        if not queue.properties.get("RedrivePolicy"):
            yield Violation(
                "QueueConsumerRedrive",
                queue,
                f"is consumed by {function.path} but has no redrive policy: "
                "a poison message is retried until it expires.",
                "Give the queue a dead_letter_queue with a max_receive_count.",
                "Properties/RedrivePolicy",
            )


def _handler_code(model: Model, function: Resource) -> str | None:
    """The handler module's source when the assembly holds it (inline code or a file asset)."""
    code = function.properties.get("Code") or {}
    if isinstance(code.get("ZipFile"), str):
        return str(code["ZipFile"])
    key = model.literal(code.get("S3Key"), function.stack)
    if not isinstance(key, str) or not function.template_path:
        return None
    folder = Path(function.template_path).parent / f"asset.{key.removesuffix('.zip')}"
    module = str(function.properties.get("Handler", "index.handler")).rsplit(".", 1)[0]
    for suffix in HANDLER_SUFFIXES:
        candidate = folder / f"{module.replace('.', '/')}{suffix}"
        if candidate.is_file():
            return candidate.read_text(errors="replace")
    return None


@rule(
    "BatchItemFailures",
    doc="An event source mapping whose handler returns batchItemFailures reports them "
    "(FunctionResponseTypes ReportBatchItemFailures); otherwise the whole batch counts as success "
    "and the failed messages are deleted.",
    source="https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-errorhandling.html#services-sqs-batchfailurereporting",
)
def batch_item_failures(model: Model, settings: Settings) -> Iterator[Violation]:
    for mapping in model.of_type("AWS::Lambda::EventSourceMapping"):
        function = model.one_target(mapping.properties.get("FunctionName"), mapping.stack, FUNCTION)
        if function is None or "ReportBatchItemFailures" in as_list(
            mapping.properties.get("FunctionResponseTypes")
        ):
            continue
        code = _handler_code(model, function)
        if code and PARTIAL_FAILURE_MARKERS.search(code):
            yield Violation(
                "BatchItemFailures",
                mapping,
                f"the handler of {function.path} returns batchItemFailures, but the mapping does not "
                "report them: failed messages are deleted as if processed.",
                "Set report_batch_item_failures=True on the event source.",
                "Properties/FunctionResponseTypes",
            )


@rule(
    "QueueDeadLetter",
    doc="Every queue has a dead-letter queue, or is one (or an on-failure destination).",
    source="https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-dead-letter-queues.html",
)
def queue_dead_letter(model: Model, settings: Settings) -> Iterator[Violation]:
    dead_letters = dead_letter_queues(model)
    for queue in model.of_type(QUEUE):
        if not queue.properties.get("RedrivePolicy") and queue not in dead_letters:
            yield Violation(
                "QueueDeadLetter",
                queue,
                "has no dead-letter queue and is not one: "
                "a message that keeps failing is lost when it expires.",
                "Give it a dead_letter_queue, or make it the dead-letter queue "
                "or on-failure destination of what feeds it.",
                "Properties/RedrivePolicy",
            )


def _sqs_metrics(model: Model, alarm: Resource) -> Iterator[tuple[str, Resource]]:
    props = alarm.properties
    metrics = [props] + [
        (m.get("MetricStat") or {}).get("Metric") or {} for m in as_list(props.get("Metrics"))
    ]
    for metric in metrics:
        if metric.get("Namespace") != "AWS/SQS":
            continue
        for dimension in as_list(metric.get("Dimensions")):
            if dimension.get("Name") == "QueueName":
                for queue in model.targets_of_type(dimension.get("Value"), alarm.stack, QUEUE):
                    yield str(metric.get("MetricName")), queue


@rule(
    "DeadLetterAlarm",
    doc="Every dead-letter queue has an alarm with an action on a metric that sees redriven messages "
    "(ApproximateNumberOfMessagesVisible or ApproximateAgeOfOldestMessage; NumberOfMessagesSent does not).",
    source="https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-available-cloudwatch-metrics.html",
)
def dead_letter_alarm(model: Model, settings: Settings) -> Iterator[Violation]:
    watched: dict[Resource, set[str]] = {}
    for alarm in model.of_type("AWS::CloudWatch::Alarm"):
        if not as_list(alarm.properties.get("AlarmActions")):
            continue
        for metric, queue in _sqs_metrics(model, alarm):
            watched.setdefault(queue, set()).add(metric)
    for queue, why in dead_letter_queues(model).items():
        metrics = watched.get(queue, set())
        if metrics & DLQ_METRICS:
            continue
        detail = (
            f"its alarms watch {', '.join(sorted(metrics))}, which does not count redriven messages"
            if metrics
            else "no alarm with an action watches it"
        )
        yield Violation(
            "DeadLetterAlarm",
            queue,
            f"is the {why}, but {detail}: failures pile up unseen.",
            "Alarm on ApproximateNumberOfMessagesVisible > 0 with an action that notifies someone.",
        )
