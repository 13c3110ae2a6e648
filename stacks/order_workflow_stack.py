"""`OrderWorkflow`: an order saga (reserve inventory, take payment, arrange shipment) whose
OrderCompleted events go to the FanOut pattern's topic and the EventDriven pattern's bus when
they are passed in."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Duration, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_sns as sns
from constructs import Construct

from patterns.order_workflow import OrderWorkflow
from patterns.shared import PythonFunction
from patterns.shared.defaults import Profile
from patterns.shared.tables import on_demand_table
from stacks.paths import lambda_dir

SHIPPING_COUNTRIES = "IE,GB,FR,DE,ES,IT,NL,BE,PT,AT"


class OrderWorkflowStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        profile: Profile,
        events_topic: sns.ITopic | None = None,
        event_bus: events.IEventBus | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        # The demo's payment provider and carrier: tables the functions write their effects to.
        payments = on_demand_table(self, "Payments", profile=profile, partition_key="pk")
        shipments = on_demand_table(self, "Shipments", profile=profile, partition_key="pk")

        def function(name: str, handler: str, environment: dict[str, str]) -> PythonFunction:
            return PythonFunction(
                self,
                name,
                code_dir=lambda_dir("order_saga"),
                handler=handler,
                profile=profile,
                service_name="order-workflow",
                timeout=Duration.seconds(10),
                environment=environment,
            )

        charge = function("Payment", "payment.charge", {"PAYMENTS_TABLE": payments.table_name})
        refund = function("Refund", "payment.refund", {"PAYMENTS_TABLE": payments.table_name})
        ship = function(
            "Shipment",
            "shipment.arrange",
            {"SHIPMENTS_TABLE": shipments.table_name, "SHIPPING_COUNTRIES": SHIPPING_COUNTRIES},
        )
        for payment_function in (charge, refund):
            payments.grant(
                payment_function.function,
                "dynamodb:GetItem",
                "dynamodb:PutItem",
                "dynamodb:UpdateItem",
                "dynamodb:ConditionCheckItem",
            )
        shipments.grant(ship.function, "dynamodb:GetItem", "dynamodb:PutItem")

        workflow = OrderWorkflow(
            self,
            "Orders",
            payment_function=charge.function,
            refund_function=refund.function,
            shipment_function=ship.function,
            events_topic=events_topic,
            event_bus=event_bus,
            profile=profile,
        )
        self.workflow = workflow
        CfnOutput(self, "OrdersQueueUrl", value=workflow.orders_queue.queue_url)
        CfnOutput(self, "StateMachineArn", value=workflow.state_machine.state_machine_arn)
        CfnOutput(self, "InventoryTable", value=workflow.inventory_table.table_name)
        CfnOutput(self, "OrdersTable", value=workflow.orders_table.table_name)
        CfnOutput(self, "PaymentsTable", value=payments.table_name)
        CfnOutput(self, "DeadLetterQueueUrl", value=workflow.dead_letter_queue.queue_url)
        CfnOutput(self, "AlarmTopicArn", value=workflow.alarm_topic.topic_arn)
