"""The consumer's environment, read once at cold start into typed settings.

A missing variable fails the cold start (the import of order_event.py) with SettingsError naming
it and what it should be, rather than a bare KeyError. Powertools reads its own POWERTOOLS_*
variables itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


class SettingsError(RuntimeError):
    """An environment variable the function needs is missing or malformed."""


@dataclass(frozen=True)
class Settings:
    consumer_name: str
    ledger_table: str
    idempotency_table: str

    @classmethod
    def from_environ(cls, env: Mapping[str, str]) -> Settings:
        return cls(
            consumer_name=required(
                env, "CONSUMER_NAME", "the consumer's name, which prefixes its ledger keys"
            ),
            ledger_table=required(env, "LEDGER_TABLE", "the ledger table name"),
            idempotency_table=required(env, "IDEMPOTENCY_TABLE", "the idempotency table name"),
        )


def required(env: Mapping[str, str], name: str, meaning: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise SettingsError(f"{name}: missing; set it to {meaning}")
    return value
