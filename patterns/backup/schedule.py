"""How often each profile backs up, how long it keeps what it backs up, and when restore tests
run: one place for these numbers, which the plan, the vault lock and the DR table all read."""

from __future__ import annotations

from dataclasses import dataclass

from ..shared.defaults import Profile


@dataclass(frozen=True)
class BackupRule:
    name: str
    schedule: str
    """An AWS Backup cron expression (UTC)."""
    interval_hours: int
    """Hours between two runs of the schedule: the worst-case data loss of a snapshot restore."""
    retention_days: int
    copy_retention_days: int
    continuous: bool = False
    """Continuous backup (point-in-time restore) for the resources that support it (RDS, S3)."""


@dataclass(frozen=True)
class BackupSchedule:
    rules: tuple[BackupRule, ...]
    start_window_hours: int
    """A job that has not started this long after its scheduled time is EXPIRED (and alarms)."""
    completion_window_hours: int
    restore_test_schedule: str
    restore_test_window_days: int
    """Restore tests pick the latest recovery point created within this many days."""
    validation_window_hours: int
    lock_min_retention_days: int | None
    """The vault lock's minimum retention (None: no lock), at most the shortest rule's."""

    @property
    def shortest_interval_hours(self) -> int:
        return min(rule.interval_hours for rule in self.rules)


SANDBOX_SCHEDULE = BackupSchedule(
    rules=(BackupRule("Daily", "cron(0 5 * * ? *)", 24, retention_days=7, copy_retention_days=7),),
    start_window_hours=1,
    completion_window_hours=8,
    restore_test_schedule="cron(0 9 ? * MON *)",
    restore_test_window_days=7,
    validation_window_hours=1,
    lock_min_retention_days=None,
)
PRODUCTION_SCHEDULE = BackupSchedule(
    rules=(
        BackupRule(
            "Daily", "cron(0 5 * * ? *)", 24, retention_days=35, copy_retention_days=35, continuous=True
        ),
        BackupRule("Monthly", "cron(0 6 1 * ? *)", 24 * 31, retention_days=365, copy_retention_days=365),
    ),
    start_window_hours=1,
    completion_window_hours=8,
    restore_test_schedule="cron(0 9 ? * * *)",
    restore_test_window_days=2,
    validation_window_hours=2,
    lock_min_retention_days=35,
)


def schedule_for(profile: Profile) -> BackupSchedule:
    return PRODUCTION_SCHEDULE if profile.is_production else SANDBOX_SCHEDULE
