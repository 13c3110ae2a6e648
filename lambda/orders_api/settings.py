"""The function's environment, read once at cold start into typed settings.

A missing or malformed variable fails the cold start (the import of app.py) with SettingsError
naming the variable and what it should be, rather than a KeyError, or a 500 on the first request.
Powertools reads its own POWERTOOLS_* variables itself.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

ORIGIN = re.compile(r"https?://[^/\s,]+")


class SettingsError(RuntimeError):
    """An environment variable the function needs is missing or malformed."""


@dataclass(frozen=True)
class Settings:
    table_name: str
    owner_index: str = "byOwner"
    cors_allowed_origins: tuple[str, ...] = ()
    max_body_bytes: int = 8192
    trace_aws_calls: bool = False

    @classmethod
    def from_environ(cls, env: Mapping[str, str]) -> Settings:
        origins = tuple(origin.strip() for origin in env.get("CORS_ALLOWED_ORIGINS", "").split(",") if origin)
        for origin in origins:
            if not ORIGIN.fullmatch(origin):
                raise SettingsError(
                    f"CORS_ALLOWED_ORIGINS: {origin!r} is not an origin "
                    "(https://host[:port], comma-separated)"
                )
        return cls(
            table_name=required(env, "TABLE_NAME", "the orders table name"),
            owner_index=env.get("OWNER_INDEX", "").strip() or cls.owner_index,
            cors_allowed_origins=origins,
            max_body_bytes=whole_number(env, "MAX_BODY_BYTES", cls.max_body_bytes, "bytes"),
            trace_aws_calls=flag(env, "TRACE_AWS_CALLS"),
        )


def required(env: Mapping[str, str], name: str, meaning: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise SettingsError(f"{name}: missing; set it to {meaning}")
    return value


def whole_number(env: Mapping[str, str], name: str, default: int, unit: str) -> int:
    """A positive integer, `default` when the variable is unset or empty."""
    text = env.get(name, "").strip()
    if not text:
        return default
    if not (text.isascii() and text.isdigit()) or int(text) < 1:
        raise SettingsError(f"{name}: {text!r} is not a whole number of {unit} (1 or more)")
    return int(text)


def flag(env: Mapping[str, str], name: str) -> bool:
    """ "true" or "false" (any case), false when the variable is unset or empty."""
    text = env.get(name, "").strip().lower()
    if text not in {"", "true", "false"}:
        raise SettingsError(f"{name}: {env[name]!r} is neither true nor false")
    return text == "true"
