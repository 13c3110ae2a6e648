"""Fan-out: one SNS topic, filtered subscriptions, each subscriber with its own DLQ.

construct: `construct.py` (FanOut), `filter_policy.py` (filter policy checks)
stack:     `stacks/fan_out_stack.py`
runtime:   none: it takes your functions and queues
tests:     `tests/test_fan_out_*.py`
page:      `docs/fan-out.md`
"""

from .construct import FanOut, FunctionSubscriber, QueueSubscriber
from .filter_policy import FilterPolicyError

__all__ = ["FanOut", "FilterPolicyError", "FunctionSubscriber", "QueueSubscriber"]
