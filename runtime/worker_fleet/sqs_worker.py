"""A long-running SQS consumer: long polling, batches of up to 10, a bounded pool of jobs.

- A message is deleted only after its job succeeded (deletes are batched by a small flusher).
- A failed job is left on the queue, visible again after `retry_delay_seconds`; the queue's
  redrive policy moves it to the dead-letter queue after its max receive count.
- A job that can never succeed (PermanentFailure: a malformed job, an upload over the maximum)
  is sent to the dead-letter queue at once, with the reason as a message attribute, and deleted:
  retrying it would only spend the receive count. Without `dead_letter_queue_url`, or if that
  send fails, it is left to the redrive policy like any failure.
- While a job runs, a heartbeat keeps extending its message's visibility timeout.
- `stop()` (SIGTERM, or the instance's lifecycle turning to Terminated): stop receiving, give
  running jobs `drain_seconds` to finish, return the rest to the queue at once (visibility 0).
  No message is ever left both unfinished and invisible.
"""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

from telemetry import Telemetry

SQS_MAX_BATCH = 10


class PermanentFailure(Exception):
    """The job can never succeed as it is; retrying cannot help."""

    outcome = "refused"


class MalformedJob(PermanentFailure, ValueError):
    """The message can never be processed as it is (not JSON, missing fields...)."""

    outcome = "malformed"


Job = Callable[[dict[str, Any]], Any]


class Lifecycle(Protocol):
    """What the worker asks of the instance's Auto Scaling lifecycle (instance_lifecycle.py)."""

    def is_terminating(self) -> bool: ...

    def complete(self) -> None: ...


@dataclass(frozen=True)
class Settings:
    queue_url: str
    concurrency: int = 8
    wait_seconds: int = 20
    visibility_timeout_seconds: int = 120
    heartbeat_seconds: float = 40.0
    retry_delay_seconds: int = 30
    drain_seconds: float = 90.0
    lifecycle_poll_seconds: float = 5.0
    dead_letter_queue_url: str | None = None

    def __post_init__(self) -> None:
        if self.concurrency < 1:
            raise ValueError(f"concurrency: must be at least 1, got {self.concurrency}")
        if not 0 <= self.wait_seconds <= 20:
            raise ValueError(f"wait_seconds: SQS long polling allows 0 to 20, got {self.wait_seconds}")
        if self.heartbeat_seconds >= self.visibility_timeout_seconds:
            raise ValueError("heartbeat_seconds: must be shorter than visibility_timeout_seconds")


@dataclass
class Held:
    """A message this worker has received and not yet deleted or returned."""

    message_id: str
    receipt: str
    extended_at: float
    finished: bool = False
    released: bool = False


@dataclass
class Counters:
    succeeded: int = 0
    failed: int = 0
    malformed: int = 0
    refused: int = 0
    released: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, name: str) -> None:
        with self.lock:
            setattr(self, name, getattr(self, name) + 1)


def parse_job(body: str) -> dict[str, Any]:
    try:
        job = json.loads(body)
    except json.JSONDecodeError as error:
        raise MalformedJob(f"body is not JSON: {error.msg}") from None
    if not isinstance(job, dict):
        raise MalformedJob("body is not a JSON object")
    if not isinstance(job.get("jobId"), str) or not job["jobId"]:
        raise MalformedJob("jobId is missing or not a non-empty string")
    return job


