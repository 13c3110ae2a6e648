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


def _has(value: Any, member: str) -> bool:
    """Whether `value` has `member`, without reading it: some CDK getters raise when read
    (a function outside a VPC has `connections`, which refuses to be read)."""
    if hasattr(type(value), member):
        return True
    try:
        return hasattr(value, member)
    except Exception:  # a getter that raises is still a member (an imported VPC without a
        return True  # CIDR raises on `vpc_cidr_block`)


def _matches(value: Any, expected: type) -> bool:
    if _is_protocol(expected):
        members = typing_extensions.get_protocol_members(expected)
        return all(_has(value, member) for member in members)
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
        raise PropError(
            prop, f"must be between {_number(low)} and {_number(high)}{suffix}, got {_number(value)}{suffix}"
        )


def _number(value: float) -> str:
    """1000000 as 1000000, not 1e+06; 1.5 as 1.5."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        value = int(value)
    return str(value) if isinstance(value, int) else f"{value:g}"


def whole_seconds(prop: str, value: Duration, *, low: int = 0, high: int | None = None) -> int:
    """The seconds in `value`, refusing a fraction of a second or a value outside the range."""
    expect(prop, value, Duration)
    millis = value.to_milliseconds()  # to_seconds() raises on a fraction without naming the prop
    if millis % 1000:
        raise PropError(prop, f"must be whole seconds, got {millis / 1000:g} s")
    within(prop, millis // 1000, low, high if high is not None else float("inf"), unit="s")
    return int(millis // 1000)


def sequence(prop: str, value: Any, *expected: type, empty: bool = True) -> list[Any]:
    """`value` as a list, refusing one string (a common slip for a list of one), a non-sequence,
    an item not of `expected`, and, unless `empty`, an empty sequence."""
    if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
        given = f"{type(value).__name__} {value!r:.60}"
        raise PropError(prop, f"expected a list, got {given}")
    if not value and not empty:
        raise PropError(prop, "give at least one item, got an empty list")
    if expected:
        for index, item in enumerate(value):
            expect(f"{prop}[{index}]", item, *expected)
    return list(value)


def one_of(prop: str, value: Any, valid: Any) -> None:
    """Refuse `value` unless it is in `valid`; the message lists the valid values."""
    if value not in valid:
        names = ", ".join(sorted(str(v) for v in valid))
        raise PropError(prop, f"{value!r} is not one of: {names}")


def exclusive(**given: Any) -> None:
    """Refuse two props given together where one excludes the other (an existing resource and
    the props that would make a new one): pass them by name, None meaning not given."""
    named = [name for name, value in given.items() if value is not None]
    if len(named) > 1:
        first, *others = named
        raise PropError(
            first,
            f"given together with {', '.join(others)}; they exclude each other (an existing "
            "resource already has its settings): pass one",
        )


def whole_days(prop: str, value: Duration, *, low: int, high: int) -> int:
    """The days in `value`, refusing a fraction of a day or a value outside [low, high] days."""
    seconds = whole_seconds(prop, value)
    if seconds % 86_400:
        raise PropError(prop, f"must be whole days, got {seconds / 86_400:g} days")
    within(prop, seconds // 86_400, low, high, unit="days")
    return seconds // 86_400
