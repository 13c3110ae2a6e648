"""Rule targets and destinations that grant exactly what delivery needs, and the check of
what a target is (jsii protocols, which isinstance refuses)."""

from __future__ import annotations

from typing import Any

import jsii
from aws_cdk import Duration
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sqs as sqs
from aws_cdk.interfaces.aws_events import IRuleRef
from constructs import Construct
from typing_extensions import get_protocol_members

from ..shared.defaults import grant_send


@jsii.implements(events.IRuleTarget)
class QueueTarget:
    """An SQS rule target, like CDK's SqsQueue, but admitting only this rule: its queue policy
    statement and key statement carry the rule's ARN as aws:SourceArn. (SqsQueue grants
    events.amazonaws.com the queue's key with no condition, for every rule of every account.)"""

    def __init__(
        self,
        queue: sqs.IQueue,
        *,
        dead_letter_queue: sqs.IQueue,
        retry_attempts: int,
        max_event_age: Duration,
        input: events.RuleTargetInput | None = None,
    ) -> None:
        self.queue = queue
        self.dead_letter_queue = dead_letter_queue
        self.retry_attempts = retry_attempts
        self.max_event_age = max_event_age
        self.input = input

    def bind(self, rule: IRuleRef, id: str | None = None) -> events.RuleTargetConfig:
        for queue in (self.queue, self.dead_letter_queue):
            _admit_rule(queue, rule)
        return events.RuleTargetConfig(
            arn=self.queue.queue_arn,
            input=self.input,
            target_resource=self.queue,
            dead_letter_config=events.CfnRule.DeadLetterConfigProperty(arn=self.dead_letter_queue.queue_arn),
            retry_policy=events.CfnRule.RetryPolicyProperty(
                maximum_retry_attempts=self.retry_attempts,
                maximum_event_age_in_seconds=int(self.max_event_age.to_seconds()),
            ),
        )


def _admit_rule(queue: sqs.IQueue, rule: IRuleRef) -> None:
    """Let `rule` (and only it) send to `queue`. The queue's key must admit EventBridge too: the
    router's queue key does (for this account); for a queue of yours, the wiring check
    WriterCanUseKey reports a key that does not."""
    condition = {"ArnEquals": {"aws:SourceArn": rule.rule_ref.rule_arn}}
    queue.add_to_resource_policy(
        iam.PolicyStatement(
            principals=[iam.ServicePrincipal("events.amazonaws.com")],
            actions=["sqs:SendMessage"],
            resources=[queue.queue_arn],
            conditions=condition,
        )
    )


@jsii.implements(lambda_.IDestination)
class QueueDestination:
    """An on-failure destination that grants exactly what sending needs (see FanOut's)."""

    def __init__(self, queue: sqs.IQueue) -> None:
        self.queue = queue

    def bind(
        self, scope: Construct, fn: lambda_.IFunction, *, type: lambda_.DestinationType
    ) -> lambda_.DestinationConfig:
        grant_send(self.queue, fn)
        return lambda_.DestinationConfig(destination=self.queue.queue_arn)


def is_a(value: Any, protocol: type) -> bool:
    """Whether `value` has every member of a jsii protocol, looked up on its class: reading some
    members of an instance raises (a function's `connections` without a VPC)."""
    return all(hasattr(type(value), member) for member in get_protocol_members(protocol))
