"""Entry point of the worker service (systemd runs `python3 run_worker.py`).

Configuration comes from the environment the fleet's user data writes:
QUEUE_URL, DEAD_LETTER_QUEUE_URL (where jobs that can never succeed go at once), OUTPUT_BUCKET,
CONCURRENCY, VISIBILITY_TIMEOUT_SECONDS, DRAIN_SECONDS, LIFECYCLE_HOOK_NAME (optional: without
it, no lifecycle action is completed), AWS_REGION, and for the demo job MAX_OBJECT_BYTES (the
largest upload it accepts, 1 GiB by default); read once, at start, into settings.WorkerSettings.
On ECS (the container workers) also WORKER_HOST=ecs and STOP_TIMEOUT_SECONDS: see hosts.py.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from typing import Any

import boto3
from botocore.config import Config
from demo_job import FingerprintJob
from hosts import host_for, stop_on_signals
from settings import WorkerSettings
from sqs_worker import Worker
from telemetry import Telemetry


def build(env: Mapping[str, str], session: Any = None, telemetry: Telemetry | None = None) -> Worker:
    """The worker as the environment configures it; SettingsError names a missing or malformed
    variable."""
    settings = WorkerSettings.from_environ(env)
    session = session or boto3.session.Session()
    # Enough pooled connections for every job thread plus the receiver, deleter and heartbeat.
    config = Config(max_pool_connections=settings.worker.concurrency + 4, retries={"mode": "standard"})
    host = host_for(env, settings, lambda: session.client("autoscaling", config=config))
    return Worker(
        session.client("sqs", config=config),
        host.settle(settings.worker),
        FingerprintJob(
            session.client("s3", config=config),
            settings.output_bucket,
            max_object_bytes=settings.max_object_bytes,
        ),
        telemetry or Telemetry(settings.service_name),
        lifecycle=host.lifecycle,
    )


def main() -> int:
    worker = build(os.environ)
    stop_on_signals(worker)
    code = worker.run()
    sys.stdout.flush()
    # A job still running after the drain was released to the queue; do not wait for it.
    os._exit(code)


if __name__ == "__main__":
    main()
