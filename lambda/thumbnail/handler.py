"""Thumbnails of uploads: S3 `Object Created` events, routed by an EventBridge rule to a queue,
drained in batches.

Per record: parse the EventBridge event; refuse one that names another bucket or a key outside
the uploads prefix (the rule admits only the uploads bucket, but the queue is the trust
boundary); skip when the thumbnail of this very object version (ETag) exists (idempotent:
redelivery and replay write nothing twice); read the object only if it is still that version;
write the thumbnail. An upload that is not an image, is corrupt or too large is `Rejected`:
reported (a log line and a message with the reason on the dead-letter queue) and not retried.
Anything else (S3 slow or down) fails that record only; after the queue's receive count the
message goes to the same dead-letter queue.
"""

from __future__ import annotations

import json
import os
from functools import cache
from typing import Any

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import ClientError
from thumbnails import Rejected, make_thumbnail

logger = Logger()
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
s3 = boto3.client("s3")


@cache
def rejections() -> Any:
    """The SQS client for rejected uploads, made at the first rejection: a thumbnail made needs
    only S3, so Init does not pay for a second client (about a tenth of boto3's import)."""
    return boto3.client("sqs")


UPLOADS_BUCKET = os.environ["UPLOADS_BUCKET"]
UPLOADS_PREFIX = os.environ.get("UPLOADS_PREFIX", "uploads/")
THUMBNAILS_BUCKET = os.environ["THUMBNAILS_BUCKET"]
REJECTED_QUEUE_URL = os.environ["REJECTED_QUEUE_URL"]
MAX_IMAGE_BYTES = int(os.environ.get("MAX_IMAGE_BYTES", str(20 * 1024 * 1024)))
MAX_IMAGE_PIXELS = int(os.environ.get("MAX_IMAGE_PIXELS", str(50_000_000)))
THUMBNAIL_PREFIX = os.environ.get("THUMBNAILS_PREFIX", "256/")


def thumbnail_key(key: str) -> str:
    return f"{THUMBNAIL_PREFIX}{key.removeprefix(UPLOADS_PREFIX)}.jpg"


def _upload(body: str) -> tuple[str, str, int, str]:
    """(bucket, key, size, etag) of an S3 Object Created event; Rejected otherwise."""
    try:
        event = json.loads(body)
        detail = event["detail"]
        bucket, obj = detail["bucket"]["name"], detail["object"]
        # EventBridge's S3 events spell it `etag`; S3's own notifications (and moto) `eTag`.
        key, size, etag = obj["key"], int(obj["size"]), str(obj.get("etag", obj.get("eTag"))).strip('"')
    except (ValueError, TypeError, KeyError) as error:
        raise Rejected(f"not an S3 Object Created event: {error!r:.80}") from None
    if event.get("source") != "aws.s3" or event.get("detail-type") != "Object Created":
        raise Rejected("not an S3 Object Created event")
    if etag == "None":
        raise Rejected("not an S3 Object Created event: no etag")
    if bucket != UPLOADS_BUCKET or not isinstance(key, str) or not key.startswith(UPLOADS_PREFIX):
        raise Rejected(f"not an upload: s3://{bucket}/{key!s:.200}")
    if size > MAX_IMAGE_BYTES:
        raise Rejected(f"too large: {size} bytes, the limit is {MAX_IMAGE_BYTES}")
    return bucket, key, size, etag


def _already_made(key: str, etag: str) -> bool:
    try:
        head = s3.head_object(Bucket=THUMBNAILS_BUCKET, Key=thumbnail_key(key))
    except ClientError as error:
        code = error.response["Error"]["Code"]
        if code in ("404", "NoSuchKey", "NotFound"):
            return False
        if code in ("403", "AccessDenied", "Forbidden"):
            # Not "absent": S3 says 404 only to a caller that may list the bucket. A denial is
            # retried and, after the queue's receive count, kept on the dead-letter queue.
            logger.error(
                "thumbnail lookup denied: the role needs s3:GetObject on the object and "
                "s3:ListBucket on the bucket",
                bucket=THUMBNAILS_BUCKET,
                key=thumbnail_key(key),
            )
        raise
    return bool(head.get("Metadata", {}).get("source-etag") == etag)


def _read(bucket: str, key: str, etag: str) -> bytes | None:
    """The object's bytes if it is still the version of the event; None when it was replaced
    or deleted since (the newer upload's own event makes its thumbnail)."""
    try:
        response = s3.get_object(Bucket=bucket, Key=key, IfMatch=etag)
    except ClientError as error:
        if error.response["Error"]["Code"] in ("PreconditionFailed", "412", "NoSuchKey", "404"):
            return None
        raise
    data: bytes = response["Body"].read(MAX_IMAGE_BYTES + 1)
    if len(data) > MAX_IMAGE_BYTES:
        raise Rejected(f"too large: more than {MAX_IMAGE_BYTES} bytes")
    return data


def _report(record: SQSRecord, reason: str) -> None:
    logger.warning("upload rejected", message_id=record.message_id, reason=reason)
    rejections().send_message(
        QueueUrl=REJECTED_QUEUE_URL,
        MessageBody=record.body,
        MessageAttributes={"reason": {"DataType": "String", "StringValue": reason[:1000]}},
    )


def record_handler(record: SQSRecord) -> str:
    try:
        bucket, key, _, etag = _upload(record.body)
        if _already_made(key, etag):
            logger.info("thumbnail exists", key=key)
            return "exists"
        data = _read(bucket, key, etag)
        if data is None:
            logger.info("upload replaced or deleted since the event", key=key)
            return "superseded"
        thumbnail = make_thumbnail(data, max_pixels=MAX_IMAGE_PIXELS)
    except Rejected as rejected:
        _report(record, rejected.reason)
        return "rejected"
    s3.put_object(
        Bucket=THUMBNAILS_BUCKET,
        Key=thumbnail_key(key),
        Body=thumbnail,
        ContentType="image/jpeg",
        Metadata={"source-etag": etag},
    )
    logger.info("thumbnail made", key=key, bytes=len(thumbnail))
    return "made"


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
