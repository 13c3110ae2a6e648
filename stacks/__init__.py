"""The kit's app: every pattern's stack, the profile from context, and the
security gate."""

from __future__ import annotations

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks, ServerlessChecks

from patterns.shared.defaults import profile_of
from patterns.wiring import WiringChecks
from stacks.fan_out_stack import FanOutStack
from stacks.frontend_stack import FrontendStack
from stacks.multi_tier_stack import MultiTierStack
from stacks.order_workflow_stack import OrderWorkflowStack
from stacks.serverless_api_stack import ServerlessApiStack
from stacks.worker_fleet_stack import WorkerFleetStack

# Stack ids are fixed: users, docs and tests refer to them.
STACK_IDS = ("FanOut", "WorkerFleet", "MultiTier", "ServerlessApi", "OrderWorkflow", "Frontend")


def build_app(app: cdk.App | None = None) -> cdk.App:
    app = app or cdk.App()
    profile = profile_of(app)
    # The security gate runs on every synth: any unacknowledged finding fails it. cdk-nag judges
    # each resource alone; the wiring checks judge how they are connected, across stacks.
    cdk.Validations.of(app).add_plugins(
        AwsSolutionsChecks(app), ServerlessChecks(app), WiringChecks(production=profile.is_production)
    )

    def described(what: str) -> str:
        return f"refarch: {what} ({profile.name} profile)"

    fan_out = FanOutStack(
        app, "FanOut", profile=profile, description=described("SNS fan-out of order events")
    )
    WorkerFleetStack(
        app, "WorkerFleet", profile=profile, description=described("SQS worker fleet scaled on queue depth")
    )
    MultiTierStack(
        app,
        "MultiTier",
        profile=profile,
        description=described("ALB, Auto Scaling, RDS with replicas, Valkey"),
    )
    serverless_api = ServerlessApiStack(
        app,
        "ServerlessApi",
        profile=profile,
        description=described("orders REST API: API Gateway, Cognito, Lambda, DynamoDB"),
    )
    OrderWorkflowStack(
        app,
        "OrderWorkflow",
        profile=profile,
        events_topic=fan_out.orders_topic,
        description=described("Step Functions order saga"),
    )
    FrontendStack(
        app,
        "Frontend",
        profile=profile,
        api=serverless_api.orders,
        description=described("orders web app: S3 and CloudFront in front of the orders API"),
    )
    return app
