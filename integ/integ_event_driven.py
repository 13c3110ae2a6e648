"""EventDriven, deployed: what docs/event-driven.md promises.

- An image uploaded under `uploads/` becomes a thumbnail `256/<key>.jpg` in the thumbnails
  bucket (the image is a plain-text PPM, which an SDK call can carry and Pillow decodes).
- A file that is not an image lands, with its reason, in the rejected-uploads queue.
- An OrderCompleted event of 800 put on the bus reaches the high-value queue.
- The same event reaches the report feed, which the nightly schedule drains. The report itself
  is not run here: the schedule fires at 01:30 Dublin time, and integ-tests-alpha's function
  invocation grants `lambda:Invoke`, which is no IAM action (cfn-lint W3037); the report is
  proven in moto (tests/test_event_driven_behaviour.py).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

# The CDK CLI runs this file as a script: make the kit's packages importable.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aws_cdk as cdk
from aws_cdk import integ_tests_alpha as integ

from integ import harness
from stacks.event_driven_stack import EventDrivenStack

INTERVAL, TIMEOUT = cdk.Duration.seconds(15), cdk.Duration.minutes(10)
PLAIN_PPM = "P3\n2 2\n255\n255 0 0  0 255 0\n0 0 255  255 255 255\n"


def build(app: cdk.App) -> integ.IntegTest:
    run = harness.run_id()
    stack = EventDrivenStack(
        app, "EventDriven", profile=harness.profile(app), stack_name=harness.integ_stack_name("EventDriven")
    )
    test = harness.integ_test(app, "EventDrivenInteg", stack)
    router = stack.router
    uploads, thumbnails = stack.uploads, stack.thumbnails

    def upload(key: str, body: str) -> integ.IApiCall:
        return test.assertions.aws_api_call(
            "S3",
            "putObject",
            {"Bucket": uploads.bucket_name, "Key": key, "Body": body},
        )

    def messages_in(queue_id: str, count: str, *, dead_letter: bool = False) -> integ.IApiCall:
        queue = router.queue_dead_letters[queue_id] if dead_letter else router.queues[queue_id]
        return (
            test.assertions.aws_api_call(
                "SQS",
                "getQueueAttributes",
                {"QueueUrl": queue.queue_url, "AttributeNames": ["ApproximateNumberOfMessages"]},
            )
            .expect(integ.ExpectedResult.object_like({"Attributes": {"ApproximateNumberOfMessages": count}}))
            .wait_for_assertions(interval=INTERVAL, total_timeout=TIMEOUT)
        )

    # getObjectAttributes, not headObject: the SDK call grants its API name as the IAM action,
    # and s3:HeadObject is none (HeadObject is authorized by s3:GetObject).
    thumbnail = (
        test.assertions.aws_api_call(
            "S3",
            "getObjectAttributes",
            {
                "Bucket": thumbnails.bucket_name,
                "Key": f"256/{run}.ppm.jpg",
                "ObjectAttributes": ["ObjectSize"],
            },
        )
        .expect(integ.ExpectedResult.object_like({"StorageClass": "STANDARD"}))
        .wait_for_assertions(interval=INTERVAL, total_timeout=TIMEOUT)
    )
    order = {"orderId": f"{run}-big", "customerId": "integ", "total": 800, "requiresShipping": "true"}
    put_order = harness.may_use_key(
        test.assertions.aws_api_call(
            "EventBridge",
            "putEvents",
            {
                "Entries": [
                    {
                        "EventBusName": router.event_bus.event_bus_name,
                        "Source": "refarch.orders",
                        "DetailType": "OrderCompleted",
                        "Detail": json.dumps({"eventType": "OrderCompleted", "order": order}),
                    }
                ]
            },
        ),
        router.bus_key,
    )
    (
        upload(f"uploads/{run}.ppm", PLAIN_PPM)
        .next(thumbnail)
        .next(upload(f"uploads/{run}.txt", "not an image at all"))
        .next(messages_in("ThumbnailJobs", "1", dead_letter=True))
        .next(put_order)
        .next(messages_in("HighValueOrders", "1"))
        .next(messages_in("ReportFeed", "1"))
    )
    return test


if __name__ == "__main__":
    harness.run(build)
