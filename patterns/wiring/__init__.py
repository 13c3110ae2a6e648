"""Wiring checks: cross-resource rules cdk-nag cannot see, because each resource is fine alone.

Use in any CDK app (this package needs only aws-cdk-lib):

    from patterns.wiring import WiringChecks
    Validations.of(app).add_plugins(WiringChecks(production=is_production))

Each rule module registers its rules; `RULES` lists them with their doc line and source.
"""

from . import (
    alarms,
    containers,
    edge,
    encryption,
    events,
    failover,
    invocations,
    proxy,
    queues,
    retention,
    snap_start,
    state_machines,
    streams,
)
from .core import DEFAULT_SENSITIVE_FIELDS, RULES, Rule, Settings, Violation, run
from .model import Model
from .plugin import WiringChecks, acknowledgement_id, check_assembly

__all__ = [
    "DEFAULT_SENSITIVE_FIELDS",
    "RULES",
    "Model",
    "Rule",
    "Settings",
    "Violation",
    "WiringChecks",
    "acknowledgement_id",
    "alarms",
    "check_assembly",
    "containers",
    "edge",
    "encryption",
    "events",
    "failover",
    "invocations",
    "proxy",
    "queues",
    "retention",
    "run",
    "snap_start",
    "state_machines",
    "streams",
]
