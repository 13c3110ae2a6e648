"""Backup: AWS Backup for every resource the patterns mark (`mark_for_backup`), copied to a
second Region, with restore tests and alarms on failed jobs.

construct: `construct.py` (BackupProtection), `copy_vault.py` (CopyVault), `schedule.py`
           (the profiles' schedules), `recovery.py` (RPO/RTO from a synthesized template)
stack:     `stacks/backup_stack.py`
runtime:   none
tests:     `tests/test_backup_*.py`
page:      `docs/backup.md`
"""

from .construct import BackupProtection
from .copy_vault import CopyVault
from .schedule import BackupRule, BackupSchedule, schedule_for

__all__ = ["BackupProtection", "BackupRule", "BackupSchedule", "CopyVault", "schedule_for"]
