"""ServerlessApi in an app of your own: two routes to your handler, a new table and user pool."""

from pathlib import Path

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks, ServerlessChecks

from patterns.serverless_api import Route, ServerlessApi, TableIndex

# Your handler's folder; here the kit's demo orders API.
CODE = Path(__file__).resolve().parents[2] / "lambda" / "orders_api"
THING = {"type": "object", "required": ["name"], "properties": {"name": {"type": "string", "maxLength": 100}}}

app = cdk.App()
cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app), ServerlessChecks(app))
stack = cdk.Stack(app, "Things")

api = ServerlessApi(
    stack,
    "ThingsApi",
    code_dir=CODE,
    handler="app.handler",
    routes=[
        Route("POST", "/things", body_schema=THING, headers={"Idempotency-Key": True}),
        Route("GET", "/things/{id}"),
    ],
    table_indexes=[TableIndex("byOwner", partition_key="ownerId", sort_key="createdAt")],
    memory_size=256,
)
cdk.CfnOutput(stack, "Url", value=api.url)

app.synth()
