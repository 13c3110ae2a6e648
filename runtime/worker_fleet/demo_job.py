"""The demo job: fingerprint and compress one uploaded object, results under the job id.

Job body: {"jobId": "...", "input": {"bucket": "...", "key": "uploads/..."}}
Results, in the output bucket:
- results/<jobId>/content.gz: the upload, gzip-compressed
- results/<jobId>/summary.json: sha256, sizes and line count

Idempotent: every result is written with a conditional put (If-None-Match: *), so a job
delivered twice (SQS is at-least-once) leaves exactly one version of each result, and the
second delivery succeeds without writing anything. (Checking for the result first would need
s3:ListBucket to tell "missing" from "forbidden"; the conditional put needs no extra right.)
"""

from __future__ import annotations

import gzip
import hashlib
import json
from typing import Any

from botocore.exceptions import ClientError
from sqs_worker import MalformedJob

RESULTS_PREFIX = "results"
ALREADY_WRITTEN = {"PreconditionFailed", "ConditionalRequestConflict"}


def result_keys(job_id: str) -> tuple[str, str]:
    return f"{RESULTS_PREFIX}/{job_id}/content.gz", f"{RESULTS_PREFIX}/{job_id}/summary.json"


class FingerprintJob:
    def __init__(self, s3: Any, output_bucket: str, input_prefix: str = "uploads/") -> None:
        self.s3 = s3
        self.output_bucket = output_bucket
        self.input_prefix = input_prefix

    def __call__(self, job: dict[str, Any]) -> dict[str, Any]:
        bucket, key = self._input(job)
        content_key, summary_key = result_keys(job["jobId"])
        body = self.s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        compressed = gzip.compress(body, mtime=0)  # mtime=0: the same input gives the same bytes
        summary = {
            "jobId": job["jobId"],
            "input": {"bucket": bucket, "key": key},
            "sha256": hashlib.sha256(body).hexdigest(),
            "bytes": len(body),
            "gzipBytes": len(compressed),
            "lines": body.count(b"\n") + (1 if body and not body.endswith(b"\n") else 0),
        }
        self._put_once(content_key, compressed, "application/gzip")
        # The summary last: its presence means the whole job is done.
        self._put_once(summary_key, json.dumps(summary).encode(), "application/json")
        return summary

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

    def _put_once(self, key: str, body: bytes, content_type: str) -> None:
        try:
            self.s3.put_object(
                Bucket=self.output_bucket, Key=key, Body=body, ContentType=content_type, IfNoneMatch="*"
            )
        except ClientError as error:
            if error.response["Error"]["Code"] not in ALREADY_WRITTEN:
                raise
