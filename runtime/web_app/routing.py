"""Application-side read routing: writes to the writer, reads round-robin over the replicas.

Why in the application: RDS Proxy fronts the writer only, and RDS has no reader endpoint for
instance replicas (Aurora has one; this pattern uses RDS PostgreSQL). Only the application
knows which reads can be stale and which must see the caller's own write.

- A read that needs read-your-writes (`consistent=True`) goes to the writer: replicas are
  asynchronous and may not have the write yet.
- Other reads go to the next replica in turn. A replica that does not answer is skipped and
  left out for `retry_after` seconds; the caller never sees its error. When no replica answers
  (or there are none), the read goes to the writer.
- An endpoint that does not answer raises `Unavailable`, and the writer too is left out for
  `retry_after` seconds: while it is down (a Multi-AZ failover takes 60-120 s) writes fail at
  once instead of each waiting for a timeout, and the first one after that tries again, so
  the app recovers by itself.

Every statement has a client-side deadline (`statement_deadline`): a server that accepts the
connection and then never answers (a hung host, a stopped process) would otherwise hold the
request's thread forever, since the kernel still acknowledges TCP for it and libpq has no
timeout of its own for a query. A watchdog shuts the socket of a statement past its deadline,
which ends the wait with an error. A connection kept from before an outage is checked before
reuse (a server that went away has left its goodbye, or end-of-file, on the socket).

`check()` (the deep health check's) asks every endpoint at once, each on a connection of its
own in a thread of its own, and waits for them under one deadline: endpoints that do not
answer in time are reported down, and a replica that hangs cannot make the check time out.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import itertools
import logging
import os
import select
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
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


class Unavailable(Exception):
    """An endpoint did not answer. `sent` says whether the statement may have reached it (then
    a write may or may not have been applied); if not, nothing was run."""

    def __init__(self, endpoint: str, reason: str, *, sent: bool):
        super().__init__(f"{endpoint} {reason}")
        self.endpoint = endpoint
        self.sent = sent


@dataclass(frozen=True)
class _Probe:
    started: float
    answered: Future[bool]


class Watchdog:
    """Shuts the socket of any connection busy past its deadline, from one thread for all."""

    def __init__(self, tick: float = 0.05):
        self._tick = tick
        self._busy: dict[int, tuple[float, psycopg.Connection[Any]]] = {}
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    @contextlib.contextmanager
    def deadline(self, connection: psycopg.Connection[Any], seconds: float) -> Iterator[None]:
        with self._lock:
            self._busy[id(connection)] = (time.monotonic() + seconds, connection)
            if self._thread is None:
                self._thread = threading.Thread(target=self._watch, name="sql-watchdog", daemon=True)
                self._thread.start()
        try:
            yield
        finally:
            with self._lock:
                self._busy.pop(id(connection), None)

    def _watch(self) -> None:
        while True:
            time.sleep(self._tick)
            now = time.monotonic()
            with self._lock:  # held while aborting: the statement cannot finish and reuse it meanwhile
                for key, (due, connection) in list(self._busy.items()):
                    if due <= now:
                        del self._busy[key]
                        _abort(connection)


def _abort(connection: psycopg.Connection[Any]) -> None:
    # shutdown() acts on the socket itself, so a duplicate descriptor reaches it safely.
    with (
        contextlib.suppress(OSError, psycopg.Error),
        socket.socket(fileno=os.dup(connection.fileno())) as sock,
    ):
        sock.shutdown(socket.SHUT_RDWR)


def _idle_and_alive(connection: psycopg.Connection[Any]) -> bool:
    """An idle connection has nothing to read; if it has, the server said goodbye or vanished."""
    if connection.closed or connection.broken:
        return False
    try:
        readable, _, _ = select.select([connection.fileno()], [], [], 0)
    except (OSError, ValueError, psycopg.Error):
        return False
    return not readable


WATCHDOG = Watchdog()


class ReadRouter:
    """Routes queries to a writer and any number of replicas, one connection per thread each."""

    def __init__(
        self,
        writer: Endpoint,
        replicas: Sequence[Endpoint] = (),
        *,
        retry_after: float = 5.0,
        statement_deadline: float = 3.0,
        probe_abandon_after: float = 30.0,
    ):
        self.writer = writer
        self.replicas = list(replicas)
        self.retry_after = retry_after
        self.statement_deadline = statement_deadline
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
        try:
            return self.read_replica(sql, params)
        except Unavailable:
            return self._run(self.writer, sql, params)

    def read_replica(self, sql: str, params: Params = ()) -> list[tuple[Any, ...]]:
        """A read from the first replica that answers; `Unavailable` when none does."""
        for replica in self._replica_order():
            try:
                return self._run(replica, sql, params)
            except Unavailable as error:
                logger.warning("skipping a replica: %s", error)
        raise Unavailable("every replica", "did not answer", sent=False)

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

    def _ask(self, endpoint: Endpoint, answered: Future[bool]) -> None:
        try:
            with endpoint.connect() as connection, WATCHDOG.deadline(connection, self.statement_deadline):
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
            return [r for r in rotated if not self._down(r, now)]

    def _down(self, endpoint: Endpoint, now: float) -> bool:
        return self._down_until.get(endpoint.name, 0.0) > now

    def _mark_down(self, endpoint: Endpoint) -> None:
        with self._lock:
            self._down_until[endpoint.name] = time.monotonic() + self.retry_after

    def _run(self, endpoint: Endpoint, sql: str, params: Params) -> list[tuple[Any, ...]]:
        if self._down(endpoint, time.monotonic()):
            raise Unavailable(endpoint.name, f"did not answer in the last {self.retry_after:g} s", sent=False)
        try:
            connection = self._connection(endpoint)
        except psycopg.OperationalError as error:
            self._mark_down(endpoint)
            raise Unavailable(
                endpoint.name, f"refused or timed out the connection: {error}", sent=False
            ) from error
        try:
            with (
                WATCHDOG.deadline(connection, self.statement_deadline),
                connection.transaction(),
                connection.cursor() as cursor,
            ):
                cursor.execute(sql, params)
                rows = cursor.fetchall() if cursor.description else []
        except psycopg.OperationalError as error:
            if not (connection.closed or connection.broken):
                raise  # the server answered with an error (a deadlock, say): not an outage
            self._forget(endpoint)
            self._mark_down(endpoint)
            reason = f"stopped answering within {self.statement_deadline:g} s: {error}"
            raise Unavailable(endpoint.name, reason, sent=True) from error
        with self._lock:
            self.queries[endpoint.name] += 1
        return rows

    def _connection(self, endpoint: Endpoint) -> psycopg.Connection[Any]:
        connections: dict[str, psycopg.Connection[Any]] = self._local.__dict__.setdefault("connections", {})
        connection = connections.get(endpoint.name)
        if connection is not None and not _idle_and_alive(connection):
            connection.close()  # left over from before an outage: a new one, not an error
            connection = None
        if connection is None:
            connection = endpoint.connect()
            connection.autocommit = True  # transactions are explicit, one per statement
            connections[endpoint.name] = connection
        return connection

    def _forget(self, endpoint: Endpoint) -> None:
        connection = self._local.__dict__.get("connections", {}).pop(endpoint.name, None)
        if connection is not None:
            connection.close()
