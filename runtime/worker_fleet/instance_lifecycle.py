"""What the instance's Auto Scaling group wants of it, read from instance metadata (IMDSv2).

When the group scales in, the instance enters Terminating:Wait because of the fleet's
termination lifecycle hook, and IMDS reports its target lifecycle state as `Terminated`. The
worker then drains and completes the lifecycle action itself, so the group terminates the
instance as soon as the work is safe, not when the hook's timeout runs out.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from typing import Any

IMDS_URL = "http://169.254.169.254"
TOKEN_TTL_SECONDS = 300
GROUP_NAME_TAG = "aws:autoscaling:groupName"


class InstanceLifecycle:
    def __init__(
        self, autoscaling: Any, hook_name: str, imds_url: str = IMDS_URL, timeout: float = 2.0
    ) -> None:
        self.autoscaling = autoscaling
        self.hook_name = hook_name
        self.imds_url = imds_url.rstrip("/")
        self.timeout = timeout

    def _token(self) -> str:
        request = urllib.request.Request(
            f"{self.imds_url}/latest/api/token",
            method="PUT",
            headers={"X-aws-ec2-metadata-token-ttl-seconds": str(TOKEN_TTL_SECONDS)},
        )
        with urllib.request.urlopen(request, timeout=self.timeout) as response:
            token: bytes = response.read()  # typeshed types urlopen's response as Any
        return token.decode()

    def metadata(self, path: str) -> str:
        request = urllib.request.Request(
            f"{self.imds_url}/latest/meta-data/{path}", headers={"X-aws-ec2-metadata-token": self._token()}
        )
        with urllib.request.urlopen(request, timeout=self.timeout) as response:
            body: bytes = response.read()
        return body.decode().strip()

    def target_state(self) -> str | None:
        """`InService`, `Terminated`, ...; None when IMDS does not say (yet)."""
        try:
            return self.metadata("autoscaling/target-lifecycle-state")
        except (urllib.error.URLError, TimeoutError, OSError):
            return None

    def is_terminating(self) -> bool:
        return self.target_state() == "Terminated"

    def complete(self) -> None:
        """Tell the group this instance is drained: it may terminate it now."""
        self.autoscaling.complete_lifecycle_action(
            LifecycleHookName=self.hook_name,
            AutoScalingGroupName=self.metadata(f"tags/instance/{GROUP_NAME_TAG}"),
            InstanceId=self.metadata("instance-id"),
            LifecycleActionResult="CONTINUE",
        )
