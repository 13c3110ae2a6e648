"""PythonFunction in an app of your own: a function from a folder, invoked by API Gateway."""

from pathlib import Path

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks, ServerlessChecks

from patterns.shared import PythonFunction  # where you copied patterns/shared/

# Your function's folder; here one of the kit's demo functions.
CODE = Path(__file__).resolve().parents[2] / "lambda" / "order_events"

app = cdk.App()
cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app), ServerlessChecks(app))
stack = cdk.Stack(app, "Reports")

report = PythonFunction(
    stack,
    "Report",
    code_dir=CODE,
    handler="analytics.handler",
    service_name="reports",
    memory_size=256,
    timeout=cdk.Duration.seconds(60),
    environment={"REPORT_BUCKET": "my-reports"},
    invoked_synchronously_by="API Gateway",  # nothing invokes it asynchronously
)

app.synth()
