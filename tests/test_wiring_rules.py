"""Each wiring rule on fixture templates: a failing case (the defects of the two review issues
among them, so the rules would have caught them on the old main) and a passing one.

Every case states the AWS behaviour it encodes in its rule's `source`; the expected findings are
the resources a reader of the fixture can point at, not a copy of the rule's code.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from patterns.wiring import RULES, Model, Settings, Violation

FIXTURES = Path(__file__).parent / "fixtures" / "wiring"


def findings(family: str, case: str, rule: str, **settings: object) -> list[Violation]:
    templates = json.loads((FIXTURES / f"{family}.json").read_text())[case]
    registered = next(r for r in RULES if r.id == rule)
    return list(registered.check(Model(templates), Settings(**settings)))  # type: ignore[arg-type]


# (family, case, rule, settings, the logical ids found in violation)
CASES = [
    # Route 53 failover: a PRIMARY without a health check is healthy forever (L1 records; CDK's
    # L2 ARecord refuses one itself).
    ("failover", "primary-without-a-health-check", "FailoverPrimaryHealthCheck", {}, ["Primary"]),
    ("failover", "primary-with-a-health-check", "FailoverPrimaryHealthCheck", {}, []),
    # SnapStart restores only published versions: $LATEST (the function's own ARN or name, or a
    # function URL without a qualifier) runs Init cold each time; a function without SnapStart is
    # not this rule's business.
    (
        "snap_start",
        "snap-start-function-invoked-unqualified",
        "SnapStartInvokedUnqualified",
        {},
        ["QueueMapping", "LatestMapping", "GetOrders", "Url"],
    ),
    (
        "snap_start",
        "snap-start-function-invoked-by-alias-or-qualified-name",
        "SnapStartInvokedUnqualified",
        {},
        [],
    ),
    # ECS services: circuit breaker with rollback, Spot only for X86_64, consumers that can
    # decrypt their queue, Container Insights under the metrics backlog scaling divides by.
    (
        "containers",
        "services-without-circuit-breaker-or-rollback",
        "ServiceCircuitBreaker",
        {},
        ["NoRollback", "Off"],
    ),
    ("containers", "service-with-circuit-breaker-and-rollback", "ServiceCircuitBreaker", {}, []),
    ("containers", "spot-for-an-arm64-task", "FargateSpotArchitecture", {}, ["Service"]),
    ("containers", "spot-for-an-x86-task", "FargateSpotArchitecture", {}, []),
    ("containers", "consumer-without-the-queue-key", "ConsumerCanUseKey", {}, ["TaskRole"]),
    ("containers", "consumer-with-the-queue-key", "ConsumerCanUseKey", {}, []),
    (
        "containers",
        "backlog-scaling-on-a-cluster-without-insights",
        "BacklogScalingNeedsContainerInsights",
        {},
        ["Backlog"],
    ),
    (
        "containers",
        "backlog-scaling-on-a-cluster-with-insights",
        "BacklogScalingNeedsContainerInsights",
        {},
        [],
    ),
    # CloudFront OAC: every distribution is the one service principal; only aws:SourceArn tells
    # them apart. CDK's own wiring of a KMS bucket admits any distribution to the key (#21771).
    ("edge", "cdk-default-oac-of-a-kms-bucket", "CloudFrontSourceArn", {}, ["Key961B73FD"]),
    ("edge", "oac-with-the-exact-source-arn", "CloudFrontSourceArn", {}, []),
    ("edge", "legacy-origin-access-identity", "CloudFrontNoOriginAccessIdentity", {}, ["Cdn9963B1AD"]),
    ("edge", "oac-with-the-exact-source-arn", "CloudFrontNoOriginAccessIdentity", {}, []),
    # RDS Proxy listens on the engine's default port, not the database's (review: MultiTier 5438).
    ("proxy", "review-multitier-5438", "ProxyClientPort", {}, ["WebToProxy", "LaunchTemplate"]),
    ("proxy", "proxy-clients-on-5432", "ProxyClientPort", {}, []),
    ("proxy", "function-url-with-database-port", "ProxyClientPort", {}, ["Reporter"]),
    # SNS cannot use alias/aws/sqs (aws/aws-cdk#11122), nor a key whose policy omits it.
    ("encryption", "review-sns-to-queue-under-aws-managed-key", "WriterCanUseKey", {}, ["Subscription"]),
    ("encryption", "sns-to-queue-key-without-sns", "WriterCanUseKey", {}, ["Subscription"]),
    ("encryption", "sns-to-queue-key-allowing-sns", "WriterCanUseKey", {}, []),
    # Auto Scaling publishes through its service-linked role (review: key admits root and CloudWatch).
    ("encryption", "review-asg-notifications-to-alarm-topic-key", "WriterCanUseKey", {}, ["Group"]),
    ("encryption", "asg-notifications-key-allowing-the-linked-role", "WriterCanUseKey", {}, []),
    ("encryption", "alarm-to-topic-under-aws-managed-key", "WriterCanUseKey", {}, ["Alarm"]),
    (
        "encryption",
        "service-writers-without-key-access",
        "WriterCanUseKey",
        {},
        ["Rule", "Rule", "Bucket", "Schedule", "SchedulerRole"],
    ),
    ("encryption", "role-writers-with-and-without-key-grants", "WriterCanUseKey", {}, ["UngrantedRole"]),
    # Lambda's SQS poller: visibility >= 6 x timeout + batching window; redrive; partial failures.
    ("queues", "consumer-outlasting-visibility", "QueueVisibilityTimeout", {}, ["Queue"]),
    ("queues", "consumer-within-visibility", "QueueVisibilityTimeout", {}, []),
    ("queues", "consumer-without-redrive-or-failure-reporting", "QueueConsumerRedrive", {}, ["Queue"]),
    ("queues", "consumer-within-visibility", "QueueConsumerRedrive", {}, []),
    ("queues", "consumer-without-redrive-or-failure-reporting", "BatchItemFailures", {}, ["Mapping"]),
    ("queues", "consumer-within-visibility", "BatchItemFailures", {}, []),
    ("queues", "consumer-outlasting-visibility", "BatchItemFailures", {}, []),
    # Every queue has a DLQ or is one; every DLQ alarms on a metric that counts redriven messages.
    ("queues", "dead-letter-queues-and-their-alarms", "QueueDeadLetter", {}, ["Lonely"]),
    ("queues", "consumer-within-visibility", "QueueDeadLetter", {}, []),
    ("queues", "dead-letter-queues-and-their-alarms", "DeadLetterAlarm", {}, ["JobsDlq", "Unwatched"]),
    ("queues", "consumer-within-visibility", "DeadLetterAlarm", {}, []),
    # Kinesis calls KMS as the reader or writer; an alarm without StreamName has no data.
    (
        "streams",
        "readers-and-writers-without-key-grants",
        "StreamKeyAccess",
        {},
        ["Mapping", "FanOutMapping", "Delivery", "ProducerRole"],
    ),
    ("streams", "readers-and-writers-with-key-grants", "StreamKeyAccess", {}, []),
    ("streams", "unencrypted-stream", "StreamKeyAccess", {}, []),
    (
        "streams",
        "alarms-with-and-without-stream-names",
        "StreamAlarmDimension",
        {},
        ["Unbound", "UnboundMath"],
    ),
    ("streams", "readers-and-writers-with-key-grants", "StreamAlarmDimension", {}, []),
    # Asynchronous invocations end in an on-failure destination or DLQ.
    (
        "invocations",
        "async-invocations-without-failure-destinations",
        "AsyncOnFailure",
        {},
        ["Audit", "Nightly", "Thumbnails"],
    ),
    ("invocations", "async-invocations-with-failure-destinations", "AsyncOnFailure", {}, []),
    (
        "invocations",
        "async-invocations-without-failure-destinations",
        "EventTargetDeadLetter",
        {},
        ["NightlyRule"],
    ),
    ("invocations", "async-invocations-with-failure-destinations", "EventTargetDeadLetter", {}, []),
    ("invocations", "stream-consumers", "StreamConsumerOnFailure", {}, ["Unbounded"]),
    ("invocations", "stream-consumer-with-bounded-retries", "StreamConsumerOnFailure", {}, []),
    # EventBridge must be able to use a bus's or archive's customer-managed key.
    (
        "events",
        "bus-and-archive-keys-without-eventbridge",
        "EventBusKeyAdmitsEventBridge",
        {},
        ["Bus", "Archive"],
    ),
    ("events", "bus-and-archive-keys-admitting-eventbridge", "EventBusKeyAdmitsEventBridge", {}, []),
    # Scheduler sends to a schedule's DLQ with its execution role (aws/aws-cdk#31785).
    ("events", "schedule-dlq-by-queue-policy-only", "ScheduleRoleSendsToDeadLetter", {}, ["Schedule"]),
    ("events", "schedule-role-sends-to-its-dlq", "ScheduleRoleSendsToDeadLetter", {}, []),
    # A bus policy admitting '*' needs an organization or account condition.
    ("events", "bus-policies-open-and-scoped", "EventBusPolicyScoped", {}, ["Open"]),
    ("events", "bus-and-archive-keys-admitting-eventbridge", "EventBusPolicyScoped", {}, []),
    # EventBridge delivers to a queue (target or DLQ) only if the queue policy admits it.
    ("events", "rule-queues-without-and-with-policies", "EventTargetQueuePolicy", {}, ["Unpoliced"]),
    ("events", "schedule-role-sends-to-its-dlq", "EventTargetQueuePolicy", {}, []),
    # ... and to a bus's own dead-letter queue (review: a TLS-only policy on the bus DLQ).
    (
        "events",
        "bus-dead-letter-queues-without-and-with-policies",
        "EventTargetQueuePolicy",
        {},
        ["Unadmitted"],
    ),
    # Alarms reach someone (review: alarm topics without subscribers; a plain output is not an export).
    (
        "alarms",
        "review-alarm-topic-without-subscribers",
        "AlarmTopicSubscribed",
        {},
        ["AlarmTopic", "ScalingNotifications"],
    ),
    ("alarms", "alarm-topics-subscribed-or-exported", "AlarmTopicSubscribed", {}, []),
    # Execution data in logs and DLQ messages (review: Level ALL, IncludeExecutionData, $.paymentToken).
    (
        "state_machines",
        "review-order-workflow-logs-payment-token",
        "StateMachineSensitiveLogs",
        {},
        ["StateMachine"],
    ),
    ("state_machines", "payment-token-without-execution-data", "StateMachineSensitiveLogs", {}, []),
    ("state_machines", "task-tokens-are-not-secrets", "StateMachineSensitiveLogs", {}, []),
    # In production the input itself may carry what no state names: no execution data at all.
    (
        "state_machines",
        "task-tokens-are-not-secrets",
        "StateMachineSensitiveLogs",
        {"production": True},
        ["StateMachine"],
    ),
    (
        "state_machines",
        "payment-token-without-execution-data",
        "StateMachineSensitiveLogs",
        {"production": True},
        [],
    ),
    ("state_machines", "custom-sensitive-field", "StateMachineSensitiveLogs", {}, []),
    (
        "state_machines",
        "custom-sensitive-field",
        "StateMachineSensitiveLogs",
        {"sensitive_fields": ("loyaltyPin",)},
        ["StateMachine"],
    ),
    (
        "state_machines",
        "review-order-workflow-logs-payment-token",
        "StateMachineSensitiveMessage",
        {},
        ["StateMachine"],
    ),
    ("state_machines", "payment-token-without-execution-data", "StateMachineSensitiveMessage", {}, []),
    # Production keeps data (review: production queues with DeletionPolicy Delete), and its keys.
    (
        "retention",
        "review-production-queues-deleted",
        "StatefulRetained",
        {"production": True},
        ["Queue", "Ledger", "Logs"],
    ),
    ("retention", "review-production-queues-deleted", "StatefulRetained", {"production": False}, []),
    ("retention", "production-keeps-data-keys-and-secrets", "StatefulRetained", {"production": True}, []),
    (
        "retention",
        "review-cache-token-deleted-before-its-cache",
        "ProtectorOutlivesData",
        {},
        ["AuthToken", "DatabaseKey"],
    ),
    ("retention", "production-keeps-data-keys-and-secrets", "ProtectorOutlivesData", {}, []),
]


@pytest.mark.parametrize(
    ("family", "case", "rule", "settings", "expected"), CASES, ids=[f"{c[2]}:{c[1]}" for c in CASES]
)
def test_rule_on_fixture(
    family: str, case: str, rule: str, settings: dict[str, object], expected: list[str]
) -> None:
    found = findings(family, case, rule, **settings)
    assert sorted(v.resource.logical_id for v in found) == sorted(expected), [str(v) for v in found]
    for violation in found:
        assert violation.rule == rule and violation.description and violation.fix


def test_every_rule_has_a_doc_a_source_and_a_failing_and_a_passing_fixture() -> None:
    for registered in RULES:
        assert registered.doc and registered.source.startswith(("https://", "aws/")), registered.id
        outcomes = {bool(expected) for _, _, rule, _, expected in CASES if rule == registered.id}
        assert outcomes == {True, False}, f"{registered.id} needs a failing and a passing fixture"


def test_the_proxy_port_findings_name_the_port_and_the_proxy() -> None:
    found = findings("proxy", "review-multitier-5438", "ProxyClientPort")
    assert {v.resource.path for v in found} == {
        "MultiTier/Data/ProxySecurityGroup/from Web:5438",
        "MultiTier/LaunchTemplate",
    }
    env = next(v for v in found if v.resource.logical_id == "LaunchTemplate")
    assert "DB_PORT gives port 5438" in env.description and "listens only on 5432" in env.description


def test_the_most_specific_port_variable_wins() -> None:
    """DB_WRITER_PORT=5432 serves the proxy host; DB_PORT=5438 stays for the replicas."""
    assert findings("proxy", "proxy-clients-on-5432", "ProxyClientPort") == []


def test_a_dead_letter_alarm_on_messages_sent_is_named_as_blind() -> None:
    """NumberOfMessagesSent does not count messages SQS moves to a DLQ after maxReceiveCount."""
    found = findings("queues", "dead-letter-queues-and-their-alarms", "DeadLetterAlarm")
    blind = next(v for v in found if v.resource.logical_id == "JobsDlq")
    assert "NumberOfMessagesSent" in blind.description


def test_the_sensitive_message_finding_names_the_sending_state() -> None:
    (found,) = findings(
        "state_machines", "review-order-workflow-logs-payment-token", "StateMachineSensitiveMessage"
    )
    assert found.description.startswith("Report send the whole state") and "paymentToken" in found.description


def _nulled(value: object, cutoff: int, depth: int = 0) -> object:
    """The value with everything from `cutoff` levels down replaced by JSON null (a template is
    level 0, its resources' properties level 4): the shapes a hand-written or third-party
    template can take."""
    if depth >= cutoff:
        return None
    if isinstance(value, dict):
        return {key: _nulled(item, cutoff, depth + 1) for key, item in value.items()}
    if isinstance(value, list):
        return [_nulled(item, cutoff, depth + 1) for item in value]
    return value


@pytest.mark.parametrize("cutoff", [4, 5, 6, 7])
@pytest.mark.parametrize("family", sorted(path.stem for path in FIXTURES.glob("*.json")))
def test_no_rule_crashes_on_null_property_values(family: str, cutoff: int) -> None:
    """CloudFormation treats a property given as JSON null as one not given (a template may carry
    them: hand-written, or from a tool other than CDK); a rule must then find what it finds
    without the property, never stop the synth with an AttributeError."""
    for case, templates in json.loads((FIXTURES / f"{family}.json").read_text()).items():
        nulled = {stack: _nulled(template, cutoff) for stack, template in templates.items()}
        model = Model(nulled)  # type: ignore[arg-type]
        for registered in RULES:
            assert isinstance(list(registered.check(model, Settings(production=True))), list), (
                case,
                registered.id,
            )
