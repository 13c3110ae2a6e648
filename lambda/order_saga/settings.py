"""Each function's environment, read once at cold start into typed settings.

A missing or malformed variable fails the cold start (the import of payment.py or shipment.py)
with SettingsError naming the variable and what it should be, rather than a KeyError in the
middle of an order. Powertools reads its own POWERTOOLS_* variables itself.

The charge and the refund functions share payment.py, and only the charge has the payment-token
vault: Lambda's reserved `_HANDLER` variable (the handler the function runs, `payment.charge`;
AWS Lambda Developer Guide, "Defined runtime environment variables") says whether
PAYMENT_TOKENS_TABLE is required.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

COUNTRY_CODE = re.compile(r"[A-Z]{2}")
CHARGE_HANDLER = "payment.charge"


class SettingsError(RuntimeError):
    """An environment variable the function needs is missing or malformed."""


@dataclass(frozen=True)
class PaymentSettings:
    payments_table: str
    payment_tokens_table: str | None
    """The vault the charge reads tokens from; None in the refund function, which has none."""

    @classmethod
    def from_environ(cls, env: Mapping[str, str]) -> PaymentSettings:
        vault = env.get("PAYMENT_TOKENS_TABLE", "").strip() or None
        if env.get("_HANDLER") == CHARGE_HANDLER:
            vault = required(env, "PAYMENT_TOKENS_TABLE", "the payment-token vault's table name")
        return cls(
            payments_table=required(env, "PAYMENTS_TABLE", "the payments table name"),
            payment_tokens_table=vault,
        )

    def vault(self) -> str:
        if self.payment_tokens_table is None:
            raise SettingsError(
                "PAYMENT_TOKENS_TABLE: missing; set it to the payment-token vault's table name"
            )
        return self.payment_tokens_table


@dataclass(frozen=True)
class ShipmentSettings:
    shipments_table: str
    shipping_countries: frozenset[str]

    @classmethod
    def from_environ(cls, env: Mapping[str, str]) -> ShipmentSettings:
        listed = required(env, "SHIPPING_COUNTRIES", "the carrier's countries, e.g. IE,FR")
        countries = frozenset(code.strip().upper() for code in listed.split(",") if code.strip())
        for code in sorted(countries):
            if not COUNTRY_CODE.fullmatch(code):
                raise SettingsError(f"SHIPPING_COUNTRIES: {code!r} is not a two-letter country code")
        return cls(
            shipments_table=required(env, "SHIPMENTS_TABLE", "the shipments table name"),
            shipping_countries=countries,
        )


def required(env: Mapping[str, str], name: str, meaning: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise SettingsError(f"{name}: missing; set it to {meaning}")
    return value
