"""The DR table's arithmetic, and that docs/backup.md shows what the synthesized app gives."""

from __future__ import annotations

import dataclasses

import pytest

from patterns.backup import recovery
from tools import dr_table


@pytest.mark.parametrize(
    ("cron", "hours"),
    [
        ("cron(0 5 * * ? *)", 24),
        ("cron(0 9 ? * MON *)", 168),
        ("cron(0 9 ? * MON,THU *)", 84),
        ("cron(0 6 1 * ? *)", 744),  # a month's longest gap: 31 days
    ],
)
def test_the_longest_gap_between_runs(cron: str, hours: int) -> None:
    assert recovery.interval_hours(cron) == hours


@pytest.mark.parametrize("cron", ["cron(0 */6 * * ? *)", "rate(1 day)", "cron(0 5 1 1 ? *)"])
def test_a_schedule_it_cannot_bound_is_refused_not_guessed(cron: str) -> None:
    with pytest.raises(ValueError, match=r"schedule|cron"):
        recovery.interval_hours(cron)


FACTS = recovery.BackupFacts(
    snapshot_interval_hours=24,
    start_window_hours=1,
    completion_window_hours=8,
    continuous=False,
    copied=True,
    restore_tests_per_month=4.3,
    validation_window_hours=1,
    keys=3,
    alarms=4,
)


def test_without_a_copy_a_region_loss_loses_everything() -> None:
    _, region = recovery.rows(
        "sandbox", dataclasses.replace(FACTS, copied=False), tables_have_pitr=True, database_has_pitr=True
    )
    assert region.rpo.startswith("no copy") and region.rto == "none"


def test_the_region_rpo_is_the_gap_plus_the_windows_a_job_may_take() -> None:
    """A snapshot may start up to the start window late and take up to the completion window;
    the copy starts only after it (AWS Backup, "Creating backup copies across AWS Regions")."""
    _, region = recovery.rows("sandbox", FACTS, tables_have_pitr=True, database_has_pitr=True)
    assert region.rpo == "33 h + copy time"


def test_without_point_in_time_recovery_the_snapshot_bounds_the_loss_in_region() -> None:
    in_region, _ = recovery.rows("sandbox", FACTS, tables_have_pitr=True, database_has_pitr=False)
    assert in_region.rpo == "24 h"
    continuous = dataclasses.replace(FACTS, continuous=True)
    in_region, _ = recovery.rows("production", continuous, tables_have_pitr=True, database_has_pitr=False)
    assert in_region.rpo == f"{recovery.PITR_LAG_MINUTES} min (PITR)"


def test_the_page_shows_the_table_the_synthesized_app_gives() -> None:
    page = dr_table.PAGE.read_text()
    shown = page.split(dr_table.BEGIN, 1)[1].split(dr_table.END, 1)[0]
    assert shown == dr_table.compute(), "docs/backup.md is stale: run python -m tools.dr_table --write"
