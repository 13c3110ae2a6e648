"""Prop checks the constructs share: a wrong prop fails at synth with its name, what was
expected and what was given, never a bare AttributeError deep inside CDK.

    expect("topic", topic, sns.ITopic, optional=True)
    expect("max_receive_count", max_receive_count, int)
    within("max_receive_count", max_receive_count, 1, 1000)

CDK's interfaces (`sns.ITopic`, `kms.IKey`, ...) are jsii protocols that `isinstance` refuses, so
a value is taken as one when it has every member the protocol declares: a topic imported by
ARN passes, an ARN string or a queue does not.
"""

from __future__ import annotations

from typing import Any

import typing_extensions
from aws_cdk import Duration


class PropError(ValueError):
    """A construct prop with a value the construct refuses; the message starts with its name."""

    def __init__(self, prop: str, problem: str) -> None:
        super().__init__(f"{prop}: {problem}")
        self.prop = prop


def _is_protocol(expected: type) -> bool:
    return bool(getattr(expected, "_is_protocol", False))


def _has_member(value: Any, member: str) -> bool:
    """Reading a jsii member runs its getter, and some getters raise though the member is there
    (an imported VPC without a CIDR raises on `vpc_cidr_block`): that still counts."""
    try:
        return hasattr(value, member)
    except RuntimeError:
        return True


def _matches(value: Any, expected: type) -> bool:
    if _is_protocol(expected):
        members = typing_extensions.get_protocol_members(expected)
        return all(_has_member(value, member) for member in members)
    if expected is int:  # bool is an int to Python, never to a user writing a count
        return isinstance(value, int) and not isinstance(value, bool)
    if expected is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, expected)


def _described(expected: type) -> str:
    module = expected.__module__.removeprefix("aws_cdk").lstrip(".")
    if module in ("builtins", "jsii._reference_map"):
        module = ""
    return f"{module}.{expected.__name__}".lstrip(".")


def expect(prop: str, value: Any, *expected: type, optional: bool = False) -> None:
    """Refuse `value` unless it is one of `expected` (None too when `optional`)."""
    if value is None and optional:
        return
    if any(_matches(value, kind) for kind in expected):
        return
    wanted = " or ".join(_described(kind) for kind in expected)
    given = "None" if value is None else f"{type(value).__name__} {value!r:.60}"
    raise PropError(prop, f"expected {wanted}{' (or None)' if optional else ''}, got {given}")


def within(prop: str, value: float, low: float, high: float, *, unit: str = "") -> None:
    """Refuse `value` outside [low, high]; the message names the range."""
    suffix = f" {unit}" if unit else ""
    if not low <= value <= high:
        raise PropError(prop, f"must be between {low:g} and {high:g}{suffix}, got {value:g}{suffix}")


def whole_seconds(prop: str, value: Duration, *, low: int = 0, high: int | None = None) -> int:
    """The seconds in `value`, refusing a fraction of a second or a value outside the range."""
    expect(prop, value, Duration)
    millis = value.to_milliseconds()  # to_seconds() raises on a fraction without naming the prop
    if millis % 1000:
        raise PropError(prop, f"must be whole seconds, got {millis / 1000:g} s")
    within(prop, millis // 1000, low, high if high is not None else float("inf"), unit="s")
    return int(millis // 1000)


def whole_days(prop: str, value: Duration, *, low: int, high: int) -> int:
    """The days in `value`, refusing a fraction of a day or a value outside [low, high] days."""
    seconds = whole_seconds(prop, value)
    if seconds % 86_400:
        raise PropError(prop, f"must be whole days, got {seconds / 86_400:g} days")
    within(prop, seconds // 86_400, low, high, unit="days")
    return seconds // 86_400
