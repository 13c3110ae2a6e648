"""Application-side read routing: writes to the writer, reads round-robin over the replicas.

Why in the application: RDS Proxy fronts the writer only, and RDS has no reader endpoint for
instance replicas (Aurora has one; this pattern uses RDS PostgreSQL). Only the application
knows which reads can be stale and which must see the caller's own write.

- A read that needs read-your-writes (`consistent=True`) goes to the writer: replicas are
  asynchronous and may not have the write yet.
- Other reads go to the next replica in turn. A replica that does not answer is skipped and
  left out for `retry_after` seconds; the caller never sees its error. When no replica answers
  (or there are none), the read goes to the writer.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg

logger = logging.getLogger(__name__)

Connect = Callable[[], psycopg.Connection[Any]]


@dataclass(frozen=True)
class Endpoint:
    name: str
    connect: Connect


class ReadRouter:
    """Routes queries to a writer and any number of replicas, one connection per thread each."""

    def __init__(self, writer: Endpoint, replicas: Sequence[Endpoint] = (), *, retry_after: float = 5.0):
        self.writer = writer
        self.replicas = list(replicas)
        self.retry_after = retry_after
        self.queries: Counter[str] = Counter()
        """Queries each endpoint answered, by endpoint name."""
        self._turn = itertools.count()
        self._lock = threading.Lock()
        self._down_until: dict[str, float] = {}
        self._local = threading.local()

    def write(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run a statement on the writer in its own transaction; rows it returns, if any."""
        return self._run(self.writer, sql, params)

    def read(
        self, sql: str, params: Sequence[Any] = (), *, consistent: bool = False
    ) -> list[tuple[Any, ...]]:
        if consistent:
            return self._run(self.writer, sql, params)
        for replica in self._replica_order():
            try:
                return self._run(replica, sql, params)
            except psycopg.OperationalError as error:
                logger.warning("replica %s did not answer, skipping it: %s", replica.name, error)
                with self._lock:
                    self._down_until[replica.name] = time.monotonic() + self.retry_after
        return self._run(self.writer, sql, params)

    def check(self) -> dict[str, bool]:
        """Whether each endpoint answers `SELECT 1` now (for the health endpoint)."""
        status = {}
        for endpoint in [self.writer, *self.replicas]:
            try:
                self._run(endpoint, "SELECT 1", (), count=False)
                status[endpoint.name] = True
            except psycopg.OperationalError:
                status[endpoint.name] = False
        return status

    def close(self) -> None:
        for connection in getattr(self._local, "connections", {}).values():
            connection.close()
        self._local.connections = {}

    def _replica_order(self) -> list[Endpoint]:
        if not self.replicas:
            return []
        with self._lock:
            start = next(self._turn) % len(self.replicas)
            now = time.monotonic()
            rotated = self.replicas[start:] + self.replicas[:start]
            return [r for r in rotated if self._down_until.get(r.name, 0.0) <= now]

    def _run(
        self, endpoint: Endpoint, sql: str, params: Sequence[Any], *, count: bool = True
    ) -> list[tuple[Any, ...]]:
        connection = self._connection(endpoint)
        try:
            with connection.transaction(), connection.cursor() as cursor:
                cursor.execute(sql, params)
                rows = cursor.fetchall() if cursor.description else []
        except psycopg.OperationalError:
            self._forget(endpoint)
            raise
        if count:
            with self._lock:
                self.queries[endpoint.name] += 1
        return rows

    def _connection(self, endpoint: Endpoint) -> psycopg.Connection[Any]:
        connections: dict[str, psycopg.Connection[Any]] = self._local.__dict__.setdefault("connections", {})
        connection = connections.get(endpoint.name)
        if connection is None or connection.closed:
            connection = endpoint.connect()
            connection.autocommit = True  # transactions are explicit, one per statement
            connections[endpoint.name] = connection
        return connection

    def _forget(self, endpoint: Endpoint) -> None:
        connection = self._local.__dict__.get("connections", {}).pop(endpoint.name, None)
        if connection is not None:
            connection.close()
