"""EventBridge and Scheduler wiring: what each resource allows alone is fine, yet events are
dropped (or admitted from anyone) because of how they are connected."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from .core import Settings, Violation, rule
from .encryption import RolePolicies, _key_statements, _principals
from .model import Model, Resource, allows, as_list

QUEUE = "AWS::SQS::Queue"
EVENTS = "events.amazonaws.com"
BUS_KEY_ACTIONS = ("kms:GenerateDataKey", "kms:Decrypt")
SCOPING_CONDITIONS = (
    "aws:principalorgid",
    "aws:principalaccount",
    "aws:sourceaccount",
    "aws:principalorgpaths",
)


@rule(
    "EventBusKeyAdmitsEventBridge",
    doc="An event bus or archive encrypted with a customer-managed key has a key policy letting "
    "events.amazonaws.com use it (kms:GenerateDataKey, kms:Decrypt); otherwise custom events "
    "cannot be stored, matched or archived.",
    source="https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-encryption-key-policy.html",
)
def event_bus_key_admits_eventbridge(model: Model, settings: Settings) -> Iterator[Violation]:
    for holder in model.of_type("AWS::Events::EventBus", "AWS::Events::Archive"):
        key = model.one_target(holder.properties.get("KmsKeyIdentifier"), holder.stack, "AWS::KMS::Key")
        if key is None:
            continue
        if not any(
            EVENTS in _principals(model, s, key.stack)[0] or "*" in _principals(model, s, key.stack)[0]
            for s in _key_statements(key, BUS_KEY_ACTIONS)
        ):
            yield Violation(
                "EventBusKeyAdmitsEventBridge",
                holder,
                f"{holder.path} is encrypted with {key.path}, whose key policy does not let "
                f"{EVENTS} use {' and '.join(BUS_KEY_ACTIONS)}: EventBridge cannot encrypt its events.",
                f"Add a key policy statement for {EVENTS} with those actions, conditioned on "
                "kms:EncryptionContext:aws:events:event-bus:arn (CDK's EventBus(kms_key=...) adds it).",
                "Properties/KmsKeyIdentifier",
            )


@rule(
    "ScheduleRoleSendsToDeadLetter",
    doc="A schedule's execution role may send to the schedule's dead-letter queue: Scheduler "
    "sends with that role, so a queue policy alone does not let it (aws/aws-cdk#31785).",
    source="https://docs.aws.amazon.com/scheduler/latest/UserGuide/configuring-schedule-dlq.html; "
    "aws/aws-cdk#31785",
)
def schedule_role_sends_to_dead_letter(model: Model, settings: Settings) -> Iterator[Violation]:
    roles = RolePolicies(model)
    for schedule in model.of_type("AWS::Scheduler::Schedule"):
        target = schedule.properties.get("Target") or {}
        role = model.one_target(target.get("RoleArn"), schedule.stack, "AWS::IAM::Role")
        queue = model.one_target((target.get("DeadLetterConfig") or {}).get("Arn"), schedule.stack, QUEUE)
        if role is None or queue is None or roles.allows(role, "sqs:SendMessage", queue):
            continue
        yield Violation(
            "ScheduleRoleSendsToDeadLetter",
            schedule,
            f"The execution role {role.path} may not sqs:SendMessage to {queue.path}, the schedule's "
            "dead-letter queue: a failed invocation cannot be kept there and is lost.",
            f"Allow the role sqs:SendMessage on {queue.path} (and its key's kms:GenerateDataKey).",
            "Properties/Target/DeadLetterConfig",
        )


def _scoped(statement: dict[str, Any]) -> bool:
    conditions = statement.get("Condition") or {}
    keys = {key.lower() for operator in conditions.values() if isinstance(operator, dict) for key in operator}
    return any(key in keys for key in SCOPING_CONDITIONS)


@rule(
    "EventBusPolicyScoped",
    doc="An event bus policy that admits every principal ('*') is scoped by a condition on the "
    "caller's organization or account; otherwise any AWS account may put events on the bus.",
    source="https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-use-resource-based.html",
)
def event_bus_policy_scoped(model: Model, settings: Settings) -> Iterator[Violation]:
    for policy in model.of_type("AWS::Events::EventBusPolicy"):
        statements = as_list(policy.properties.get("Statement"))
        statements += as_list((policy.properties.get("Policy") or {}).get("Statement"))
        for statement in statements:
            anyone = (
                statement.get("Principal") in ("*", {"AWS": "*"}) or policy.properties.get("Principal") == "*"
            )
            if statement.get("Effect") == "Allow" and anyone and not _scoped(statement):
                yield Violation(
                    "EventBusPolicyScoped",
                    policy,
                    f"{policy.path} lets every AWS principal put events on the bus.",
                    "Name the accounts as principals, or add a condition on aws:PrincipalOrgID.",
                )


def _queue_admits_events(model: Model, queue: Resource) -> bool:
    for policy in model.of_type("AWS::SQS::QueuePolicy"):
        if queue not in model.targets_of_type(policy.properties.get("Queues"), policy.stack, QUEUE):
            continue
        for statement in as_list((policy.properties.get("PolicyDocument") or {}).get("Statement")):
            services = _principals(model, statement, policy.stack)[0]
            if (EVENTS in services or "*" in services) and allows(statement, "sqs:SendMessage"):
                return True
    return False


@rule(
    "EventTargetQueuePolicy",
    doc="A queue that an EventBridge rule targets, or uses as a target's dead-letter queue, or "
    "that an event bus uses as its dead-letter queue, has a queue policy letting "
    "events.amazonaws.com send to it; EventBridge is not a principal of the account, so without "
    "it every delivery fails.",
    source="https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-use-resource-based.html"
    "#eb-sqs-permissions; https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-rule-dlq.html; "
    "a bus's own dead-letter queue: "
    "https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-encryption-event-bus-dlq.html",
)
def event_target_queue_policy(model: Model, settings: Settings) -> Iterator[Violation]:
    for event_rule in model.of_type("AWS::Events::Rule"):
        for index, target in enumerate(as_list(event_rule.properties.get("Targets"))):
            dead_letter = (target.get("DeadLetterConfig") or {}).get("Arn")
            for where, value in (("", target.get("Arn")), ("/DeadLetterConfig", dead_letter)):
                for queue in model.targets_of_type(value, event_rule.stack, QUEUE):
                    if not _queue_admits_events(model, queue):
                        yield Violation(
                            "EventTargetQueuePolicy",
                            event_rule,
                            f"{event_rule.path} sends to {queue.path}, whose queue policy does not let "
                            f"{EVENTS} sqs:SendMessage: every delivery is refused.",
                            f"Add a queue policy statement for {EVENTS} on {queue.path}, conditioned on "
                            "aws:SourceArn of the rule.",
                            f"Properties/Targets/{index}{where}",
                        )
    for bus in model.of_type("AWS::Events::EventBus"):
        dead_letter = (bus.properties.get("DeadLetterConfig") or {}).get("Arn")
        for queue in model.targets_of_type(dead_letter, bus.stack, QUEUE):
            if not _queue_admits_events(model, queue):
                yield Violation(
                    "EventTargetQueuePolicy",
                    bus,
                    f"{bus.path} keeps the events it cannot encrypt or decrypt in {queue.path}, whose "
                    f"queue policy does not let {EVENTS} sqs:SendMessage: those events are lost.",
                    f"Add a queue policy statement for {EVENTS} on {queue.path}, conditioned on "
                    "aws:SourceArn of the bus.",
                    "Properties/DeadLetterConfig",
                )
