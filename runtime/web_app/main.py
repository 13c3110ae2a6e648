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
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from typing import Any

import psycopg
import valkey
from cache_auth import IamAuthToken
from catalog import Catalog
from routing import Endpoint, ReadRouter
from server import serve
from valkey.credentials import CredentialProvider, UsernamePasswordCredentialProvider
from valkey.exceptions import ConnectionError as CacheConnectionError


def secret(arn: str) -> str:
    import boto3  # only on instances: tests pass credentials in the environment

    client = boto3.client("secretsmanager", region_name=os.environ.get("AWS_REGION"))
    return str(client.get_secret_value(SecretId=arn)["SecretString"])


def database_credentials(env: dict[str, str]) -> tuple[str, str]:
    if arn := env.get("DB_SECRET_ARN"):
        # Read on every new connection: rotation changes the password under a running service.
        document = json.loads(secret(arn))
        return document["username"], document["password"]
    return env["DB_USER"], env.get("DB_PASSWORD", "")


def connector(env: dict[str, str], host: str, port: str) -> Any:
    def connect() -> psycopg.Connection[Any]:
        user, password = database_credentials(env)
        return psycopg.connect(
            host=host,
            port=int(port),
            dbname=env["DB_NAME"],
            user=user,
            password=password,
            sslmode=env.get("DB_SSLMODE", "verify-full"),
            sslrootcert=env.get("DB_SSLROOTCERT") or None,
            connect_timeout=int(env.get("DB_CONNECT_TIMEOUT", "2")),
            application_name="web_app",
        )

    return connect


def cache_credentials(env: dict[str, str]) -> CredentialProvider:
    mode = env.get("CACHE_AUTH")
    if mode == "iam":
        return IamAuthToken(
            user_id=env["CACHE_USER"],
            replication_group_id=env["CACHE_REPLICATION_GROUP_ID"],
            region=env["AWS_REGION"],
        )
    if mode == "password":
        return UsernamePasswordCredentialProvider(env.get("CACHE_USER") or None, env["CACHE_PASSWORD"])
    raise ValueError(f"CACHE_AUTH: must be 'iam' or 'password', got {mode!r}")


def build(env: dict[str, str]) -> Catalog:
    replicas = [host for host in env.get("DB_READER_HOSTS", "").split(",") if host]
    reader_port = env["DB_READER_PORT"] if replicas else ""
    router = ReadRouter(
        Endpoint("writer", connector(env, env["DB_WRITER_HOST"], env["DB_WRITER_PORT"])),
        [
            Endpoint(f"replica{i}", connector(env, host, reader_port))
            for i, host in enumerate(replicas, start=1)
        ],
        statement_deadline=float(env.get("DB_STATEMENT_DEADLINE", "3")),
    )
    cache = valkey.Valkey(
        host=env["CACHE_HOST"],
        port=int(env["CACHE_PORT"]),
        credential_provider=cache_credentials(env),
        ssl=env.get("CACHE_TLS") == "1",
        socket_timeout=0.5,
        socket_connect_timeout=0.5,
        # A connection ElastiCache closed (IAM connections end after 12 h) is opened again,
        # authenticated with a fresh token, once, before the command counts as a miss.
        retry_on_error=[CacheConnectionError],
    )
    return Catalog(router, cache, ttl=int(env.get("CACHE_TTL", "300")))


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


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    env = dict(os.environ)
    catalog = build(env)
    threading.Thread(target=create_schema_when_the_writer_answers, args=(catalog,), daemon=True).start()
    server = serve(catalog, int(env.get("APP_PORT", "8080")))
    logging.getLogger(__name__).info("serving on port %s", server.server_address[1])
    server.serve_forever()


if __name__ == "__main__":
    main()
