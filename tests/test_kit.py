"""The kit's own promises, for every stack of the app in both profiles."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest

from patterns import defaults
from stacks import STACK_IDS, build_app
from tests.kit import PROFILES, assembly, bare_stack, path_of, template_json

ACKNOWLEDGED = "aws:cdk:acknowledged-rules"
# aws-cdk-lib acknowledges some of its own CloudFormation validation findings, e.g. W3010 on the
# whole stack as soon as a VPC reads stack.availabilityZones (Stack._silenceLiteralAzWarning).
# Those are not ours; every acknowledgement the kit makes is of a cdk-nag finding.
CDK_OWN_ACKNOWLEDGEMENTS = "CloudFormation-Validate::"
STATEFUL = {
    "AWS::DynamoDB::Table",
    "AWS::DynamoDB::GlobalTable",
    "AWS::KMS::Key",
    "AWS::Logs::LogGroup",
    "AWS::S3::Bucket",
    "AWS::RDS::DBInstance",
    "AWS::RDS::DBCluster",
    "AWS::ElastiCache::ReplicationGroup",
}


def acknowledgements(profile: str) -> list[tuple[str, str, str]]:
    """(construct path, finding id, reason) of every acknowledgement in the synthesized app."""
    found = []
    for stack in assembly(profile).stacks:
        metadata = json.loads(
            (Path(assembly(profile).directory) / f"{stack.stack_name}.metadata.json").read_text()
        )
        for path, entries in metadata.items():
            for entry in entries:
                if entry["type"] == ACKNOWLEDGED:
                    found.extend(
                        (path, finding, reason)
                        for finding, reason in entry["data"].items()
                        if not finding.startswith(CDK_OWN_ACKNOWLEDGEMENTS)
                    )
    return found


def test_every_fixed_stack_id_is_synthesized() -> None:
    for profile in PROFILES:
        assert {s.stack_name for s in assembly(profile).stacks} == set(STACK_IDS)


def test_an_unknown_profile_fails_listing_the_valid_ones() -> None:
    with pytest.raises(ValueError, match=r"profile: unknown profile 'staging'.*production, sandbox"):
        build_app(cdk.App(context={"profile": "staging"}))


@pytest.mark.parametrize("profile", PROFILES)
def test_every_acknowledgement_names_one_finding_on_one_construct_with_a_reason(profile: str) -> None:
    found = acknowledgements(profile)
    assert found, "the app acknowledges findings; this test would pass vacuously otherwise"
    stack_paths = {f"/{stack}" for stack in STACK_IDS}
    for path, finding, reason in found:
        assert path not in stack_paths and path != "/", f"{finding} acknowledged on a whole stack: {path}"
        rule = finding.split("::", 1)[-1]
        assert "*" not in rule.split("[", 1)[0], f"{finding} at {path} is not a single finding"
        assert len(reason.strip()) >= defaults.MIN_ACKNOWLEDGEMENT_REASON, f"{finding} at {path}: {reason!r}"


def test_the_acknowledge_helper_refuses_blanket_or_unexplained_acknowledgements() -> None:
    stack = bare_stack()
    queue = cdk.aws_sqs.Queue(stack, "Queue")
    with pytest.raises(ValueError, match="not a whole stack"):
        defaults.acknowledge(stack, "AwsSolutions-SQS3", "x" * 60)
    with pytest.raises(ValueError, match="at least 40 characters"):
        defaults.acknowledge(queue, "AwsSolutions-SQS3", "it is fine")
    with pytest.raises(ValueError, match="not a single finding"):
        defaults.acknowledge(queue, "AwsSolutions-*", "x" * 60)


def _resources(profile: str) -> list[tuple[str, dict[str, Any]]]:
    return [
        (f"{stack}:{path_of(resource)}", resource)
        for stack in STACK_IDS
        for resource in template_json(stack, profile)["Resources"].values()
    ]


def test_sandbox_leaves_nothing_behind_on_destroy() -> None:
    for where, resource in _resources("sandbox"):
        assert resource.get("DeletionPolicy", "Delete") == "Delete", where
        assert resource.get("UpdateReplacePolicy", "Delete") == "Delete", where
        properties = resource.get("Properties", {})
        assert not properties.get("DeletionProtection"), where
        assert not properties.get("DeletionProtectionEnabled"), where


def test_sandbox_functions_log_to_groups_the_stack_owns() -> None:
    """A function without its own log group gets one from Lambda that `cdk destroy` leaves."""
    for stack in STACK_IDS:
        document = template_json(stack, "sandbox")
        for where, resource in document["Resources"].items():
            if resource["Type"] == "AWS::Lambda::Function":
                group = resource["Properties"].get("LoggingConfig", {}).get("LogGroup")
                assert group, f"{stack}/{where} has no log group of its own"


def _is_read_replica(resource: dict[str, Any]) -> bool:
    """A read replica holds a copy of its writer, whose final snapshot is what is kept."""
    return "SourceDBInstanceIdentifier" in resource.get("Properties", {})


def test_production_keeps_every_stateful_resource() -> None:
    stateful = [
        (w, r) for w, r in _resources("production") if r["Type"] in STATEFUL and not _is_read_replica(r)
    ]
    assert stateful
    for where, resource in stateful:
        assert resource.get("DeletionPolicy") in {"Retain", "Snapshot", "RetainExceptOnCreate"}, where
