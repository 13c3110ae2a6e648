"""What the payment and shipment functions read from the order the state machine passes them.

The state machine invokes them with {"order": {...}}. The class name of an exception a function
raises is the error name the state machine sees: `PaymentDeclined` declines the order,
`ProviderUnavailable` is retried, anything else fails the step and starts compensation.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any


class MalformedOrder(ValueError):
    """The order lacks what this step needs; retrying cannot help."""


class ProviderUnavailable(RuntimeError):
    """A transient failure of the provider behind the step; the state machine retries it."""


def order_of(event: dict[str, Any]) -> dict[str, Any]:
    order = event.get("order") if isinstance(event, dict) else None
    if not isinstance(order, dict):
        raise MalformedOrder("the event must be {'order': {...}}")
    text(order, "orderId")
    return order


def text(order: dict[str, Any], name: str) -> str:
    value = order.get(name)
    if not isinstance(value, str) or not value.strip():
        raise MalformedOrder(f"order.{name} must be a non-empty string")
    return value


def amount(order: dict[str, Any]) -> Decimal:
    total = order.get("total")
    if isinstance(total, bool) or not isinstance(total, (int, float)) or total <= 0:
        raise MalformedOrder("order.total must be a positive number")
    return Decimal(str(total))
