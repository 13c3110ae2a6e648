"""SNS fan-out: one event published once, delivered to many independent consumers.

Each queue subscriber gets its own filter policy, its own subscription dead-letter queue (for
messages SNS cannot deliver) and its own queue dead-letter queue (for messages its consumer
keeps failing). Each function subscriber gets an on-failure destination for asynchronous
invocations that keep failing. Every queue and the topic are encrypted with customer-managed
keys SNS may use, accept TLS only, and are watched by alarms.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import jsii
from aws_cdk import Duration, Names
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from ..shared.defaults import (
    AT_LEAST,
    DLQ_REASON,
    Profile,
    acknowledge,
    dead_letter_queue,
    encryption_key,
    function_behind,
    grant_send,
    new_alarm_topic,
    notifying_alarm,
    profile_of,
    qualifier_of,
    secure_queue,
)
from ..shared.props import PropError, exclusive, expect, whole_seconds, within
from . import filter_policy as policies

MAX_RECEIVE_COUNT = (1, 1000)  # SQS's range for a redrive policy
RETENTION_SECONDS = (60, 14 * 24 * 3600)  # SQS's range for MessageRetentionPeriod
VISIBILITY_TO_TIMEOUT = 6  # AWS: a queue's visibility timeout >= 6 x its Lambda consumer's timeout
ASYNC_FAILURES_REASON = (
    "This function is invoked by SNS asynchronously with an on-failure destination (an SQS "
    "queue), which records the event and the error, unlike a dead-letter queue."
)
SQS_CONSUMER_DLQ_REASON = (
    "This function is invoked synchronously by an SQS event source; failed messages return to "
    "the queue and its redrive policy moves them to the queue's dead-letter queue."
)
SQS_MAPPING_DESTINATION_REASON = (
    "SQS event source mappings take no on-failure destination; the source queue's redrive policy "
    "sends a message to its dead-letter queue after max_receive_count failed receives."
)


@dataclass
class QueueSubscriber:
    queue: sqs.IQueue
    dead_letter_queue: sqs.IQueue | None
    """A passed-in queue's own, when this construct can see it; None for a passed-in queue
    without one (refused when it has a consumer)."""
    subscription_dead_letter_queue: sqs.Queue
    consumer: lambda_.IFunction | None
    alarms: list[cloudwatch.Alarm] = field(default_factory=list)


@dataclass
class FunctionSubscriber:
    function: lambda_.IFunction
    failure_queue: sqs.Queue
    subscription_dead_letter_queue: sqs.Queue
    alarms: list[cloudwatch.Alarm] = field(default_factory=list)


class FanOut(Construct):
    """A topic (new or existing) fanned out to queue and function subscribers.

    Add subscribers with `add_queue_subscriber` and `add_function_subscriber`.

    Attributes:
        profile: the profile the construct was built with.
        topic: the topic events are published to (yours, or the new one).
        topic_key: the new topic's key (your topic_key, or the new one); None for an existing
            topic.
        queue_key: the key of every queue the construct makes (yours, or the new one); its
            policy lets this topic's SNS deliveries use it.
        alarm_topic: where the alarms notify (yours, or the new one).
        queues: the queue subscribers by id (QueueSubscriber: queue, dead-letter queues,
            consumer, alarms).
        functions: the function subscribers by id (FunctionSubscriber: function, failure queue,
            subscription dead-letter queue, alarms).
        alarms: every alarm of every subscriber.
    """

    profile: Profile
    topic: sns.ITopic
    topic_key: kms.IKey | None
    queue_key: kms.IKey
    alarm_topic: sns.ITopic
    queues: dict[str, QueueSubscriber]
    functions: dict[str, FunctionSubscriber]
    alarms: list[cloudwatch.Alarm]

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        topic: sns.ITopic | None = None,
        topic_name: str | None = None,
        topic_key: kms.IKey | None = None,
        queue_key: kms.IKey | None = None,
        alarm_topic: sns.ITopic | None = None,
        max_receive_count: int = 5,
        queue_retention_period: Duration = Duration.days(4),
        oldest_message_age_alarm: Duration = Duration.minutes(15),
        profile: Profile | None = None,
    ) -> None:
        """Build the topic (unless given), the queue key and the alarm topic.

        Args:
            topic: an existing topic to fan out; excludes topic_name and topic_key. Default: a
                new topic, encrypted and TLS-only.
            topic_name: the new topic's name; default a generated one.
            topic_key: the key of the new topic (a `kms.Key` of this app); default a new key.
            queue_key: the key of the queues the construct makes: a `kms.Key` of this app,
                whose policy gets a statement letting SNS deliveries from this topic use it
                (kms:Decrypt, kms:GenerateDataKey); an imported key is refused, since its
                policy cannot be changed here. Default a new key with rotation.
            alarm_topic: where the alarms go; default a new encrypted topic.
            max_receive_count: receives before a new queue's message moves to its
                dead-letter queue, 1-1000 (SQS's range); default 5. A subscriber may set its own.
            queue_retention_period: how long new queues keep a message, 1 minute to 14 days
                (SQS's range); default 4 days. A subscriber may set its own.
            oldest_message_age_alarm: the backlog age that alarms, at least 1 minute;
                default 15 minutes.
            profile: sandbox or production; default the `profile` context value.
        """
        super().__init__(scope, construct_id)
        expect("topic", topic, sns.ITopic, optional=True)
        expect("topic_name", topic_name, str, optional=True)
        expect("topic_key", topic_key, kms.IKey, optional=True)
        expect("queue_key", queue_key, kms.IKey, optional=True)
        expect("alarm_topic", alarm_topic, sns.ITopic, optional=True)
        expect("max_receive_count", max_receive_count, int)
        within("max_receive_count", max_receive_count, *MAX_RECEIVE_COUNT)
        _retention("queue_retention_period", queue_retention_period)
        whole_seconds("oldest_message_age_alarm", oldest_message_age_alarm, low=60)
        expect("profile", profile, Profile, optional=True)
        exclusive(topic=topic, topic_name=topic_name)
        exclusive(topic=topic, topic_key=topic_key)
        self.profile = profile or profile_of(self)
        self._max_receive_count = max_receive_count
        self._retention_period = queue_retention_period
        self._oldest_message_age_alarm = oldest_message_age_alarm
        self.topic_key = topic_key
        if topic is None:
            self.topic_key = topic_key or encryption_key(
                self, "TopicKey", profile=self.profile, description=f"Encrypts {self.node.path} events"
            )
            topic = sns.Topic(
                self, "Topic", topic_name=topic_name, master_key=self.topic_key, enforce_ssl=True
            )
        self.topic: sns.ITopic = topic
        if queue_key is not None and getattr(topic, "master_key", None) is queue_key:
            raise PropError(
                "queue_key",
                "it also encrypts the topic: its policy would name the topic (only this topic's "
                "deliveries may use it) while the topic names the key, a dependency cycle "
                "CloudFormation refuses (aws/aws-cdk#35418); give the queues a key of their own",
            )
        self.queue_key = queue_key or encryption_key(
            self, "QueueKey", profile=self.profile, description=f"Encrypts {self.node.path} queues"
        )
        # SNS writes into the queues and the subscription DLQs itself, so the key must let it;
        # the AWS-managed alias/aws/sqs key cannot, and messages sent to it vanish.
        added = self.queue_key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowThisTopicToDeliver",
                principals=[iam.ServicePrincipal("sns.amazonaws.com")],
                # what the SQS developer guide ("Key management") lists for a service that sends
                actions=["kms:Decrypt", "kms:GenerateDataKey"],
                resources=["*"],  # in a key policy, "*" means this key
                conditions={"ArnEquals": {"aws:SourceArn": self.topic.topic_arn}},
            )
        )
        if not added.statement_added:
            raise PropError(
                "queue_key",
                "an imported key's policy cannot be changed here, and SNS needs it to deliver "
                "(kms:Decrypt and kms:GenerateDataKey for sns.amazonaws.com, aws:SourceArn this "
                "topic); pass a kms.Key defined in this app, or leave queue_key unset",
            )
        self.alarm_topic: sns.ITopic = alarm_topic or new_alarm_topic(
            self, "AlarmTopic", profile=self.profile
        )
        self.queues = {}
        self.functions = {}
        self.alarms = []

    def add_queue_subscriber(
        self,
        subscriber_id: str,
        *,
        queue: sqs.IQueue | None = None,
        filter_policy: Mapping[str, Any] | None = None,
        filter_policy_on_body: Mapping[str, Any] | None = None,
        raw_message_delivery: bool = True,
        consumer: lambda_.IFunction | None = None,
        visibility_timeout: Duration | None = None,
        max_receive_count: int | None = None,
        batch_size: int = 10,
        max_batching_window: Duration | None = None,
        max_concurrency: int | None = None,
        retention_period: Duration | None = None,
    ) -> QueueSubscriber:
        """Subscribe a queue (new, or `queue`), optionally drained by `consumer`.

        The consumer reads batches and reports failed records one by one
        (ReportBatchItemFailures), so one bad message never sends its batch back.

        Args:
            subscriber_id: the subscriber's name, unique in this FanOut.
            queue: an existing queue instead of a new one. A queue of this app must have a
                dead-letter queue (`sqs.DeadLetterQueue`); an imported one is taken as it is
                unless it has a consumer here (then its dead-letter queue cannot be seen, and it
                is refused). Excludes visibility_timeout, max_receive_count, retention_period.
            filter_policy: an SNS filter policy on message attributes, as SNS documents it.
            filter_policy_on_body: a filter policy on the message body; excludes filter_policy.
            raw_message_delivery: deliver the message as published, without SNS's envelope;
                default True.
            consumer: a function that drains the queue; default none.
            visibility_timeout: the new queue's; default 6 x the consumer's timeout plus its
                batching window (refused below that), or 60 s without a consumer.
            max_receive_count: the new queue's receives before its dead-letter queue, 1-1000;
                default the FanOut's.
            batch_size: messages per consumer invocation, 1-10000 (1-10 without a batching
                window); default 10.
            max_batching_window: how long the consumer gathers a batch, up to 5 minutes.
            max_concurrency: the most concurrent consumer invocations, 2-1000.
            retention_period: how long the new queue keeps a message, 1 minute to 14 days;
                default the FanOut's.
        """
        self._check_new_subscriber(subscriber_id)
        expect("queue", queue, sqs.IQueue, optional=True)
        expect("raw_message_delivery", raw_message_delivery, bool)
        expect("consumer", consumer, lambda_.IFunction, optional=True)
        expect("visibility_timeout", visibility_timeout, Duration, optional=True)
        expect("max_receive_count", max_receive_count, int, optional=True)
        if max_receive_count is not None:
            within("max_receive_count", max_receive_count, *MAX_RECEIVE_COUNT)
        _check_batching(batch_size, max_batching_window, max_concurrency)
        if retention_period is not None:
            _retention("retention_period", retention_period)
        for setting, value in (
            ("visibility_timeout", visibility_timeout),
            ("max_receive_count", max_receive_count),
            ("retention_period", retention_period),
        ):
            if queue is not None and value is not None:
                raise PropError(
                    "queue",
                    f"subscriber {subscriber_id!r} passes an existing queue, so it cannot also set "
                    f"{setting} (the queue already has its settings)",
                )
        scope = Construct(self, subscriber_id)
        filters = _filters(filter_policy, filter_policy_on_body)
        dead_letter: sqs.IQueue | None = None
        if queue is None:
            dead_letter = dead_letter_queue(
                scope, "DeadLetterQueue", key=self.queue_key, profile=self.profile
            )
            queue = secure_queue(
                scope,
                "Queue",
                key=self.queue_key,
                dead_letter=dead_letter,
                max_receive_count=self._max_receive_count if max_receive_count is None else max_receive_count,
                visibility_timeout=_visibility(consumer, visibility_timeout, max_batching_window),
                profile=self.profile,
                retention_period=retention_period or self._retention_period,
            )
        else:
            dead_letter = own_dead_letter_queue(queue)
            if consumer is not None and queue_visibility(queue) is not None:
                _visibility(consumer, queue_visibility(queue), max_batching_window)
            if dead_letter is None and (consumer is not None or isinstance(queue, sqs.Queue)):
                raise PropError(
                    "queue",
                    f"subscriber {subscriber_id!r} passes an existing queue with no dead-letter "
                    "queue this construct can see; give it one (sqs.DeadLetterQueue), so the messages "
                    "its consumer keeps failing are kept and alarmed on",
                )
        undeliverable = self._subscription_dead_letter_queue(scope)
        self.topic.add_subscription(
            subscriptions.SqsSubscription(
                queue,
                raw_message_delivery=raw_message_delivery,
                dead_letter_queue=undeliverable,
                **filters,
            )
        )
        if consumer is not None:
            source = event_sources.SqsEventSource(
                queue,
                batch_size=batch_size,
                max_batching_window=max_batching_window,
                max_concurrency=max_concurrency,
                report_batch_item_failures=True,
            )
            consumer.add_event_source(source)
            mapping = consumer.node.find_child(f"SqsEventSource:{Names.node_unique_id(queue.node)}")
            acknowledge(
                mapping, "Serverless-LambdaEventSourceMappingDestination", SQS_MAPPING_DESTINATION_REASON
            )
            acknowledge(consumer, "Serverless-LambdaDLQ", SQS_CONSUMER_DLQ_REASON)
        subscriber = QueueSubscriber(queue, dead_letter, undeliverable, consumer)
        subscriber.alarms.append(self._backlog_age_alarm(scope, queue))
        for name, dlq in (("DeadLetterQueue", dead_letter), ("SubscriptionDeadLetterQueue", undeliverable)):
            if dlq is not None:
                subscriber.alarms.append(self._not_empty_alarm(scope, f"{name}NotEmpty", dlq))
        self.queues[subscriber_id] = subscriber
        self.alarms.extend(subscriber.alarms)
        return subscriber

    def add_function_subscriber(
        self,
        subscriber_id: str,
        *,
        function: lambda_.IFunction,
        filter_policy: Mapping[str, Any] | None = None,
        filter_policy_on_body: Mapping[str, Any] | None = None,
        retry_attempts: int = 2,
        max_event_age: Duration = Duration.hours(6),
    ) -> FunctionSubscriber:
        """Subscribe a function; invocations that still fail after `retry_attempts` land in
        `failure_queue` with the event and the error.

        Args:
            subscriber_id: the subscriber's name, unique in this FanOut.
            function: the function SNS invokes (asynchronously); one subscription per function.
            filter_policy: an SNS filter policy on message attributes, as SNS documents it.
            filter_policy_on_body: a filter policy on the message body; excludes filter_policy.
            retry_attempts: Lambda's retries of a failed asynchronous invocation, 0-2; default 2.
            max_event_age: how long Lambda keeps trying, 1 minute to 6 hours; default 6 hours.
        """
        self._check_new_subscriber(subscriber_id)
        expect("function", function, lambda_.IFunction)
        for other_id, other in self.functions.items():
            if other.function is function or other.function.node.path == function.node.path:
                raise PropError(
                    "function",
                    f"{function.node.path} is already subscribed as {other_id!r}: SNS would invoke it "
                    "twice per message, and both subscriptions would set its one asynchronous "
                    "invoke configuration; give one subscriber both filters, or two functions",
                )
        expect("retry_attempts", retry_attempts, int)
        if not 0 <= retry_attempts <= 2:
            raise ValueError(f"retry_attempts: Lambda allows 0 to 2, got {retry_attempts}")
        whole_seconds("max_event_age", max_event_age, low=60, high=6 * 3600)
        scope = Construct(self, subscriber_id)
        filters = _filters(filter_policy, filter_policy_on_body)
        failure_queue = dead_letter_queue(scope, "FailureQueue", key=self.queue_key, profile=self.profile)
        acknowledge(failure_queue, "AwsSolutions-SQS3", DLQ_REASON)
        lambda_.EventInvokeConfig(
            scope,
            "AsyncInvokeConfig",
            function=function_behind(function),
            qualifier=qualifier_of(function),
            on_failure=FailureQueueDestination(failure_queue),
            retry_attempts=retry_attempts,
            max_event_age=max_event_age,
        )
        acknowledge(function, "Serverless-LambdaDLQ", ASYNC_FAILURES_REASON)
        undeliverable = self._subscription_dead_letter_queue(scope)
        self.topic.add_subscription(
            subscriptions.LambdaSubscription(function, dead_letter_queue=undeliverable, **filters)
        )
        subscriber = FunctionSubscriber(function, failure_queue, undeliverable)
        subscriber.alarms.append(self._not_empty_alarm(scope, "FailureQueueNotEmpty", failure_queue))
        subscriber.alarms.append(
            self._not_empty_alarm(scope, "SubscriptionDeadLetterQueueNotEmpty", undeliverable)
        )
        self.functions[subscriber_id] = subscriber
        self.alarms.extend(subscriber.alarms)
        return subscriber

    def _check_new_subscriber(self, subscriber_id: str) -> None:
        expect("subscriber_id", subscriber_id, str)
        if subscriber_id in self.queues or subscriber_id in self.functions:
            raise ValueError(f"subscriber_id: {subscriber_id!r} is already subscribed")

    def _subscription_dead_letter_queue(self, scope: Construct) -> sqs.Queue:
        queue = dead_letter_queue(
            scope, "SubscriptionDeadLetterQueue", key=self.queue_key, profile=self.profile
        )
        acknowledge(queue, "AwsSolutions-SQS3", DLQ_REASON)
        return queue

    def _not_empty_alarm(self, scope: Construct, alarm_id: str, queue: sqs.IQueue) -> cloudwatch.Alarm:
        return notifying_alarm(
            scope,
            alarm_id,
            queue.metric_approximate_number_of_messages_visible(
                period=Duration.minutes(1), statistic="Maximum"
            ),
            topic=self.alarm_topic,
            threshold=1,
            comparison=AT_LEAST,
            evaluation_periods=1,
            description=f"A message is waiting in dead-letter queue {queue.node.path}",
        )

    def _backlog_age_alarm(self, scope: Construct, queue: sqs.IQueue) -> cloudwatch.Alarm:
        limit = int(self._oldest_message_age_alarm.to_seconds())
        return notifying_alarm(
            scope,
            "OldestMessageTooOld",
            queue.metric_approximate_age_of_oldest_message(period=Duration.minutes(1), statistic="Maximum"),
            topic=self.alarm_topic,
            threshold=limit,
            evaluation_periods=1,
            description=f"The oldest message on {queue.node.path} is older than {limit} s",
        )


@jsii.implements(lambda_.IDestination)
class FailureQueueDestination:
    """An on-failure destination that is an SQS queue, like CDK's SqsDestination, but granting
    the function exactly what sending needs (`grant_send`): SqsDestination's
    grant_send_messages adds kms:Encrypt and kms:ReEncrypt*, which sending never uses."""

    def __init__(self, queue: sqs.IQueue) -> None:
        self.queue = queue

    def bind(
        self,
        scope: Construct,
        fn: lambda_.IFunction,
        *,
        type: lambda_.DestinationType,
    ) -> lambda_.DestinationConfig:
        grant_send(self.queue, fn)
        return lambda_.DestinationConfig(destination=self.queue.queue_arn)


def own_dead_letter_queue(queue: sqs.IQueue) -> sqs.IQueue | None:
    """The dead-letter queue of a queue defined in this app; None for one without, or imported."""
    redrive = getattr(queue, "dead_letter_queue", None)
    return redrive.queue if isinstance(redrive, sqs.DeadLetterQueue) else None


def queue_visibility(queue: sqs.IQueue) -> Duration | None:
    """The visibility timeout of a queue defined in this app (SQS's default is 30 s);
    None for an imported queue, whose settings synth cannot see."""
    if not isinstance(queue, sqs.Queue):
        return None
    cfn_queue = queue.node.default_child
    seconds = getattr(cfn_queue, "visibility_timeout", None)
    return Duration.seconds(seconds if isinstance(seconds, (int, float)) else 30)


def _visibility(
    consumer: lambda_.IFunction | None,
    requested: Duration | None,
    batching_window: Duration | None,
) -> Duration:
    """The queue's visibility timeout: at least 6 x the consumer's timeout plus its batching
    window, so a message is never handed to a second invocation while the first still runs."""
    consumer_timeout = getattr(consumer, "timeout", None) if consumer is not None else None
    if not isinstance(consumer_timeout, Duration):
        return requested or Duration.seconds(60)
    window = batching_window.to_seconds() if batching_window else 0
    minimum = int(VISIBILITY_TO_TIMEOUT * consumer_timeout.to_seconds() + window)
    if requested is None:
        return Duration.seconds(minimum)
    if requested.to_seconds() < minimum:
        raise ValueError(
            f"visibility_timeout: {int(requested.to_seconds())} s is below {minimum} s, which is "
            f"{VISIBILITY_TO_TIMEOUT} x the consumer's timeout plus its batching window"
        )
    return requested


def _retention(prop: str, value: Duration) -> None:
    whole_seconds(prop, value, low=RETENTION_SECONDS[0], high=RETENTION_SECONDS[1])


def _check_batching(batch_size: int, window: Duration | None, max_concurrency: int | None) -> None:
    """What an SQS event source mapping accepts (Lambda Developer Guide, "Using Lambda with
    Amazon SQS"): a batch of 1-10 without a window, up to 10000 with one; a window of at most
    5 minutes; a maximum concurrency of 2-1000."""
    expect("batch_size", batch_size, int)
    expect("max_batching_window", window, Duration, optional=True)
    expect("max_concurrency", max_concurrency, int, optional=True)
    seconds = whole_seconds("max_batching_window", window, high=300) if window is not None else 0
    within("batch_size", batch_size, 1, 10000 if seconds else 10)
    if max_concurrency is not None:
        within("max_concurrency", max_concurrency, 2, 1000)


def _filters(
    filter_policy: Mapping[str, Any] | None, filter_policy_on_body: Mapping[str, Any] | None
) -> dict[str, Any]:
    if filter_policy is not None and filter_policy_on_body is not None:
        raise ValueError(
            "filter_policy: SNS filters a subscription either on message attributes or on the "
            "body; pass filter_policy or filter_policy_on_body, not both"
        )
    if filter_policy is not None:
        return {"filter_policy": policies.attribute_filters("filter_policy", filter_policy)}
    if filter_policy_on_body is not None:
        body = policies.body_filters("filter_policy_on_body", filter_policy_on_body)
        return {"filter_policy_with_message_body": body}
    return {}
