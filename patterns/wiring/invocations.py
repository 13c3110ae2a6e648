"""Asynchronous invocations and event targets end somewhere someone can see."""

from __future__ import annotations

from collections.abc import Iterator

from .core import Settings, Violation, rule
from .model import Model, Resource, as_list

FUNCTION = "AWS::Lambda::Function"
STREAMS = (
    "AWS::Kinesis::Stream",
    "AWS::Kinesis::StreamConsumer",
    "AWS::DynamoDB::Table",
    "AWS::DynamoDB::GlobalTable",
)


def _functions(model: Model, value: object, stack: str) -> list[Resource]:
    found = []
    for target in model.targets(value, stack):
        resource = target.resource
        if resource.type in ("AWS::Lambda::Alias", "AWS::Lambda::Version"):
            resource = (
                model.one_target(resource.properties.get("FunctionName"), resource.stack, FUNCTION)
                or resource
            )
        if resource.type == FUNCTION:
            found.append(resource)
    return found


def async_invokers(model: Model) -> Iterator[tuple[Resource, Resource]]:
    """(invoker, function) for SNS, EventBridge, S3 and Scheduler, which invoke asynchronously."""
    for subscription in model.of_type("AWS::SNS::Subscription"):
        if subscription.properties.get("Protocol") == "lambda":
            for function in _functions(model, subscription.properties.get("Endpoint"), subscription.stack):
                yield subscription, function
    for event_rule in model.of_type("AWS::Events::Rule"):
        for target in as_list(event_rule.properties.get("Targets")):
            for function in _functions(model, target.get("Arn"), event_rule.stack):
                yield event_rule, function
    for holder in model.of_type("AWS::S3::Bucket", "Custom::S3BucketNotifications"):
        notifications = holder.properties.get("NotificationConfiguration") or {}
        for config in as_list(notifications.get("LambdaConfigurations")):
            for function in _functions(model, config.get("Function"), holder.stack):
                yield holder, function
    for schedule in model.of_type("AWS::Scheduler::Schedule"):
        for function in _functions(
            model, (schedule.properties.get("Target") or {}).get("Arn"), schedule.stack
        ):
            yield schedule, function


@rule(
    "AsyncOnFailure",
    doc="Every function invoked asynchronously (SNS, EventBridge, S3, Scheduler) has an on-failure "
    "destination or a dead-letter queue: after its retries Lambda otherwise discards the event.",
    source="https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-retain-records.html",
)
def async_on_failure(model: Model, settings: Settings) -> Iterator[Violation]:
    covered = {
        function
        for config in model.of_type("AWS::Lambda::EventInvokeConfig")
        if ((config.properties.get("DestinationConfig") or {}).get("OnFailure") or {}).get("Destination")
        for function in _functions(model, config.properties.get("FunctionName"), config.stack)
    }
    reported: set[Resource] = set()
    for invoker, function in async_invokers(model):
        if function in covered or function in reported:
            continue
        if (function.properties.get("DeadLetterConfig") or {}).get("TargetArn"):
            continue
        reported.add(function)
        yield Violation(
            "AsyncOnFailure",
            function,
            f"is invoked asynchronously by {invoker.path} but has neither an on-failure destination nor a "
            "dead-letter queue: an event that fails every retry is discarded.",
            "Give the function on_failure=SqsDestination(queue) (or dead_letter_queue=...) "
            "and alarm on that queue.",
        )


@rule(
    "EventTargetDeadLetter",
    doc="Every EventBridge rule target and Scheduler schedule has a dead-letter queue: an event "
    "that cannot be delivered after the retry policy is dropped.",
    source="https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-rule-dlq.html; "
    "https://docs.aws.amazon.com/scheduler/latest/UserGuide/configuring-schedule-dlq.html",
)
def event_target_dead_letter(model: Model, settings: Settings) -> Iterator[Violation]:
    for event_rule in model.of_type("AWS::Events::Rule"):
        for index, target in enumerate(as_list(event_rule.properties.get("Targets"))):
            if not (target.get("DeadLetterConfig") or {}).get("Arn"):
                yield Violation(
                    "EventTargetDeadLetter",
                    event_rule,
                    f"target {target.get('Id', index)} has no dead-letter queue: "
                    "undeliverable events are dropped.",
                    "Give the target dead_letter_queue=queue (and alarm on it).",
                    f"Properties/Targets/{index}",
                )
    for schedule in model.of_type("AWS::Scheduler::Schedule"):
        if not ((schedule.properties.get("Target") or {}).get("DeadLetterConfig") or {}).get("Arn"):
            yield Violation(
                "EventTargetDeadLetter",
                schedule,
                "has no dead-letter queue: an invocation that fails every retry is dropped.",
                "Give the schedule's target a dead_letter_queue.",
                "Properties/Target",
            )


@rule(
    "StreamConsumerOnFailure",
    doc="A Kinesis or DynamoDB stream consumer has an on-failure destination and bounded retries: "
    "by default a failing batch is retried until its records expire, blocking the shard.",
    source="https://docs.aws.amazon.com/lambda/latest/dg/services-kinesis-errors.html",
)
def stream_consumer_on_failure(model: Model, settings: Settings) -> Iterator[Violation]:
    for mapping in model.of_type("AWS::Lambda::EventSourceMapping"):
        props = mapping.properties
        if not model.targets_of_type(props.get("EventSourceArn"), mapping.stack, *STREAMS):
            continue
        destination = ((props.get("DestinationConfig") or {}).get("OnFailure") or {}).get("Destination")
        bounded = props.get("MaximumRetryAttempts", -1) not in (-1, None) or props.get(
            "MaximumRecordAgeInSeconds", -1
        ) not in (-1, None)
        if not destination or not bounded:
            yield Violation(
                "StreamConsumerOnFailure",
                mapping,
                "a failing batch is retried until its records expire"
                + ("" if destination else ", and then lost (no on-failure destination)")
                + ": the shard stops behind it.",
                "Set retry_attempts, bisect_batch_on_error and on_failure=SqsDlq(queue) on the event source.",
            )
