"""FanOut, deployed: what docs/fan-out.md promises.

- An `OrderPlaced` event published to the orders topic reaches billing and analytics.
- Shipping receives it only when its filter admits it (`order.requiresShipping: true`).
- A poison message (not an order event) ends in the billing dead-letter queue, and that DLQ's
  alarm goes to ALARM.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import cast

# The CDK CLI runs this file as a script: make the kit's packages importable.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aws_cdk as cdk
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import integ_tests_alpha as integ

from integ import harness
from stacks.fan_out_stack import FanOutStack

# A poison message: the billing DLQ receives it after the queue's 5 receives, each after the
# visibility timeout, then the alarm evaluates: about 10-15 minutes in all.
INTERVAL, TIMEOUT = cdk.Duration.seconds(30), cdk.Duration.minutes(25)


def order_event(event_id: str, order_id: str, *, requires_shipping: bool) -> str:
    order = {"orderId": order_id, "customerId": "integ", "total": 42.5, "requiresShipping": requires_shipping}
    return json.dumps({"eventId": event_id, "eventType": "OrderPlaced", "order": order})


def build(app: cdk.App) -> integ.IntegTest:
    run = harness.run_id()
    stack = FanOutStack(
        app, "FanOut", profile=harness.profile(app), stack_name=harness.integ_stack_name("FanOut")
    )
    test = harness.integ_test(app, "FanOutInteg", stack)
    topic_arn = stack.fan_out.topic.topic_arn
    ledger_name = cast(dynamodb.ITableV2, stack.node.find_child("Ledger")).table_name
    billing = stack.fan_out.queues["Billing"]
    billing_dlq_alarm = next(a for a in billing.alarms if a.node.id == "DeadLetterQueueNotEmpty")
    plain, shipped = f"{run}-plain", f"{run}-shipped"

    def published(message: str) -> integ.IApiCall:
        call = test.assertions.aws_api_call("SNS", "publish", {"TopicArn": topic_arn, "Message": message})
        return harness.may_use_key(call, stack.fan_out.topic_key)

    def ledger_has(pk: str, events: int = 1) -> integ.IApiCall:
        call = test.assertions.aws_api_call(
            "DynamoDB", "getItem", {"TableName": ledger_name, "Key": {"pk": {"S": pk}}}
        )
        call.expect(
            integ.ExpectedResult.object_like({"Item": {"pk": {"S": pk}, "events": {"N": str(events)}}})
        )
        return call.wait_for_assertions(interval=INTERVAL, total_timeout=TIMEOUT)

    # No shipping entry for the plain order: once both orders are billed and the shipped one
    # shipped, the shipping rows are exactly one (SNS delivers to every subscription at once).
    shipping_rows = test.assertions.aws_api_call(
        "DynamoDB",
        "scan",
        {
            "TableName": ledger_name,
            "FilterExpression": "begins_with(pk, :shipping)",
            "ExpressionAttributeValues": {":shipping": {"S": "shipping#"}},
        },
    ).expect(integ.ExpectedResult.object_like({"Count": 1, "Items": [{"pk": {"S": f"shipping#{shipped}"}}]}))
    alarm_state = (
        test.assertions.aws_api_call(
            "CloudWatch", "describeAlarms", {"AlarmNames": [billing_dlq_alarm.alarm_name]}
        )
        .expect(integ.ExpectedResult.object_like({"MetricAlarms": [{"StateValue": "ALARM"}]}))
        .wait_for_assertions(interval=INTERVAL, total_timeout=TIMEOUT)
    )
    billing_dlq = (
        test.assertions.aws_api_call(
            "SQS",
            "getQueueAttributes",
            {
                "QueueUrl": billing.dead_letter_queue.queue_url,  # type: ignore[union-attr]
                "AttributeNames": ["ApproximateNumberOfMessages"],
            },
        )
        .expect(integ.ExpectedResult.object_like({"Attributes": {"ApproximateNumberOfMessages": "1"}}))
        .wait_for_assertions(interval=INTERVAL, total_timeout=TIMEOUT)
    )
    (
        published(order_event(plain, plain, requires_shipping=False))
        .next(published(order_event(shipped, shipped, requires_shipping=True)))
        .next(ledger_has(f"billing#{plain}"))
        .next(ledger_has(f"billing#{shipped}"))
        .next(ledger_has(f"shipping#{shipped}"))
        .next(ledger_has("analytics#OrderPlaced", events=2))  # analytics counts by event type
        .next(shipping_rows)
        .next(published("not an order event"))
        .next(billing_dlq)
        .next(alarm_state)
    )
    return test


if __name__ == "__main__":
    harness.run(build)
