"""`EventDriven`: uploads become thumbnails through S3 -> EventBridge -> a queue -> a function;
the order workflow's OrderCompleted events are routed by content to one queue per consumer; a
nightly EventBridge Scheduler schedule writes the report of the orders completed since the last."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Duration, Stack, TimeZone
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_scheduler as scheduler
from constructs import Construct

from patterns.event_driven import EventRouter, NativeLayer
from patterns.order_workflow.steps import ORDER_EVENTS_SOURCE
from patterns.shared import PythonFunction
from patterns.shared.backup import mark_for_backup
from patterns.shared.buckets import access_logs_bucket, secure_bucket
from patterns.shared.defaults import Profile, acknowledge, grant_send
from patterns.shared.nag_findings import wildcard_resource
from patterns.shared.python_function import ARCHITECTURE
from stacks.paths import ROOT, lambda_dir

UPLOADS_PREFIX = "uploads/"
THUMBNAILS_PREFIX = "256/"
THUMBNAIL_TIMEOUT = Duration.seconds(30)
HIGH_VALUE_TOTAL = 500
# One rule per consumer, each admitting exactly what that consumer handles.
ORDER_COMPLETED = {"source": [ORDER_EVENTS_SOURCE], "detail-type": ["OrderCompleted"]}
HIGH_VALUE_ORDERS = {
    **ORDER_COMPLETED,
    "detail": {"order": {"total": [{"numeric": [">=", HIGH_VALUE_TOTAL]}]}},
}
LOYALTY_ORDERS = {
    **ORDER_COMPLETED,
    "detail": {"order": {"customerId": [{"anything-but": {"prefix": "guest-"}}]}},
}
REPORTED_ORDERS = {
    "source": [{"prefix": "refarch."}],
    "detail-type": ["OrderCompleted"],
    "detail": {"order": {"orderId": [{"exists": True}]}},
}
MAPPING_REASON = (
    "SQS event source mappings take no on-failure destination; the queue's redrive policy sends "
    "a message to its dead-letter queue after max_receive_count failed receives."
)
SQS_CONSUMER_REASON = (
    "Invoked synchronously by an SQS event source; failed messages return to the queue and its "
    "redrive policy moves them to the queue's dead-letter queue."
)


def uploads_pattern(bucket_name: str) -> dict[str, Any]:
    """S3 Object Created events of uploads (not of folder markers: size > 0)."""
    return {
        "source": ["aws.s3"],
        "detail-type": ["Object Created"],
        "detail": {
            "bucket": {"name": [bucket_name]},
            "object": {"key": [{"prefix": UPLOADS_PREFIX}], "size": [{"numeric": [">", 0]}]},
        },
    }


def allow(function: PythonFunction, actions: list[str], objects_arn: str) -> None:
    """Let `function` make `actions` on the objects under one prefix (an ARN ending in `*`:
    S3 names objects made later no other way)."""
    statement = iam.PolicyStatement(actions=actions, resources=[objects_arn])
    function.role.add_to_policy(statement)
    acknowledge(
        function.role.node.find_child("DefaultPolicy"),
        wildcard_resource(function, objects_arn),
        "Objects under one prefix of one bucket: the handler writes keys it learns at run time, "
        "which S3 policies can only name with a trailing wildcard.",
    )


def allow_absence(function: PythonFunction, bucket: s3.IBucket) -> None:
    """Let `function` learn that a key does not exist. S3 answers HeadObject and GetObject on a
    missing key with 404 only to a caller with s3:ListBucket on the bucket, and with 403 to any
    other (S3 API reference, HeadObject and GetObject, "Permissions"). The grant is the whole
    bucket: whether S3 evaluates an s3:prefix condition for that implicit check is not
    documented, and a condition it did not meet would turn every new upload into a 403."""
    function.role.add_to_policy(iam.PolicyStatement(actions=["s3:ListBucket"], resources=[bucket.bucket_arn]))


class EventDrivenStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, *, profile: Profile, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        logs = access_logs_bucket(self, "AccessLogs", profile=profile)
        uploads = secure_bucket(self, "Uploads", profile=profile, access_logs=logs)
        thumbnails = secure_bucket(self, "Thumbnails", profile=profile, access_logs=logs)
        reports = secure_bucket(self, "Reports", profile=profile, access_logs=logs)
        if profile.is_production:  # AWS Backup protects only versioned buckets: production's
            for bucket in (uploads, thumbnails, reports):
                mark_for_backup(bucket)
        router = EventRouter(self, "Events", profile=profile)
        router.send_bucket_events(uploads)

        # Thumbnails: S3 -> default bus -> rule -> queue -> function (batches, partial failures).
        jobs = router.add_queue("ThumbnailJobs", visibility_timeout=Duration.seconds(6 * 30))
        rejected = router.queue_dead_letters["ThumbnailJobs"]
        pillow = NativeLayer(
            self,
            "Pillow",
            requirements=ROOT / "lambda" / "thumbnail_layer" / "requirements.txt",
            description=f"Pillow for python3.14 {ARCHITECTURE.name}",
        )
        thumbnail = PythonFunction(
            self,
            "Thumbnail",
            code_dir=lambda_dir("thumbnail"),
            handler="handler.handler",
            profile=profile,
            service_name="thumbnail",
            timeout=THUMBNAIL_TIMEOUT,
            memory_size=1024,
            environment={
                "UPLOADS_BUCKET": uploads.bucket_name,
                "UPLOADS_PREFIX": UPLOADS_PREFIX,
                "THUMBNAILS_BUCKET": thumbnails.bucket_name,
                "THUMBNAILS_PREFIX": THUMBNAILS_PREFIX,
                "REJECTED_QUEUE_URL": rejected.queue_url,
            },
        )
        thumbnail.function.add_layers(pillow.layer)
        # Exactly the calls the handler makes (CDK's grant_read/grant_put add List*, Abort*, ...).
        allow(thumbnail, ["s3:GetObject"], uploads.arn_for_objects(f"{UPLOADS_PREFIX}*"))
        # GetObject also authorizes HeadObject: the idempotency check.
        allow(
            thumbnail, ["s3:GetObject", "s3:PutObject"], thumbnails.arn_for_objects(f"{THUMBNAILS_PREFIX}*")
        )
        # The handler takes a 404 for "no thumbnail yet" (HeadObject) and "upload deleted since"
        # (GetObject); without ListBucket S3 answers both with 403 and every upload fails.
        allow_absence(thumbnail, thumbnails)
        allow_absence(thumbnail, uploads)
        grant_send(rejected, thumbnail.function)
        router.add_rule(
            "Uploads", pattern=uploads_pattern(uploads.bucket_name), targets=[jobs], on_default_bus=True
        )
        self._consume(thumbnail, jobs)

        # Order events: one rule per consumer; each consumer drains its own queue.
        high_value = router.add_queue("HighValueOrders")
        loyalty = router.add_queue("LoyaltyOrders")
        report_feed = router.add_queue("ReportFeed", visibility_timeout=Duration.minutes(16))
        router.add_rule("HighValue", pattern=HIGH_VALUE_ORDERS, targets=[high_value])
        router.add_rule("Loyalty", pattern=LOYALTY_ORDERS, targets=[loyalty])
        router.add_rule("Reporting", pattern=REPORTED_ORDERS, targets=[report_feed])

        # Nightly: the report of the orders completed since the last run.
        report = PythonFunction(
            self,
            "OrderReport",
            code_dir=lambda_dir("order_report"),
            handler="handler.handler",
            profile=profile,
            service_name="order-report",
            timeout=Duration.minutes(5),
            environment={"REPORT_QUEUE_URL": report_feed.queue_url, "REPORTS_BUCKET": reports.bucket_name},
        )
        report_feed.grant_consume_messages(report.function)
        allow(report, ["s3:PutObject"], reports.arn_for_objects("orders/*"))
        router.add_schedule(
            "NightlyReport",
            expression=scheduler.ScheduleExpression.cron(
                minute="30", hour="1", time_zone=TimeZone.EUROPE_DUBLIN
            ),
            target=report.function,
            flexible_window=Duration.minutes(30),
            input=scheduler.ScheduleTargetInput.from_object(
                {"scheduledTime": scheduler.ContextAttribute.scheduled_time}
            ),
            description="Report of the orders completed since the last run",
        )

        self.router = router
        self.event_bus = router.event_bus
        self.uploads, self.thumbnails, self.reports = uploads, thumbnails, reports
        self.thumbnail_function, self.report_function = thumbnail.function, report.function
        CfnOutput(self, "EventBusName", value=router.event_bus.event_bus_name)
        CfnOutput(self, "UploadsBucket", value=uploads.bucket_name)
        CfnOutput(self, "ThumbnailsBucket", value=thumbnails.bucket_name)
        CfnOutput(self, "ReportsBucket", value=reports.bucket_name)
        CfnOutput(self, "RejectedUploadsQueueUrl", value=rejected.queue_url)
        if router.archive is not None:
            CfnOutput(self, "ArchiveName", value=router.archive.archive_name)

    @staticmethod
    def _consume(consumer: PythonFunction, queue: Any) -> None:
        consumer.function.add_event_source(
            event_sources.SqsEventSource(queue, batch_size=5, report_batch_item_failures=True)
        )
        for child in consumer.function.node.children:
            if child.node.id.startswith("SqsEventSource:"):
                acknowledge(child, "Serverless-LambdaEventSourceMappingDestination", MAPPING_REASON)
        acknowledge(consumer.function, "Serverless-LambdaDLQ", SQS_CONSUMER_REASON)
