"""Standby: the orders API in a second Region over a DynamoDB global table, Route 53 failover
records with a health check on the primary, and a runbook that promotes the standby (pilot
light) and shifts traffic.

construct: `global_table.py` (GlobalTable), `keys.py` (ReplicaKey), `endpoint.py`
           (FailoverEndpoint), `runbook.py` (FailoverRunbook), `monitor.py` (HealthCheckAlarm),
           `remote.py` (RemoteParameter)
stack:     `stacks/standby_stack.py` (StandbyKey, StandbyPrimary, Standby, StandbyMonitor)
runtime:   `lambda/failover_probe/` (the verify step), `lambda/orders_api/` (GET /health)
tests:     `tests/test_standby_*.py`
page:      `docs/standby.md`
"""

from .endpoint import FailoverEndpoint
from .global_table import GlobalTable, replication_latency_alarm
from .keys import ReplicaKey
from .monitor import HealthCheckAlarm
from .remote import RemoteParameter
from .runbook import FailoverRunbook

__all__ = [
    "FailoverEndpoint",
    "FailoverRunbook",
    "GlobalTable",
    "HealthCheckAlarm",
    "RemoteParameter",
    "ReplicaKey",
    "replication_latency_alarm",
]
