"""The runbook's verify step: is the Region the traffic was shifted to answering?

The caller is the runbook's state machine only (nothing else may invoke the function); the URL
comes from the function's own environment, never from the event, so the state machine's input
cannot point the probe anywhere else. It asks `mode` which of the two URLs to probe.
"""

from __future__ import annotations

import os
import urllib.error
import urllib.request
from typing import Any

TIMEOUT_SECONDS = 5
TARGETS = {"failover": "STANDBY_HEALTH_URL", "failback": "PRIMARY_HEALTH_URL"}


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    mode = event.get("mode") if isinstance(event, dict) else None
    if mode not in TARGETS:
        return {"healthy": False, "reason": f"unknown mode {mode!r}"}
    url = os.environ[TARGETS[mode]]
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_SECONDS) as response:
            return {"healthy": response.status == 200, "status": response.status}
    except urllib.error.HTTPError as error:
        return {"healthy": False, "status": error.code}
    except (urllib.error.URLError, TimeoutError, OSError) as error:
        return {"healthy": False, "reason": type(error).__name__}
