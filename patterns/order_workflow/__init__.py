"""Order workflow: an SQS-started Step Functions saga (reserve, pay, ship) with compensations.

construct: `construct.py` (OrderWorkflow), `steps.py` (direct service steps), `saga.py` (retries,
           compensations), `starter.py` (QueueStarter)
stack:     `stacks/order_workflow_stack.py`
runtime:   `starter_function/` (the starter, loaded by `starter.py`); your payment and shipment
           functions, the demo ones in `lambda/order_saga/`
tests:     `tests/test_order_*.py`
page:      `docs/order-workflow.md`
"""

from .construct import OrderWorkflow
from .saga import RetryPolicy
from .starter import QueueStarter

__all__ = ["OrderWorkflow", "QueueStarter", "RetryPolicy"]
