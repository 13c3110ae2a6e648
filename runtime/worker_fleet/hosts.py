"""Where the worker runs: the one part of it that differs between an EC2 instance and an ECS task.

The worker (sqs_worker.Worker) is the same on both hosts; a host decides only what tells it to
stop and what it owes the host once drained.

- EC2 (the worker fleet): systemd sends SIGTERM on stop; on scale-in the instance's lifecycle
  turns to Terminated (read from IMDS) and, once drained, the worker completes the lifecycle
  action so the group terminates the instance at once.
- ECS (container workers): ECS sends the container SIGTERM when it stops a task (scale-in, a
  deployment, Spot interruption) and SIGKILL `stopTimeout` seconds later (at most 120 s on
  Fargate; AWS, "Task definition parameters: stopTimeout"). Nothing is completed afterwards, so
  the drain must end, and every unfinished message be released, before the SIGKILL.

The construct names the host in WORKER_HOST (`ec2` when absent) and, on ECS, the task's stop
timeout in STOP_TIMEOUT_SECONDS.
"""

from __future__ import annotations

import dataclasses
import signal
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from instance_lifecycle import InstanceLifecycle
from settings import SettingsError, WorkerSettings, whole_number
from sqs_worker import Lifecycle, Settings, Worker

# What the worker needs after its drain ends: one batch visibility call per 10 held messages and
# the process exit. ECS's SIGKILL must not land before that.
RELEASE_MARGIN_SECONDS = 10
FARGATE_MAX_STOP_TIMEOUT_SECONDS = 120


class Host(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def lifecycle(self) -> Lifecycle | None: ...

    def settle(self, settings: Settings) -> Settings:
        """The worker's settings as this host bounds them."""
        ...


@dataclasses.dataclass(frozen=True)
class Ec2Host:
    """An instance of the worker fleet; `lifecycle` is None without a lifecycle hook."""

    lifecycle: Lifecycle | None = None
    name: str = "ec2"

    def settle(self, settings: Settings) -> Settings:
        return settings  # the lifecycle hook's timeout is sized by the construct around the drain


@dataclasses.dataclass(frozen=True)
class EcsHost:
    """A task of an ECS service: SIGTERM is the only stop, SIGKILL follows `stop_timeout_seconds`."""

    stop_timeout_seconds: int
    name: str = "ecs"
    lifecycle: Lifecycle | None = None

    def __post_init__(self) -> None:
        if not RELEASE_MARGIN_SECONDS < self.stop_timeout_seconds <= FARGATE_MAX_STOP_TIMEOUT_SECONDS:
            raise SettingsError(
                f"STOP_TIMEOUT_SECONDS: {self.stop_timeout_seconds} must be more than "
                f"{RELEASE_MARGIN_SECONDS} and at most {FARGATE_MAX_STOP_TIMEOUT_SECONDS} (Fargate's maximum)"
            )

    def settle(self, settings: Settings) -> Settings:
        """Drain for no longer than the stop timeout leaves after releasing what is left, and
        long-poll no longer than that either: a receive in flight at SIGTERM returns before the
        drain can release anything."""
        longest = self.stop_timeout_seconds - RELEASE_MARGIN_SECONDS
        return dataclasses.replace(
            settings,
            drain_seconds=min(settings.drain_seconds, float(longest)),
            wait_seconds=min(settings.wait_seconds, longest),
        )


def host_for(env: Mapping[str, str], settings: WorkerSettings, autoscaling: Callable[[], Any]) -> Host:
    """The host the environment names; `autoscaling` makes the client an EC2 lifecycle needs."""
    name = env.get("WORKER_HOST", "").strip() or "ec2"
    if name == "ecs":
        return EcsHost(whole_number(env, "STOP_TIMEOUT_SECONDS", 30, "seconds"))
    if name != "ec2":
        raise SettingsError(f"WORKER_HOST: {name!r} is not a host; set it to ec2 or ecs")
    if not settings.lifecycle_hook_name:
        return Ec2Host()
    return Ec2Host(InstanceLifecycle(autoscaling(), settings.lifecycle_hook_name, imds_url=settings.imds_url))


def stop_on_signals(worker: Worker) -> None:
    """SIGTERM (systemd's stop, ECS's task stop) and SIGINT start the drain."""
    signal.signal(signal.SIGTERM, lambda *_: worker.stop("SIGTERM"))
    signal.signal(signal.SIGINT, lambda *_: worker.stop("SIGINT"))
