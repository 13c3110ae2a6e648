"""What EC2 instances may do, and who may publish to the topics their groups notify, read out
of the synthesized app in both profiles and evaluated the way IAM and KMS do.

A small evaluator, not moto (which does not enforce IAM or key policies): Allow statements
only (the kit writes no Deny on these roles), IAM wildcards in actions and resources, pseudo
parameters filled with example values.
"""

from __future__ import annotations

import fnmatch
import json
from typing import Any

import pytest

from tests.kit import PROFILES, path_of, resources, template_json

ACCOUNT, REGION, PARTITION = "123456789012", "eu-west-1", "aws"
AUTOSCALING_ROLE = (
    f"arn:aws:iam::{ACCOUNT}:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling"
)
# AmazonSSMManagedInstanceCore (AWS Managed Policy reference): among others,
# ssm:GetParameter and ssm:GetParameters on "*".
MANAGED_POLICIES = {
    "AmazonSSMManagedInstanceCore": [
        {"Effect": "Allow", "Action": ["ssm:GetParameter", "ssm:GetParameters"], "Resource": "*"},
    ]
}
# "Create a custom IAM role for Session Manager" (Systems Manager User Guide): the instance
# permissions Session Manager needs.
SESSION_MANAGER_NEEDS = (
    "ssm:UpdateInstanceInformation",
    "ssmmessages:CreateControlChannel",
    "ssmmessages:CreateDataChannel",
    "ssmmessages:OpenControlChannel",
    "ssmmessages:OpenDataChannel",
)
# Service Authorization Reference: actions that define no resource type, so a statement can
# only name "*" for them.
NO_RESOURCE_TYPE = {
    *SESSION_MANAGER_NEEDS,
    "ec2messages:AcknowledgeMessage",
    "ec2messages:DeleteMessage",
    "ec2messages:FailMessage",
    "ec2messages:GetEndpoint",
    "ec2messages:GetMessages",
    "ec2messages:SendReply",
    "cloudwatch:PutMetricData",
}
FLEETS = [("MultiTier", "Web/InstanceRole"), ("WorkerFleet", "Fleet/InstanceRole")]


def fill(value: Any, stack: str) -> str:
    """A policy value as IAM sees it once deployed in our example account and region."""
    if isinstance(value, str):
        return value
    if "Ref" in value:
        pseudo = {
            "AWS::AccountId": ACCOUNT,
            "AWS::Region": REGION,
            "AWS::Partition": PARTITION,
            "AWS::StackName": stack,
            "AWS::URLSuffix": "amazonaws.com",
        }
        return pseudo.get(value["Ref"], f"<{value['Ref']}>")
    if "Fn::Join" in value:
        delimiter, parts = value["Fn::Join"]
        return str(delimiter).join(fill(part, stack) for part in parts)
    if "Fn::GetAtt" in value:
        return f"<{'.'.join(value['Fn::GetAtt'])}>"
    if "Fn::Sub" in value:
        text = value["Fn::Sub"]
        for name, filled in (
            ("AWS::AccountId", ACCOUNT),
            ("AWS::Region", REGION),
            ("AWS::Partition", PARTITION),
        ):
            text = text.replace(f"${{{name}}}", filled)
        return str(text)
    raise AssertionError(f"cannot fill {value!r}")


def listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def role_statements(doc: dict[str, Any], role_path: str, stack: str) -> list[dict[str, Any]]:
    """Every Allow statement that applies to the role: its managed and attached policies."""
    [(role_id, role)] = [
        (i, r) for i, r in resources(doc, "AWS::IAM::Role") if path_of(r) == f"{stack}/{role_path}/Resource"
    ]
    statements: list[dict[str, Any]] = []
    for arn in role["Properties"].get("ManagedPolicyArns", []):
        name = fill(arn, stack).rsplit("/", 1)[-1]
        assert name in MANAGED_POLICIES, f"{role_path} has a managed policy this test does not know: {name}"
        statements += MANAGED_POLICIES[name]
    for _, policy in resources(doc, "AWS::IAM::Policy"):
        if {"Ref": role_id} in policy["Properties"]["Roles"]:
            statements += policy["Properties"]["PolicyDocument"]["Statement"]
    return statements


def allows(statements: list[dict[str, Any]], action: str, resource: str, stack: str) -> bool:
    return any(
        s["Effect"] == "Allow"
        and any(fnmatch.fnmatchcase(action, pattern) for pattern in listed(s["Action"]))
        and any(fnmatch.fnmatchcase(resource, fill(r, stack)) for r in listed(s["Resource"]))
        for s in statements
    )


