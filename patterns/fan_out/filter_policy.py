"""SNS filter policies written as SNS documents them (plain dicts), checked at synth time.

A policy SNS would reject fails `cdk synth` with the prop's name and what is wrong, instead of
failing half-way through a deployment; a valid one is turned into the CDK L2 filter objects.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aws_cdk import aws_sns as sns

OPERATORS = frozenset(
    {"prefix", "suffix", "anything-but", "numeric", "exists", "equals-ignore-case", "cidr", "wildcard"}
)
NUMERIC_COMPARATORS = frozenset({"<", "<=", "=", ">", ">="})
MAX_COMBINATIONS = 150  # SNS: the product of the value counts across keys
MAX_KEYS = 5  # SNS: attribute names (or payload paths) in one policy


class FilterPolicyError(ValueError):
    pass


def _fail(prop: str, path: str, problem: str) -> FilterPolicyError:
    where = f" at {path}" if path else ""
    return FilterPolicyError(f"{prop}: not a valid SNS filter policy{where}: {problem}")


def _check_condition(prop: str, path: str, condition: Any) -> None:
    if condition is None or isinstance(condition, (str, bool, int, float)):
        return
    if not isinstance(condition, Mapping) or len(condition) != 1:
        raise _fail(prop, path, f"a condition is a value or a one-key operator object, got {condition!r}")
    ((operator, operand),) = condition.items()
    if operator not in OPERATORS:
        raise _fail(prop, path, f"unknown operator {operator!r}; SNS knows {sorted(OPERATORS)}")
    if operator == "numeric":
        _check_numeric(prop, path, operand)
    elif operator == "exists" and not isinstance(operand, bool):
        raise _fail(prop, path, "'exists' takes true or false")
    elif operator in {"prefix", "suffix", "equals-ignore-case", "cidr", "wildcard"} and not isinstance(
        operand, str
    ):
        raise _fail(prop, path, f"{operator!r} takes a string")


def _check_numeric(prop: str, path: str, operand: Any) -> None:
    if not isinstance(operand, list) or len(operand) not in (2, 4):
        raise _fail(prop, path, "'numeric' takes [op, number] or [op, number, op, number]")
    for comparator, number in zip(operand[::2], operand[1::2], strict=False):
        if comparator not in NUMERIC_COMPARATORS:
            raise _fail(prop, path, f"unknown numeric comparator {comparator!r}")
        if isinstance(number, bool) or not isinstance(number, (int, float)):
            raise _fail(prop, path, f"numeric comparator {comparator!r} needs a number")


def _count(prop: str, path: str, node: Any, *, nested: bool) -> tuple[int, int]:
    """Checks one policy level; returns (leaf keys, value combinations)."""
    if not isinstance(node, Mapping) or not node:
        raise _fail(prop, path, "a policy is a non-empty object of key: [values]")
    keys, combinations = 0, 1
    for key, value in node.items():
        here = f"{path}.{key}" if path else str(key)
        if not isinstance(key, str) or not key:
            raise _fail(prop, here, "keys are non-empty strings")
        if key == "$or":
            raise _fail(prop, here, "'$or' is not supported here; use one subscription per branch")
        elif isinstance(value, Mapping):
            if not nested:
                raise _fail(prop, here, "message-attribute policies are flat; nest only in body policies")
            k, c = _count(prop, here, value, nested=True)
            keys, combinations = keys + k, combinations * c
        elif isinstance(value, list) and value:
            for condition in value:
                _check_condition(prop, here, condition)
            keys, combinations = keys + 1, combinations * len(value)
        else:
            raise _fail(prop, here, f"values are a non-empty list, got {value!r}")
    return keys, combinations


def validate(prop: str, policy: Mapping[str, Any], *, body: bool) -> None:
    keys, combinations = _count(prop, "", policy, nested=body)
    if keys > MAX_KEYS:
        raise _fail(prop, "", f"{keys} keys; SNS allows at most {MAX_KEYS}")
    if combinations > MAX_COMBINATIONS:
        raise _fail(prop, "", f"{combinations} value combinations; SNS allows at most {MAX_COMBINATIONS}")


def attribute_filters(prop: str, policy: Mapping[str, Any]) -> dict[str, sns.SubscriptionFilter]:
    validate(prop, policy, body=False)
    return {key: sns.SubscriptionFilter(conditions=list(values)) for key, values in policy.items()}


def _body_node(node: Mapping[str, Any]) -> dict[str, sns.FilterOrPolicy]:
    converted: dict[str, sns.FilterOrPolicy] = {}
    for key, value in node.items():
        if isinstance(value, Mapping):
            converted[key] = sns.FilterOrPolicy.policy(_body_node(value))
        else:
            converted[key] = sns.FilterOrPolicy.filter(sns.SubscriptionFilter(conditions=list(value)))
    return converted


def body_filters(prop: str, policy: Mapping[str, Any]) -> dict[str, sns.FilterOrPolicy]:
    validate(prop, policy, body=True)
    return _body_node(policy)
