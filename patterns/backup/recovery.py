"""RPO, RTO and idle cost of backup and restore, read from a synthesized `Backup` template (and
the kit's data tables), so the DR table on docs/backup.md comes from what would be deployed.

What the template fixes is computed; what it cannot know (how long a restore or a redeploy
takes, what a GB costs) is an assumption named in ASSUMPTIONS and printed with the table.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

# AWS docs: DynamoDB point-in-time recovery restores to any second of its window, its latest
# restorable time typically 5 minutes behind now ("Point-in-time recovery for DynamoDB"); RDS's
# latest restorable time is likewise typically within 5 minutes ("Restoring a DB instance to a
# specified time"), and so is AWS Backup's continuous backup of RDS.
PITR_LAG_MINUTES = 5
ASSUMPTIONS = {
    "restore_hours": (
        1.0,
        "restoring a small table or database from a snapshot (restore tests measure yours)",
    ),
    "redeploy_hours": (0.5, "deploying the kit's stacks in the second Region (cdk deploy)"),
}
# Price list, us-east-1 (aws.amazon.com/kms/pricing, /cloudwatch/pricing, /rds/postgresql/pricing).
KMS_KEY_MONTH = 1.00
ALARM_MONTH = 0.10
RESTORE_TEST_INSTANCE_HOUR = 0.016  # db.t4g.micro PostgreSQL, what a restore test runs
HOURS_PER_MONTH = 730


@dataclass(frozen=True)
class BackupFacts:
    snapshot_interval_hours: int
    start_window_hours: int
    completion_window_hours: int
    continuous: bool
    copied: bool
    restore_tests_per_month: float
    validation_window_hours: int
    keys: int
    alarms: int


def facts(template: dict[str, Any], copy_template: dict[str, Any] | None = None) -> BackupFacts:
    """The figures of a `Backup` template (and of its `BackupCopy` template, if deployed)."""
    resources = list(template["Resources"].values())
    copy_keys = sum(
        r["Type"] == "AWS::KMS::Key" for r in (copy_template or {"Resources": {}})["Resources"].values()
    )
    (plan,) = [r for r in resources if r["Type"] == "AWS::Backup::BackupPlan"]
    rules = plan["Properties"]["BackupPlan"]["BackupPlanRule"]
    (test_plan,) = [r for r in resources if r["Type"] == "AWS::Backup::RestoreTestingPlan"]
    selections = [r for r in resources if r["Type"] == "AWS::Backup::RestoreTestingSelection"]
    return BackupFacts(
        snapshot_interval_hours=min(interval_hours(rule["ScheduleExpression"]) for rule in rules),
        start_window_hours=max(rule["StartWindowMinutes"] for rule in rules) // 60,
        completion_window_hours=max(rule["CompletionWindowMinutes"] for rule in rules) // 60,
        continuous=any(rule.get("EnableContinuousBackup") for rule in rules),
        copied=all(rule.get("CopyActions") for rule in rules),
        restore_tests_per_month=runs_per_month(test_plan["Properties"]["ScheduleExpression"]),
        validation_window_hours=max(s["Properties"]["ValidationWindowHours"] for s in selections),
        keys=sum(r["Type"] == "AWS::KMS::Key" for r in resources) + copy_keys,
        alarms=sum(r["Type"] == "AWS::CloudWatch::Alarm" for r in resources),
    )


CRON = re.compile(r"cron\((\S+) (\S+) (\S+) (\S+) (\S+) (\S+)\)")


def _fields(cron: str) -> tuple[str, ...]:
    match = CRON.fullmatch(cron)
    if match is None:
        raise ValueError(f"not an AWS cron expression: {cron!r}")
    return match.groups()


def interval_hours(cron: str) -> int:
    """The longest gap between two runs of a daily, weekly or monthly AWS cron expression."""
    minute, hour, day, month, weekday, _year = _fields(cron)
    if not (minute.isdigit() and hour.isdigit()):  # several runs a day: not a form the kit uses
        raise ValueError(f"interval_hours: unsupported schedule {cron!r}")
    if day in ("*", "?") and weekday in ("*", "?"):
        return 24
    if day == "?" and month == "*":
        return 24 * 7 // max(1, len(weekday.split(",")))
    if day.isdigit() and month == "*":
        return 24 * 31
    raise ValueError(f"interval_hours: unsupported schedule {cron!r}")


def runs_per_month(cron: str) -> float:
    return round(HOURS_PER_MONTH / interval_hours(cron), 1)


@dataclass(frozen=True)
class Row:
    strategy: str
    loss: str
    rpo: str
    rto: str
    idle_cost: str


def _hours(value: float) -> str:
    return f"{value:g} h" if value >= 1 else f"{round(value * 60)} min"


def rows(profile: str, backup: BackupFacts, *, tables_have_pitr: bool, database_has_pitr: bool) -> list[Row]:
    """Backup and restore, for the two losses it answers: data in this Region (a bad deploy, a
    deleted table) and the Region itself."""
    restore, _ = ASSUMPTIONS["restore_hours"]
    redeploy, _ = ASSUMPTIONS["redeploy_hours"]
    restore_tests = backup.restore_tests_per_month * (restore + backup.validation_window_hours)
    idle = backup.keys * KMS_KEY_MONTH + backup.alarms * ALARM_MONTH
    idle += restore_tests * RESTORE_TEST_INSTANCE_HOUR
    cost = f"${idle:.2f} + storage"
    # Within the Region, the tables' own point-in-time recovery and the database's automated
    # backups (or AWS Backup's continuous backup) bound the loss; a snapshot is the fallback.
    pitr = tables_have_pitr and (database_has_pitr or backup.continuous)
    in_region_rpo = f"{PITR_LAG_MINUTES} min (PITR)" if pitr else f"{backup.snapshot_interval_hours} h"
    region_rpo = backup.snapshot_interval_hours + backup.start_window_hours + backup.completion_window_hours
    return [
        Row(f"backup and restore ({profile})", "data in this Region", in_region_rpo, _hours(restore), cost),
        Row(
            f"backup and restore ({profile})",
            "the Region",
            f"{region_rpo} h + copy time" if backup.copied else "no copy: everything",
            _hours(restore + redeploy) if backup.copied else "none",
            cost if backup.copied else "-",
        ),
    ]


def markdown(table: list[Row]) -> str:
    header = (
        "| strategy | what is lost | RPO (worst case) | RTO | idle cost / month |\n|---|---|---|---|---|\n"
    )
    return header + "".join(
        f"| {r.strategy} | {r.loss} | {r.rpo} | {r.rto} | {r.idle_cost} |\n" for r in table
    )
