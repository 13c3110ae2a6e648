"""OrderWorkflow in an app of your own: your payment, refund and shipment functions, its events
published to a FanOut's topic."""

from pathlib import Path

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks, ServerlessChecks

from patterns.fan_out import FanOut
from patterns.order_workflow import OrderWorkflow, RetryPolicy
from patterns.shared import PythonFunction

# Your functions' folder; here the kit's demo saga steps.
CODE = Path(__file__).resolve().parents[2] / "lambda" / "order_saga"

app = cdk.App()
cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app), ServerlessChecks(app))
stack = cdk.Stack(app, "Orders")


def step(name: str, handler: str) -> PythonFunction:
    return PythonFunction(
        stack,
        name,
        code_dir=str(CODE),
        handler=handler,
        service_name=name.lower(),
        invoked_synchronously_by="the order workflow's state machine",
    )


events = FanOut(stack, "OrderEvents")
workflow = OrderWorkflow(
    stack,
    "Workflow",
    payment_function=step("Payment", "payment.charge").function,
    refund_function=step("Refund", "payment.refund").function,
    shipment_function=step("Shipment", "shipment.arrange").function,
    events_topic=events.topic,  # FanOut's attribute is `topic`
    step_retry=RetryPolicy(
        max_attempts=5, interval=cdk.Duration.seconds(1), max_delay=cdk.Duration.seconds(30)
    ),
)
cdk.CfnOutput(stack, "OrdersQueueUrl", value=workflow.orders_queue.queue_url)

app.synth()
