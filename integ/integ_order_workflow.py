"""OrderWorkflow, deployed: what docs/order-workflow.md promises.

- An order sent to the orders queue completes: its item in the orders table says `COMPLETED`.
- An order for more than the stock ends cleanly: the execution SUCCEEDS, the order is
  `DECLINED` with reason `OutOfStock`, and the line that had been reserved is released (the
  SKU's stock and reservations are as before).

The payment token is sealed into the vault by the starter: the queue message carries the raw
`paymentToken`, as a producer sends it. The workflow publishes to the kit's FanOut topic, so
that stack is deployed with it, as the kit wires it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

# The CDK CLI runs this file as a script: make the kit's packages importable.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aws_cdk as cdk
from aws_cdk import integ_tests_alpha as integ

from integ import harness
from stacks.fan_out_stack import FanOutStack
from stacks.order_workflow_stack import OrderWorkflowStack

INTERVAL, TIMEOUT = cdk.Duration.seconds(15), cdk.Duration.minutes(10)
STOCK = 10


def order(order_id: str, quantities: dict[str, int]) -> str:
    items = [{"sku": sku, "quantity": quantity} for sku, quantity in quantities.items()]
    return json.dumps(
        {
            "orderId": order_id,
            "customerId": "integ",
            "items": items,
            "total": 59.90,
            "paymentToken": "tok_visa",
            "requiresShipping": True,
            "address": {"country": "IE"},
        }
    )


def build(app: cdk.App) -> integ.IntegTest:
    run = harness.run_id()
    profile = harness.profile(app)
    events = FanOutStack(app, "FanOut", profile=profile, stack_name=harness.integ_stack_name("OrderEvents"))
    stack = OrderWorkflowStack(
        app,
        "OrderWorkflow",
        profile=profile,
        events_topic=events.orders_topic,
        stack_name=harness.integ_stack_name("OrderWorkflow"),
    )
    test = harness.integ_test(app, "OrderWorkflowInteg", events, stack)
    workflow = stack.workflow
    inventory, orders = workflow.inventory_table.table_name, workflow.orders_table.table_name
    skus = (f"A-{run}", f"B-{run}", f"C-{run}")

    def stocked(sku: str) -> integ.IApiCall:
        item = {"sku": {"S": sku}, "available": {"N": str(STOCK)}, "reservations": {"M": {}}}
        return test.assertions.aws_api_call("DynamoDB", "putItem", {"TableName": inventory, "Item": item})

    def sent(message: str) -> integ.IApiCall:
        call = test.assertions.aws_api_call(
            "SQS", "sendMessage", {"QueueUrl": workflow.orders_queue.queue_url, "MessageBody": message}
        )
        return harness.may_use_key(call, workflow.queue_key)

    def order_ends(order_id: str, expected: dict[str, object]) -> integ.IApiCall:
        call = test.assertions.aws_api_call(
            "DynamoDB", "getItem", {"TableName": orders, "Key": {"orderId": {"S": order_id}}}
        )
        call.expect(integ.ExpectedResult.object_like({"Item": expected}))
        return call.wait_for_assertions(interval=INTERVAL, total_timeout=TIMEOUT)

    def execution_of(order_id: str, status: str) -> integ.IApiCall:
        """The execution that recorded the order: its ARN is the order item's executionId (read
        by a call of its own: integ-tests-alpha cannot both assert on a call and give its
        attributes, as the response is then flattened)."""
        order_item = test.assertions.aws_api_call(
            "DynamoDB", "getItem", {"TableName": orders, "Key": {"orderId": {"S": order_id}}}
        )
        call = test.assertions.aws_api_call(
            "SFN", "describeExecution", {"executionArn": order_item.get_att_string("Item.executionId.S")}
        )
        call.expect(integ.ExpectedResult.object_like({"status": status}))
        return order_item.next(call.wait_for_assertions(interval=INTERVAL, total_timeout=TIMEOUT))

    def stock_released(sku: str) -> integ.IApiCall:
        call = test.assertions.aws_api_call(
            "DynamoDB",
            "getItem",
            {
                "TableName": inventory,
                "Key": {"sku": {"S": sku}},
                "ProjectionExpression": "available, reservations",
            },
        )
        item = {"available": {"N": str(STOCK)}, "reservations": {"M": {}}}
        return call.expect(integ.ExpectedResult.exact({"Item": item}))

    completed, declined = f"done-{run}", f"short-{run}"
    (
        stocked(skus[0])
        .next(stocked(skus[1]))
        .next(stocked(skus[2]))
        .next(sent(order(completed, {skus[0]: 1})))
        .next(order_ends(completed, {"status": {"S": "COMPLETED"}}))
        .next(execution_of(completed, "SUCCEEDED"))
        # Two of one SKU (reserved), more of another than there is (out of stock).
        .next(sent(order(declined, {skus[1]: 2, skus[2]: STOCK + 1})))
        .next(order_ends(declined, {"status": {"S": "DECLINED"}, "reason": {"S": "OutOfStock"}}))
        .next(execution_of(declined, "SUCCEEDED"))
        .next(stock_released(skus[1]))
        .next(stock_released(skus[2]))
    )
    return test


if __name__ == "__main__":
    harness.run(build)
