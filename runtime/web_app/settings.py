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
class DatabaseLogin:
    """A fixed database user (DB_USER, DB_PASSWORD), for servers outside RDS."""

    user: str
    password: str


@dataclass(frozen=True)
class CacheIamAuth:
    """ElastiCache IAM authentication: no password anywhere."""

    user_id: str
    replication_group_id: str
    region: str


@dataclass(frozen=True)
class CachePasswordAuth:
    """A cache user and password, for servers outside ElastiCache."""

    user: str | None
    password: str


@dataclass(frozen=True)
class Settings:
    db_writer_host: str
    db_writer_port: int
    db_name: str
    db_credentials: str | DatabaseLogin
    """The ARN of the secret holding the credentials (DB_SECRET_ARN), or a fixed login."""
    cache_host: str
    cache_port: int
    cache_auth: CacheIamAuth | CachePasswordAuth
    db_reader_hosts: tuple[str, ...] = ()
    db_reader_port: int = 0
    """Set when there are reader hosts."""
    db_sslmode: str = "verify-full"
    db_sslrootcert: str | None = None
    db_connect_timeout: int = 2
    db_statement_deadline: float = 3.0
    cache_tls: bool = False
    cache_ttl: int = 300
    app_port: int = 8080
    region: str | None = None
    home_url: str | None = None
    """Set in a read Region (HOME_URL): the home Region's app, which takes every write."""
    max_replica_lag: float = 30.0
    """Seconds of replica lag past which a read Region sends every read home."""
    forwarding_token_secret: str | None = None
    """A read Region's FORWARDING_TOKEN_SECRET: the secret whose value it sends home on what it
    forwards, so the home WAF does not rate-limit all its users as one address."""

    @classmethod
    def from_environ(cls, env: Mapping[str, str]) -> Settings:
        if optional(env, "HOME_URL"):
            return cls.for_read_region(env)
        readers = tuple(host.strip() for host in env.get("DB_READER_HOSTS", "").split(",") if host.strip())
        return cls(
            db_writer_host=required(env, "DB_WRITER_HOST", "the writer's host (the RDS Proxy endpoint)"),
            db_writer_port=port(env, "DB_WRITER_PORT", default=None),
            db_name=required(env, "DB_NAME", "the database name"),
            db_credentials=optional(env, "DB_SECRET_ARN")
            or DatabaseLogin(
                user=required(env, "DB_USER", "the database user, or set DB_SECRET_ARN"),
                password=env.get("DB_PASSWORD", ""),
            ),
            cache_host=required(env, "CACHE_HOST", "the cache's host"),
            cache_port=port(env, "CACHE_PORT", default=None),
            cache_auth=cache_auth(env),
            db_reader_hosts=readers,
            db_reader_port=port(env, "DB_READER_PORT", default=None) if readers else 0,
            db_sslmode=one_of(env, "DB_SSLMODE", SSL_MODES, default=cls.db_sslmode),
            db_sslrootcert=optional(env, "DB_SSLROOTCERT"),
            db_connect_timeout=whole_number(env, "DB_CONNECT_TIMEOUT", cls.db_connect_timeout, "seconds"),
            db_statement_deadline=seconds(env, "DB_STATEMENT_DEADLINE", cls.db_statement_deadline),
            cache_tls=flag(env, "CACHE_TLS"),
            cache_ttl=whole_number(env, "CACHE_TTL", cls.cache_ttl, "seconds"),
            app_port=port(env, "APP_PORT", default=cls.app_port),
            region=optional(env, "AWS_REGION"),
        )

    @classmethod
    def for_read_region(cls, env: Mapping[str, str]) -> Settings:
        """A read Region's app: its local replica (DB_READER_HOSTS, one host) and HOME_URL; no
        writer and no cache here (the writer fields name the replica, the cache's are empty)."""
        readers = [
            host.strip() for host in required(env, "DB_READER_HOSTS", "the local replica's host").split(",")
        ]
        if len(readers) != 1 or not readers[0]:
            raise SettingsError("DB_READER_HOSTS: a read Region's app reads one local replica, name one host")
        home_url = required(env, "HOME_URL", "the home Region's URL")
        if not home_url.startswith(("http://", "https://")):
            raise SettingsError(f"HOME_URL: {home_url!r} is not an http:// or https:// URL")
        reader_port = port(env, "DB_READER_PORT", default=None)
        return cls(
            db_writer_host=readers[0],
            db_writer_port=reader_port,
            db_name=required(env, "DB_NAME", "the database name"),
            db_credentials=optional(env, "DB_SECRET_ARN")
            or DatabaseLogin(
                user=required(env, "DB_USER", "the database user, or set DB_SECRET_ARN"),
                password=env.get("DB_PASSWORD", ""),
            ),
            cache_host="",
            cache_port=0,
            cache_auth=CachePasswordAuth(user=None, password=""),
            db_reader_hosts=tuple(readers),
            db_reader_port=reader_port,
            db_sslmode=one_of(env, "DB_SSLMODE", SSL_MODES, default=cls.db_sslmode),
            db_sslrootcert=optional(env, "DB_SSLROOTCERT"),
            db_connect_timeout=whole_number(env, "DB_CONNECT_TIMEOUT", cls.db_connect_timeout, "seconds"),
            db_statement_deadline=seconds(env, "DB_STATEMENT_DEADLINE", cls.db_statement_deadline),
            app_port=port(env, "APP_PORT", default=cls.app_port),
            region=required(env, "AWS_REGION", "the instance's region (named in forwarded requests)"),
            home_url=home_url,
            max_replica_lag=seconds(env, "MAX_REPLICA_LAG", cls.max_replica_lag),
            forwarding_token_secret=optional(env, "FORWARDING_TOKEN_SECRET"),
        )


def cache_auth(env: Mapping[str, str]) -> CacheIamAuth | CachePasswordAuth:
    if one_of(env, "CACHE_AUTH", CACHE_AUTH_MODES, default=None) == "iam":
        return CacheIamAuth(
            user_id=required(env, "CACHE_USER", "the cache user IAM authenticates"),
            replication_group_id=required(
                env, "CACHE_REPLICATION_GROUP_ID", "the cache's replication group id (IAM tokens name it)"
            ),
            region=required(env, "AWS_REGION", "the instance's region (IAM tokens are signed for it)"),
        )
    return CachePasswordAuth(
        user=optional(env, "CACHE_USER"),
        password=required(env, "CACHE_PASSWORD", "the cache user's password"),
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
