"""Structured JSON logs and CloudWatch embedded metric format (EMF), on stdout.

On the instance, systemd appends stdout to a file the CloudWatch agent ships to the fleet's log
group; CloudWatch Logs turns every line that carries an `_aws` block into metrics. Standard
library only: the worker needs nothing installed but boto3.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from typing import Any, TextIO

NAMESPACE = "refarch/WorkerFleet"


class Telemetry:
    def __init__(self, service: str, stream: TextIO | None = None, namespace: str = NAMESPACE) -> None:
        self.service = service
        self.namespace = namespace
        self._stream = stream
        self._lock = threading.Lock()

    def _write(self, record: dict[str, Any]) -> None:
        line = json.dumps(record, default=str, separators=(",", ":"))
        with self._lock:
            stream = self._stream or sys.stdout
            stream.write(line + "\n")
            stream.flush()

    def log(self, level: str, message: str, **fields: Any) -> None:
        self._write(
            {"timestamp": _now_ms(), "level": level, "service": self.service, "message": message, **fields}
        )

    def info(self, message: str, **fields: Any) -> None:
        self.log("INFO", message, **fields)

    def warning(self, message: str, **fields: Any) -> None:
        self.log("WARNING", message, **fields)

    def error(self, message: str, **fields: Any) -> None:
        self.log("ERROR", message, **fields)

    def job_metrics(self, outcome: str, duration_ms: float, **properties: Any) -> None:
        """One EMF record per job: count and duration by outcome (succeeded, failed, malformed,
        refused)."""
        self._write(
            {
                "_aws": {
                    "Timestamp": _now_ms(),
                    "CloudWatchMetrics": [
                        {
                            "Namespace": self.namespace,
                            "Dimensions": [["service", "outcome"]],
                            "Metrics": [
                                {"Name": "Jobs", "Unit": "Count"},
                                {"Name": "JobDuration", "Unit": "Milliseconds"},
                            ],
                        }
                    ],
                },
                "service": self.service,
                "outcome": outcome,
                "Jobs": 1,
                "JobDuration": round(duration_ms, 3),
                **properties,
            }
        )


def _now_ms() -> int:
    return int(time.time() * 1000)
