"""The wiring checks as CDK runs them: a policy-validation plugin whose findings fail the synth,
accepted one at a time through the kit's acknowledgement helper (CDK core applies
`Wiring::<rule>` acknowledgements to any plugin's report)."""

from __future__ import annotations

import tempfile
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs

from patterns import defaults
from patterns.wiring import WiringChecks, acknowledgement_id, check_assembly
from stacks import STACK_IDS
from tests.kit import CDK_JSON_CONTEXT, PATH_METADATA, PROFILES, assembly

REASON = "A fixture: this acknowledgement is what the test is about, with a real reason."


def app_with_checks(context: dict[str, Any] | None = None, **options: Any) -> cdk.App:
    app = cdk.App(context={**CDK_JSON_CONTEXT, **(context or {})}, outdir=tempfile.mkdtemp())
    cdk.Validations.of(app).add_plugins(WiringChecks(**options))
    return app


def sns_to_queue_under_the_aws_managed_key(app: cdk.App) -> sns.Subscription:
    """aws/aws-cdk#11122: SNS cannot use alias/aws/sqs, so every message to this queue is lost.

    SqsSubscription refuses such a queue since; a plain Subscription (or another library) does not."""
    stack = cdk.Stack(app, "Events")
    dead_letters = sqs.Queue(stack, "DeadLetters", encryption=sqs.QueueEncryption.SQS_MANAGED)
    queue = sqs.Queue(
        stack,
        "Queue",
        encryption=sqs.QueueEncryption.KMS_MANAGED,
        dead_letter_queue=sqs.DeadLetterQueue(queue=dead_letters, max_receive_count=3),
    )
    topic = sns.Topic(stack, "Topic")
    return sns.Subscription(
        stack, "Subscription", topic=topic, protocol=sns.SubscriptionProtocol.SQS, endpoint=queue.queue_arn
    )


def test_a_finding_fails_the_synth_naming_the_construct_and_the_acknowledgement_id() -> None:
    app = app_with_checks()
    sns_to_queue_under_the_aws_managed_key(app)
    with pytest.raises(Exception, match="ValidationFailed") as failure:
        app.synth()
    message = str(failure.value)
    assert "Events/Subscription/Resource" in message and "alias/aws/sqs" in message
    assert f"'{acknowledgement_id('WriterCanUseKey')}'" in message


def test_one_finding_is_accepted_through_the_kit_acknowledgement_helper() -> None:
    app = app_with_checks()
    subscription = sns_to_queue_under_the_aws_managed_key(app)
    defaults.acknowledge(subscription, acknowledgement_id("WriterCanUseKey"), REASON)
    defaults.acknowledge(
        subscription.node.scope.node.find_child("DeadLetters"), acknowledgement_id("DeadLetterAlarm"), REASON
    )  # type: ignore[union-attr]
    app.synth()


def test_an_acknowledgement_elsewhere_accepts_nothing() -> None:
    app = app_with_checks()
    subscription = sns_to_queue_under_the_aws_managed_key(app)
    defaults.acknowledge(
        subscription.node.scope.node.find_child("Queue"), acknowledgement_id("WriterCanUseKey"), REASON
    )  # type: ignore[union-attr]
    with pytest.raises(Exception, match="WriterCanUseKey"):
        app.synth()


@pytest.mark.parametrize(("profile", "fails"), [("production", True), ("sandbox", False)])
def test_production_rules_follow_the_profile_context(profile: str, fails: bool) -> None:
    app = app_with_checks({"profile": profile})
    logs.LogGroup(cdk.Stack(app, "Logs"), "Group", removal_policy=cdk.RemovalPolicy.DESTROY)
    if fails:
        with pytest.raises(Exception, match="StatefulRetained"):
            app.synth()
    else:
        app.synth()


def test_an_explicit_production_setting_wins_over_the_context() -> None:
    app = app_with_checks({"profile": "sandbox"}, production=True)
    logs.LogGroup(cdk.Stack(app, "Logs"), "Group", removal_policy=cdk.RemovalPolicy.DESTROY)
    with pytest.raises(Exception, match="StatefulRetained"):
        app.synth()


def test_check_assembly_reads_a_synthesized_folder_and_its_acknowledgements() -> None:
    app = cdk.App(context={**CDK_JSON_CONTEXT, **PATH_METADATA}, outdir=tempfile.mkdtemp())
    sns_to_queue_under_the_aws_managed_key(app)
    directory = app.synth().directory
    (found,) = [v for v in check_assembly(directory, production=False) if v.rule == "WriterCanUseKey"]
    assert found.resource.path == "Events/Subscription/Resource"
    app = cdk.App(context=CDK_JSON_CONTEXT, outdir=tempfile.mkdtemp())  # no path metadata: the manifest's
    subscription = sns_to_queue_under_the_aws_managed_key(app)
    directory = app.synth().directory
    (found,) = [v for v in check_assembly(directory, production=False) if v.rule == "WriterCanUseKey"]
    assert found.resource.path == "Events/Subscription/Resource"
    app = cdk.App(context={**CDK_JSON_CONTEXT, **PATH_METADATA}, outdir=tempfile.mkdtemp())
    subscription = sns_to_queue_under_the_aws_managed_key(app)
    defaults.acknowledge(subscription, acknowledgement_id("WriterCanUseKey"), REASON)
    assert not [
        v for v in check_assembly(app.synth().directory, production=False) if v.rule == "WriterCanUseKey"
    ]


@pytest.mark.parametrize("profile", PROFILES)
def test_the_kit_has_no_unacknowledged_wiring_finding(profile: str) -> None:
    """build_app registers the checks, so a finding already fails assembly(); this names them."""
    found = check_assembly(assembly(profile).directory, production=profile == "production")
    assert [str(v) for v in found] == []
    assert {s.stack_name for s in assembly(profile).stacks} == set(STACK_IDS)
