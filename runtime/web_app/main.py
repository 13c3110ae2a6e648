"""Entry point of the systemd service: settings from the environment, then serve forever.

Environment (written by the instance's user data): APP_PORT, DB_WRITER_HOST (the RDS Proxy),
DB_READER_HOSTS (comma-separated replica endpoints, may be empty), DB_PORT, DB_NAME,
DB_SECRET_ARN (or DB_USER/DB_PASSWORD), DB_SSLMODE, DB_SSLROOTCERT, CACHE_HOST, CACHE_PORT,
CACHE_TLS, CACHE_SECRET_ARN (or CACHE_PASSWORD), AWS_REGION.
"""

from __future__ import annotations

import json
import logging
import os
from typing import Any

import psycopg
import valkey
from catalog import Catalog
from routing import Endpoint, ReadRouter
from server import serve


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


def connector(env: dict[str, str], host: str) -> Any:
    def connect() -> psycopg.Connection[Any]:
        user, password = database_credentials(env)
        return psycopg.connect(
            host=host,
            port=int(env["DB_PORT"]),
            dbname=env["DB_NAME"],
            user=user,
            password=password,
            sslmode=env.get("DB_SSLMODE", "verify-full"),
            sslrootcert=env.get("DB_SSLROOTCERT") or None,
            connect_timeout=int(env.get("DB_CONNECT_TIMEOUT", "2")),
            application_name="web_app",
        )

    return connect


def build(env: dict[str, str]) -> Catalog:
    replicas = [host for host in env.get("DB_READER_HOSTS", "").split(",") if host]
    router = ReadRouter(
        Endpoint("writer", connector(env, env["DB_WRITER_HOST"])),
        [Endpoint(f"replica{i}", connector(env, host)) for i, host in enumerate(replicas, start=1)],
    )
    password = secret(env["CACHE_SECRET_ARN"]) if env.get("CACHE_SECRET_ARN") else env.get("CACHE_PASSWORD")
    cache = valkey.Valkey(
        host=env["CACHE_HOST"],
        port=int(env["CACHE_PORT"]),
        password=password,
        ssl=env.get("CACHE_TLS") == "1",
        socket_timeout=0.5,
        socket_connect_timeout=0.5,
    )
    return Catalog(router, cache, ttl=int(env.get("CACHE_TTL", "300")))


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    env = dict(os.environ)
    catalog = build(env)
    catalog.create_schema()
    server = serve(catalog, int(env.get("APP_PORT", "8080")))
    logging.getLogger(__name__).info("serving on port %s", server.server_address[1])
    server.serve_forever()


if __name__ == "__main__":
    main()
