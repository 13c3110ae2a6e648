"""The worker service's environment (the env file the fleet's user data writes), read once at
start into typed settings: the worker loop's own `sqs_worker.Settings`, and what run_worker.py
wires around it.

A missing or malformed variable stops the service at start with SettingsError naming the
variable and what it should be, before it receives a message: systemd's log says what to fix.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from demo_job import DEFAULT_MAX_OBJECT_BYTES
from instance_lifecycle import IMDS_URL
from sqs_worker import Settings


class SettingsError(RuntimeError):
    """An environment variable the worker needs is missing or malformed."""


@dataclass(frozen=True)
class WorkerSettings:
    worker: Settings
    output_bucket: str
    max_object_bytes: int = DEFAULT_MAX_OBJECT_BYTES
    lifecycle_hook_name: str | None = None
    """Without it, no lifecycle action is completed."""
    imds_url: str = IMDS_URL
    service_name: str = "worker-fleet"

    @classmethod
    def from_environ(cls, env: Mapping[str, str]) -> WorkerSettings:
        defaults = Settings(queue_url="")
        visibility = whole_number(
            env, "VISIBILITY_TIMEOUT_SECONDS", defaults.visibility_timeout_seconds, "seconds"
        )
        try:
            worker = Settings(
                queue_url=required(env, "QUEUE_URL", "the job queue's URL"),
                concurrency=whole_number(env, "CONCURRENCY", defaults.concurrency, "jobs"),
                wait_seconds=whole_number(env, "WAIT_SECONDS", defaults.wait_seconds, "seconds", minimum=0),
                visibility_timeout_seconds=visibility,
                heartbeat_seconds=visibility / 3,
                retry_delay_seconds=whole_number(
                    env, "RETRY_DELAY_SECONDS", defaults.retry_delay_seconds, "seconds", minimum=0
                ),
                drain_seconds=whole_number(
                    env, "DRAIN_SECONDS", int(defaults.drain_seconds), "seconds", minimum=0
                ),
                dead_letter_queue_url=optional(env, "DEAD_LETTER_QUEUE_URL"),
            )
        except ValueError as error:  # Settings names its field, e.g. "wait_seconds: ...": the variable
            field, _, reason = str(error).partition(":")
            raise SettingsError(f"{field.upper()}:{reason}") from None
        return cls(
            worker=worker,
            output_bucket=required(env, "OUTPUT_BUCKET", "the bucket the jobs write their results to"),
            max_object_bytes=whole_number(env, "MAX_OBJECT_BYTES", cls.max_object_bytes, "bytes"),
            lifecycle_hook_name=optional(env, "LIFECYCLE_HOOK_NAME"),
            imds_url=optional(env, "IMDS_URL") or cls.imds_url,
            service_name=optional(env, "SERVICE_NAME") or cls.service_name,
        )


def required(env: Mapping[str, str], name: str, meaning: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise SettingsError(f"{name}: missing; set it to {meaning}")
    return value


def optional(env: Mapping[str, str], name: str) -> str | None:
    return env.get(name, "").strip() or None


def whole_number(env: Mapping[str, str], name: str, default: int, unit: str, minimum: int = 1) -> int:
    text = env.get(name, "").strip()
    if not text:
        return default
    if not (text.isascii() and text.isdigit()) or int(text) < minimum:
        raise SettingsError(f"{name}: {text!r} is not a whole number of {unit} ({minimum} or more)")
    return int(text)
