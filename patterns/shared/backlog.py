"""Backlog per worker: the target both queue-worker constructs scale on (EC2 instances in
`worker_fleet`, Fargate tasks in `container_workers`).

AWS's documented way to scale consumers of a queue ("Scaling based on Amazon SQS", EC2 Auto
Scaling User Guide): keep the backlog per worker (ApproximateNumberOfMessagesVisible / running
workers) at the backlog one worker can clear within the acceptable latency, i.e. acceptable
latency / average processing time.
"""

from __future__ import annotations

from aws_cdk import Duration


def backlog_target(acceptable_latency: Duration, average_processing_time: Duration) -> float:
    """Messages one worker may have waiting: latency / processing time, checked for sense."""
    latency_ms = acceptable_latency.to_milliseconds()
    processing_ms = average_processing_time.to_milliseconds()
    if processing_ms <= 0:
        raise ValueError(
            "average_processing_time: must be more than zero (the time one worker spends per job)"
        )
    if latency_ms <= 0:
        raise ValueError("acceptable_latency: must be more than zero (how long a job may wait in the queue)")
    if latency_ms < processing_ms:
        raise ValueError(
            f"acceptable_latency: {latency_ms / 1000:g} s is shorter than average_processing_time "
            f"{processing_ms / 1000:g} s, so no number of workers can meet it; raise acceptable_latency "
            "or lower average_processing_time"
        )
    return round(latency_ms / processing_ms, 2)
