"""Worker fleet: EC2 instances that drain an SQS queue, scaled on backlog per instance.

construct: `construct.py` (WorkerFleet), `scaling.py` (backlog scaling), `boot.py` (user data)
stack:     `stacks/worker_fleet_stack.py`
runtime:   your worker folder (`worker_code`); the demo is `runtime/worker_fleet/`
tests:     `tests/test_worker_fleet_*.py`, `tests/test_instance_fleet.py`
page:      `docs/worker-fleet.md`
"""

from .construct import WorkerFleet

__all__ = ["WorkerFleet"]
