"""The `EventDriven` stack's behaviour in moto, rebuilt from its synthesized template
(tests/event_driven_world.py): moto evaluates the rules' patterns, delivers to their SQS
targets, archives and replays, and sends S3 events to the default bus. moto does not invoke
Lambda or fire schedules: the tests call the real handlers with the messages moto delivered,
as the SQS event source and EventBridge Scheduler would.
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from types import ModuleType
from typing import Any

import pytest
from moto import mock_aws
from PIL import Image

from tests.event_driven_world import EventDrivenWorld
from tests.fan_out_world import LambdaContext
from tests.kit import load_module, one, template_json


@pytest.fixture
def world() -> Iterator[EventDrivenWorld]:
    with mock_aws():
        yield EventDrivenWorld(template_json("EventDriven", "sandbox")).build()


def _sqs_event(world: EventDrivenWorld, messages: list[dict[str, Any]]) -> dict[str, Any]:
    """The event Lambda's SQS poller hands the function for these messages."""
    return {
        "Records": [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {},
                "md5OfBody": m["MD5OfBody"],
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:eu-west-1:123456789012:jobs",
                "awsRegion": "eu-west-1",
            }
            for m in messages
        ]
    }


def _function_environment(world: EventDrivenWorld, path: str) -> dict[str, str]:
    _, function = one(world.document, "AWS::Lambda::Function", path)
    variables = function["Properties"]["Environment"]["Variables"]
    return {name: str(world.resolve(value)) for name, value in variables.items()}


def _handler(world: EventDrivenWorld, monkeypatch: pytest.MonkeyPatch, folder: str, path: str) -> ModuleType:
    for name, value in _function_environment(world, path).items():
        monkeypatch.setenv(name, value)
    return load_module(folder, "handler", alias=folder)


def _image(width: int, height: int, fmt: str = "PNG") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (200, 30, 90)).save(out, format=fmt)
    return out.getvalue()


# --- order events: one rule per consumer ---------------------------------------------------

ORDERS = {
    "big": {"orderId": "o-big", "customerId": "c-1", "total": 800, "requiresShipping": "true"},
    "guest": {"orderId": "o-guest", "customerId": "guest-9", "total": 20, "requiresShipping": "false"},
    "small": {"orderId": "o-small", "customerId": "c-2", "total": 40, "requiresShipping": "true"},
}


def _order_ids(world: EventDrivenWorld, queue: str) -> list[str]:
    return sorted(
        json.loads(m["Body"])["detail"]["order"]["orderId"] for m in world.drain(world.queue_of(queue))
    )


def test_each_order_rule_admits_exactly_what_its_pattern_admits(world: EventDrivenWorld) -> None:
    for order in ORDERS.values():
        world.put_order(order)
    world.put_order({**ORDERS["big"], "orderId": "o-other-app"}, source="someone.else")
    world.put_order({**ORDERS["big"], "orderId": "o-shop"}, source="refarch.shop")
    # numeric >= 500 on the exact source
    assert _order_ids(world, "/HighValueOrders/Queue/") == ["o-big"]
    # anything-but prefix "guest-"
    assert _order_ids(world, "/LoyaltyOrders/Queue/") == ["o-big", "o-small"]
    # source prefix "refarch." and orderId exists: every kit order, no one else's
    assert _order_ids(world, "/ReportFeed/Queue/") == ["o-big", "o-guest", "o-shop", "o-small"]


def test_an_event_without_an_order_id_reaches_no_report(world: EventDrivenWorld) -> None:
    world.events.put_events(
        Entries=[
            {
                "EventBusName": world.bus_name,
                "Source": "refarch.orders",
                "DetailType": "OrderCompleted",
                "Detail": json.dumps({"order": {"customerId": "c-1", "total": 900}}),
            }
        ]
    )
    assert world.drain(world.queue_of("/ReportFeed/Queue/")) == []
    assert len(world.drain(world.queue_of("/HighValueOrders/Queue/"))) == 1


def test_archived_events_replay_to_the_same_targets(world: EventDrivenWorld) -> None:
    start = datetime.now(UTC) - timedelta(minutes=1)
    world.put_order(ORDERS["big"])
    assert _order_ids(world, "/HighValueOrders/Queue/") == ["o-big"]
    world.drain(world.queue_of("/LoyaltyOrders/Queue/"))
    world.drain(world.queue_of("/ReportFeed/Queue/"))
    archive = world.events.describe_archive(
        ArchiveName=next(n for n in world.names if n.startswith("EventsArchive"))
    )
    assert archive["EventCount"] == 1
    world.events.start_replay(
        ReplayName="after-the-fix",
        EventSourceArn=archive["ArchiveArn"],
        EventStartTime=start,
        EventEndTime=datetime.now(UTC) + timedelta(minutes=1),
        Destination={"Arn": world.arns[next(i for i, n in world.names.items() if n == world.bus_name)]},
    )
    for _ in range(50):
        if world.events.describe_replay(ReplayName="after-the-fix")["State"] == "COMPLETED":
            break
        time.sleep(0.1)
    assert _order_ids(world, "/HighValueOrders/Queue/") == ["o-big"]
    assert _order_ids(world, "/LoyaltyOrders/Queue/") == ["o-big"]


