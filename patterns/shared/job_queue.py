"""The job queue a queue-worker construct drains: a new encrypted one with its dead-letter queue,
or the user's existing one, whose dead-letter queue must be known (passed, or seen on it)."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from .defaults import Profile, dead_letter_queue, encryption_key, secure_queue
from .props import PropError


def job_queue(
    scope: Construct,
    *,
    queue: sqs.IQueue | None,
    dead_letter: sqs.IQueue | None,
    max_receive_count: int | None,
    visibility_timeout: Duration,
    profile: Profile,
) -> tuple[sqs.IQueue, sqs.IQueue, kms.IKey | None]:
    """(queue, dead-letter queue, the queue's key). A new queue gets a customer-managed key,
    five receives before its dead-letter queue, and `visibility_timeout`."""
    if queue is None:
        if dead_letter is not None:
            raise PropError("dead_letter_queue", "only with an existing queue; a new one gets its own")
        key = encryption_key(
            scope, "QueueKey", profile=profile, description=f"Encrypts {scope.node.path} jobs"
        )
        dlq = dead_letter_queue(scope, "DeadLetterQueue", key=key, profile=profile)
        new = secure_queue(
            scope,
            "JobQueue",
            key=key,
            dead_letter=dlq,
            max_receive_count=max_receive_count or 5,
            visibility_timeout=visibility_timeout,
            profile=profile,
        )
        return new, dlq, key
    if max_receive_count is not None:
        raise PropError("max_receive_count", "an existing queue brings its own redrive policy")
    own = getattr(queue, "dead_letter_queue", None)
    found = dead_letter or (own.queue if isinstance(own, sqs.DeadLetterQueue) else None)
    if found is None:
        raise PropError(
            "dead_letter_queue",
            "the existing queue has no dead-letter queue this construct can see; pass it, so "
            "failed jobs are kept and alarmed on",
        )
    return queue, found, queue.encryption_master_key
