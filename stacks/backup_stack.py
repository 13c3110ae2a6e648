"""`Backup`: AWS Backup for the kit's stateful resources (any Region), and, given
`-c backup_copy_region=<region>`, `BackupCopy`: the vault in that Region that every recovery
point is copied to. The two meet by name, not by a cross-Region reference (aws/aws-cdk#27902)."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from aws_cdk import CfnOutput, Stack
from constructs import Construct

from patterns.backup import BackupProtection, CopyVault
from patterns.shared.defaults import Profile

COPY_REGION_CONTEXT_KEY = "backup_copy_region"


def copy_vault_name(backup_stack_name: str) -> str:
    return f"{backup_stack_name}-copy"


class BackupStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        profile: Profile,
        copy_region: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        copy_vault_arn = (
            self.format_arn(
                service="backup",
                region=copy_region,
                resource="backup-vault",
                resource_name=copy_vault_name(self.stack_name),
                arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
            )
            if copy_region
            else None
        )
        self.protection = BackupProtection(self, "Protection", profile=profile, copy_vault_arn=copy_vault_arn)
        if not copy_region:
            cdk.Annotations.of(self).add_info(
                f"Backup: no copy to a second Region; give -c {COPY_REGION_CONTEXT_KEY}=<region> "
                "to add the BackupCopy stack there and a copy action to every rule"
            )
        CfnOutput(self, "VaultName", value=self.protection.vault.backup_vault_name)
        CfnOutput(self, "PlanId", value=self.protection.plan.backup_plan_id)
        CfnOutput(
            self,
            "RestoreTestingPlanArn",
            value=self.protection.restore_testing_plan.attr_restore_testing_plan_arn,
        )
        CfnOutput(self, "AlarmTopicArn", value=self.protection.alarm_topic.topic_arn)


class BackupCopyStack(Stack):
    def __init__(
        self, scope: Construct, construct_id: str, *, profile: Profile, vault_name: str, **kwargs: Any
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.copy = CopyVault(self, "CopyVault", profile=profile, vault_name=vault_name)
        CfnOutput(self, "CopyVaultArn", value=self.copy.vault.backup_vault_arn)
