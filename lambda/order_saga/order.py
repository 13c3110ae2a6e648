"""What the payment and shipment functions read from the order the state machine passes them.

The state machine invokes them with {"order": {...}}. The class name of an exception a function
raises is the error name the state machine sees: `PaymentDeclined` declines the order,
`ProviderUnavailable` is retried, anything else fails the step and starts compensation.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from decimal import Decimal
from typing import Any, TypeVar

from botocore.exceptions import ClientError


class MalformedOrder(ValueError):
    """The order lacks what this step needs; retrying cannot help."""


class ProviderUnavailable(RuntimeError):
    """A transient failure of the provider behind the step; the state machine retries it."""


# DynamoDB errors that say "not now" rather than "no": throttling, a busy or failing service,
# and a transaction cancelled because another one (e.g. a concurrent order of the same customer,
# whose `customer#<id>` item both update) held an item. A failed condition is not among them: it is
# an answer about the order, which the handlers turn into their business outcome.
TRANSIENT_ERROR_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "InternalServerError",
        "ServiceUnavailable",
        "TransactionConflictException",
    }
)
TRANSIENT_CANCELLATION_CODES = frozenset(
    {"TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded"}
)

Handler = TypeVar("Handler", bound=Callable[..., Any])


def is_transient(error: ClientError) -> bool:
    """Whether a DynamoDB error is temporary, so that the same call may succeed later."""
    code = error.response.get("Error", {}).get("Code", "")
    if code in TRANSIENT_ERROR_CODES:
        return True
    if code != "TransactionCanceledException":
        return False
    reasons = [reason.get("Code", "None") for reason in error.response.get("CancellationReasons", [])]
    # A cancellation with a failed condition is the business outcome, whatever else happened.
    return "ConditionalCheckFailed" not in reasons and any(r in TRANSIENT_CANCELLATION_CODES for r in reasons)


def retried_when_transient(handler: Handler) -> Handler:
    """Raise ProviderUnavailable (which the state machine retries) for a transient DynamoDB error
    escaping `handler`; every other error passes unchanged."""

    @functools.wraps(handler)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        try:
            return handler(*args, **kwargs)
        except ClientError as error:
            if not is_transient(error):
                raise
            raise ProviderUnavailable(f"DynamoDB is temporarily unavailable: {error}") from error

    return wrapped  # type: ignore[return-value]


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
