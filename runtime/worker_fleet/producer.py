"""Drive a deployed fleet: upload a file to the input bucket and enqueue its job.

    python runtime/worker_fleet/producer.py --bucket INPUT_BUCKET --queue-url JOB_QUEUE_URL FILE...

Prints one line per job: its id and where its results will appear. The stack's outputs give
the bucket, the queue URL and the output bucket.
"""

from __future__ import annotations

import argparse
import json
import uuid
from pathlib import Path
from typing import Any

import boto3

UPLOAD_PREFIX = "uploads/"


def submit(s3: Any, sqs: Any, *, bucket: str, queue_url: str, path: Path, job_id: str | None = None) -> str:
    """Upload `path` under uploads/<job id>/ and send the job that points at it."""
    job_id = job_id or str(uuid.uuid4())
    key = f"{UPLOAD_PREFIX}{job_id}/{path.name}"
    s3.upload_file(str(path), bucket, key)
    body = {"jobId": job_id, "input": {"bucket": bucket, "key": key}}
    sqs.send_message(QueueUrl=queue_url, MessageBody=json.dumps(body))
    return job_id


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--bucket", required=True, help="the stack's InputBucket output")
    parser.add_argument("--queue-url", required=True, help="the stack's JobQueueUrl output")
    parser.add_argument("files", nargs="+", type=Path)
    args = parser.parse_args(argv)
    s3, sqs = boto3.client("s3"), boto3.client("sqs")
    for path in args.files:
        if not path.is_file():
            parser.error(f"{path}: no such file")
        job_id = submit(s3, sqs, bucket=args.bucket, queue_url=args.queue_url, path=path)
        print(f"{job_id}  {path}  -> results/{job_id}/summary.json")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