# --- uploads to thumbnails -----------------------------------------------------------------


def test_an_upload_becomes_a_real_thumbnail(world: EventDrivenWorld, monkeypatch: pytest.MonkeyPatch) -> None:
    uploads, thumbnails = world.bucket_of("/Uploads/"), world.bucket_of("/Thumbnails/")
    world.s3.put_object(Bucket=uploads, Key="uploads/cat.png", Body=_image(1200, 800))
    world.s3.put_object(Bucket=uploads, Key="elsewhere/dog.png", Body=_image(10, 10))  # outside the prefix
    world.s3.put_object(Bucket=uploads, Key="uploads/folder/", Body=b"")  # a folder marker: size 0
    jobs = world.drain(world.queue_of("/ThumbnailJobs/Queue/"))
    assert [json.loads(m["Body"])["detail"]["object"]["key"] for m in jobs] == ["uploads/cat.png"]

    handler = _handler(world, monkeypatch, "thumbnail", "/Thumbnail/Function/")
    assert handler.handler(_sqs_event(world, jobs), LambdaContext("thumbnail")) == {"batchItemFailures": []}
    made = world.s3.get_object(Bucket=thumbnails, Key="256/cat.png.jpg")
    with Image.open(io.BytesIO(made["Body"].read())) as thumbnail:
        assert thumbnail.format == "JPEG"
        assert thumbnail.size == (256, 171)  # shrunk to the box, the aspect ratio kept
        assert thumbnail.getpixel((128, 85))[0] > 150  # the picture's colour, decoded and re-encoded

    put_calls: list[str] = []
    monkeypatch.setattr(handler.s3, "put_object", lambda **kw: put_calls.append(kw["Key"]))
    assert handler.handler(_sqs_event(world, jobs), LambdaContext("thumbnail")) == {"batchItemFailures": []}
    assert put_calls == []  # redelivered: the thumbnail of this version exists, nothing is written


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"just some text, not a picture", "not an image"),
        (_image(300, 300)[:200], "corrupt image"),
        (_image(9000, 6000, "PNG"), "too large"),
    ],
)
def test_a_bad_upload_is_reported_to_the_dead_letter_queue_and_not_retried(
    world: EventDrivenWorld, monkeypatch: pytest.MonkeyPatch, body: bytes, reason: str
) -> None:
    monkeypatch.setenv("MAX_IMAGE_PIXELS", str(40_000_000))
    world.s3.put_object(Bucket=world.bucket_of("/Uploads/"), Key="uploads/bad.png", Body=body)
    world.s3.put_object(Bucket=world.bucket_of("/Uploads/"), Key="uploads/good.png", Body=_image(64, 64))
    jobs = world.drain(world.queue_of("/ThumbnailJobs/Queue/"))
    handler = _handler(world, monkeypatch, "thumbnail", "/Thumbnail/Function/")
    # Nothing goes back to the queue: no retry can cure it; the good one in the batch is made.
    assert handler.handler(_sqs_event(world, jobs), LambdaContext("thumbnail")) == {"batchItemFailures": []}
    (reported,) = world.drain(world.queue_of("/ThumbnailJobs/DeadLetterQueue/"))
    assert reason in reported["MessageAttributes"]["reason"]["StringValue"]
    assert json.loads(reported["Body"])["detail"]["object"]["key"] == "uploads/bad.png"
    listed = world.s3.list_objects_v2(Bucket=world.bucket_of("/Thumbnails/")).get("Contents", [])
    assert [o["Key"] for o in listed] == ["256/good.png.jpg"]


