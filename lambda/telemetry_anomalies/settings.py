"""The consumer's environment, read once at cold start into typed settings.

A missing or malformed variable fails the cold start with SettingsError naming it and what it
should be, rather than a bare KeyError or a ValueError deep in the detector.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypeVar


class SettingsError(RuntimeError):
    """An environment variable the function needs is missing or malformed."""


@dataclass(frozen=True)
class Settings:
    anomaly_topic_arn: str
    window: int
    """How many recent readings per device the rolling mean and deviation cover."""
    min_samples: int
    """How many readings a device needs before any of its readings is judged."""
    z_threshold: float
    """A reading this many standard deviations from its device's mean is an anomaly."""

    @classmethod
    def from_environ(cls, env: Mapping[str, str]) -> Settings:
        window = number(env, "WINDOW", "30", int, 2, 10_000)
        return cls(
            anomaly_topic_arn=required(env, "ANOMALY_TOPIC_ARN", "the ARN of the topic anomalies go to"),
            window=window,
            min_samples=number(env, "MIN_SAMPLES", "10", int, 2, window),
            z_threshold=number(env, "Z_THRESHOLD", "4", float, 1, 100),
        )


def required(env: Mapping[str, str], name: str, meaning: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise SettingsError(f"{name}: missing; set it to {meaning}")
    return value


Number = TypeVar("Number", int, float)


def number(
    env: Mapping[str, str], name: str, default: str, kind: type[Number], low: Number, high: Number
) -> Number:
    text = env.get(name, default).strip() or default
    try:
        value = kind(text)
    except ValueError:
        raise SettingsError(f"{name}: {text!r} is not a {kind.__name__}") from None
    if not low <= value <= high:
        raise SettingsError(f"{name}: must be between {low} and {high}, got {value}")
    return value
