"""Application-side read routing: writes to the writer, reads round-robin over the replicas.

Why in the application: RDS Proxy fronts the writer only, and RDS has no reader endpoint for
instance replicas (Aurora has one; this pattern uses RDS PostgreSQL). Only the application
knows which reads can be stale and which must see the caller's own write.

- A read that needs read-your-writes (`consistent=True`) goes to the writer: replicas are
  asynchronous and may not have the write yet.
- Other reads go to the next replica in turn. A replica that does not answer is skipped and
  left out for `retry_after` seconds; the caller never sees its error. When no replica answers
  (or there are none), the read goes to the writer.

`check()` (the health endpoint's) asks every endpoint at once, each on a connection of its own
in a thread of its own, and waits for them under one deadline: endpoints that do not answer
in time are reported down, and a replica that hangs cannot make the health check time out.
"""

from __future__ import annotations

import concurrent.futures
import itertools
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

import psycopg

logger = logging.getLogger(__name__)

Connect = Callable[[], psycopg.Connection[Any]]
Params = Sequence[Any] | Mapping[str, Any]


@dataclass(frozen=True)
class Endpoint:
    name: str
    connect: Connect


@dataclass(frozen=True)
class _Probe:
    started: float
    answered: Future[bool]


class ReadRouter:
    """Routes queries to a writer and any number of replicas, one connection per thread each."""

    def __init__(
        self,
        writer: Endpoint,
        replicas: Sequence[Endpoint] = (),
        *,
        retry_after: float = 5.0,
        probe_abandon_after: float = 30.0,
    ):
        self.writer = writer
        self.replicas = list(replicas)
        self.retry_after = retry_after
        self.queries: Counter[str] = Counter()
        """Queries each endpoint answered, by endpoint name."""
        self._turn = itertools.count()
        self._lock = threading.Lock()
        self._down_until: dict[str, float] = {}
        self._local = threading.local()
        self._probes: dict[str, _Probe] = {}
        self.probe_abandon_after = probe_abandon_after
        """A check still unanswered after this many seconds is left to itself and a new one
        started; until then, checks share it (no thread per health check piles up on an endpoint
        that hangs)."""

    def write(self, sql: str, params: Params = ()) -> list[tuple[Any, ...]]:
        """Run a statement on the writer in its own transaction; rows it returns, if any."""
        return self._run(self.writer, sql, params)

    def read(self, sql: str, params: Params = (), *, consistent: bool = False) -> list[tuple[Any, ...]]:
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

    def check(self, timeout: float = 2.5) -> dict[str, bool]:
        """Whether each endpoint answers `SELECT 1` within `timeout` seconds, all asked at once."""
        deadline = time.monotonic() + timeout
        probes = {endpoint.name: self._probe(endpoint) for endpoint in [self.writer, *self.replicas]}
        concurrent.futures.wait(probes.values(), timeout=max(0.0, deadline - time.monotonic()))
        return {name: probe.done() and probe.result() for name, probe in probes.items()}

    def _probe(self, endpoint: Endpoint) -> Future[bool]:
        now = time.monotonic()
        with self._lock:
            probe = self._probes.get(endpoint.name)
            if probe is None or probe.answered.done() or now - probe.started > self.probe_abandon_after:
                probe = self._probes[endpoint.name] = _Probe(now, Future())
                ask = threading.Thread(target=self._ask, args=(endpoint, probe.answered), daemon=True)
                ask.start()
            return probe.answered

    @staticmethod
    def _ask(endpoint: Endpoint, answered: Future[bool]) -> None:
        try:
            with endpoint.connect() as connection:
                connection.execute("SELECT 1")
            answered.set_result(True)
        except Exception as error:  # any failure is "down"; the thread must always answer
            logger.warning("%s did not answer the health check: %s", endpoint.name, error)
            answered.set_result(False)

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

    def _run(self, endpoint: Endpoint, sql: str, params: Params) -> list[tuple[Any, ...]]:
        connection = self._connection(endpoint)
        try:
            with connection.transaction(), connection.cursor() as cursor:
                cursor.execute(sql, params)
                rows = cursor.fetchall() if cursor.description else []
        except psycopg.OperationalError:
            self._forget(endpoint)
            raise
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
