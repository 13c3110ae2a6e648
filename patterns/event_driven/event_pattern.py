"""Event patterns checked at synth: a pattern EventBridge would refuse at deploy (or, worse,
accept and never match) fails here, naming the prop and the path inside the pattern.

The grammar is EventBridge's ("Content filtering in Amazon EventBridge event patterns"): an
object whose leaves are lists of values or of filter objects; a filter object holds exactly one
operator. Prefix, suffix, wildcard and equals-ignore-case take a string; numeric takes
comparison/number pairs; exists takes a boolean; anything-but takes a value, a list of values,
or a prefix/suffix/wildcard/equals-ignore-case filter; cidr takes an IP range.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Mapping, Sequence
from typing import Any

from aws_cdk import aws_events as events

from ..shared.props import PropError

STRING_OPERATORS = ("prefix", "suffix", "wildcard", "equals-ignore-case")
COMPARISONS = ("<", "<=", "=", ">=", ">")
MAX_PATTERN_CHARS = 2048  # EventBridge quota: an event pattern holds at most 2048 characters
# The top-level fields EventBridge puts on every event, and the L2 EventPattern field of each.
ENVELOPE = {
    "version": "version",
    "id": "id",
    "detail-type": "detail_type",
    "source": "source",
    "account": "account",
    "time": "time",
    "region": "region",
    "resources": "resources",
    "detail": "detail",
}


def check_pattern(prop: str, pattern: Any) -> None:
    """Refuse a pattern EventBridge would refuse, or one that can never match an event."""
    if not isinstance(pattern, Mapping) or not pattern:
        raise PropError(prop, f"an event pattern is a non-empty object, got {pattern!r:.60}")
    unknown = sorted(set(pattern) - set(ENVELOPE))
    if unknown:
        raise PropError(
            prop,
            f"{', '.join(map(repr, unknown))} is not a field of the event envelope "
            f"({', '.join(ENVELOPE)}); put your own fields under 'detail'",
        )
    _check_object(prop, pattern, "")
    if len(json.dumps(pattern)) > MAX_PATTERN_CHARS:
        raise PropError(prop, f"an event pattern holds at most {MAX_PATTERN_CHARS} characters")


def to_event_pattern(prop: str, pattern: Mapping[str, Any]) -> tuple[events.EventPattern, dict[str, Any]]:
    """The checked pattern split in two: CDK's EventPattern of the fields it can type (detail,
    and envelope fields listing plain strings), and the envelope fields holding filters (e.g.
    `"source": [{"prefix": "refarch."}]`), which the L2 types as string lists only; the caller
    writes those onto the rule's L1 `EventPattern`."""
    check_pattern(prop, pattern)
    typed: dict[str, Any] = {}
    filtered: dict[str, Any] = {}
    for key, value in pattern.items():
        plain = key == "detail" or all(isinstance(item, str) for item in value)
        (typed if plain else filtered)[key] = value
    return events.EventPattern(**{ENVELOPE[key]: value for key, value in typed.items()}), filtered


def _check_object(prop: str, node: Mapping[str, Any], path: str) -> None:
    for key, value in node.items():
        here = f"{path}.{key}" if path else str(key)
        if not isinstance(key, str) or not key:
            raise PropError(prop, f"at {here!r}: field names are non-empty strings")
        if isinstance(value, Mapping):
            if not value:
                raise PropError(prop, f"at {here!r}: an empty object matches nothing")
            _check_object(prop, value, here)
        elif isinstance(value, Sequence) and not isinstance(value, str):
            if not value:
                raise PropError(prop, f"at {here!r}: an empty list matches no event")
            for item in value:
                _check_match(prop, item, here)
        else:
            raise PropError(
                prop,
                f"at {here!r}: a leaf is a list of values or filters, got {value!r:.60} (wrap it in [ ])",
            )


def _check_match(prop: str, item: Any, path: str) -> None:
    if item is None or isinstance(item, (str, bool, int, float)):
        return
    if not isinstance(item, Mapping) or len(item) != 1:
        raise PropError(prop, f"at {path!r}: a filter is an object with one operator, got {item!r:.60}")
    ((operator, argument),) = item.items()
    where = f"at {path!r}, {operator!r}"
    if operator in STRING_OPERATORS:
        if not isinstance(argument, str):
            raise PropError(prop, f"{where} takes a string, got {argument!r:.60}")
    elif operator == "exists":
        if not isinstance(argument, bool):
            raise PropError(prop, f"{where} takes true or false, got {argument!r:.60}")
    elif operator == "numeric":
        _check_numeric(prop, where, argument)
    elif operator == "anything-but":
        _check_anything_but(prop, where, argument)
    elif operator == "cidr":
        try:
            ipaddress.ip_network(str(argument))
        except ValueError:
            raise PropError(
                prop, f"{where} takes an IP range such as 10.0.0.0/24, got {argument!r:.60}"
            ) from None
    else:
        known = ", ".join((*STRING_OPERATORS, "exists", "numeric", "anything-but", "cidr"))
        raise PropError(prop, f"at {path!r}: unknown operator {operator!r}; EventBridge knows {known}")


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_numeric(prop: str, where: str, argument: Any) -> None:
    pairs = list(argument) if isinstance(argument, Sequence) and not isinstance(argument, str) else []
    if not pairs or len(pairs) % 2 or len(pairs) > 4:
        raise PropError(prop, f"{where} takes one or two (comparison, number) pairs, got {argument!r:.60}")
    bounds: list[tuple[str, float]] = []
    for comparison, number in zip(pairs[::2], pairs[1::2], strict=True):
        if comparison not in COMPARISONS or not _number(number):
            raise PropError(
                prop,
                f"{where}: {comparison!r}, {number!r} is not a comparison "
                f"({' '.join(COMPARISONS)}) and a number",
            )
        bounds.append((comparison, float(number)))
    if len(bounds) == 2:
        (low_op, low), (high_op, high) = bounds
        if low_op not in (">", ">=") or high_op not in ("<", "<="):
            raise PropError(
                prop, f"{where}: a range is a lower bound (> or >=) then an upper bound (< or <=)"
            )
        if low > high or (low == high and (low_op, high_op) != (">=", "<=")):
            raise PropError(
                prop, f"{where}: the range {low:g} to {high:g} holds no number, so it never matches"
            )


def _check_anything_but(prop: str, where: str, argument: Any) -> None:
    if argument is None or isinstance(argument, (str, bool, int, float)):
        return
    if isinstance(argument, Sequence) and not isinstance(argument, str):
        if not argument or not all(
            isinstance(v, (str, int, float)) and not isinstance(v, bool) for v in argument
        ):
            raise PropError(
                prop, f"{where} takes a non-empty list of strings or numbers, got {argument!r:.60}"
            )
        return
    if isinstance(argument, Mapping) and len(argument) == 1:
        ((inner, value),) = argument.items()
        if inner in STRING_OPERATORS and isinstance(value, (str, list)):
            return
    raise PropError(
        prop,
        f"{where} takes a value, a list of values, or one of {', '.join(STRING_OPERATORS)}; "
        f"got {argument!r:.60}",
    )
