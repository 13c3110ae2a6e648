"""The synthesized `Backup` stack, in both profiles, against the rest of the kit: what AWS Backup
will select, keep, copy, restore-test and alarm on once deployed."""

from __future__ import annotations

import functools
import re
from typing import Any

import aws_cdk as cdk
import pytest

from stacks import STACK_IDS, build_app
from tests.kit import CDK_JSON_CONTEXT, PATH_METADATA, PROFILES, one, resolve_ref, resources, template_json

# CloudFormation type of each stateful resource -> AWS Backup's resource type name.
BACKUP_TYPES = {
    "AWS::DynamoDB::GlobalTable": "DynamoDB",
    "AWS::DynamoDB::Table": "DynamoDB",
    "AWS::RDS::DBInstance": "RDS",
    "AWS::S3::Bucket": "S3",
}


@pytest.fixture(params=PROFILES)
def profile(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _backup(profile: str) -> dict[str, Any]:
    return template_json("Backup", profile)


def _tags(resource: dict[str, Any]) -> dict[str, str]:
    properties = resource["Properties"]
    tags = properties.get("Tags", [])
    if resource["Type"] == "AWS::DynamoDB::GlobalTable":  # TableV2: the tags are the replicas'
        tags = [tag for replica in properties["Replicas"] for tag in replica.get("Tags", [])]
    return {tag["Key"]: tag["Value"] for tag in tags}


def _selected_by(profile: str) -> dict[str, str]:
    """The tag condition of the plan's selection (AWS Backup selects resources carrying it)."""
    _, selection = one(_backup(profile), "AWS::Backup::BackupSelection", "/Protection/")
    (condition,) = selection["Properties"]["BackupSelection"]["ListOfTags"]
    assert condition["ConditionType"] == "STRINGEQUALS"
    return {condition["ConditionKey"]: condition["ConditionValue"]}


def _marked(profile: str) -> dict[str, set[str]]:
    """Construct path of every resource of the kit that the plan's selection matches, per stack."""
    key, value = next(iter(_selected_by(profile).items()))
    found: dict[str, set[str]] = {}
    for stack in STACK_IDS:
        document = template_json(stack, profile)
        for resource in document["Resources"].values():
            if resource["Type"] in BACKUP_TYPES and _tags(resource).get(key) == value:
                found.setdefault(stack, set()).add(resource["Metadata"]["aws:cdk:path"])
    return found


def test_the_plan_selects_the_data_of_every_pattern(profile: str) -> None:
    """AWS Backup's tag-based selection picks resources whose tag matches the condition exactly
    ("Assigning resources to a backup plan", STRINGEQUALS). The orders, the stock, the ledger
    and the database are selected; production adds the worker fleet's versioned buckets."""
    marked = _marked(profile)
    paths = {path for stack in marked.values() for path in stack}
    assert any(p.endswith("/Table/Resource") for p in marked["ServerlessApi"])
    assert {"Inventory", "Orders"} <= {p.split("/")[2] for p in marked["OrderWorkflow"]}
    assert any(p.startswith("MultiTier/") and "/Writer/" in p for p in paths)
    assert any(p.startswith("FanOut/Ledger/") for p in paths)
    buckets = {p for p in marked.get("WorkerFleet", set())}
    assert bool(buckets) is (profile == "production")


def test_payment_tokens_and_transient_tables_stay_out_of_backups(profile: str) -> None:
    """Deleted payment tokens must not live on in recovery points; idempotency records expire."""
    paths = {path for stack in _marked(profile).values() for path in stack}
    assert not any("PaymentTokens" in p or "Idempotency" in p for p in paths)


def test_buckets_are_selected_only_where_versioned(profile: str) -> None:
    """AWS Backup backs up S3 buckets only with S3 Versioning enabled ("Amazon S3 backups",
    prerequisites): an unversioned bucket in the selection is a failed job every day."""
    key, value = next(iter(_selected_by(profile).items()))
    for stack in STACK_IDS:
        for _, bucket in resources(template_json(stack, profile), "AWS::S3::Bucket"):
            if _tags(bucket).get(key) == value:
                assert bucket["Properties"]["VersioningConfiguration"]["Status"] == "Enabled"


def test_restore_tests_cover_every_selected_resource_type(profile: str) -> None:
    """Restore testing selects protected resources by `aws:ResourceTag/<key>` conditions
    ("Restore testing" > "Assign resources"); each marked type has a selection on the same tag."""
    document = _backup(profile)
    key, value = next(iter(_selected_by(profile).items()))
    tested = {}
    for _, selection in resources(document, "AWS::Backup::RestoreTestingSelection"):
        properties = selection["Properties"]
        assert properties["ProtectedResourceArns"] == ["*"]
        (condition,) = properties["ProtectedResourceConditions"]["StringEquals"]
        tested[properties["ProtectedResourceType"]] = condition
    marked_types = {
        BACKUP_TYPES[resource["Type"]]
        for stack in STACK_IDS
        for resource in template_json(stack, profile)["Resources"].values()
        if resource["Type"] in BACKUP_TYPES and _tags(resource).get(key) == value
    }
    assert marked_types <= tested.keys()
    for condition in tested.values():
        assert condition == {"Key": f"aws:ResourceTag/{key}", "Value": value}


def test_restore_tests_take_the_latest_recovery_point_of_this_vault(profile: str) -> None:
    document = _backup(profile)
    _, plan = one(document, "AWS::Backup::RestoreTestingPlan", "/Protection/")
    selection = plan["Properties"]["RecoveryPointSelection"]
    assert selection["Algorithm"] == "LATEST_WITHIN_WINDOW"
    (vault,) = selection["IncludeVaults"]
    assert document["Resources"][resolve_ref(document, vault)]["Type"] == "AWS::Backup::BackupVault"
    # The window must reach back past the longest gap between two backups, or a test finds none.
    rules = _rules(document)
    daily = min(_interval_hours(rule["ScheduleExpression"]) for rule in rules)
    assert selection["SelectionWindowDays"] * 24 >= daily
    names = [
        s["Properties"]["RestoreTestingPlanName"]
        for _, s in resources(document, "AWS::Backup::RestoreTestingSelection")
    ]
    assert set(names) == {plan["Properties"]["RestoreTestingPlanName"]}
    # CloudFormation's pattern for restore testing names: letters, digits and underscores.
    assert re.fullmatch(r"[A-Za-z0-9_]{1,50}", plan["Properties"]["RestoreTestingPlanName"])


def _rules(document: dict[str, Any]) -> list[dict[str, Any]]:
    _, plan = one(document, "AWS::Backup::BackupPlan", "/Protection/")
    return list(plan["Properties"]["BackupPlan"]["BackupPlanRule"])


def _interval_hours(cron: str) -> int:
    """Hours between runs of the kit's cron forms: daily, or monthly on one day."""
    _minute, _hour, day, month, weekday, _year = cron.removeprefix("cron(").removesuffix(")").split()
    if day == "*" or weekday == "*":
        return 24
    if day.isdigit() and month == "*":
        return 24 * 31
    raise AssertionError(f"unexpected schedule {cron}")


def test_the_vault_lock_never_refuses_the_plans_own_recovery_points() -> None:
    """A vault lock fails every backup or copy job whose retention is shorter than its minimum
    ("AWS Backup Vault Lock"); continuous backups keep at most 35 days ("Continuous backups")."""
    document = _backup("production")
    _, vault = one(document, "AWS::Backup::BackupVault", "/Protection/Vault/")
    minimum = vault["Properties"]["LockConfiguration"]["MinRetentionDays"]
    for rule in _rules(document):
        assert rule["Lifecycle"]["DeleteAfterDays"] >= minimum, rule["RuleName"]
        if rule.get("EnableContinuousBackup"):
            assert rule["Lifecycle"]["DeleteAfterDays"] <= 35


def test_production_refuses_deleting_recovery_points_and_sandbox_can_be_destroyed() -> None:
    """A locked vault (or one whose policy denies deleting recovery points) cannot be emptied,
    so `cdk destroy` of a sandbox must not meet one."""
    _, production = one(_backup("production"), "AWS::Backup::BackupVault", "/Protection/Vault/")
    denied = production["Properties"]["AccessPolicy"]["Statement"][0]
    assert denied["Effect"] == "Deny" and "backup:DeleteRecoveryPoint" in denied["Action"]
    _, sandbox = one(_backup("sandbox"), "AWS::Backup::BackupVault", "/Protection/Vault/")
    assert "LockConfiguration" not in sandbox["Properties"] and "AccessPolicy" not in sandbox["Properties"]


def test_recovery_points_are_encrypted_with_a_key_the_roles_may_use(profile: str) -> None:
    """AWS Backup encrypts (and restores) fully managed backups with the vault's key using the
    role's permissions ("Encryption for backups in AWS Backup")."""
    document = _backup(profile)
    _, vault = one(document, "AWS::Backup::BackupVault", "/Protection/Vault/")
    key = resolve_ref(document, vault["Properties"]["EncryptionKeyArn"])
    assert document["Resources"][key]["Properties"]["EnableKeyRotation"] is True
    allowed: dict[str, set[str]] = {}
    for _, policy in resources(document, "AWS::IAM::Policy"):
        for role in policy["Properties"]["Roles"]:
            for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
                if statement["Resource"] == {"Fn::GetAtt": [key, "Arn"]}:
                    actions = statement["Action"]
                    allowed.setdefault(role["Ref"], set()).update(
                        [actions] if isinstance(actions, str) else actions
                    )
    backup_role = _role_of(document, "AWS::Backup::BackupSelection", ("BackupSelection", "IamRoleArn"))
    restore_role = _role_of(document, "AWS::Backup::RestoreTestingSelection", ("IamRoleArn",))
    assert {"kms:GenerateDataKey", "kms:Decrypt", "kms:CreateGrant"} <= allowed[backup_role]
    assert {"kms:Decrypt", "kms:CreateGrant"} <= allowed[restore_role]


def _role_of(document: dict[str, Any], resource_type: str, path: tuple[str, ...]) -> str:
    _, resource = next(resources(document, resource_type))
    value: Any = resource["Properties"]
    for step in path:
        value = value[step]
    return resolve_ref(document, value)


def test_failed_backup_copy_and_restore_jobs_alarm_on_this_vault(profile: str) -> None:
    """AWS/Backup reports job counts per vault (dimension BackupVaultName, "Monitoring AWS
    Backup metrics with CloudWatch"); restore tests run restore jobs, counted the same way."""
    document = _backup(profile)
    vault_id, _ = one(document, "AWS::Backup::BackupVault", "/Protection/Vault/")
    watched = {}
    for _, alarm in resources(document, "AWS::CloudWatch::Alarm"):
        properties = alarm["Properties"]
        assert properties["Namespace"] == "AWS/Backup"
        (dimension,) = properties["Dimensions"]
        assert dimension["Name"] == "BackupVaultName"
        assert resolve_ref(document, dimension["Value"]) == vault_id
        assert properties["AlarmActions"], "an alarm that notifies nobody"
        watched[properties["MetricName"]] = properties
    for failed in ("NumberOfBackupJobsFailed", "NumberOfCopyJobsFailed", "NumberOfRestoreJobsFailed"):
        assert watched[failed]["Threshold"] == 0
        assert watched[failed]["ComparisonOperator"] == "GreaterThanThreshold"
    if profile == "production":  # a day with no completed job is a finding, even with no data
        silent = watched["NumberOfBackupJobsCompleted"]
        assert silent["TreatMissingData"] == "breaching" and silent["Period"] == 86400


# The copy to a second Region, by context ----------------------------------------------------


@functools.cache
def _assembly_with_copy(profile: str, copy_region: str | None) -> cdk.cx_api.CloudAssembly:
    from stacks.serverless_api_stack import KIT_PRODUCTION_CONTEXT

    context: dict[str, Any] = {**CDK_JSON_CONTEXT, **PATH_METADATA, "profile": profile}
    if profile == "production":
        context.update(KIT_PRODUCTION_CONTEXT)
    if copy_region:
        context["backup_copy_region"] = copy_region
    return build_app(cdk.App(context=context)).synth()


def test_without_a_copy_region_there_is_no_copy_and_a_line_says_how() -> None:
    assembly = _assembly_with_copy("sandbox", None)
    assert "BackupCopy" not in {s.stack_name for s in assembly.stacks}
    rules = _rules(assembly.get_stack_by_name("Backup").template)
    assert all("CopyActions" not in rule for rule in rules)
    messages = [m.entry.data for m in assembly.get_stack_by_name("Backup").messages]
    assert any("backup_copy_region" in str(m) for m in messages)


@pytest.mark.parametrize("profile", PROFILES)
def test_every_recovery_point_is_copied_to_the_vault_of_the_second_region(profile: str) -> None:
    """The copy action names the vault by ARN; the BackupCopy stack (pinned to that Region)
    makes a vault of that name, and no value crosses between the stacks (aws/aws-cdk#27902)."""
    assembly = _assembly_with_copy(profile, "eu-central-1")
    copy_stack = assembly.get_stack_by_name("BackupCopy")
    assert copy_stack.environment.region == "eu-central-1"
    copy = copy_stack.template
    _, copy_vault = one(copy, "AWS::Backup::BackupVault", "/CopyVault/")
    primary = assembly.get_stack_by_name("Backup").template
    for rule in _rules(primary):
        (action,) = rule["CopyActions"]
        arn = cdk.Stack(cdk.App(), "Resolve").resolve(action["DestinationBackupVaultArn"])
        text = str(arn)
        assert ":eu-central-1:" in text and copy_vault["Properties"]["BackupVaultName"] in text
        assert "Fn::ImportValue" not in text and "Fn::GetStackOutput" not in text
    # The backup role may use the copy key, found by the alias the copy stack gives it.
    _, alias = one(copy, "AWS::KMS::Alias", "/CopyVault/")
    statements = [
        s
        for _, policy in resources(primary, "AWS::IAM::Policy")
        for s in policy["Properties"]["PolicyDocument"]["Statement"]
        if "kms:ResourceAliases" in str(s.get("Condition", {}))
    ]
    (statement,) = statements
    assert (
        statement["Condition"]["ForAnyValue:StringEquals"]["kms:ResourceAliases"]
        == alias["Properties"]["AliasName"]
    )
    assert "kms:GenerateDataKey" in statement["Action"]
