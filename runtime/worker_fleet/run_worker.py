"""Entry point of the worker service (systemd runs `python3 run_worker.py`).

Configuration comes from the environment the fleet's user data writes:
QUEUE_URL, DEAD_LETTER_QUEUE_URL (where jobs that can never succeed go at once), OUTPUT_BUCKET,
CONCURRENCY, VISIBILITY_TIMEOUT_SECONDS, DRAIN_SECONDS, LIFECYCLE_HOOK_NAME (optional: without
it, no lifecycle action is completed), AWS_REGION, and for the demo job MAX_OBJECT_BYTES (the
largest upload it accepts, 1 GiB by default).
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Mapping
from typing import Any

import boto3
from botocore.config import Config
from demo_job import DEFAULT_MAX_OBJECT_BYTES, FingerprintJob
from instance_lifecycle import InstanceLifecycle
from sqs_worker import Settings, Worker
from telemetry import Telemetry


def settings_from(env: Mapping[str, str]) -> Settings:
    visibility = int(env.get("VISIBILITY_TIMEOUT_SECONDS", "120"))
    return Settings(
        queue_url=env["QUEUE_URL"],
        concurrency=int(env.get("CONCURRENCY", "8")),
        wait_seconds=int(env.get("WAIT_SECONDS", "20")),
        visibility_timeout_seconds=visibility,
        heartbeat_seconds=visibility / 3,
        retry_delay_seconds=int(env.get("RETRY_DELAY_SECONDS", "30")),
        drain_seconds=float(env.get("DRAIN_SECONDS", "90")),
        dead_letter_queue_url=env.get("DEAD_LETTER_QUEUE_URL") or None,
    )


def build(env: Mapping[str, str], session: Any = None, telemetry: Telemetry | None = None) -> Worker:
    settings = settings_from(env)
    session = session or boto3.session.Session()
    # Enough pooled connections for every job thread plus the receiver, deleter and heartbeat.
    config = Config(max_pool_connections=settings.concurrency + 4, retries={"mode": "standard"})
    lifecycle = None
    if env.get("LIFECYCLE_HOOK_NAME"):
        lifecycle = InstanceLifecycle(
            session.client("autoscaling", config=config),
            env["LIFECYCLE_HOOK_NAME"],
            imds_url=env.get("IMDS_URL", "http://169.254.169.254"),
        )
    return Worker(
        session.client("sqs", config=config),
        settings,
        FingerprintJob(
            session.client("s3", config=config),
            env["OUTPUT_BUCKET"],
            max_object_bytes=int(env.get("MAX_OBJECT_BYTES", DEFAULT_MAX_OBJECT_BYTES)),
        ),
        telemetry or Telemetry(env.get("SERVICE_NAME", "worker-fleet")),
        lifecycle=lifecycle,
    )


def main() -> int:
    worker = build(os.environ)
    signal.signal(signal.SIGTERM, lambda *_: worker.stop("SIGTERM"))
    signal.signal(signal.SIGINT, lambda *_: worker.stop("SIGINT"))
    code = worker.run()
    sys.stdout.flush()
    # A job still running after the drain was released to the queue; do not wait for it.
    os._exit(code)


if __name__ == "__main__":
    main()
