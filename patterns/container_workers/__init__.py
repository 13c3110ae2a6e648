"""Container workers: the worker fleet's SQS worker on ECS Fargate, scaled on backlog per task.

construct: `construct.py` (ContainerWorkers), `scaling.py` (backlog per task, out of zero)
stack:     `stacks/container_workers_stack.py`
runtime:   `runtime/worker_fleet/` (the same worker as the EC2 fleet): the seam is
           `runtime/worker_fleet/hosts.py`, the image `runtime/worker_fleet/Dockerfile`
tests:     `tests/test_container_workers_*.py`, `tests/test_worker_fleet_worker.py` (both hosts)
page:      `docs/container-workers.md`
"""

from .construct import ContainerWorkers

__all__ = ["ContainerWorkers"]
