"""`FanOut`: order events published once to an `orders` topic and fanned out to billing (every
event), shipping (only OrderPlaced events that need shipping) and analytics (every event)."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Duration, Stack
from constructs import Construct

from patterns.fan_out import FanOut
from patterns.shared import PythonFunction
from patterns.shared.backup import mark_for_backup
from patterns.shared.defaults import Profile
from patterns.shared.tables import idempotency_table, on_demand_table
from stacks.paths import lambda_dir

SHIPPING_FILTER = {"eventType": ["OrderPlaced"], "order": {"requiresShipping": [True]}}


class FanOutStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, *, profile: Profile, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        ledger = on_demand_table(self, "Ledger", profile=profile, partition_key="pk")
        mark_for_backup(ledger)  # the consumers' record; the idempotency table is transient
        idempotency = idempotency_table(self, "Idempotency", profile=profile)

        def consumer(name: str, handler: str) -> PythonFunction:
            function = PythonFunction(
                self,
                f"{name.capitalize()}Consumer",
                code_dir=lambda_dir("order_events"),
                handler=handler,
                profile=profile,
                service_name=name,
                timeout=Duration.seconds(30),
                environment={
                    "CONSUMER_NAME": name,
                    "LEDGER_TABLE": ledger.table_name,
                    "IDEMPOTENCY_TABLE": idempotency.table_name,
                },
            )
            ledger.grant(function.function, "dynamodb:UpdateItem")
            idempotency.grant(
                function.function,
                "dynamodb:GetItem",
                "dynamodb:PutItem",
                "dynamodb:UpdateItem",
                "dynamodb:DeleteItem",
            )
            return function

        billing = consumer("billing", "queue_consumer.handler")
        shipping = consumer("shipping", "queue_consumer.handler")
        analytics = consumer("analytics", "analytics.handler")

        fan_out = FanOut(self, "OrderEvents", profile=profile)
        fan_out.add_queue_subscriber("Billing", consumer=billing.function)
        fan_out.add_queue_subscriber(
            "Shipping", consumer=shipping.function, filter_policy_on_body=SHIPPING_FILTER
        )
        fan_out.add_function_subscriber("Analytics", function=analytics.function)

        self.fan_out = fan_out
        self.orders_topic = fan_out.topic
        CfnOutput(self, "OrdersTopicArn", value=fan_out.topic.topic_arn)
        CfnOutput(self, "AlarmTopicArn", value=fan_out.alarm_topic.topic_arn)
        CfnOutput(self, "LedgerTable", value=ledger.table_name)
        for name, subscriber in fan_out.queues.items():
            CfnOutput(self, f"{name}QueueUrl", value=subscriber.queue.queue_url)
