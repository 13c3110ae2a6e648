"""Backup, deployed: what docs/backup.md promises of the plan's vault and role.

- A table carrying the kit's backup tag is backed up through the plan's role into the plan's
  vault (an on-demand job: the schedule's daily run would keep the test a day), and the job
  completes, so the role may back up and the vault's key may encrypt.
- The recovery point is then deleted, which a sandbox vault allows, so `cdk destroy` can delete
  the vault (a vault that holds recovery points cannot be deleted).
"""

from __future__ import annotations

import sys
from pathlib import Path

# The CDK CLI runs this file as a script: make the kit's packages importable.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aws_cdk as cdk
from aws_cdk import integ_tests_alpha as integ

from integ import harness
from patterns.shared.backup import mark_for_backup
from patterns.shared.tables import on_demand_table
from stacks.backup_stack import BackupStack

# A small table's on-demand backup usually completes in minutes; the job may wait for its start.
INTERVAL, TIMEOUT = cdk.Duration.seconds(60), cdk.Duration.minutes(60)


def build(app: cdk.App) -> integ.IntegTest:
    profile = harness.profile(app)
    stack = BackupStack(app, "Backup", profile=profile, stack_name=harness.integ_stack_name("Backup"))
    data = cdk.Stack(app, "BackupData", stack_name=harness.integ_stack_name("BackupData"))
    table = on_demand_table(data, "Tagged", profile=profile, partition_key="pk")
    mark_for_backup(table)
    test = harness.integ_test(app, "BackupInteg", stack, data)
    protection = stack.protection

    put = test.assertions.aws_api_call(
        "DynamoDB", "putItem", {"TableName": table.table_name, "Item": {"pk": {"S": harness.run_id()}}}
    )
    start = test.assertions.aws_api_call(
        "Backup",
        "startBackupJob",
        {
            "BackupVaultName": protection.vault.backup_vault_name,
            "ResourceArn": table.table_arn,
            "IamRoleArn": protection.backup_role.role_arn,
        },
    )
    start.provider.add_to_role_policy(
        {"Effect": "Allow", "Action": ["iam:PassRole"], "Resource": [protection.backup_role.role_arn]}
    )
    job = {"BackupJobId": start.get_att_string("BackupJobId")}
    completed = (
        test.assertions.aws_api_call("Backup", "describeBackupJob", job)
        .expect(integ.ExpectedResult.object_like({"State": "COMPLETED"}))
        .wait_for_assertions(interval=INTERVAL, total_timeout=TIMEOUT)
    )
    # Read in a call of its own: a call that both expects and reads compares a flattened response.
    described = test.assertions.aws_api_call("Backup", "describeBackupJob", job)
    delete = test.assertions.aws_api_call(
        "Backup",
        "deleteRecoveryPoint",
        {
            "BackupVaultName": protection.vault.backup_vault_name,
            "RecoveryPointArn": described.get_att_string("RecoveryPointArn"),
        },
    )
    put.next(start).next(completed).next(described).next(delete)
    return test


if __name__ == "__main__":
    harness.run(build)
