"""A device reading as producers send it, and the rolling z-score rule that finds anomalies.

A reading: {"deviceId": str (1-128 chars of letters, digits, '-', '_', '.', ':'),
"timestamp": epoch seconds, "temperature": number}. Anything else is a MalformedReading.

The rule: a device's reading is an anomaly when it lies `z_threshold` or more standard
deviations from the mean of that device's last `window` readings (once it has `min_samples`).
The deviation has a floor (`MIN_DEVIATION`), so a sensor that has reported the same value many
times does not flag a change of a hundredth of a degree.

State lives in one execution environment's memory and is best-effort. Every reading of a device
has the same partition key, so the same shard, and Lambda runs one batch per shard at a time
(parallelization factor 1), so the readings arrive in order; but Lambda does not pin a shard to
one environment: a batch may run in an environment that saw none of the device's earlier
readings, and a new environment starts cold, so a device needs `min_samples` readings there
before anything it sends is flagged. At most `MAX_DEVICES` devices are kept; the one seen least
recently is forgotten first, so a producer sending many distinct deviceIds cannot exhaust the
function's memory (a forgotten device warms up again).
"""

from __future__ import annotations

import json
import math
import re
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Any

DEVICE_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
MIN_DEVIATION = 0.5
MAX_READING_BYTES = 4096
MAX_DEVICES = 10_000
"""Devices whose history one execution environment keeps (least recently seen evicted first)."""


class MalformedReading(ValueError):
    """The record is not a reading; retrying it cannot help."""


@dataclass(frozen=True)
class Reading:
    device_id: str
    timestamp: float
    temperature: float


@dataclass(frozen=True)
class Anomaly:
    reading: Reading
    mean: float
    deviation: float
    z_score: float

    def as_event(self, anomaly_id: str) -> dict[str, Any]:
        return {
            "anomalyId": anomaly_id,
            "deviceId": self.reading.device_id,
            "timestamp": self.reading.timestamp,
            "temperature": self.reading.temperature,
            "mean": round(self.mean, 4),
            "deviation": round(self.deviation, 4),
            "zScore": round(self.z_score, 2),
        }


def _finite(document: dict[str, Any], name: str) -> float:
    value = document.get(name)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise MalformedReading(f"{name} must be a finite number")
    return float(value)


def parse(data: bytes) -> Reading:
    if len(data) > MAX_READING_BYTES:
        raise MalformedReading(f"a reading is at most {MAX_READING_BYTES} bytes, got {len(data)}")
    try:
        document = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise MalformedReading(f"not JSON text: {error}") from None
    if not isinstance(document, dict):
        raise MalformedReading("a reading must be a JSON object")
    device_id = document.get("deviceId")
    if not isinstance(device_id, str) or not DEVICE_ID.fullmatch(device_id):
        raise MalformedReading("deviceId must be 1-128 letters, digits or . _ : -")
    return Reading(device_id, _finite(document, "timestamp"), _finite(document, "temperature"))


@dataclass
class DeviceHistory:
    values: deque[float]
    last_sequence: dict[str, int] = field(default_factory=dict)
    """Per shard: the newest sequence number applied, so a redelivered record is not counted twice."""


class Detector:
    def __init__(
        self, *, window: int, min_samples: int, z_threshold: float, max_devices: int = MAX_DEVICES
    ) -> None:
        self.window, self.min_samples, self.z_threshold = window, min_samples, z_threshold
        self.max_devices = max_devices
        self.devices: OrderedDict[str, DeviceHistory] = OrderedDict()
        """Least recently seen first."""

    def _history(self, device_id: str) -> DeviceHistory:
        history = self.devices.get(device_id)
        if history is not None:
            self.devices.move_to_end(device_id)
            return history
        history = self.devices[device_id] = DeviceHistory(deque(maxlen=self.window))
        while len(self.devices) > self.max_devices:
            self.devices.popitem(last=False)
        return history

    def already_applied(self, reading: Reading, shard: str, sequence: int) -> bool:
        """Whether this shard's record was applied before in this environment (Lambda redelivers
        a shard from its lowest reported failure, so records after it can arrive twice). A
        redelivery to another environment, or of a device since forgotten, is not recognised."""
        last = self._history(reading.device_id).last_sequence.get(shard)
        return last is not None and sequence <= last

    def judge(self, reading: Reading) -> Anomaly | None:
        """The anomaly this reading is, against its device's history; None if it is normal."""
        values = self._history(reading.device_id).values
        if len(values) < self.min_samples:
            return None
        mean = sum(values) / len(values)
        deviation = max(math.sqrt(sum((v - mean) ** 2 for v in values) / len(values)), MIN_DEVIATION)
        z_score = (reading.temperature - mean) / deviation
        return Anomaly(reading, mean, deviation, z_score) if abs(z_score) >= self.z_threshold else None

    def apply(self, reading: Reading, shard: str, sequence: int, *, anomalous: bool) -> None:
        """Record a handled reading. An anomaly is not added to the history, so one spike does
        not widen the band that the next spike is judged by."""
        history = self._history(reading.device_id)
        if not anomalous:
            history.values.append(reading.temperature)
        history.last_sequence[shard] = sequence