def test_a_forged_event_naming_another_bucket_is_refused(
    world: EventDrivenWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The queue is the trust boundary: a message naming any other bucket is reported, never read."""
    world.s3.put_object(Bucket=world.bucket_of("/Reports/"), Key="uploads/secret.png", Body=_image(8, 8))
    world.sqs.send_message(
        QueueUrl=world.queue_of("/ThumbnailJobs/Queue/"),
        MessageBody=json.dumps(
            {
                "source": "aws.s3",
                "detail-type": "Object Created",
                "detail": {
                    "bucket": {"name": world.bucket_of("/Reports/")},
                    "object": {"key": "uploads/secret.png", "size": 10, "etag": "x"},
                },
            }
        ),
    )
    jobs = world.drain(world.queue_of("/ThumbnailJobs/Queue/"))
    handler = _handler(world, monkeypatch, "thumbnail", "/Thumbnail/Function/")
    assert handler.handler(_sqs_event(world, jobs), LambdaContext("thumbnail")) == {"batchItemFailures": []}
    (reported,) = world.drain(world.queue_of("/ThumbnailJobs/DeadLetterQueue/"))
    assert "not an upload" in reported["MessageAttributes"]["reason"]["StringValue"]
    assert "Contents" not in world.s3.list_objects_v2(Bucket=world.bucket_of("/Thumbnails/"))


def test_s3_unavailable_fails_only_that_record_for_a_retry(
    world: EventDrivenWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    world.s3.put_object(Bucket=world.bucket_of("/Uploads/"), Key="uploads/a.png", Body=_image(32, 32))
    jobs = world.drain(world.queue_of("/ThumbnailJobs/Queue/"))
    handler = _handler(world, monkeypatch, "thumbnail", "/Thumbnail/Function/")
    from botocore.exceptions import ClientError

    def unavailable(**_: Any) -> None:
        raise ClientError({"Error": {"Code": "SlowDown", "Message": "Reduce your request rate"}}, "GetObject")

    monkeypatch.setattr(handler.s3, "get_object", unavailable)
    result = handler.handler(_sqs_event(world, jobs), LambdaContext("thumbnail"))
    assert result == {"batchItemFailures": [{"itemIdentifier": jobs[0]["MessageId"]}]}
    assert world.drain(world.queue_of("/ThumbnailJobs/DeadLetterQueue/")) == []  # retried, not rejected


def test_a_denied_thumbnail_lookup_fails_the_record_and_writes_nothing(
    world: EventDrivenWorld, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """S3 answers HeadObject on a missing key with 403 to a caller without s3:ListBucket (S3 API
    reference, HeadObject, "Permissions"); the stack grants it, so a 403 is a real denial. It
    is not read as "no thumbnail yet" (that would make and overwrite thumbnails on every
    redelivery) nor as "exists" (silently done): the record fails, is retried, and after the
    queue's receive count the redrive keeps it on the dead-letter queue; the log names the fix."""
    from botocore.exceptions import ClientError

    world.s3.put_object(Bucket=world.bucket_of("/Uploads/"), Key="uploads/a.png", Body=_image(32, 32))
    jobs = world.drain(world.queue_of("/ThumbnailJobs/Queue/"))
    handler = _handler(world, monkeypatch, "thumbnail", "/Thumbnail/Function/")
    calls: list[str] = []

    def denied(**kw: Any) -> None:
        calls.append(f"head {kw['Key']}")
        # What botocore raises for a HEAD answered 403 (no body, so the code is the status).
        raise ClientError({"Error": {"Code": "403", "Message": "Forbidden"}}, "HeadObject")

    monkeypatch.setattr(handler.s3, "head_object", denied)
    monkeypatch.setattr(handler.s3, "get_object", lambda **kw: calls.append(f"get {kw['Key']}"))
    monkeypatch.setattr(handler.s3, "put_object", lambda **kw: calls.append(f"put {kw['Key']}"))
    result = handler.handler(_sqs_event(world, jobs), LambdaContext("thumbnail"))
    assert result == {"batchItemFailures": [{"itemIdentifier": jobs[0]["MessageId"]}]}
    assert calls == ["head 256/a.png.jpg"]  # neither read nor written
    assert world.drain(world.queue_of("/ThumbnailJobs/DeadLetterQueue/")) == []  # retried, not rejected
    assert "s3:ListBucket" in caplog.text


# --- the nightly report --------------------------------------------------------------------


def test_the_nightly_schedule_reports_the_orders_routed_to_it(
    world: EventDrivenWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    for order in ORDERS.values():
        world.put_order(order)
    world.put_order(ORDERS["big"])  # a retried publish: the same order twice
    world.sqs.send_message(QueueUrl=world.queue_of("/ReportFeed/Queue/"), MessageBody="{not json")
    _, schedule = one(world.document, "AWS::Scheduler::Schedule", "/NightlyReport/")
    # Scheduler fills in the context attribute; moto never fires schedules, so the test does.
    payload = json.loads(
        schedule["Properties"]["Target"]["Input"].replace(
            "<aws.scheduler.scheduled-time>", "2026-12-02T01:30:00Z"
        )
    )
    handler = _handler(world, monkeypatch, "order_report", "/OrderReport/Function/")
    result = handler.handler(payload, LambdaContext("order-report"))
    report = json.loads(
        world.s3.get_object(Bucket=world.bucket_of("/Reports/"), Key=result["key"])["Body"].read()
    )
    assert result["key"].startswith("orders/2026-12-02/")
    assert report["orders"] == 3 and report["orderIds"] == ["o-big", "o-guest", "o-small"]
    assert report["revenue"] == "860"
    assert len(report["malformed"]) == 1
    assert world.drain(world.queue_of("/ReportFeed/Queue/")) == []  # reported, then deleted