class Worker:
    def __init__(
        self,
        sqs: Any,
        settings: Settings,
        job: Job,
        telemetry: Telemetry,
        lifecycle: Lifecycle | None = None,
    ) -> None:
        self.sqs = sqs
        self.settings = settings
        self.job = job
        self.log = telemetry
        self.lifecycle = lifecycle
        self.counters = Counters()
        self.stopping = threading.Event()
        self.stopped = threading.Event()
        self.stop_reason = ""
        self._stop_requested_at: float | None = None
        self._held: dict[str, Held] = {}
        self._held_lock = threading.Lock()
        self._running = 0
        self._slots = threading.Condition()
        self._to_delete: queue.Queue[Held | None] = queue.Queue()

    def stop(self, reason: str) -> None:
        """Safe from a signal handler: takes no lock and writes nothing."""
        if not self.stopping.is_set():
            self.stop_reason = reason
            self._stop_requested_at = time.monotonic()  # the drain's budget runs from here
            self.stopping.set()

    def run(self) -> int:
        """Consume until stopped; returns the process exit code (0 after a clean drain)."""
        self.log.info(
            "worker started", queue_url=self.settings.queue_url, concurrency=self.settings.concurrency
        )
        deleter = threading.Thread(target=self._delete_finished, name="deleter", daemon=True)
        deleter.start()
        background = [threading.Thread(target=self._heartbeat, name="heartbeat", daemon=True)]
        if self.lifecycle is not None:
            background.append(
                threading.Thread(
                    target=self._watch_lifecycle, args=(self.lifecycle,), name="lifecycle", daemon=True
                )
            )
        for thread in background:
            thread.start()
        pool = ThreadPoolExecutor(max_workers=self.settings.concurrency, thread_name_prefix="job")
        try:
            self._receive_until_stopped(pool)
        finally:
            self.log.info("draining", reason=self.stop_reason or "error", running=self._running)
            self._drain()
            self._to_delete.put(None)
            deleter.join()
            self.stopped.set()
            pool.shutdown(wait=False, cancel_futures=True)
        if self.lifecycle is not None and self.stop_reason == "scale-in":
            self._complete_lifecycle_action(self.lifecycle)
        c = self.counters
        self.log.info(
            "worker stopped",
            succeeded=c.succeeded,
            failed=c.failed,
            malformed=c.malformed,
            refused=c.refused,
            released=c.released,
        )
        return 0

    # Receiving -------------------------------------------------------------------------------

    def _receive_until_stopped(self, pool: ThreadPoolExecutor) -> None:
        while not self.stopping.is_set():
            free = self._wait_for_free_slots()
            if free == 0:
                continue
            try:
                messages = self.sqs.receive_message(
                    QueueUrl=self.settings.queue_url,
                    MaxNumberOfMessages=free,
                    WaitTimeSeconds=self.settings.wait_seconds,
                    VisibilityTimeout=self.settings.visibility_timeout_seconds,
                    MessageSystemAttributeNames=["ApproximateReceiveCount"],
                ).get("Messages", [])
            except Exception as error:  # the network or SQS: wait a moment, never die
                self.log.error("receive failed", error=repr(error))
                self.stopping.wait(1.0)
                continue
            held = [self._hold(message) for message in messages]
            if self.stopping.is_set():
                self._release(held)  # received while stopping: give them straight back
                return
            for item, message in zip(held, messages, strict=True):
                with self._slots:
                    self._running += 1
                pool.submit(self._process, item, message)

    def _wait_for_free_slots(self) -> int:
        """Block until a slot is free; wait a few ms more so receives stay close to full batches."""
        concurrency = self.settings.concurrency
        wanted = min(SQS_MAX_BATCH, concurrency)
        with self._slots:
            self._slots.wait_for(lambda: self._running < concurrency or self.stopping.is_set(), timeout=0.5)
            self._slots.wait_for(lambda: concurrency - self._running >= wanted, timeout=0.005)
            return 0 if self.stopping.is_set() else min(SQS_MAX_BATCH, concurrency - self._running)

    def _hold(self, message: dict[str, Any]) -> Held:
        item = Held(message["MessageId"], message["ReceiptHandle"], time.monotonic())
        with self._held_lock:
            self._held[item.receipt] = item
        return item

    # Processing ------------------------------------------------------------------------------

    def _process(self, item: Held, message: dict[str, Any]) -> None:
        started = time.perf_counter()
        receives = int(message.get("Attributes", {}).get("ApproximateReceiveCount", "1"))
        outcome, job_id, permanent = "failed", None, None
        try:
            job = parse_job(message["Body"])
            job_id = job["jobId"]
            self.job(job)
            outcome = "succeeded"
        except PermanentFailure as error:
            outcome, permanent = error.outcome, error
            self.log.error(
                "malformed job" if isinstance(error, MalformedJob) else "job refused",
                message_id=item.message_id,
                job_id=job_id,
                reason=str(error),
                receives=receives,
            )
        except Exception as error:
            self.log.error(
                "job failed", message_id=item.message_id, job_id=job_id, error=repr(error), receives=receives
            )
        finally:
            elapsed_ms = (time.perf_counter() - started) * 1000
            self.counters.add(outcome)
            self.log.job_metrics(outcome, elapsed_ms, message_id=item.message_id, job_id=job_id)
            if outcome == "succeeded" or (permanent and self._dead_letter(item, message, permanent)):
                item.finished = True
                self._to_delete.put(item)
            else:
                self._retry_later(item)
            self._free_slot()

    def _free_slot(self) -> None:
        # Wake the receiver (and a drain) only when what they wait for may now hold: the first
        # free slot, a full receive batch of them, none running. While they wait the count only
        # falls, one at a time, so it meets each of these values. Waking them at every job
        # cost a thread switch per message for a check that failed.
        concurrency = self.settings.concurrency
        with self._slots:
            self._running -= 1
            if self._running in (concurrency - 1, concurrency - min(SQS_MAX_BATCH, concurrency), 0):
                self._slots.notify_all()

    def _dead_letter(self, item: Held, message: dict[str, Any], failure: PermanentFailure) -> bool:
        """Send a job that can never succeed straight to the dead-letter queue; True if sent."""
        if not self.settings.dead_letter_queue_url or item.released:  # released: back on the queue
            return False
        try:
            self.sqs.send_message(
                QueueUrl=self.settings.dead_letter_queue_url,
                MessageBody=message["Body"],
                MessageAttributes={
                    "failure": {"DataType": "String", "StringValue": str(failure)[:1024] or failure.outcome},
                    "sourceMessageId": {"DataType": "String", "StringValue": item.message_id},
                },
            )
        except Exception as error:  # the redrive policy gets it there after the receive count
            self.log.error(
                "could not send to the dead-letter queue", message_id=item.message_id, error=repr(error)
            )
            return False
        self.log.info("sent to the dead-letter queue", message_id=item.message_id, reason=str(failure))
        return True

    def _retry_later(self, item: Held) -> None:
        """Leave a failed message on the queue, visible again after the retry delay."""
        item.finished = True
        if not self._forget(item):
            return
        try:
            self.sqs.change_message_visibility(
                QueueUrl=self.settings.queue_url,
                ReceiptHandle=item.receipt,
                VisibilityTimeout=self.settings.retry_delay_seconds,
            )
        except Exception as error:  # it comes back after its visibility timeout anyway
            self.log.warning("could not shorten visibility", message_id=item.message_id, error=repr(error))

    def _forget(self, item: Held) -> bool:
        """Stop tracking a message; False if it was already released or forgotten."""
        with self._held_lock:
            return self._held.pop(item.receipt, None) is not None and not item.released

    # Deleting --------------------------------------------------------------------------------

    def _delete_finished(self) -> None:
        done = False
        while not done:
            first = self._to_delete.get()
            if first is None:
                return
            batch = [first]
            deadline = time.monotonic() + 0.005
            while len(batch) < SQS_MAX_BATCH:
                try:
                    nxt = self._to_delete.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    break
                if nxt is None:
                    done = True
                    break
                batch.append(nxt)
            self._delete(batch)

    def _delete(self, batch: list[Held]) -> None:
        batch = [item for item in batch if self._forget(item)]
        if not batch:
            return
        try:
            result = self.sqs.delete_message_batch(
                QueueUrl=self.settings.queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": item.receipt} for i, item in enumerate(batch)],
            )
            failed = result.get("Failed", [])
        except Exception as error:
            failed = [{"Id": str(i), "Message": repr(error)} for i in range(len(batch))]
        for failure in failed:
            # The job's result is already written; a redelivery finds it and changes nothing.
            self.log.warning(
                "delete failed", message_id=batch[int(failure["Id"])].message_id, error=failure.get("Message")
            )

    # Heartbeat, lifecycle and draining -------------------------------------------------------

    def _heartbeat(self) -> None:
        # Runs until the very end, draining included: a job finishing during the drain keeps
        # its message invisible to others until it is deleted.
        while not self.stopped.wait(min(1.0, self.settings.heartbeat_seconds)):
            due = time.monotonic() - self.settings.heartbeat_seconds
            with self._held_lock:
                running = [h for h in self._held.values() if not h.finished and h.extended_at <= due]
            self._set_visibility(running, self.settings.visibility_timeout_seconds)
            # A message released while that call was in flight may have been made invisible
            # again after its release: give it back once more (release marks before it calls).
            raced = [h for h in running if h.released]
            if raced:
                self._set_visibility(raced, 0)

    def _watch_lifecycle(self, lifecycle: Lifecycle) -> None:
        while not self.stopping.wait(self.settings.lifecycle_poll_seconds):
            if lifecycle.is_terminating():
                self.stop("scale-in")

    def _complete_lifecycle_action(self, lifecycle: Lifecycle) -> None:
        try:
            lifecycle.complete()
            self.log.info("lifecycle action completed")
        except Exception as error:  # the hook's timeout ends the wait anyway (default CONTINUE)
            self.log.error("could not complete the lifecycle action", error=repr(error))

    def _drain(self) -> None:
        # From the stop request, not from now: a receive long-polling when SIGTERM came (up to
        # wait_seconds) must not push the release past the host's kill (ECS: stopTimeout).
        started = self._stop_requested_at if self._stop_requested_at is not None else time.monotonic()
        deadline = started + self.settings.drain_seconds
        with self._slots:
            self._slots.wait_for(lambda: self._running == 0, timeout=max(0.0, deadline - time.monotonic()))
        with self._held_lock:
            unfinished = [h for h in self._held.values() if not h.finished]
        if unfinished:
            self._release(unfinished)

    def _release(self, items: list[Held]) -> None:
        """Return messages to the queue at once: visible again for another worker."""
        with self._held_lock:
            for item in items:
                item.released = True
                self._held.pop(item.receipt, None)
        self._set_visibility(items, 0)
        for item in items:
            self.counters.add("released")
            self.log.info("returned unfinished message to the queue", message_id=item.message_id)

    def _set_visibility(self, items: list[Held], seconds: int) -> None:
        for start in range(0, len(items), SQS_MAX_BATCH):
            chunk = items[start : start + SQS_MAX_BATCH]
            try:
                result = self.sqs.change_message_visibility_batch(
                    QueueUrl=self.settings.queue_url,
                    Entries=[
                        {"Id": str(i), "ReceiptHandle": h.receipt, "VisibilityTimeout": seconds}
                        for i, h in enumerate(chunk)
                    ],
                )
                failed = {int(f["Id"]) for f in result.get("Failed", [])}
            except Exception as error:
                self.log.error("change visibility failed", error=repr(error))
                continue
            now = time.monotonic()
            for i, held in enumerate(chunk):
                if i not in failed:
                    held.extended_at = now
