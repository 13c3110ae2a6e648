"""The wiring checks as CDK runs them: a policy-validation plugin whose findings fail the synth,
accepted one at a time through the kit's acknowledgement helper (CDK core applies
`Wiring::<rule>` acknowledgements to any plugin's report)."""

from __future__ import annotations

import ast
import re
import sys
import tempfile
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs

from patterns.shared import defaults
from patterns.wiring import RULES, WiringChecks, acknowledgement_id, check_assembly
from stacks import STACK_IDS
from tests.kit import CDK_JSON_CONTEXT, PATH_METADATA, PROFILES, ROOT, assembly

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


def test_the_readme_lists_every_rule_with_its_doc() -> None:
    section = (ROOT / "README.md").read_text().split("## Security gate and lint\n", 1)[1].split("\n## ", 1)[0]
    listed = dict(re.findall(r"^\| `(\w+)` \| (.+) \|$", section, re.M))
    assert listed == {r.id: r.doc for r in RULES}


def test_the_package_needs_nothing_of_the_kit() -> None:
    """Copied alone into another app, it works: it imports the standard library, aws-cdk-lib and
    jsii (which aws-cdk-lib brings), and its own modules only."""
    for module in (ROOT / "patterns" / "wiring").glob("*.py"):
        for node in ast.walk(ast.parse(module.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 0:
                top = (node.module or "").split(".")[0]
                assert top in sys.stdlib_module_names | {"aws_cdk", "jsii"}, f"{module.name}: {node.module}"
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    assert alias.name.split(".")[0] in sys.stdlib_module_names | {"aws_cdk", "jsii"}, (
                        module.name
                    )
