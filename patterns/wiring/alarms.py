"""Alarms reach someone: every topic an alarm notifies has a subscriber or is exported for one."""

from __future__ import annotations

from collections.abc import Iterator

from .core import Settings, Violation, rule
from .model import Model, Resource, as_list

TOPIC = "AWS::SNS::Topic"


def notified_topics(model: Model) -> dict[Resource, list[Resource]]:
    """Topic -> the alarms and Auto Scaling groups that notify it."""
    found: dict[Resource, list[Resource]] = {}
    for alarm in model.of_type("AWS::CloudWatch::Alarm"):
        for kind in ("AlarmActions", "OKActions", "InsufficientDataActions"):
            for topic in model.targets_of_type(alarm.properties.get(kind), alarm.stack, TOPIC):
                found.setdefault(topic, []).append(alarm)
    for group in model.of_type("AWS::AutoScaling::AutoScalingGroup"):
        for config in as_list(group.properties.get("NotificationConfigurations")):
            for topic in model.targets_of_type(config.get("TopicARN"), group.stack, TOPIC):
                found.setdefault(topic, []).append(group)
    return found


@rule(
    "AlarmTopicSubscribed",
    doc="Every topic that alarms (or Auto Scaling notifications) publish to has a subscription in the "
    "app or an export another app can subscribe through; otherwise the alarm tells no one.",
    source="https://docs.aws.amazon.com/sns/latest/dg/sns-create-subscribe-endpoint-to-topic.html "
    "(a message published to a topic without subscriptions is delivered to no one)",
)
def alarm_topic_subscribed(model: Model, settings: Settings) -> Iterator[Violation]:
    subscribed = {
        topic
        for subscription in model.of_type("AWS::SNS::Subscription")
        for topic in model.targets_of_type(subscription.properties.get("TopicArn"), subscription.stack, TOPIC)
    }
    for topic, notifiers in notified_topics(model).items():
        if topic in subscribed or as_list(topic.properties.get("Subscription")) or model.exported(topic):
            continue
        names = ", ".join(n.path for n in notifiers[:3]) + (
            f" and {len(notifiers) - 3} more" if len(notifiers) > 3 else ""
        )
        yield Violation(
            "AlarmTopicSubscribed",
            topic,
            f"is notified by {names} but has no subscription and no export: those alarms reach no one.",
            "Subscribe someone (topic.add_subscription(EmailSubscription(...))) or export the topic's ARN "
            "for the on-call tooling.",
        )
