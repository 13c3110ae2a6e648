"""The kit's app: every pattern's stack, the profile from context, and the
security gate."""

from __future__ import annotations

import sys

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks, ServerlessChecks

from patterns.shared.defaults import profile_of
from patterns.wiring import WiringChecks
from stacks.backup_stack import COPY_REGION_CONTEXT_KEY, BackupCopyStack, BackupStack, copy_vault_name
from stacks.container_workers_stack import ContainerWorkersStack
from stacks.event_driven_stack import EventDrivenStack
from stacks.fan_out_stack import FanOutStack
from stacks.frontend_stack import FrontendStack
from stacks.global_reads_stack import CONTEXT_KEYS as GLOBAL_READS_CONTEXT_KEYS
from stacks.global_reads_stack import EXAMPLE_CONTEXT as GLOBAL_READS_EXAMPLE_CONTEXT
from stacks.global_reads_stack import (
    HOME_STACK_ID,
    READ_STACK_ID,
    GlobalReadsContext,
    GlobalReadsHomeStack,
    GlobalReadsStack,
)
from stacks.global_reads_stack import SKIPPED as GLOBAL_READS_SKIPPED
from stacks.multi_tier_stack import MultiTierStack
from stacks.order_workflow_stack import OrderWorkflowStack
from stacks.serverless_api_stack import ServerlessApiStack
from stacks.standby_stack import EXAMPLE_CONTEXT as STANDBY_EXAMPLE_CONTEXT
from stacks.standby_stack import PRIMARY_REGION_KEY, STANDBY_STACK_IDS, build_standby
from stacks.streaming_stack import StreamingStack
from stacks.worker_fleet_stack import WorkerFleetStack

# Stack ids are fixed: users, docs and tests refer to them.
STACK_IDS = (
    "FanOut",
    "WorkerFleet",
    "MultiTier",
    "ServerlessApi",
    "OrderWorkflow",
    "EventDriven",
    "Streaming",
    "Frontend",
    "ContainerWorkers",
    "Backup",
)
# Stacks that exist only when their context is given (each pinned to a Region it names).
CONTEXT_STACK_IDS: dict[str, str | tuple[str, ...]] = {"BackupCopy": COPY_REGION_CONTEXT_KEY}
CONTEXT_STACK_IDS.update({HOME_STACK_ID: GLOBAL_READS_CONTEXT_KEYS, READ_STACK_ID: GLOBAL_READS_CONTEXT_KEYS})
# The Standby stacks need primary_region, standby_region, domain and hosted_zone_id (all four).
CONTEXT_STACK_IDS.update({stack: PRIMARY_REGION_KEY for stack in STANDBY_STACK_IDS})
# Example values that build context stacks (never-resolving names): `make docs` draws them and
# the tests check them, in an assembly of their own (tests/kit.py `example_assembly`). Both
# families share one domain and hosted zone there, as they would in a user's account.
EXAMPLE_CONTEXT: dict[str, str] = {**STANDBY_EXAMPLE_CONTEXT, **GLOBAL_READS_EXAMPLE_CONTEXT}


def build_app(app: cdk.App | None = None) -> cdk.App:
    app = app or cdk.App()
    profile = profile_of(app)
    # Partial or contradictory context fails before anything is built, naming the keys.
    global_reads = GlobalReadsContext.of(
        {key: app.node.try_get_context(key) for key in GLOBAL_READS_CONTEXT_KEYS}
    )
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
    event_driven = EventDrivenStack(
        app,
        "EventDriven",
        profile=profile,
        description=described("EventBridge routing, archive and Scheduler; S3 thumbnails"),
    )
    OrderWorkflowStack(
        app,
        "OrderWorkflow",
        profile=profile,
        events_topic=fan_out.orders_topic,
        event_bus=event_driven.event_bus,
        description=described("Step Functions order saga"),
    )
    ContainerWorkersStack(
        app,
        "ContainerWorkers",
        profile=profile,
        description=described("SQS workers on ECS Fargate scaled on backlog per task"),
    )
    copy_region = app.node.try_get_context(COPY_REGION_CONTEXT_KEY) or None
    backup = BackupStack(
        app,
        "Backup",
        profile=profile,
        copy_region=copy_region,
        description=described("AWS Backup of every tagged resource, restore tests"),
    )
    if copy_region:
        BackupCopyStack(
            app,
            "BackupCopy",
            profile=profile,
            vault_name=copy_vault_name(backup.stack_name),
            env=cdk.Environment(region=copy_region),
            description=described(f"AWS Backup copy vault in {copy_region}"),
        )
    StreamingStack(
        app,
        "Streaming",
        profile=profile,
        description=described("device telemetry: Kinesis, a Lambda anomaly detector, Firehose to S3"),
    )
    FrontendStack(
        app,
        "Frontend",
        profile=profile,
        api=serverless_api.orders,
        description=described("orders web app: S3 and CloudFront in front of the orders API"),
    )
    if global_reads is None:
        print(GLOBAL_READS_SKIPPED, file=sys.stderr)
    else:
        home = GlobalReadsHomeStack(
            app,
            HOME_STACK_ID,
            profile=profile,
            context=global_reads,
            env=cdk.Environment(region=global_reads.home_region),
            description=described(f"MultiTier home of the global reads, in {global_reads.home_region}"),
        )
        reads = GlobalReadsStack(
            app,
            READ_STACK_ID,
            profile=profile,
            context=global_reads,
            home_stack_name=home.stack_name,
            home_https=home.https,
            env=cdk.Environment(region=global_reads.read_region),
            description=described(f"reads of {HOME_STACK_ID} served in {global_reads.read_region}"),
        )
        reads.add_dependency(home, "the replica's source and the secret's replica are made by the home stack")
    build_standby(app, profile=profile, described=described)
    return app