@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize(("stack", "role_path"), FLEETS)
def test_an_instance_reads_parameters_only_under_its_own_stacks_path(
    profile: str, stack: str, role_path: str
) -> None:
    """AmazonSSMManagedInstanceCore would let a compromised instance read every parameter."""
    statements = role_statements(template_json(stack, profile), role_path, stack)
    parameter = f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter"
    for action in ("ssm:GetParameter", "ssm:GetParameters"):
        assert allows(statements, action, f"{parameter}/{stack}/app/setting", stack)
        assert not allows(statements, action, f"{parameter}/OtherStack/database-password", stack)
        assert not allows(statements, action, f"{parameter}/database-password", stack)
        assert not allows(statements, action, f"{parameter}/{stack}-other/setting", stack)
    assert not allows(statements, "ssm:GetParametersByPath", f"{parameter}/", stack)


@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize(("stack", "role_path"), FLEETS)
def test_an_instance_keeps_session_manager_and_names_star_only_where_iam_allows_nothing_else(
    profile: str, stack: str, role_path: str
) -> None:
    statements = role_statements(template_json(stack, profile), role_path, stack)
    for action in SESSION_MANAGER_NEEDS:
        assert allows(statements, action, "*", stack), action
    for statement in statements:
        if "*" in listed(statement["Resource"]):
            assert set(listed(statement["Action"])) <= NO_RESOURCE_TYPE, statement
            if "cloudwatch:PutMetricData" in listed(statement["Action"]):
                assert "cloudwatch:namespace" in json.dumps(statement.get("Condition", {}))


# -- who publishes to each encrypted topic ------------------------------------------------------


def key_admits(doc: dict[str, Any], key: Any, principal: dict[str, str], stack: str) -> bool:
    """Whether a topic's key lets `principal` encrypt a message (kms:GenerateDataKey).

    - The AWS managed key `alias/aws/sns`: its policy (AWS KMS Developer Guide, "AWS managed
      keys"; SNS Developer Guide, "Configure AWS KMS permissions") admits principals of this
      account calling through SNS, and no service principal: CloudWatch alarms cannot publish
      to a topic it encrypts.
    - A key of this template: a statement must name the principal (or "*" held to it by
      aws:PrincipalArn). A statement naming the account root delegates to the caller's IAM
      policies, and Auto Scaling's service-linked role's permissions include AWS managed keys
      but not customer managed ones (EC2 Auto Scaling User Guide, "Required AWS KMS key policy
      for use with encrypted volumes"), so the root does not admit it.
    """
    if fill(key, stack).endswith("alias/aws/sns"):
        return "AWS" in principal
    key_id = key["Fn::GetAtt"][0] if "Fn::GetAtt" in key else key["Ref"]
    for statement in doc["Resources"][key_id]["Properties"]["KeyPolicy"]["Statement"]:
        actions = listed(statement["Action"])
        if statement["Effect"] != "Allow" or not any(
            fnmatch.fnmatchcase("kms:GenerateDataKey", a) for a in actions
        ):
            continue
        named = statement["Principal"]
        if "Service" in principal and principal["Service"] in listed(named.get("Service", [])):
            return True
        if "AWS" in principal:
            arns = (
                [fill(a, stack) for a in listed(named.get("AWS", []))] if isinstance(named, dict) else [named]
            )
            if principal["AWS"] in arns:
                return True
            held_to = [
                fill(arn, stack)
                for test in statement.get("Condition", {}).values()
                for arn in listed(test.get("aws:PrincipalArn", []))
            ]
            if "*" in arns and principal["AWS"] in held_to:
                return True
    return False


def publishers(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, str]]]:
    """(what, topic logical id, principal) of every publisher the template wires to a topic."""
    found = []
    for _, group in resources(doc, "AWS::AutoScaling::AutoScalingGroup"):
        for notification in group["Properties"].get("NotificationConfigurations", []):
            topic = notification["TopicARN"]["Ref"]
            found.append((path_of(group), topic, {"AWS": AUTOSCALING_ROLE}))
    for _, alarm in resources(doc, "AWS::CloudWatch::Alarm"):
        for action in alarm["Properties"].get("AlarmActions", []):
            topic = action.get("Ref") if isinstance(action, dict) else None
            if doc["Resources"].get(topic, {}).get("Type") == "AWS::SNS::Topic":
                found.append((path_of(alarm), str(topic), {"Service": "cloudwatch.amazonaws.com"}))
    return found


