"""`BackupProtection` on its own: props it refuses, and what a user's choices change."""

from __future__ import annotations

import pytest
from aws_cdk import aws_backup as backup
from aws_cdk import aws_kms as kms
from aws_cdk.assertions import Template

from patterns.backup import BackupProtection
from patterns.shared.defaults import PRODUCTION, SANDBOX
from patterns.shared.props import PropError
from tests.kit import bare_stack


def test_an_existing_vault_and_a_key_for_a_new_one_are_refused_naming_both() -> None:
    stack = bare_stack()
    vault = backup.BackupVault.from_backup_vault_name(stack, "Theirs", "their-vault")
    key = kms.Key(stack, "Key", enable_key_rotation=True)
    with pytest.raises(PropError, match=r"^vault: .*vault_key"):
        BackupProtection(stack, "Protection", profile=SANDBOX, vault=vault, vault_key=key)


@pytest.mark.parametrize("arn", ["my-vault", "arn:aws:s3:::bucket"])
def test_a_copy_vault_that_is_not_a_vault_arn_is_refused(arn: str) -> None:
    with pytest.raises(PropError, match=r"^copy_vault_arn: "):
        BackupProtection(bare_stack(), "Protection", profile=SANDBOX, copy_vault_arn=arn)


def test_a_compliance_lock_has_the_grace_period_aws_backup_requires() -> None:
    """Vault Lock in compliance mode takes a grace period (ChangeableForDays) of at least 3
    days, after which the lock can no longer be removed ("AWS Backup Vault Lock")."""
    stack = bare_stack({"profile": "production"})
    BackupProtection(stack, "Protection", profile=PRODUCTION, compliance_lock=True)
    (vault,) = Template.from_stack(stack).find_resources("AWS::Backup::BackupVault").values()
    assert vault["Properties"]["LockConfiguration"]["ChangeableForDays"] >= 3


def test_a_compliance_lock_without_a_lock_retention_is_refused() -> None:
    with pytest.raises(PropError, match=r"^compliance_lock: "):
        BackupProtection(bare_stack(), "Protection", profile=SANDBOX, compliance_lock=True)


def test_an_existing_vault_is_used_as_it_is() -> None:
    stack = bare_stack()
    vault = backup.BackupVault.from_backup_vault_name(stack, "Theirs", "their-vault")
    protection = BackupProtection(stack, "Protection", profile=SANDBOX, vault=vault)
    template = Template.from_stack(stack)
    assert not template.find_resources("AWS::Backup::BackupVault")
    assert protection.key is None
    (plan,) = template.find_resources("AWS::Backup::BackupPlan").values()
    assert {r["TargetBackupVault"] for r in plan["Properties"]["BackupPlan"]["BackupPlanRule"]} == {
        "their-vault"
    }
