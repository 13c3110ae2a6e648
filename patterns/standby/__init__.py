"""Standby: the orders API in a second Region, failed over by a runbook. Only the runbook is
built so far (issue 18): the stack (global table, API in both Regions, Route 53 failover
records and their alarms) is not.

construct: `runbook.py` (FailoverRunbook)
stack:     none yet
runtime:   `lambda/failover_probe/` (the verify step)
tests:     `tests/test_standby_runbook.py`
page:      `docs/standby.md`
"""

from .runbook import FailoverRunbook

__all__ = ["FailoverRunbook"]
