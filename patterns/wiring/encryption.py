"""Every principal that writes into an encrypted topic or queue can use its key.

An AWS service that publishes on its own (SNS, CloudWatch, EventBridge, S3, Auto Scaling) is not
an IAM principal of the account: the key policy itself must name it, and an AWS-managed key
(`alias/aws/sqs`, `alias/aws/sns`) cannot be changed to do so. A role of the account needs the
key in its IAM policy (when the key policy delegates to the account) or in the key policy.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from .core import Settings, Violation, rule
from .model import Model, Rendered, Resource, allows, as_list

QUEUE, TOPIC = "AWS::SQS::Queue", "AWS::SNS::Topic"
ACTIONS = {QUEUE: ("kms:GenerateDataKey", "kms:Decrypt"), TOPIC: ("kms:GenerateDataKey", "kms:Decrypt")}
AUTO_SCALING_ROLE = "AWSServiceRoleForAutoScaling"


@dataclass(frozen=True)
class Writer:
    """Who writes: a service principal, a service-linked role, or a role of the app."""

    resource: Resource
    location: str
    service: str | None = None
    linked_role: str | None = None
    role: Resource | None = None

    @property
    def name(self) -> str:
        if self.service:
            return self.service
        if self.linked_role:
            return f"the service-linked role {self.linked_role}"
        return f"the role {self.role.path if self.role else '?'}"


def key_of(model: Model, target: Resource) -> Resource | str | None:
    """The target's KMS key resource, or the alias of an AWS-managed key; None if neither."""
    value = target.properties.get("KmsMasterKeyId")
    if value is None:
        return None
    literal = model.literal(value, target.stack)
    if isinstance(literal, str):
        return literal if literal.startswith("alias/aws/") else None
    found = model.target(value, target.stack)
    if found and found.resource.type == "AWS::KMS::Alias":
        found = model.target(found.resource.properties.get("TargetKeyId"), found.resource.stack)
    return found.resource if found and found.resource.type == "AWS::KMS::Key" else None


def _principals(model: Model, statement: dict[str, Any], stack: str) -> tuple[list[str], list[Rendered]]:
    principal = statement.get("Principal", {})
    if principal == "*":
        return ["*"], []
    services = [str(s) for s in as_list(principal.get("Service"))]
    return services, [model.render(a, stack) for a in as_list(principal.get("AWS"))]


def _is_account(rendered: Rendered) -> bool:
    if rendered.text.endswith(":root"):
        return True
    token = rendered.token_at(rendered.text)
    return bool(token == {"Ref": "AWS::AccountId"})


def _key_statements(key: Resource, actions: tuple[str, ...]) -> Iterator[dict[str, Any]]:
    for statement in as_list((key.properties.get("KeyPolicy") or {}).get("Statement")):
        if all(allows(statement, action) for action in actions):
            yield statement


def can_use(
    model: Model, writer: Writer, key: Resource, actions: tuple[str, ...], roles: RolePolicies
) -> bool:
    delegates = False
    for statement in _key_statements(key, actions):
        services, aws = _principals(model, statement, key.stack)
        if "*" in services or any(a.text == "*" for a in aws):
            return True
        if writer.service and writer.service in services:
            return True
        if writer.linked_role and any(writer.linked_role in a.text for a in aws):
            return True
        if writer.role and any(_names(model, a, writer.role) for a in aws):
            return True
        delegates = delegates or any(_is_account(a) for a in aws)
    if writer.role and delegates:
        return all(roles.allows(writer.role, action, key) for action in actions)
    return False


def _names(model: Model, rendered: Rendered, role: Resource) -> bool:
    return any((t := model.target(token, rendered.stack)) and t.resource == role for token in rendered.tokens)


