"""The demo job: fingerprint and compress one uploaded object, results under the job id.

Job body: {"jobId": "...", "input": {"bucket": "...", "key": "uploads/..."}}
Results, in the output bucket:
- results/<jobId>/content.gz: the upload, gzip-compressed
- results/<jobId>/summary.json: sha256, sizes and line count

Bounded memory: the object's size is read first (HeadObject); one larger than `max_object_bytes`
is refused as a permanent failure (ObjectTooLarge: the worker sends it to the dead-letter queue
at once, without retries). The object is then read in chunks of `chunk_bytes` and compressed into
a temporary file, so a job holds a few chunks in memory whatever the object's size; the read
names the ETag it sized, so an object replaced in between is not read past its checked size.

Idempotent: every result is written with a conditional put (If-None-Match: *), so a job
delivered twice (SQS is at-least-once) leaves exactly one version of each result, and the
second delivery succeeds without writing anything. (Checking for the result first would need
s3:ListBucket to tell "missing" from "forbidden"; the conditional put needs no extra right.)
"""

from __future__ import annotations

import gzip
import hashlib
import json
import tempfile
from typing import IO, Any

from botocore.exceptions import ClientError
from sqs_worker import MalformedJob, PermanentFailure

RESULTS_PREFIX = "results"
ALREADY_WRITTEN = {"PreconditionFailed", "ConditionalRequestConflict"}
MIB = 1024 * 1024
DEFAULT_MAX_OBJECT_BYTES = 1024 * MIB
DEFAULT_CHUNK_BYTES = 1 * MIB
MAX_PUT_BYTES = 5 * 1024 * MIB  # S3: the largest object one PutObject writes


class ObjectTooLarge(PermanentFailure):
    """The upload is larger than this job accepts; retrying cannot make it smaller."""


def result_keys(job_id: str) -> tuple[str, str]:
    return f"{RESULTS_PREFIX}/{job_id}/content.gz", f"{RESULTS_PREFIX}/{job_id}/summary.json"


class FingerprintJob:
    def __init__(
        self,
        s3: Any,
        output_bucket: str,
        input_prefix: str = "uploads/",
        *,
        max_object_bytes: int = DEFAULT_MAX_OBJECT_BYTES,
        chunk_bytes: int = DEFAULT_CHUNK_BYTES,
    ) -> None:
        # gzip of incompressible data is slightly larger than its input, and is written in one put
        if not 0 < max_object_bytes <= MAX_PUT_BYTES * 0.99:
            raise ValueError(
                f"max_object_bytes: must be 1 to {int(MAX_PUT_BYTES * 0.99)}, got {max_object_bytes}"
            )
        if chunk_bytes < 1:
            raise ValueError(f"chunk_bytes: must be at least 1, got {chunk_bytes}")
        self.s3 = s3
        self.output_bucket = output_bucket
        self.input_prefix = input_prefix
        self.max_object_bytes = max_object_bytes
        self.chunk_bytes = chunk_bytes

    def __call__(self, job: dict[str, Any]) -> dict[str, Any]:
        bucket, key = self._input(job)
        content_key, summary_key = result_keys(job["jobId"])
        head = self.s3.head_object(Bucket=bucket, Key=key)
        if head["ContentLength"] > self.max_object_bytes:
            raise ObjectTooLarge(
                f"s3://{bucket}/{key} is {head['ContentLength']} bytes; this job accepts at most "
                f"{self.max_object_bytes}"
            )
        body = self.s3.get_object(Bucket=bucket, Key=key, IfMatch=head["ETag"])["Body"]
        with tempfile.TemporaryFile() as compressed:
            summary = self._fingerprint(body, compressed)
            summary = {"jobId": job["jobId"], "input": {"bucket": bucket, "key": key}, **summary}
            compressed.seek(0)
            self._put_once(content_key, compressed, "application/gzip")
        # The summary last: its presence means the whole job is done.
        self._put_once(summary_key, json.dumps(summary).encode(), "application/json")
        return summary

    def _fingerprint(self, body: Any, compressed: IO[bytes]) -> dict[str, Any]:
        digest, size, lines, last = hashlib.sha256(), 0, 0, b""
        # mtime=0 and no file name: the same input gives the same bytes
        with gzip.GzipFile(filename="", mode="wb", fileobj=compressed, mtime=0) as gzipped:
            for chunk in body.iter_chunks(self.chunk_bytes):
                size += len(chunk)
                if size > self.max_object_bytes:  # the object grew after its HeadObject
                    raise ObjectTooLarge(f"the object is over {self.max_object_bytes} bytes")
                digest.update(chunk)
                gzipped.write(chunk)
                lines += chunk.count(b"\n")
                last = chunk[-1:]
        return {
            "sha256": digest.hexdigest(),
            "bytes": size,
            "gzipBytes": compressed.tell(),
            "lines": lines + (1 if size and last != b"\n" else 0),
        }

    def _input(self, job: dict[str, Any]) -> tuple[str, str]:
        source = job.get("input")
        if not isinstance(source, dict):
            raise MalformedJob("input is missing or not an object")
        bucket, key = source.get("bucket"), source.get("key")
        if not isinstance(bucket, str) or not isinstance(key, str) or not bucket or not key:
            raise MalformedJob("input.bucket and input.key must be non-empty strings")
        if not key.startswith(self.input_prefix):
            raise MalformedJob(f"input.key must be under {self.input_prefix!r}")
        return bucket, key

    def _put_once(self, key: str, body: bytes | IO[bytes], content_type: str) -> None:
        try:
            self.s3.put_object(
                Bucket=self.output_bucket, Key=key, Body=body, ContentType=content_type, IfNoneMatch="*"
            )
        except ClientError as error:
            if error.response["Error"]["Code"] not in ALREADY_WRITTEN:
                raise
