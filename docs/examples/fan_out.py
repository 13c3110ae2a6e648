"""FanOut in an app of your own: one topic, a queue drained by a function, a function subscriber."""

from pathlib import Path

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks, ServerlessChecks

from patterns.fan_out import FanOut  # where you copied it, e.g. myapp.constructs.fan_out
from patterns.shared import PythonFunction

# Your functions' folder; here the kit's demo consumers.
CODE = Path(__file__).resolve().parents[2] / "lambda" / "order_events"

app = cdk.App()
cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app), ServerlessChecks(app))
stack = cdk.Stack(app, "Shop")

billing = PythonFunction(
    stack, "Billing", code_dir=str(CODE), handler="queue_consumer.handler", service_name="billing"
)
analytics = PythonFunction(
    stack, "Analytics", code_dir=str(CODE), handler="analytics.handler", service_name="analytics"
)

events = FanOut(stack, "OrderEvents", max_receive_count=3)
events.add_queue_subscriber(
    "Billing",
    consumer=billing.function,
    filter_policy_on_body={"eventType": ["OrderCompleted"]},
    retention_period=cdk.Duration.days(7),
)
events.add_function_subscriber("Analytics", function=analytics.function)

app.synth()