@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize("stack", ["MultiTier", "WorkerFleet"])
def test_every_publisher_of_an_encrypted_topic_can_use_its_key(profile: str, stack: str) -> None:
    """Auto Scaling publishes notifications as its service-linked role, CloudWatch alarms as
    cloudwatch.amazonaws.com; SNS drops a message whose publisher cannot use the topic's key."""
    doc = template_json(stack, profile)
    found = publishers(doc)
    assert any("AWS" in p for _, _, p in found), "no Auto Scaling notifications found"
    for what, topic, principal in found:
        key = doc["Resources"][topic]["Properties"].get("KmsMasterKeyId")
        assert key is not None, f"{topic} is not encrypted"
        assert key_admits(doc, key, principal, stack), f"{what} cannot publish to {topic} as {principal}"


# -- what a web instance may reach --------------------------------------------------------------


@pytest.mark.parametrize("profile", PROFILES)
def test_web_instances_reach_https_and_the_data_tier_ports_they_are_let_in_on_only(profile: str) -> None:
    doc = template_json("MultiTier", profile)
    [(group_id, group)] = [
        (i, r) for i, r in resources(doc, "AWS::EC2::SecurityGroup", "Web/InstanceSecurityGroup")
    ]
    inline = group["Properties"]["SecurityGroupEgress"]
    assert [(e["CidrIp"], e["IpProtocol"], e["FromPort"], e["ToPort"]) for e in inline] == [
        ("0.0.0.0/0", "tcp", 443, 443)
    ]
    own = {"Fn::GetAtt": [group_id, "GroupId"]}
    egress = {
        (e["Properties"]["DestinationSecurityGroupId"]["Fn::GetAtt"][0], e["Properties"]["FromPort"])
        for _, e in resources(doc, "AWS::EC2::SecurityGroupEgress")
        if e["Properties"]["GroupId"] == own
    }
    # exactly the ports the data tier lets this group in on, to the groups that let it in
    ingress = {
        (i["Properties"]["GroupId"]["Fn::GetAtt"][0], i["Properties"]["FromPort"])
        for _, i in resources(doc, "AWS::EC2::SecurityGroupIngress")
        if i["Properties"].get("SourceSecurityGroupId") == own
    }
    assert egress == ingress and len(egress) == 3
    for _, e in resources(doc, "AWS::EC2::SecurityGroupEgress"):
        if e["Properties"]["GroupId"] == own:
            assert e["Properties"]["IpProtocol"] == "tcp"


# -- the production load balancer ---------------------------------------------------------------


def web_acl_rules(doc: dict[str, Any]) -> list[dict[str, Any]]:
    [(_, acl)] = list(resources(doc, "AWS::WAFv2::WebACL"))
    return [
        {
            "name": r["Name"],
            "statement": r["Statement"],
            "action": r.get("Action"),
            "override": r.get("OverrideAction"),
        }
        for r in acl["Properties"]["Rules"]
    ]


def test_the_production_load_balancer_has_the_apis_waf_rules_and_deletion_protection() -> None:
    doc = template_json("MultiTier", "production")
    [(lb_id, lb)] = list(resources(doc, "AWS::ElasticLoadBalancingV2::LoadBalancer"))
    attributes = {a["Key"]: a["Value"] for a in lb["Properties"]["LoadBalancerAttributes"]}
    assert attributes["deletion_protection.enabled"] == "true"
    [(_, association)] = list(resources(doc, "AWS::WAFv2::WebACLAssociation"))
    assert association["Properties"]["ResourceArn"] == {"Ref": lb_id}
    [(acl_id, acl)] = list(resources(doc, "AWS::WAFv2::WebACL"))
    assert association["Properties"]["WebACLArn"] == {"Fn::GetAtt": [acl_id, "Arn"]}
    assert acl["Properties"]["Scope"] == "REGIONAL"
    assert web_acl_rules(doc) == web_acl_rules(template_json("ServerlessApi", "production"))


def test_the_sandbox_load_balancer_has_neither() -> None:
    doc = template_json("MultiTier", "sandbox")
    assert not list(resources(doc, "AWS::WAFv2::WebACL"))
    [(_, lb)] = list(resources(doc, "AWS::ElasticLoadBalancingV2::LoadBalancer"))
    attributes = {a["Key"]: a["Value"] for a in lb["Properties"]["LoadBalancerAttributes"]}
    assert attributes.get("deletion_protection.enabled", "false") == "false"
