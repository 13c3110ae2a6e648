"""The service's environment (the env file the instance's user data writes), read once at start
into typed settings.

A missing or malformed variable stops the service at start with SettingsError naming the
variable and what it should be, before it listens: systemd's log says what to fix, instead of a
KeyError, or a request failing later.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

SSL_MODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")  # libpq's
CACHE_AUTH_MODES = ("iam", "password")


class SettingsError(RuntimeError):
    """An environment variable the service needs is missing or malformed."""


@dataclass(frozen=True)
class Settings:
    db_writer_host: str
    db_writer_port: int
    db_name: str
    cache_host: str
    cache_port: int
    cache_auth: str
    """`iam` (ElastiCache IAM authentication: cache_replication_group_id and region) or
    `password` (cache_password, for servers outside ElastiCache)."""
    db_reader_hosts: tuple[str, ...] = ()
    db_reader_port: int | None = None
    """Set exactly when there are reader hosts."""
    db_secret_arn: str | None = None
    """Where the database credentials are; without it, db_user and db_password."""
    db_user: str | None = None
    db_password: str = ""
    db_sslmode: str = "verify-full"
    db_sslrootcert: str | None = None
    db_connect_timeout: int = 2
    db_statement_deadline: float = 3.0
    cache_user: str | None = None
    cache_password: str | None = None
    cache_replication_group_id: str | None = None
    cache_tls: bool = False
    cache_ttl: int = 300
    app_port: int = 8080
    region: str | None = None

    @classmethod
    def from_environ(cls, env: Mapping[str, str]) -> Settings:
        readers = tuple(host.strip() for host in env.get("DB_READER_HOSTS", "").split(",") if host.strip())
        secret_arn = optional(env, "DB_SECRET_ARN")
        cache_auth = one_of(env, "CACHE_AUTH", CACHE_AUTH_MODES, default=None)
        iam = cache_auth == "iam"
        return cls(
            db_writer_host=required(env, "DB_WRITER_HOST", "the writer's host (the RDS Proxy endpoint)"),
            db_writer_port=port(env, "DB_WRITER_PORT", default=None),
            db_name=required(env, "DB_NAME", "the database name"),
            cache_host=required(env, "CACHE_HOST", "the cache's host"),
            cache_port=port(env, "CACHE_PORT", default=None),
            cache_auth=cache_auth,
            db_reader_hosts=readers,
            db_reader_port=port(env, "DB_READER_PORT", default=None) if readers else None,
            db_secret_arn=secret_arn,
            db_user=None
            if secret_arn
            else required(env, "DB_USER", "the database user, or set DB_SECRET_ARN"),
            db_password=env.get("DB_PASSWORD", ""),
            db_sslmode=one_of(env, "DB_SSLMODE", SSL_MODES, default=cls.db_sslmode),
            db_sslrootcert=optional(env, "DB_SSLROOTCERT"),
            db_connect_timeout=whole_number(env, "DB_CONNECT_TIMEOUT", cls.db_connect_timeout, "seconds"),
            db_statement_deadline=seconds(env, "DB_STATEMENT_DEADLINE", cls.db_statement_deadline),
            cache_user=required(env, "CACHE_USER", "the cache user IAM authenticates")
            if iam
            else optional(env, "CACHE_USER"),
            cache_password=None if iam else required(env, "CACHE_PASSWORD", "the cache user's password"),
            cache_replication_group_id=required(
                env, "CACHE_REPLICATION_GROUP_ID", "the cache's replication group id (IAM tokens name it)"
            )
            if iam
            else None,
            cache_tls=flag(env, "CACHE_TLS"),
            cache_ttl=whole_number(env, "CACHE_TTL", cls.cache_ttl, "seconds"),
            app_port=port(env, "APP_PORT", default=cls.app_port),
            region=required(env, "AWS_REGION", "the instance's region (IAM tokens are signed for it)")
            if iam
            else optional(env, "AWS_REGION"),
        )


def required(env: Mapping[str, str], name: str, meaning: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise SettingsError(f"{name}: missing; set it to {meaning}")
    return value


def optional(env: Mapping[str, str], name: str) -> str | None:
    return env.get(name, "").strip() or None


def one_of(env: Mapping[str, str], name: str, allowed: tuple[str, ...], default: str | None) -> str:
    value = env.get(name, "").strip() or default
    if value is None or value not in allowed:
        choices = " or ".join(repr(choice) for choice in allowed)
        raise SettingsError(
            f"{name}: must be {choices}, got {value!r}" if value else f"{name}: missing; set it to {choices}"
        )
    return value


def whole_number(env: Mapping[str, str], name: str, default: int, unit: str) -> int:
    text = env.get(name, "").strip()
    if not text:
        return default
    if not (text.isascii() and text.isdigit()) or int(text) < 1:
        raise SettingsError(f"{name}: {text!r} is not a whole number of {unit} (1 or more)")
    return int(text)


def seconds(env: Mapping[str, str], name: str, default: float) -> float:
    text = env.get(name, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value < float("inf"):
        raise SettingsError(f"{name}: {text!r} is not a positive number of seconds")
    return value


def port(env: Mapping[str, str], name: str, default: int | None) -> int:
    text = env.get(name, "").strip()
    if not text and default is not None:
        return default
    if not text:
        raise SettingsError(f"{name}: missing; set it to a TCP port (1-65535)")
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= 65535:
        raise SettingsError(f"{name}: {text!r} is not a TCP port (1-65535)")
    return int(text)


def flag(env: Mapping[str, str], name: str) -> bool:
    text = env.get(name, "").strip()
    if text not in ("", "0", "1"):
        raise SettingsError(f"{name}: {text!r} is not 1 (on) or 0 (off)")
    return text == "1"
