"""The ECS wiring rules (patterns/wiring/containers.py) on small templates: each miswiring a
reader can point at is found, and its correct form is not. Each rule's `source` cites the AWS
behaviour; the last test runs them on the ContainerWorkers stack the kit synthesizes."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from patterns.wiring import RULES, Model, Settings
from tests.kit import PROFILES, template_json


def found(rule: str, resources: dict[str, Any]) -> list[str]:
    registered = next(r for r in RULES if r.id == rule)
    model = Model({"Stack": {"Resources": resources}})
    return sorted(v.resource.logical_id for v in registered.check(model, Settings()))


def service(**properties: Any) -> dict[str, Any]:
    return {"Type": "AWS::ECS::Service", "Properties": {"TaskDefinition": {"Ref": "Task"}, **properties}}


def task(architecture: str) -> dict[str, Any]:
    return {
        "Type": "AWS::ECS::TaskDefinition",
        "Properties": {
            "RuntimePlatform": {"CpuArchitecture": architecture, "OperatingSystemFamily": "LINUX"}
        },
    }


BREAKER = {"DeploymentCircuitBreaker": {"Enable": True, "Rollback": True}}


def test_a_service_without_circuit_breaker_or_without_rollback_is_found() -> None:
    resources = {
        "Task": task("ARM64"),
        "Off": service(),
        "NoRollback": service(
            DeploymentConfiguration={"DeploymentCircuitBreaker": {"Enable": True, "Rollback": False}}
        ),
        "Safe": service(DeploymentConfiguration=BREAKER),
        "BlueGreen": service(DeploymentController={"Type": "CODE_DEPLOY"}),
    }
    assert found("ServiceCircuitBreaker", resources) == ["NoRollback", "Off"]


def test_spot_capacity_for_an_arm64_task_is_found() -> None:
    spot = [
        {"CapacityProvider": "FARGATE", "Base": 1, "Weight": 1},
        {"CapacityProvider": "FARGATE_SPOT", "Weight": 4},
    ]
    arm = {"Task": task("ARM64"), "Service": service(CapacityProviderStrategy=spot)}
    x86 = {"Task": task("X86_64"), "Service": service(CapacityProviderStrategy=spot)}
    on_demand = {"Task": task("ARM64"), "Service": service(CapacityProviderStrategy=spot[:1])}
    assert found("FargateSpotArchitecture", arm) == ["Service"]
    assert found("FargateSpotArchitecture", x86) == found("FargateSpotArchitecture", on_demand) == []


def consumer_app(*, grant_decrypt: bool) -> dict[str, Any]:
    statements: list[dict[str, Any]] = [
        {
            "Effect": "Allow",
            "Action": ["sqs:ReceiveMessage", "sqs:DeleteMessage"],
            "Resource": {"Fn::GetAtt": ["Jobs", "Arn"]},
        }
    ]
    if grant_decrypt:
        statements.append(
            {"Effect": "Allow", "Action": "kms:Decrypt", "Resource": {"Fn::GetAtt": ["Key", "Arn"]}}
        )
    root = {
        "Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":iam::", {"Ref": "AWS::AccountId"}, ":root"]]
    }
    return {
        "Key": {
            "Type": "AWS::KMS::Key",
            "Properties": {
                "KeyPolicy": {
                    "Statement": [
                        {"Effect": "Allow", "Principal": {"AWS": root}, "Action": "kms:*", "Resource": "*"}
                    ]
                }
            },
        },
        "Jobs": {"Type": "AWS::SQS::Queue", "Properties": {"KmsMasterKeyId": {"Fn::GetAtt": ["Key", "Arn"]}}},
        "TaskRole": {"Type": "AWS::IAM::Role", "Properties": {}},
        "Policy": {
            "Type": "AWS::IAM::Policy",
            "Properties": {"Roles": [{"Ref": "TaskRole"}], "PolicyDocument": {"Statement": statements}},
        },
    }


def test_a_task_role_that_receives_from_an_encrypted_queue_without_its_key_is_found() -> None:
    assert found("ConsumerCanUseKey", consumer_app(grant_decrypt=False)) == ["TaskRole"]
    assert found("ConsumerCanUseKey", consumer_app(grant_decrypt=True)) == []
    unencrypted = consumer_app(grant_decrypt=False)
    del unencrypted["Jobs"]["Properties"]["KmsMasterKeyId"]
    assert found("ConsumerCanUseKey", unencrypted) == []


def insights_app(setting: str | None) -> dict[str, Any]:
    cluster: dict[str, Any] = {"Type": "AWS::ECS::Cluster", "Properties": {}}
    if setting:
        cluster["Properties"]["ClusterSettings"] = [{"Name": "containerInsights", "Value": setting}]
    running = {
        "Namespace": "ECS/ContainerInsights",
        "MetricName": "RunningTaskCount",
        "Dimensions": [
            {"Name": "ClusterName", "Value": {"Ref": "Cluster"}},
            {"Name": "ServiceName", "Value": "w"},
        ],
    }
    return {
        "Cluster": cluster,
        "Backlog": {
            "Type": "AWS::ApplicationAutoScaling::ScalingPolicy",
            "Properties": {
                "TargetTrackingScalingPolicyConfiguration": {
                    "CustomizedMetricSpecification": {
                        "Metrics": [{"Id": "running", "MetricStat": {"Metric": running, "Stat": "Average"}}]
                    }
                }
            },
        },
    }


@pytest.mark.parametrize(
    ("setting", "expected"),
    [(None, ["Backlog"]), ("disabled", ["Backlog"]), ("enabled", []), ("enhanced", [])],
)
def test_backlog_scaling_on_a_cluster_without_container_insights_is_found(
    setting: str | None, expected: list[str]
) -> None:
    assert found("BacklogScalingNeedsContainerInsights", insights_app(setting)) == expected


@pytest.mark.parametrize("profile", PROFILES)
def test_the_kit_stack_passes_each_rule_and_fails_once_miswired(profile: str) -> None:
    """The synthesized ContainerWorkers stack: no finding as built; with its circuit breaker's
    rollback off, its task role's kms:Decrypt removed or its cluster's insights off, one each."""
    document = template_json("ContainerWorkers", profile)
    rules = [
        "ServiceCircuitBreaker",
        "ConsumerCanUseKey",
        "FargateSpotArchitecture",
        "BacklogScalingNeedsContainerInsights",
    ]
    assert {rule: found(rule, document["Resources"]) for rule in rules} == {rule: [] for rule in rules}

    broken = copy.deepcopy(document["Resources"])
    for resource in broken.values():
        props = resource.get("Properties", {})
        if resource["Type"] == "AWS::ECS::Service":
            props["DeploymentConfiguration"]["DeploymentCircuitBreaker"]["Rollback"] = False
        if resource["Type"] == "AWS::ECS::Cluster":
            props["ClusterSettings"] = [{"Name": "containerInsights", "Value": "disabled"}]
        if resource["Type"] == "AWS::IAM::Policy" and "TaskRole" in str(props.get("Roles")):
            statements = props["PolicyDocument"]["Statement"]
            props["PolicyDocument"]["Statement"] = [s for s in statements if "kms:" not in str(s["Action"])]
    assert len(found("ServiceCircuitBreaker", broken)) == 1
    assert len(found("ConsumerCanUseKey", broken)) == 1
    assert len(found("BacklogScalingNeedsContainerInsights", broken)) >= 1
