"""The runbook's verify step: is the Region the traffic was shifted to answering?

The caller is the runbook's state machine only (nothing else may invoke the function); the URL
comes from the function's own environment, never from the event, so the state machine's input
cannot point the probe anywhere else. It asks `mode` which of the two URLs to probe.

A freshly promoted function's first invocations are cold (and a pilot light's API may answer
429/5xx for a moment after its reserved concurrency is deleted), so an unhealthy answer is
asked again, up to ATTEMPTS times with a growing pause, before the runbook rolls back; all
attempts fit in the function's timeout (the runbook gives it 20 s).
"""

from __future__ import annotations

import os
import time
import urllib.error
import urllib.request
from typing import Any

TIMEOUT_SECONDS = 4
ATTEMPTS = 3
BACKOFF_SECONDS = (1.0, 2.0)  # before the second and the third attempt
TARGETS = {"failover": "STANDBY_HEALTH_URL", "failback": "PRIMARY_HEALTH_URL"}


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    mode = event.get("mode") if isinstance(event, dict) else None
    if mode not in TARGETS:
        return {"healthy": False, "reason": f"unknown mode {mode!r}"}
    url = os.environ[TARGETS[mode]]
    result: dict[str, Any] = {}
    for attempt in range(ATTEMPTS):
        if attempt:
            time.sleep(BACKOFF_SECONDS[attempt - 1])
        result = {**_probe(url), "attempts": attempt + 1}
        if result["healthy"]:
            break
    return result


def _probe(url: str) -> dict[str, Any]:
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_SECONDS) as response:
            return {"healthy": response.status == 200, "status": response.status}
    except urllib.error.HTTPError as error:
        return {"healthy": False, "status": error.code}
    except (urllib.error.URLError, TimeoutError, OSError) as error:
        return {"healthy": False, "reason": type(error).__name__}
