"""The anomaly detector's in-memory state: bounded to `MAX_DEVICES` devices, least recently seen
forgotten first, so a producer sending many distinct deviceIds cannot exhaust the function."""

from __future__ import annotations

from tests.kit import load_module

readings = load_module("telemetry_anomalies", "readings")


def _detector(max_devices: int) -> object:
    return readings.Detector(window=5, min_samples=2, z_threshold=4, max_devices=max_devices)


def _apply(detector: object, device: str, sequence: int, temperature: float = 20.0) -> None:
    reading = readings.Reading(device, 1_700_000_000 + sequence, temperature)
    assert not detector.already_applied(reading, "shardId-0", sequence)
    detector.apply(reading, "shardId-0", sequence, anomalous=False)


def test_the_default_cap_is_ten_thousand_devices() -> None:
    assert readings.MAX_DEVICES == 10_000
    detector = readings.Detector(window=5, min_samples=2, z_threshold=4)
    for n in range(readings.MAX_DEVICES + 500):
        _apply(detector, f"device-{n}", n)
    assert len(detector.devices) == readings.MAX_DEVICES
    assert "device-0" not in detector.devices and f"device-{readings.MAX_DEVICES + 499}" in detector.devices


def test_the_device_seen_least_recently_is_forgotten_first_and_warms_up_again() -> None:
    detector = _detector(3)
    for sequence, device in enumerate(["a", "a", "b", "b", "c", "c"]):
        _apply(detector, device, sequence)
    spike = readings.Reading("a", 1_700_000_100, 90.0)
    assert detector.judge(spike) is not None  # "a" has its two readings: judged
    _apply(detector, "d", 10)  # "a" was just seen; "b" is the least recent and goes
    assert list(detector.devices) == ["c", "a", "d"]
    _apply(detector, "b", 11)
    assert list(detector.devices) == ["a", "d", "b"]
    assert detector.judge(readings.Reading("b", 1_700_000_200, 90.0)) is None  # warming up again
