"""What a rule is, what it reports, and the settings a user passes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from .model import Model, Resource

# Field names that must not reach logs or dead-letter queues. Whole path segments, compared
# without case, `_` or `-`: `taskToken` or `nextToken` do not match `token`-like names.
DEFAULT_SENSITIVE_FIELDS = (
    "paymentToken",
    "cardNumber",
    "pan",
    "cvv",
    "cvc",
    "password",
    "passwd",
    "secret",
    "clientSecret",
    "apiKey",
    "accessToken",
    "refreshToken",
    "idToken",
    "ssn",
)


@dataclass(frozen=True)
class Settings:
    production: bool = False
    sensitive_fields: tuple[str, ...] = DEFAULT_SENSITIVE_FIELDS


@dataclass(frozen=True)
class Violation:
    rule: str
    resource: Resource
    description: str
    fix: str
    location: str = "Properties"

    def __str__(self) -> str:
        return f"{self.rule} at {self.resource.path}: {self.description} Fix: {self.fix}"


Check = Callable[[Model, Settings], Iterator[Violation]]


@dataclass(frozen=True)
class Rule:
    id: str
    doc: str
    source: str
    check: Check
    production_only: bool = False
    """Documentation: the check itself reports nothing outside production."""


RULES: list[Rule] = []


def rule(rule_id: str, *, doc: str, source: str, production_only: bool = False) -> Callable[[Check], Check]:
    """Register a check under a rule id, with the fact it encodes and where that fact is written."""

    def register(check: Check) -> Check:
        RULES.append(Rule(rule_id, doc, source, check, production_only))
        return check

    return register


def run(model: Model, settings: Settings) -> list[Violation]:
    found: list[Violation] = []
    for registered in RULES:
        found.extend(registered.check(model, settings))
    return found
