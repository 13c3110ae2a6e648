"""`BackupProtection`: an AWS Backup plan for whatever carries the kit's backup tag, a vault with
a customer-managed key (locked in production), copies to a vault in a second Region, a restore
testing plan that restores the latest recovery points on a schedule, and alarms on failed
backup, copy and restore jobs."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import Duration
from aws_cdk import aws_backup as backup
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from constructs import Construct

from ..shared.backup import BACKUP_TAG_KEY, BACKUP_TAG_VALUE
from ..shared.defaults import BELOW, Profile, acknowledge, encryption_key, new_alarm_topic, notifying_alarm
from ..shared.props import PropError, expect
from .schedule import BackupSchedule, schedule_for

# What restore tests restore: the resource types the kit marks (AWS Backup restore testing
# supports each, "Restore testing" > "Supported resources").
RESTORE_TESTED_TYPES = ("DynamoDB", "RDS", "S3")
COPY_KEY_ALIAS = "alias/refarch-backup-copy"
SERVICE_ROLE_POLICIES = {
    "backup": ("AWSBackupServiceRolePolicyForBackup", "AWSBackupServiceRolePolicyForS3Backup"),
    "restore": ("AWSBackupServiceRolePolicyForRestores", "AWSBackupServiceRolePolicyForS3Restore"),
}
MANAGED_POLICY_REASON = (
    "AWS Backup's documented service-role policies: they track the permissions each supported "
    "service's backup and restore APIs need, which a hand-written policy would fall behind."
)
# "Monitoring AWS Backup metrics with CloudWatch": the AWS/Backup namespace reports job counts
# per vault (dimension BackupVaultName); restore tests run ordinary restore jobs, so a failed
# restore test is a NumberOfRestoreJobsFailed of the vault its recovery point lives in.
FAILURE_METRICS = {
    "BackupJobsFailed": ("NumberOfBackupJobsFailed", "a backup job failed"),
    "BackupJobsExpired": (
        "NumberOfBackupJobsExpired",
        "a backup job never started within its start window (that day has no recovery point)",
    ),
    "CopyJobsFailed": ("NumberOfCopyJobsFailed", "a copy to the second Region's vault failed"),
    "RestoreJobsFailed": ("NumberOfRestoreJobsFailed", "a restore job (restore tests included) failed"),
}


class BackupProtection(Construct):
    """Backs up every resource tagged `refarch:backup=daily` (`mark_for_backup`), copies each
    recovery point to a second Region when given its vault, and proves the backups restore.

    Attributes:
        vault: where recovery points are kept (this Region).
        key: the customer-managed key of a vault this construct made (None for an existing vault).
        plan: the backup plan: the profile's rules, each with its copy action.
        selection: the tag-based selection: what carries the tag is backed up.
        backup_role: the role AWS Backup uses to back up and copy.
        restore_role: the role AWS Backup uses for restore tests.
        restore_testing_plan: restores the latest recovery point of each selected type on a schedule.
        restore_testing_selections: one per restored resource type.
        alarm_topic: where the alarms go.
        alarms: failed backup, expired backup, failed copy and failed restore jobs (and, in
            production, no completed backup in a day).
        schedule: the schedules, retentions and windows in force.
    """

    vault: backup.IBackupVault
    key: kms.IKey | None
    plan: backup.BackupPlan
    selection: backup.BackupSelection
    backup_role: iam.Role
    restore_role: iam.Role
    restore_testing_plan: backup.CfnRestoreTestingPlan
    restore_testing_selections: list[backup.CfnRestoreTestingSelection]
    alarm_topic: sns.ITopic
    alarms: list[cloudwatch.Alarm]
    schedule: BackupSchedule

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        profile: Profile,
        vault: backup.IBackupVault | None = None,
        vault_key: kms.IKey | None = None,
        vault_name: str | None = None,
        copy_vault_arn: str | None = None,
        copy_key_alias: str = COPY_KEY_ALIAS,
        schedule: BackupSchedule | None = None,
        compliance_lock: bool = False,
        alarm_topic: sns.ITopic | None = None,
    ) -> None:
        """Build the vault (unless given), the plan, its tag selection, restore tests and alarms.

        Args:
            profile: sandbox (one daily rule kept 7 days, weekly restore tests, no lock) or
                production (daily rule kept 35 days with continuous backup of RDS and S3, monthly
                rule kept 365 days, daily restore tests, a vault lock and recovery points that
                cannot be deleted).
            vault: an existing vault to back up into; no lock is added to it, and its key's
                owner grants `backup_role` and `restore_role` the use of that key. Refused
                together with `vault_key` or `vault_name`. Default: a new vault.
            vault_key: the key for the new vault. Default: a new customer-managed key.
            vault_name: the new vault's name. Default: generated by CloudFormation.
            copy_vault_arn: a vault in another Region (its ARN, `arn:...:backup-vault:...`;
                a literal of another form is refused) to copy every recovery point to, kept as
                long as the rule's copy retention. Default: no copy (the page says how to add one).
            copy_key_alias: the alias of the copy vault's key, which the backup role may use
                (read only with `copy_vault_arn`). Default: the alias `CopyVault` gives its key.
            schedule: rules, windows and lock retention. Default: the profile's.
            compliance_lock: lock a new production vault in compliance mode (after a 3-day
                grace period nobody, root included, can shorten retention or delete the vault);
                refused when the schedule has no `lock_min_retention_days`. Default False:
                governance mode in production (IAM can lift it). A sandbox vault, or an
                existing one, gets no lock either way.
            alarm_topic: where the alarms go. Default: a new encrypted topic.
        """
        super().__init__(scope, construct_id)
        expect("vault", vault, backup.IBackupVault, optional=True)
        expect("vault_key", vault_key, kms.IKey, optional=True)
        expect("vault_name", vault_name, str, optional=True)
        expect("copy_vault_arn", copy_vault_arn, str, optional=True)
        expect("schedule", schedule, BackupSchedule, optional=True)
        expect("alarm_topic", alarm_topic, sns.ITopic, optional=True)
        if vault is not None and (vault_key is not None or vault_name is not None):
            given = "vault_key" if vault_key is not None else "vault_name"
            raise PropError("vault", f"give an existing vault or {given} for a new one, not both")
        literal_arn = copy_vault_arn is not None and not cdk.Token.is_unresolved(copy_vault_arn)
        if literal_arn and not (
            str(copy_vault_arn).startswith("arn:") and ":backup-vault:" in str(copy_vault_arn)
        ):
            raise PropError("copy_vault_arn", f"expected a backup vault ARN, got {copy_vault_arn!r}")
        self._profile = profile
        self.schedule = schedule or schedule_for(profile)
        if compliance_lock and self.schedule.lock_min_retention_days is None:
            raise PropError("compliance_lock", "the schedule has no lock_min_retention_days to lock")
        self.alarm_topic = alarm_topic or new_alarm_topic(self, "AlarmTopic", profile=profile)
        self.key = None
        self.vault = vault or self._new_vault(vault_key, vault_name, compliance_lock)
        self.backup_role = self._service_role("BackupRole", "backup")
        self.restore_role = self._service_role("RestoreRole", "restore")
        self._grant_vault_key()
        copy_vault = (
            backup.BackupVault.from_backup_vault_arn(self, "CopyVault", copy_vault_arn)
            if copy_vault_arn is not None
            else None
        )
        if copy_vault_arn is not None:
            self._grant_copy_key(copy_vault_arn, copy_key_alias)
        self.plan = self._plan(copy_vault)
        self.selection = backup.BackupSelection(
            self,
            "Selection",
            backup_plan=self.plan,
            resources=[backup.BackupResource.from_tag(BACKUP_TAG_KEY, BACKUP_TAG_VALUE)],
            role=self.backup_role,
            disable_default_backup_policy=True,  # the role carries the policies itself
        )
        self.restore_testing_plan, self.restore_testing_selections = self._restore_tests()
        self.alarms = self._alarms()

    # The vault ---------------------------------------------------------------------------------

    def _new_vault(
        self, vault_key: kms.IKey | None, vault_name: str | None, compliance_lock: bool
    ) -> backup.BackupVault:
        self.key = vault_key or encryption_key(
            self, "VaultKey", profile=self._profile, description=f"Encrypts {self.node.path} recovery points"
        )
        lock = None
        if self.schedule.lock_min_retention_days is not None and self._profile.is_production:
            # Without changeable_for the lock stays in governance mode; with it, the lock turns
            # into compliance mode when the grace period ends (AWS Backup, "Vault Lock").
            lock = backup.LockConfiguration(
                min_retention=Duration.days(self.schedule.lock_min_retention_days),
                changeable_for=Duration.days(3) if compliance_lock else None,
            )
        return backup.BackupVault(
            self,
            "Vault",
            backup_vault_name=vault_name,
            encryption_key=self.key,
            lock_configuration=lock,
            block_recovery_point_deletion=self._profile.is_production,
            removal_policy=self._profile.removal_policy,
        )

    def _service_role(self, role_id: str, purpose: str) -> iam.Role:
        role = iam.Role(
            self,
            role_id,
            assumed_by=iam.ServicePrincipal("backup.amazonaws.com"),
            managed_policies=[
                iam.ManagedPolicy.from_aws_managed_policy_name(f"service-role/{name}")
                for name in SERVICE_ROLE_POLICIES[purpose]
            ],
        )
        for name in SERVICE_ROLE_POLICIES[purpose]:
            acknowledge(
                role,
                f"AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/{name}]",
                MANAGED_POLICY_REASON,
            )
        return role

    def _grant_vault_key(self) -> None:
        """Resources whose backups AWS Backup manages itself (DynamoDB with advanced features,
        S3) are encrypted with the vault's key, with the backup role's permissions; restoring
        them decrypts with the restore role's ("Encryption for backups in AWS Backup")."""
        key = self.key
        if key is None:  # an existing vault: its owner grants `backup_role` and `restore_role`
            return
        key.grant(self.backup_role, "kms:GenerateDataKey", "kms:Decrypt", "kms:DescribeKey")
        key.grant(self.restore_role, "kms:Decrypt", "kms:DescribeKey")
        for role in (self.backup_role, self.restore_role):
            role.add_to_policy(
                iam.PolicyStatement(
                    actions=["kms:CreateGrant"],
                    resources=[key.key_arn],
                    conditions={"Bool": {"kms:GrantIsForAWSResource": "true"}},
                )
            )

    def _grant_copy_key(self, copy_vault_arn: str, alias: str) -> None:
        """A copy is encrypted with the destination vault's key, in its Region, with the backup
        role's permissions. That key lives in another stack and Region: it is found by its
        alias, never by a cross-Region reference (aws/aws-cdk#27902)."""
        region = cdk.Arn.split(copy_vault_arn, cdk.ArnFormat.COLON_RESOURCE_NAME).region
        keys = cdk.Stack.of(self).format_arn(service="kms", region=region, resource="key", resource_name="*")
        statement = iam.PolicyStatement(
            actions=["kms:GenerateDataKey", "kms:DescribeKey", "kms:CreateGrant"],
            resources=[keys],
            conditions={"ForAnyValue:StringEquals": {"kms:ResourceAliases": alias}},
        )
        self.backup_role.add_to_policy(statement)
        acknowledge(
            self.backup_role,
            f"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:kms:{region}:<AWS::AccountId>:key/*]",
            "The copy vault's key is in another Region and stack; the statement is limited to "
            "the key carrying the copy vault's alias (kms:ResourceAliases).",
        )

    # The plan ----------------------------------------------------------------------------------

    def _plan(self, copy_vault: backup.IBackupVault | None) -> backup.BackupPlan:
        plan = backup.BackupPlan(
            self,
            "Plan",
            backup_plan_name=cdk.Names.unique_resource_name(self, max_length=50),
            backup_vault=self.vault,
        )
        for rule in self.schedule.rules:
            copies = (
                [
                    backup.BackupPlanCopyActionProps(
                        destination_backup_vault=copy_vault,
                        delete_after=Duration.days(rule.copy_retention_days),
                    )
                ]
                if copy_vault is not None
                else None
            )
            plan.add_rule(
                backup.BackupPlanRule(
                    rule_name=rule.name,
                    schedule_expression=events.Schedule.expression(rule.schedule),
                    start_window=Duration.hours(self.schedule.start_window_hours),
                    completion_window=Duration.hours(self.schedule.completion_window_hours),
                    delete_after=Duration.days(rule.retention_days),
                    enable_continuous_backup=rule.continuous or None,
                    copy_actions=copies,
                )
            )
        return plan

    # Restore tests -----------------------------------------------------------------------------

    def _restore_tests(self) -> tuple[backup.CfnRestoreTestingPlan, list[backup.CfnRestoreTestingSelection]]:
        """L1: aws-cdk-lib has no L2 for restore testing. Each run restores the latest snapshot
        recovery point (of the selection window) of every tagged resource type into a new
        resource, waits out the validation window, and deletes what it restored."""
        name = cdk.Names.unique_resource_name(self, max_length=44, separator="_").replace("-", "_")
        plan = backup.CfnRestoreTestingPlan(
            self,
            "RestoreTestingPlan",
            restore_testing_plan_name=f"{name}_tests",
            schedule_expression=self.schedule.restore_test_schedule,
            start_window_hours=self.schedule.start_window_hours,
            recovery_point_selection=backup.CfnRestoreTestingPlan.RestoreTestingRecoveryPointSelectionProperty(
                algorithm="LATEST_WITHIN_WINDOW",
                include_vaults=[self.vault.backup_vault_arn],
                recovery_point_types=["SNAPSHOT"],
                selection_window_days=self.schedule.restore_test_window_days,
            ),
        )
        selections = []
        for resource_type in RESTORE_TESTED_TYPES:
            selection = backup.CfnRestoreTestingSelection(
                self,
                f"RestoreTest{resource_type}",
                restore_testing_plan_name=plan.restore_testing_plan_name,
                restore_testing_selection_name=f"{resource_type.lower()}_tagged",
                protected_resource_type=resource_type,
                iam_role_arn=self.restore_role.role_arn,
                # "*" with conditions: every resource of the type carrying the backup tag.
                protected_resource_arns=["*"],
                protected_resource_conditions=backup.CfnRestoreTestingSelection.ProtectedResourceConditionsProperty(
                    string_equals=[
                        backup.CfnRestoreTestingSelection.KeyValueProperty(
                            key=f"aws:ResourceTag/{BACKUP_TAG_KEY}", value=BACKUP_TAG_VALUE
                        )
                    ]
                ),
                validation_window_hours=self.schedule.validation_window_hours,
            )
            selection.node.add_dependency(plan)  # the plan is named by a string, not a reference
            selections.append(selection)
        return plan, selections

    # Alarms ------------------------------------------------------------------------------------

    def _metric(self, metric_name: str, period: Duration) -> cloudwatch.Metric:
        return cloudwatch.Metric(
            namespace="AWS/Backup",
            metric_name=metric_name,
            dimensions_map={"BackupVaultName": self.vault.backup_vault_name},
            statistic="Sum",
            period=period,
        )

    def _alarms(self) -> list[cloudwatch.Alarm]:
        alarms = [
            notifying_alarm(
                self,
                alarm_id,
                self._metric(metric_name, Duration.hours(1)),
                topic=self.alarm_topic,
                threshold=0,
                evaluation_periods=1,
                description=f"AWS Backup: {what} in vault {self.vault.backup_vault_name}",
            )
            for alarm_id, (metric_name, what) in FAILURE_METRICS.items()
        ]
        if self._profile.is_production:
            # No data here is the finding: a day without one completed backup job.
            alarms.append(
                notifying_alarm(
                    self,
                    "NoBackupCompletedInADay",
                    self._metric("NumberOfBackupJobsCompleted", Duration.days(1)),
                    topic=self.alarm_topic,
                    threshold=1,
                    evaluation_periods=1,
                    comparison=BELOW,
                    missing_data=cloudwatch.TreatMissingData.BREACHING,
                    description="AWS Backup completed no backup job in a day: is anything tagged?",
                )
            )
        return alarms