class RolePolicies:
    """The IAM statements attached to each role of the app, from every kind of policy."""

    def __init__(self, model: Model) -> None:
        self.model = model
        self.statements: dict[Resource, list[tuple[dict[str, Any], str]]] = {}
        for role in model.of_type("AWS::IAM::Role"):
            for policy in as_list(role.properties.get("Policies")):
                self._add([role], policy.get("PolicyDocument"), role.stack)
        for policy in model.of_type("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            attached = model.targets_of_type(policy.properties.get("Roles"), policy.stack, "AWS::IAM::Role")
            self._add(attached, policy.properties.get("PolicyDocument"), policy.stack)

    def _add(self, roles: list[Resource], document: Any, stack: str) -> None:
        for statement in as_list((document or {}).get("Statement")):
            for role in roles:
                self.statements.setdefault(role, []).append((statement, stack))

    def allows(self, role: Resource, action: str, resource: Resource) -> bool:
        return any(
            allows(statement, action) and self.covers(statement, stack, resource)
            for statement, stack in self.statements.get(role, [])
        )

    def covers(self, statement: dict[str, Any], stack: str, resource: Resource) -> bool:
        for value in as_list(statement.get("Resource")):
            if value == "*" or any(t.resource == resource for t in self.model.targets(value, stack)):
                return True
        return False


def writers(model: Model, roles: RolePolicies) -> Iterator[tuple[Writer, Resource]]:
    """(writer, encrypted queue or topic it writes to) for every writer the templates show."""
    for subscription in model.of_type("AWS::SNS::Subscription"):
        props, stack = subscription.properties, subscription.stack
        if props.get("Protocol") == "sqs":
            for queue in model.targets_of_type(props.get("Endpoint"), stack, QUEUE):
                yield Writer(subscription, "Properties/Endpoint", service="sns.amazonaws.com"), queue
        redrive = props.get("RedrivePolicy") or {}
        for queue in model.targets_of_type(redrive.get("deadLetterTargetArn"), stack, QUEUE):
            yield Writer(subscription, "Properties/RedrivePolicy", service="sns.amazonaws.com"), queue
    for group in model.of_type("AWS::AutoScaling::AutoScalingGroup"):
        linked = model.render(group.properties.get("ServiceLinkedRoleARN", AUTO_SCALING_ROLE), group.stack)
        linked_name = linked.text.rsplit("/", 1)[-1]
        for index, config in enumerate(as_list(group.properties.get("NotificationConfigurations"))):
            for topic in model.targets_of_type(config.get("TopicARN"), group.stack, TOPIC):
                yield (
                    Writer(group, f"Properties/NotificationConfigurations/{index}", linked_role=linked_name),
                    topic,
                )
    for alarm in model.of_type("AWS::CloudWatch::Alarm"):
        for kind in ("AlarmActions", "OKActions", "InsufficientDataActions"):
            for topic in model.targets_of_type(alarm.properties.get(kind), alarm.stack, TOPIC):
                yield Writer(alarm, f"Properties/{kind}", service="cloudwatch.amazonaws.com"), topic
    for event_rule in model.of_type("AWS::Events::Rule"):
        for index, target in enumerate(as_list(event_rule.properties.get("Targets"))):
            for resource in model.targets_of_type(target.get("Arn"), event_rule.stack, QUEUE, TOPIC):
                yield (
                    Writer(event_rule, f"Properties/Targets/{index}", service="events.amazonaws.com"),
                    resource,
                )
            dead_letter = (target.get("DeadLetterConfig") or {}).get("Arn")
            for queue in model.targets_of_type(dead_letter, event_rule.stack, QUEUE):
                yield (
                    Writer(
                        event_rule,
                        f"Properties/Targets/{index}/DeadLetterConfig",
                        service="events.amazonaws.com",
                    ),
                    queue,
                )
    for schedule in model.of_type("AWS::Scheduler::Schedule"):
        target = schedule.properties.get("Target") or {}
        role = model.one_target(target.get("RoleArn"), schedule.stack, "AWS::IAM::Role")
        if role is None:
            continue
        destinations = [target.get("Arn"), (target.get("DeadLetterConfig") or {}).get("Arn")]
        for resource in model.targets_of_type(destinations, schedule.stack, QUEUE, TOPIC):
            yield Writer(schedule, "Properties/Target", role=role), resource
    for holder in model.of_type("AWS::S3::Bucket", "Custom::S3BucketNotifications"):
        notifications = holder.properties.get("NotificationConfiguration") or {}
        for kind, key in (("QueueConfigurations", "Queue"), ("TopicConfigurations", "Topic")):
            for config in as_list(notifications.get(kind)):
                for resource in model.targets_of_type(config.get(key), holder.stack, QUEUE, TOPIC):
                    yield (
                        Writer(
                            holder, f"Properties/NotificationConfiguration/{kind}", service="s3.amazonaws.com"
                        ),
                        resource,
                    )
    for role, statements in roles.statements.items():
        for statement, stack in statements:
            for action, kind in (("sqs:SendMessage", QUEUE), ("sns:Publish", TOPIC)):
                if statement.get("Effect") != "Allow" or not any(
                    a.lower() == action.lower() for a in _actions(statement)
                ):
                    continue
                for resource in model.targets_of_type(statement.get("Resource"), stack, kind):
                    yield Writer(role, "Policies", role=role), resource


def _actions(statement: dict[str, Any]) -> list[str]:
    return [str(a) for a in as_list(statement.get("Action"))]


@rule(
    "WriterCanUseKey",
    doc="Every writer of an encrypted SNS topic or SQS queue can use its KMS key: SNS subscriptions "
    "and their DLQs, Auto Scaling notifications (service-linked role), alarm actions, EventBridge "
    "and Scheduler targets, S3 notifications, and roles allowed to send or publish.",
    source="https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html"
    "#compatibility-with-aws-services; "
    "https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-key-management.html; "
    "https://docs.aws.amazon.com/autoscaling/ec2/userguide/ec2-auto-scaling-sns-notifications.html; "
    "aws/aws-cdk#11122 (SNS to a queue under alias/aws/sqs loses every message)",
)
def writer_can_use_key(model: Model, settings: Settings) -> Iterator[Violation]:
    roles = RolePolicies(model)
    seen: set[tuple[Resource, Resource, str]] = set()
    for writer, target in writers(model, roles):
        key = key_of(model, target)
        if key is None or (writer.resource, target, writer.location) in seen:
            continue
        seen.add((writer.resource, target, writer.location))
        actions = ACTIONS[target.type]
        if isinstance(key, str):
            if writer.role:
                continue  # an AWS-managed key serves the account's own principals
            yield Violation(
                "WriterCanUseKey",
                writer.resource,
                f"{writer.name} writes to {target.path}, encrypted with the AWS-managed key {key}, "
                "whose key policy no AWS service can be added to: every message is dropped.",
                f"Encrypt {target.path} with a customer-managed key whose policy allows {writer.name} "
                f"{' and '.join(actions)}.",
                writer.location,
            )
        elif not can_use(model, writer, key, actions, roles):
            yield Violation(
                "WriterCanUseKey",
                writer.resource,
                f"{writer.name} writes to {target.path}, but the key {key.path} does not let it use "
                f"{' and '.join(actions)}: its messages are dropped.",
                (
                    f"Grant the role {' and '.join(actions)} on {key.path} (key.grant_encrypt_decrypt(role))."
                    if writer.role
                    else f"Add a key policy statement allowing {writer.name} {' and '.join(actions)} "
                    f"on {key.path}."
                ),
                writer.location,
            )
