"""EventBridge routing: a custom bus with an archive, rules whose every target has its own
dead-letter queue and retry policy, EventBridge Scheduler schedules, and S3 buckets whose events
reach EventBridge; each failure path ends in a queue with an alarm."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from aws_cdk import Aws, CfnResource, Duration, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_scheduler_targets as scheduler_targets
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from ..shared.defaults import (
    AT_LEAST,
    DLQ_REASON,
    Profile,
    acknowledge,
    dead_letter_queue,
    encryption_key,
    function_behind,
    new_alarm_topic,
    notifying_alarm,
    profile_of,
    qualifier_of,
    secure_queue,
)
from ..shared.nag_findings import wildcard_resource
from ..shared.props import PropError, expect, whole_seconds, within
from .event_pattern import to_event_pattern
from .targets import QueueDestination, QueueTarget, is_a

RuleTarget = sqs.IQueue | lambda_.IFunction | sfn.IStateMachine | events.IEventBus
ACCOUNT_ID = re.compile(r"\d{12}")
ORGANIZATION_ID = re.compile(r"o-[a-z0-9]{10,32}")
# Archive retention per profile: a week to replay a sandbox's mistakes, a year in production.
ARCHIVE_RETENTION = {"sandbox": Duration.days(7), "production": Duration.days(365)}
ASYNC_FAILURES_REASON = (
    "EventBridge and Scheduler invoke this function asynchronously; its EventInvokeConfig sends "
    "an invocation that still fails after Lambda's retries to a failure queue with the error."
)


class EventRouter(Construct):
    """A custom event bus (new or existing) and what routes from it and into it.

    Attributes:
        event_bus: the bus rules read from and producers put events on.
        bus_key: the customer-managed key of a new bus (None for an existing bus).
        archive_key: the customer-managed key of the archive (None without an archive).
        archive: every event of this account on the bus, kept `archive_retention` (None when off).
        queue_key: the key of every queue this construct makes; EventBridge may use it.
        alarm_topic: where every alarm of this construct notifies.
        rules: the rules by id.
        dead_letter_queues: per rule target ("<rule id>/<n>") and schedule ("<schedule id>"), the
            queue EventBridge or Scheduler sends an event to when delivery keeps failing.
        queues: the queues made by `add_queue`, by id.
        queue_dead_letters: the dead-letter queue of each of those queues, by the same id.
        schedule_group: the group of this construct's schedules (its metrics drive the alarms).
        schedules: the schedules by id.
        alarms: every alarm this construct made.
    """

    event_bus: events.IEventBus
    bus_key: kms.Key | None
    archive_key: kms.Key | None
    archive: events.Archive | None
    queue_key: kms.Key
    alarm_topic: sns.ITopic
    rules: dict[str, events.Rule]
    dead_letter_queues: dict[str, sqs.Queue]
    queues: dict[str, sqs.Queue]
    queue_dead_letters: dict[str, sqs.Queue]
    schedule_group: scheduler.ScheduleGroup
    schedules: dict[str, scheduler.Schedule]
    alarms: list[cloudwatch.Alarm]

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        event_bus: events.IEventBus | None = None,
        event_bus_name: str | None = None,
        allowed_accounts: Sequence[str] = (),
        allowed_organizations: Sequence[str] = (),
        archive_retention: Duration | None = None,
        archive: bool = True,
        retry_attempts: int = 8,
        max_event_age: Duration = Duration.hours(4),
        alarm_topic: sns.ITopic | None = None,
        profile: Profile | None = None,
    ) -> None:
        """Build the bus (unless given), its archive, the queue key, the schedule group and alarms.

        Args:
            event_bus: an existing bus to route from; it keeps its own resource policy. Default:
                a new bus with its own key and a dead-letter queue for events it cannot encrypt.
            event_bus_name: the name of the new bus; refused with `event_bus`. Default: a
                generated name.
            allowed_accounts: account ids (12 digits) whose principals may put events on the
                new bus; refused with `event_bus`. Default: none besides this account.
            allowed_organizations: AWS Organizations ids (`o-` and 10 to 32 lowercase letters
                or digits) whose accounts may put events on the new bus; refused with
                `event_bus`. Default: none.
            archive_retention: how long the archive keeps events, whole seconds, at least 1
                day; read only with `archive`. Default: 7 days in sandbox, 365 in production.
            archive: whether to archive every event of this account on the bus, for replay.
                Default: True.
            retry_attempts: how often EventBridge (a rule's targets, a bus target excepted) and
                Scheduler (a schedule's target) retry, 0-185, before sending the event to that
                target's dead-letter queue. Default: 8.
            max_event_age: how long they keep retrying, whole seconds from 60 s to 24 h; also
                the maximum event age of a Lambda target's asynchronous invocations. Default:
                4 hours.
            alarm_topic: the topic alarms notify. Default: a new encrypted topic.
            profile: sandbox or production. Default: the app's `profile` context.
        """
        super().__init__(scope, construct_id)
        expect("event_bus", event_bus, events.IEventBus, optional=True)
        expect("event_bus_name", event_bus_name, str, optional=True)
        expect("alarm_topic", alarm_topic, sns.ITopic, optional=True)
        if event_bus is not None and event_bus_name is not None:
            raise PropError("event_bus", "an existing bus was given together with event_bus_name; pass one")
        if event_bus is not None and (allowed_accounts or allowed_organizations):
            raise PropError(
                "allowed_accounts",
                "an existing bus keeps its own resource policy; allowed_accounts and "
                "allowed_organizations apply only to a new bus",
            )
        for account in allowed_accounts:
            if not isinstance(account, str) or not ACCOUNT_ID.fullmatch(account):
                raise PropError("allowed_accounts", f"{account!r} is not a 12-digit account id")
        for organization in allowed_organizations:
            if not isinstance(organization, str) or not ORGANIZATION_ID.fullmatch(organization):
                raise PropError(
                    "allowed_organizations", f"{organization!r} is not an organization id (o-...)"
                )
        expect("retry_attempts", retry_attempts, int)
        within("retry_attempts", retry_attempts, 0, 185)
        whole_seconds("max_event_age", max_event_age, low=60, high=86_400)
        self._profile = profile or profile_of(self)
        self._retry_attempts = retry_attempts
        self._max_event_age = max_event_age
        self.queue_key = encryption_key(
            self,
            "QueueKey",
            profile=self._profile,
            description=f"Encrypts {self.node.path} queues",
            service_principals=("events.amazonaws.com",),
        )
        self.alarm_topic = alarm_topic or new_alarm_topic(self, "AlarmTopic", profile=self._profile)
        self.alarms = []
        self.rules = {}
        self.dead_letter_queues = {}
        self.queues = {}
        self.queue_dead_letters = {}
        self.schedules = {}
        self._configured_functions: set[str] = set()
        self.bus_key = None
        if event_bus is None:
            self.bus_key = encryption_key(
                self, "BusKey", profile=self._profile, description=f"Encrypts {self.node.path} events"
            )
            # Events EventBridge cannot encrypt or decrypt (a key disabled, a policy changed)
            # go here instead of vanishing.
            bus_dead_letter = self._dead_letter("BusDeadLetterQueue", "the bus (KMS errors)")
            event_bus = events.EventBus(
                self,
                "Bus",
                event_bus_name=event_bus_name,
                kms_key=self.bus_key,
                dead_letter_queue=bus_dead_letter,
            )
            # EventBridge sends there as events.amazonaws.com, which the queue policy must allow
            # (for this bus only: confused deputy); the queue key admits EventBridge already.
            # EventBridge user guide, "Using dead-letter queues to capture encrypted event errors"
            # and "Granting permissions to the dead-letter queue".
            bus_dead_letter.add_to_resource_policy(
                iam.PolicyStatement(
                    principals=[iam.ServicePrincipal("events.amazonaws.com")],
                    actions=["sqs:SendMessage"],
                    resources=[bus_dead_letter.queue_arn],
                    conditions={"ArnEquals": {"aws:SourceArn": event_bus.event_bus_arn}},
                )
            )
            self._admit(event_bus, allowed_accounts, allowed_organizations)
        self.event_bus = event_bus
        self.archive = None
        self.archive_key = None
        if archive:
            retention = archive_retention or ARCHIVE_RETENTION[self._profile.name]
            whole_seconds("archive_retention", retention, low=86_400)
            # Its own key: CDK's archive statement names the bus ARN, and the bus names its key,
            # so one key for both is a dependency cycle.
            self.archive_key = encryption_key(
                self, "ArchiveKey", profile=self._profile, description=f"Encrypts {self.node.path} archive"
            )
            self.archive = events.Archive(
                self,
                "Archive",
                source_event_bus=event_bus,
                # Every event of this account; an archive must have a pattern.
                event_pattern=events.EventPattern(account=[Stack.of(self).account]),
                retention=retention,
                kms_key=self.archive_key,
                description=f"Replayable copy of {self.node.path} events",
            )
        self.schedule_group = scheduler.ScheduleGroup(
            self, "Schedules", removal_policy=self._profile.removal_policy
        )
        self.alarms.extend(_schedule_group_alarms(self))

    # --- queues ----------------------------------------------------------------------------

    def add_queue(
        self,
        queue_id: str,
        *,
        visibility_timeout: Duration = Duration.seconds(60),
        max_receive_count: int = 3,
    ) -> sqs.Queue:
        """A queue EventBridge may deliver to (its key admits EventBridge), with its own
        dead-letter queue after `max_receive_count` receives, and an alarm on that DLQ."""
        if queue_id in self.queues:
            raise PropError("queue_id", f"{queue_id!r} already exists")
        scope = Construct(self, queue_id)
        dead_letter = dead_letter_queue(scope, "DeadLetterQueue", key=self.queue_key, profile=self._profile)
        acknowledge(dead_letter, "AwsSolutions-SQS3", DLQ_REASON)
        queue = secure_queue(
            scope,
            "Queue",
            key=self.queue_key,
            dead_letter=dead_letter,
            max_receive_count=max_receive_count,
            visibility_timeout=visibility_timeout,
            profile=self._profile,
        )
        self.alarms.append(self._not_empty(scope, dead_letter))
        self.queues[queue_id] = queue
        self.queue_dead_letters[queue_id] = dead_letter
        return queue

    # --- rules -----------------------------------------------------------------------------

    def add_rule(
        self,
        rule_id: str,
        *,
        pattern: Mapping[str, Any],
        targets: Sequence[RuleTarget],
        on_default_bus: bool = False,
        input: events.RuleTargetInput | None = None,
        description: str | None = None,
    ) -> events.Rule:
        """A rule sending the events that match `pattern` to each of `targets` (queues,
        functions, state machines, other buses), each target with its own dead-letter queue and
        the construct's retry policy. `on_default_bus` for AWS services' events (S3 sends to
        the default bus only). `input` replaces the event (e.g. an input transformer)."""
        if rule_id in self.rules:
            raise PropError("rule_id", f"{rule_id!r} already exists")
        event_pattern, filtered = to_event_pattern("pattern", pattern)
        if not targets:
            raise PropError("targets", f"rule {rule_id!r} has no target")
        bus = self._default_bus() if on_default_bus else self.event_bus
        scope = Construct(self, rule_id)
        rule = events.Rule(scope, "Rule", event_bus=bus, event_pattern=event_pattern, description=description)
        for field, value in filtered.items():
            # L1: the L2 EventPattern types envelope fields as string lists, without filters.
            cfn_rule = rule.node.default_child
            assert isinstance(cfn_rule, events.CfnRule)
            cfn_rule.add_property_override(f"EventPattern.{field}", value)
        for index, target in enumerate(targets):
            dead_letter = self._dead_letter(
                f"{rule_id}DeadLetterQueue{index}", f"rule {rule_id} target {index}"
            )
            self.dead_letter_queues[f"{rule_id}/{index}"] = dead_letter
            rule.add_target(self._target(rule_id, target, dead_letter, input))
        self.alarms.extend(self._rule_alarms(scope, rule, bus if not on_default_bus else None))
        self.rules[rule_id] = rule
        return rule

    def _target(
        self, rule_id: str, target: Any, dead_letter: sqs.Queue, input: events.RuleTargetInput | None
    ) -> events.IRuleTarget:
        retries, age = self._retry_attempts, self._max_event_age
        if is_a(target, sqs.IQueue):
            return QueueTarget(
                target, input=input, dead_letter_queue=dead_letter, retry_attempts=retries, max_event_age=age
            )
        if is_a(target, lambda_.IFunction):
            self._keep_async_failures(target)
            return targets.LambdaFunction(
                target, event=input, dead_letter_queue=dead_letter, retry_attempts=retries, max_event_age=age
            )
        if is_a(target, sfn.IStateMachine):
            return targets.SfnStateMachine(
                target, input=input, dead_letter_queue=dead_letter, retry_attempts=retries, max_event_age=age
            )
        if is_a(target, events.IEventBus):
            # EventBridge's retry policy does not apply to a bus target; its DLQ does.
            return targets.EventBus(target, dead_letter_queue=dead_letter)
        raise PropError(
            "targets",
            f"rule {rule_id!r}: {type(target).__name__} is not a queue, function, state machine or bus",
        )

    # --- schedules -------------------------------------------------------------------------

    def add_schedule(
        self,
        schedule_id: str,
        *,
        expression: scheduler.ScheduleExpression,
        target: lambda_.IFunction,
        flexible_window: Duration | None = Duration.minutes(15),
        input: scheduler.ScheduleTargetInput | None = None,
        description: str | None = None,
    ) -> scheduler.Schedule:
        """An EventBridge Scheduler schedule invoking `target` (give the time zone in the
        expression: `ScheduleExpression.cron(..., time_zone=TimeZone.EUROPE_DUBLIN)`), through
        an execution role that may invoke only the target and send only to its dead-letter
        queue (Scheduler sends to the DLQ with that role, aws/aws-cdk#31785). A
        `flexible_window` lets Scheduler spread invocations; None runs on the minute."""
        if schedule_id in self.schedules:
            raise PropError("schedule_id", f"{schedule_id!r} already exists")
        if not is_a(target, lambda_.IFunction):
            raise PropError("target", f"expected aws_lambda.IFunction, got {type(target).__name__}")
        if flexible_window is not None:
            whole_seconds("flexible_window", flexible_window, low=60, high=86_400)
        scope = Construct(self, schedule_id)
        role = iam.Role(
            scope,
            "ExecutionRole",
            assumed_by=iam.ServicePrincipal(
                "scheduler.amazonaws.com", conditions={"StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID}}
            ),
            description=f"Runs the {schedule_id} schedule",
        )
        dead_letter = self._dead_letter(f"{schedule_id}DeadLetterQueue", f"schedule {schedule_id}")
        # The role sends to the DLQ, so it needs the DLQ's key as well as sqs:SendMessage.
        self.queue_key.grant(role, "kms:GenerateDataKey", "kms:Decrypt")
        self.dead_letter_queues[schedule_id] = dead_letter
        self._keep_async_failures(target)
        schedule = scheduler.Schedule(
            scope,
            "Schedule",
            schedule=expression,
            schedule_group=self.schedule_group,
            description=description,
            time_window=(
                scheduler.TimeWindow.flexible(flexible_window)
                if flexible_window
                else scheduler.TimeWindow.off()
            ),
            target=scheduler_targets.LambdaInvoke(
                target,
                role=role,
                input=input,
                dead_letter_queue=dead_letter,
                retry_attempts=min(self._retry_attempts, 185),
                max_event_age=self._max_event_age,
            ),
        )
        acknowledge(
            role.node.find_child("DefaultPolicy"),
            wildcard_resource(role, f"{target.function_arn}:*"),
            "CDK's LambdaInvoke target lets the schedule invoke the function's versions and "
            "aliases (<arn>:*) as well as the function itself; nothing else.",
        )
        self.schedules[schedule_id] = schedule
        return schedule

    # --- S3 --------------------------------------------------------------------------------

    @staticmethod
    def send_bucket_events(bucket: s3.IBucket) -> None:
        """Have `bucket` send its events to EventBridge (the default bus).

        A bucket of this app gets the setting in its own template (no custom resource). An
        imported bucket goes through CDK's notifications custom resource, which REPLACES the
        bucket's notification configuration: notifications set elsewhere are lost
        (aws/aws-cdk#29653). See docs/event-driven.md.
        """
        if isinstance(bucket, s3.Bucket) and isinstance(bucket.node.default_child, CfnResource):
            # L1 override: the L2 `event_bridge_enabled` deploys a Lambda-backed custom resource
            # (aws/aws-cdk#26772) for what CloudFormation sets natively on the bucket.
            bucket.node.default_child.add_property_override(
                "NotificationConfiguration.EventBridgeConfiguration.EventBridgeEnabled", True
            )
        else:
            bucket.enable_event_bridge_notification()

    # --- internals -------------------------------------------------------------------------

    def _admit(self, bus: events.EventBus, accounts: Sequence[str], organizations: Sequence[str]) -> None:
        if accounts:
            bus.add_to_resource_policy(
                iam.PolicyStatement(
                    sid="AllowNamedAccountsToPutEvents",
                    principals=[iam.AccountPrincipal(a) for a in accounts],
                    actions=["events:PutEvents"],
                    resources=[bus.event_bus_arn],
                )
            )
        for organization in organizations:
            bus.add_to_resource_policy(
                iam.PolicyStatement(
                    sid=f"AllowOrganization{organization.replace('-', '')}ToPutEvents",
                    principals=[iam.AnyPrincipal()],
                    actions=["events:PutEvents"],
                    resources=[bus.event_bus_arn],
                    conditions={"StringEquals": {"aws:PrincipalOrgID": organization}},
                )
            )

    def _default_bus(self) -> events.IEventBus:
        existing = self.node.try_find_child("DefaultBus")
        if existing is not None:
            return existing  # type: ignore[return-value]
        return events.EventBus.from_event_bus_name(self, "DefaultBus", "default")

    def _dead_letter(self, queue_id: str, what: str) -> sqs.Queue:
        queue = dead_letter_queue(self, queue_id, key=self.queue_key, profile=self._profile)
        acknowledge(queue, "AwsSolutions-SQS3", DLQ_REASON)
        self.alarms.append(self._not_empty(queue, queue, what))
        return queue

    def _keep_async_failures(self, function: lambda_.IFunction) -> None:
        """EventBridge and Scheduler invoke a function asynchronously: after Lambda's own
        retries, the event goes to a failure queue (once per function)."""
        path = function.node.path
        if path in self._configured_functions:
            return
        self._configured_functions.add(path)
        name = f"FailureQueue{len(self._configured_functions)}"
        failure_queue = self._dead_letter(name, f"async invocations of {path}")
        lambda_.EventInvokeConfig(
            self,
            f"{name}InvokeConfig",
            function=function_behind(function),
            qualifier=qualifier_of(function),
            on_failure=QueueDestination(failure_queue),
            retry_attempts=2,
            max_event_age=self._max_event_age,
        )
        acknowledge(function, "Serverless-LambdaDLQ", ASYNC_FAILURES_REASON)

    def _not_empty(self, scope: Construct, queue: sqs.IQueue, what: str = "") -> cloudwatch.Alarm:
        return notifying_alarm(
            scope,
            "NotEmpty",
            queue.metric_approximate_number_of_messages_visible(
                period=Duration.minutes(1), statistic="Maximum"
            ),
            topic=self.alarm_topic,
            threshold=1,
            comparison=AT_LEAST,
            evaluation_periods=1,
            description=f"A message is waiting in dead-letter queue {queue.node.path} {what}".strip(),
        )

    def _rule_alarms(
        self, scope: Construct, rule: events.Rule, bus: events.IEventBus | None
    ) -> list[cloudwatch.Alarm]:
        """FailedInvocations (EventBridge gave up on a target) and InvocationsFailedToBeSentToDlq
        (the event is gone). AWS/Events reports a custom bus's rules with EventBusName and
        RuleName, the default bus's with RuleName ("Monitoring Amazon EventBridge")."""
        dimensions = {"RuleName": rule.rule_name}
        if bus is not None:
            dimensions["EventBusName"] = bus.event_bus_name
        found = []
        for metric_name, meaning in (
            ("FailedInvocations", "could not deliver to a target after its retries"),
            ("InvocationsFailedToBeSentToDlq", "lost an event: its DLQ refused it"),
            ("InvocationsSentToDlq", "sent an event to a target's dead-letter queue"),
        ):
            metric = cloudwatch.Metric(
                namespace="AWS/Events",
                metric_name=metric_name,
                dimensions_map=dimensions,
                statistic="Sum",
                period=Duration.minutes(5),
            )
            found.append(
                notifying_alarm(
                    scope,
                    metric_name,
                    metric,
                    topic=self.alarm_topic,
                    threshold=1,
                    comparison=AT_LEAST,
                    evaluation_periods=1,
                    description=f"Rule {rule.node.path} {meaning}",
                )
            )
        return found


def _schedule_group_alarms(router: EventRouter) -> list[cloudwatch.Alarm]:
    """Target errors and dropped invocations of every schedule in the router's group."""
    group = router.schedule_group
    found = []
    for alarm_id, metric, meaning in (
        ("ScheduleTargetErrors", group.metric_target_errors(), "a schedule's target returned an error"),
        ("ScheduleDropped", group.metric_dropped(), "a schedule invocation was dropped after its retries"),
        (
            "ScheduleDeadLetterFailed",
            group.metric_failed_to_be_sent_to_dlq(),
            "a schedule invocation could not be sent to its DLQ",
        ),
    ):
        found.append(
            notifying_alarm(
                group,
                alarm_id,
                metric.with_(period=Duration.minutes(5), statistic="Sum"),
                topic=router.alarm_topic,
                threshold=1,
                comparison=AT_LEAST,
                evaluation_periods=1,
                description=f"Schedule group {group.node.path}: {meaning}",
            )
        )
    return found
