"""EventRouter in an app of your own: uploads to your bucket become thumbnails (S3 -> the default
bus -> a rule -> a queue -> a function with a NativeLayer of Pillow), order events of your
organization are routed by content to a queue, and a nightly schedule reports on them."""

from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_scheduler as scheduler
from cdk_nag import AwsSolutionsChecks, ServerlessChecks

from patterns.event_driven import EventRouter, NativeLayer  # e.g. myapp.constructs.event_driven
from patterns.shared import PythonFunction
from patterns.shared.defaults import acknowledge, grant_send
from patterns.shared.nag_findings import wildcard_resource

# Your functions' folders; here the kit's demo thumbnailer, its layer's pins and the report.
LAMBDA = Path(__file__).resolve().parents[2] / "lambda"

app = cdk.App()
cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app), ServerlessChecks(app))
stack = cdk.Stack(app, "Media")

logs = s3.Bucket(stack, "AccessLogs", enforce_ssl=True)
uploads, thumbnails, reports = (
    s3.Bucket(
        stack,
        name,
        enforce_ssl=True,
        server_access_logs_bucket=logs,
        server_access_logs_prefix=f"{name.lower()}/",
    )
    for name in ("Uploads", "Thumbnails", "Reports")
)


def allow(function: PythonFunction, actions: list[str], objects_arn: str) -> None:
    """Exactly `actions` on the objects under one prefix, which only a trailing * can name."""
    function.role.add_to_policy(iam.PolicyStatement(actions=actions, resources=[objects_arn]))
    acknowledge(
        function.role.node.find_child("DefaultPolicy"),
        wildcard_resource(function, objects_arn),
        "Objects under one prefix of one bucket: the handler writes keys it learns at run time.",
    )


router = EventRouter(stack, "Events", allowed_organizations=["o-abc123def4"])
router.send_bucket_events(uploads)  # S3 sends to the default bus: its rule says on_default_bus

# Thumbnails: the rule admits uploads (not folder markers) of this bucket only.
jobs = router.add_queue("ThumbnailJobs", visibility_timeout=cdk.Duration.minutes(3))
router.add_rule(
    "Uploads",
    pattern={
        "source": ["aws.s3"],
        "detail-type": ["Object Created"],
        "detail": {
            "bucket": {"name": [uploads.bucket_name]},
            "object": {"key": [{"prefix": "uploads/"}], "size": [{"numeric": [">", 0]}]},
        },
    },
    targets=[jobs],
    on_default_bus=True,
)
pillow = NativeLayer(
    stack, "Pillow", requirements=LAMBDA / "thumbnail_layer" / "requirements.txt", description="Pillow"
)
thumbnail = PythonFunction(
    stack,
    "Thumbnail",
    code_dir=LAMBDA / "thumbnail",
    handler="handler.handler",
    service_name="thumbnail",
    memory_size=1024,
    environment={
        "UPLOADS_BUCKET": uploads.bucket_name,
        "THUMBNAILS_BUCKET": thumbnails.bucket_name,
        "REJECTED_QUEUE_URL": router.queue_dead_letters["ThumbnailJobs"].queue_url,
    },
    invoked_synchronously_by="its SQS event source",
)
thumbnail.function.add_layers(pillow.layer)
allow(thumbnail, ["s3:GetObject"], uploads.arn_for_objects("uploads/*"))
allow(thumbnail, ["s3:GetObject", "s3:PutObject"], thumbnails.arn_for_objects("256/*"))
grant_send(router.queue_dead_letters["ThumbnailJobs"], thumbnail.function)  # just SendMessage + its key
thumbnail.function.add_event_source(
    event_sources.SqsEventSource(jobs, batch_size=5, report_batch_item_failures=True)
)
acknowledge(
    next(c for c in thumbnail.function.node.children if c.node.id.startswith("SqsEventSource:")),
    "Serverless-LambdaEventSourceMappingDestination",
    "An SQS mapping takes no on-failure destination: the queue's redrive policy moves a message "
    "to its dead-letter queue after max_receive_count receives.",
)

# Order events from the organization's accounts, routed by content; the report drains them nightly.
feed = router.add_queue("ReportFeed", visibility_timeout=cdk.Duration.minutes(16))
router.add_rule(
    "HighValue",
    pattern={"source": ["shop.orders"], "detail": {"order": {"total": [{"numeric": [">=", 500]}]}}},
    targets=[feed],  # queues, functions, state machines, other buses
)
report = PythonFunction(
    stack,
    "OrderReport",
    code_dir=LAMBDA / "order_report",
    handler="handler.handler",
    service_name="order-report",
    timeout=cdk.Duration.minutes(5),
    environment={"REPORT_QUEUE_URL": feed.queue_url, "REPORTS_BUCKET": reports.bucket_name},
)
feed.grant_consume_messages(report.function)
allow(report, ["s3:PutObject"], reports.arn_for_objects("orders/*"))
router.add_schedule(
    "Nightly",
    expression=scheduler.ScheduleExpression.cron(hour="1", minute="30", time_zone=cdk.TimeZone.EUROPE_DUBLIN),
    target=report.function,
)
cdk.CfnOutput(stack, "EventBusName", value=router.event_bus.event_bus_name)

app.synth()
