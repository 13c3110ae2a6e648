"""Entry point of the systemd service: settings from the environment, then serve forever.

Environment (written by the instance's user data):
- APP_PORT, AWS_REGION;
- DB_WRITER_HOST and DB_WRITER_PORT: the RDS Proxy, which listens on PostgreSQL's default
  port 5432 whatever port the database uses; DB_READER_HOSTS (comma-separated replica
  endpoints, may be empty) and DB_READER_PORT: the replicas, reached directly on the
  database's own port; DB_NAME, DB_SECRET_ARN (or DB_USER/DB_PASSWORD), DB_SSLMODE,
  DB_SSLROOTCERT, DB_CONNECT_TIMEOUT, DB_STATEMENT_DEADLINE;
- CACHE_HOST, CACHE_PORT, CACHE_TLS, CACHE_USER, and CACHE_AUTH: `iam` (ElastiCache IAM
  authentication, with CACHE_REPLICATION_GROUP_ID: no password anywhere) or `password`
  (CACHE_PASSWORD, for servers outside ElastiCache).
In a read Region (HOME_URL set, see regions.py): DB_READER_HOSTS names the local replica (one
host), HOME_URL the home Region's app, MAX_REPLICA_LAG the lag in seconds past which reads go
home, FORWARDING_TOKEN_SECRET the secret sent home on forwarded requests (the home WAF does not
rate-limit them); no writer and no cache variables.
They are read once, at start, into settings.Settings, which names a missing or malformed one.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Mapping
from http.server import ThreadingHTTPServer
from typing import Any

import psycopg
import valkey
from cache_auth import IamAuthToken
from catalog import Catalog
from heartbeat import HEARTBEAT_EVERY, Heartbeat
from regions import HomeRegion, NoCache, ReadRegion
from routing import Endpoint, ReadRouter
from server import serve
from settings import CacheIamAuth, DatabaseLogin, Settings
from valkey.credentials import CredentialProvider, UsernamePasswordCredentialProvider
from valkey.exceptions import ConnectionError as CacheConnectionError


def secret(arn: str, region: str | None) -> str:
    import boto3  # only on instances: tests pass credentials in the environment

    client = boto3.client("secretsmanager", region_name=region)
    return str(client.get_secret_value(SecretId=arn)["SecretString"])


def database_credentials(settings: Settings) -> tuple[str, str]:
    login = settings.db_credentials
    if isinstance(login, DatabaseLogin):
        return login.user, login.password
    # Read on every new connection: rotation changes the password under a running service.
    document = json.loads(secret(login, settings.region))
    return document["username"], document["password"]


def connector(settings: Settings, host: str, port: int) -> Any:
    def connect() -> psycopg.Connection[Any]:
        user, password = database_credentials(settings)
        return psycopg.connect(
            host=host,
            port=port,
            dbname=settings.db_name,
            user=user,
            password=password,
            sslmode=settings.db_sslmode,
            sslrootcert=settings.db_sslrootcert,
            connect_timeout=settings.db_connect_timeout,
            application_name="web_app",
            # No server-side prepared statements: RDS Proxy pins a session that has them to one
            # database connection for good ("Avoiding pinning an RDS Proxy"), and a fleet of
            # pinned sessions is no pool at all. psycopg prepares a query after 5 runs otherwise.
            prepare_threshold=None,
        )

    return connect


def cache_credentials(settings: Settings) -> CredentialProvider:
    auth = settings.cache_auth
    if isinstance(auth, CacheIamAuth):
        return IamAuthToken(
            user_id=auth.user_id, replication_group_id=auth.replication_group_id, region=auth.region
        )
    return UsernamePasswordCredentialProvider(auth.user, auth.password)


def build(env: Mapping[str, str]) -> Catalog:
    """The catalog as the environment configures it; SettingsError names a missing or malformed
    variable."""
    return catalog_for(Settings.from_environ(env))


def catalog_for(settings: Settings) -> Catalog:
    router = ReadRouter(
        Endpoint("writer", connector(settings, settings.db_writer_host, settings.db_writer_port)),
        [
            Endpoint(f"replica{i}", connector(settings, host, settings.db_reader_port))
            for i, host in enumerate(settings.db_reader_hosts, start=1)
        ],
        statement_deadline=settings.db_statement_deadline,
    )
    cache = valkey.Valkey(
        host=settings.cache_host,
        port=settings.cache_port,
        credential_provider=cache_credentials(settings),
        ssl=settings.cache_tls,
        socket_timeout=0.5,
        socket_connect_timeout=0.5,
        # A connection ElastiCache closed (IAM connections end after 12 h) is opened again,
        # authenticated with a fresh token, once, before the command counts as a miss.
        retry_on_error=[CacheConnectionError],
    )
    return Catalog(router, cache, ttl=settings.cache_ttl)


def read_region_for(settings: Settings) -> tuple[Catalog, ReadRegion]:
    """A read Region's catalog (its only endpoint the local replica, no cache) and routing."""
    router = ReadRouter(
        Endpoint("replica", connector(settings, settings.db_writer_host, settings.db_writer_port)),
        statement_deadline=settings.db_statement_deadline,
    )
    assert settings.home_url is not None and settings.region is not None
    token = (
        secret(settings.forwarding_token_secret, settings.region)
        if settings.forwarding_token_secret
        else None
    )
    home = HomeRegion(settings.home_url, region=settings.region, forwarding_token=token)
    return Catalog(router, NoCache()), ReadRegion(router, home, max_lag=settings.max_replica_lag)


def create_schema_when_the_writer_answers(catalog: Catalog, every: float = 5.0) -> None:
    """In the background: an instance that boots while the writer fails over still serves reads
    (and its /health), instead of exiting and being replaced for an outage it cannot fix."""
    while True:
        try:
            catalog.create_schema()
            return
        except Exception as error:
            logging.getLogger(__name__).warning("schema not created yet, retrying: %s", error)
            time.sleep(every)


def heartbeat_for(settings: Settings, every: float = HEARTBEAT_EVERY) -> Heartbeat:
    """The home writer's heartbeat, on a router (and connection) of its own."""
    writer = Endpoint("writer", connector(settings, settings.db_writer_host, settings.db_writer_port))
    return Heartbeat(ReadRouter(writer, statement_deadline=settings.db_statement_deadline), every)


def upkeep(catalog: Catalog, heartbeat: Heartbeat) -> None:
    """The home writer's background work: the schema (which holds the heartbeat's row), then beats."""
    create_schema_when_the_writer_answers(catalog)
    heartbeat.run()


def start(
    settings: Settings, *, host: str = "0.0.0.0", heartbeat_every: float = HEARTBEAT_EVERY
) -> tuple[ThreadingHTTPServer, Heartbeat | None]:
    """The server, listening (not yet serving), and the home writer's heartbeat, started (None
    in a read Region: its database is a replica, the home Region beats for it)."""
    if settings.home_url:  # a read Region: the schema is the home writer's, replicated here
        catalog, read_region = read_region_for(settings)
        return serve(catalog, settings.app_port, host, read_region=read_region), None
    catalog = catalog_for(settings)
    heartbeat = heartbeat_for(settings, heartbeat_every)
    threading.Thread(target=upkeep, args=(catalog, heartbeat), daemon=True).start()
    return serve(catalog, settings.app_port, host), heartbeat


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    settings = Settings.from_environ(os.environ)  # a bad setting stops the service here, named
    server, _ = start(settings)
    logging.getLogger(__name__).info("serving on port %s", server.server_address[1])
    server.serve_forever()


if __name__ == "__main__":
    main()
