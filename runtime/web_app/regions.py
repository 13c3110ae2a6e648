"""Reads across Regions: the app in a read Region serves reads from its local replica and sends
everything else to the home Region's app.

- Writes always go home: the read Region's app forwards (proxies) every request that is not a
  GET to the home Region's app (`HOME_URL`, a name that resolves to the home load balancer
  only) and hands its answer back. Forwarding, not a redirect: the client keeps one name and
  one origin (a 307 to another host breaks cookies and CORS for browsers), and the write mark
  below comes back on the same response. The cost is the read Region's hop (a few ms) in front
  of the trip home it would make anyway.
- Read-your-writes: the home app answers every write with a cookie holding the WAL position
  (`pg_current_wal_lsn()`, read after the commit) that contains it. A read carrying the cookie
  is served locally only when the replica has replayed past it (`pg_last_wal_replay_lsn()`);
  until then that user's reads are forwarded home, where they read the writer. Other users'
  reads are served by the replica, which may be behind.
- A replica that does not answer, lags more than `max_lag` seconds, or receives no WAL from
  its source (its WAL receiver is not streaming: it could be behind by any amount while its
  lag reads 0), sends every read home.
  The app's own health check (`/health`) never asks the replica or home: a lagging or stopped
  replica degrades reads to the home Region; it does not take this Region out of DNS.

The cookie is not signed, on purpose: a caller who forges one can only make their own reads go
to the home Region, which they could call directly anyway (its load balancer is public). A
malformed cookie is ignored (treated as no write) and logged.
"""

from __future__ import annotations

import http.client
import logging
import re
import select
import threading
from dataclasses import dataclass
from http.cookies import CookieError, SimpleCookie
from typing import Any
from urllib.parse import urlsplit

from routing import ReadRouter, Unavailable

logger = logging.getLogger(__name__)

WRITE_MARK_COOKIE = "wrote_lsn"
WRITE_MARK_MAX_AGE = 300
"""Seconds a write mark lives: far beyond `max_lag`, after which reads go home anyway."""
UNKNOWN_POSITION = "FFFFFFFF/FFFFFFFF"
"""The mark of a write whose WAL position could not be read: never replayed, so the writer's
reads go home until the mark expires (read-your-writes for a bounded time)."""
LSN = re.compile(r"^[0-9A-F]{1,8}/[0-9A-F]{1,8}$")
FORWARDED_HEADER = "X-Forwarded-By-Region"
FORWARDING_TOKEN_HEADER = "X-Forwarding-Token"
"""Carries the forwarding token (a secret both Regions hold) on every forwarded request: the
home WAF's per-IP rate rule does not count those (they all come from this Region's few NAT
addresses); this Region's WAF has rate-limited each user already. A client cannot set it: only
Content-Type, Cookie and User-Agent are passed on from the client."""
SERVED_FROM_HEADER = "X-Served-From"
USER_AGENT = "refarch-read-region/1 ({region})"
"""The User-Agent of a forwarded request whose caller sent none. Home's web ACL runs AWS's core
rule set, whose NoUserAgent_HEADER rule blocks a request without one (AWS WAF Developer Guide,
"Core rule set (CRS) managed rule group"), and http.client sends none of its own. A caller's own
User-Agent is passed on instead when present: home's WAF then judges it as the read Region's WAF
(the same rule set) already did, so a request one WAF lets through is not blocked by the other,
and home's logs name the client, not the hop (`X-Forwarded-By-Region` names the hop)."""
PASSED_ON = ("Content-Type", "Set-Cookie", "Retry-After", "Location")
"""Home's answer headers handed back to the client (a redirect's Location among them)."""

REPLICA_STATE = """
SELECT COALESCE(pg_last_wal_replay_lsn() >= %s::pg_lsn, false),
       CASE WHEN pg_last_wal_receive_lsn() IS NOT DISTINCT FROM pg_last_wal_replay_lsn() THEN 0
            ELSE COALESCE(EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()), 0)::float8
       END,
       EXISTS (SELECT FROM pg_stat_wal_receiver WHERE status = 'streaming')
"""
"""Whether the replica has replayed past a position; its lag in seconds: 0 while it has
applied all it received, otherwise the age of the last transaction it applied; and whether it
is receiving WAL. A replica cut off from its source applies all it received, so its lag reads
0 however far behind it is: only the WAL receiver streaming says it is current. Its status is
visible to roles with pg_read_all_stats (RDS's master user has it through rds_superuser);
another role sees NULL, which counts as not streaming (reads go home)."""


def write_mark(position: str | None, *, secure: bool = False) -> str:
    """The Set-Cookie value for a write at `position` (UNKNOWN_POSITION if it is unknown);
    `secure` (the request came over HTTPS) keeps browsers from sending it over plain HTTP."""
    value = position.upper() if position and LSN.match(position.upper()) else UNKNOWN_POSITION
    attributes = f"Max-Age={WRITE_MARK_MAX_AGE}; Path=/; HttpOnly; SameSite=Lax{'; Secure' if secure else ''}"
    return f"{WRITE_MARK_COOKIE}={value}; {attributes}"


def mark_of(cookie_header: str | None) -> str | None:
    """The WAL position of the caller's last write, from their Cookie header; None if none."""
    if not cookie_header:
        return None
    try:
        cookies = SimpleCookie(cookie_header)
    except CookieError:
        logger.warning("ignoring a malformed Cookie header")
        return None
    morsel = cookies.get(WRITE_MARK_COOKIE)
    if morsel is None:
        return None
    if not LSN.match(morsel.value):
        logger.warning("ignoring a malformed write mark %r", morsel.value[:40])
        return None
    return morsel.value


@dataclass(frozen=True)
class Forwarded:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


class HomeRegion:
    """The home Region's app, over HTTP(S): `forward` sends it a request and returns its answer.

    Connections are kept open between requests, in a pool every request thread shares: a new
    one costs a TCP and a TLS handshake, two more round trips to the home Region (about 300 ms
    from Tokyo to Virginia). A kept connection the home side has closed meanwhile is noticed
    before reuse (it has something to read: the close) and replaced.
    """

    def __init__(self, url: str, *, region: str, timeout: float = 5.0, forwarding_token: str | None = None):
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"HOME_URL must be an http(s) URL, got {url!r}")
        self.scheme, self.host, self.port = parts.scheme, parts.hostname, parts.port
        self.region = region
        self.timeout = timeout
        self._added = {FORWARDED_HEADER: region}
        self.user_agent = USER_AGENT.format(region=region)
        if forwarding_token:
            self._added[FORWARDING_TOKEN_HEADER] = forwarding_token
        self.connections_opened = 0
        self._idle: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()

    def forward(self, method: str, target: str, body: bytes, headers: dict[str, str]) -> Forwarded:
        """Raises Unavailable (`sent` False when nothing reached home) if home does not answer."""
        connection = self._connection()
        try:
            sent = {"User-Agent": self.user_agent, **headers, **self._added}
            connection.request(method, target, body=body or None, headers=sent)
            response = connection.getresponse()
            answer = response.read()
        except (OSError, http.client.HTTPException) as error:
            connection.close()
            raise Unavailable("the home Region", f"did not answer: {error}", sent=True) from error
        if response.will_close:
            connection.close()
        else:
            with self._lock:
                self._idle.append(connection)
        kept = [(name, value) for name, value in response.getheaders() if name.title() in PASSED_ON]
        return Forwarded(response.status, kept, answer)

    def _connection(self) -> http.client.HTTPConnection:
        while True:
            with self._lock:
                connection = self._idle.pop() if self._idle else None
            if connection is None:
                break
            if _open_and_idle(connection):
                return connection
            connection.close()
        kind = http.client.HTTPSConnection if self.scheme == "https" else http.client.HTTPConnection
        connection = kind(self.host, self.port, timeout=self.timeout)
        try:
            connection.connect()
        except OSError as error:
            raise Unavailable("the home Region", f"refused the connection: {error}", sent=False) from error
        with self._lock:
            self.connections_opened += 1
        return connection


def _open_and_idle(connection: http.client.HTTPConnection) -> bool:
    """An idle kept connection has nothing to read; if it has, the other side closed it."""
    if connection.sock is None:
        return False
    try:
        readable, _, _ = select.select([connection.sock], [], [], 0)
    except (OSError, ValueError):
        return False
    return not readable


class ReadRegion:
    """Decides, per request, whether the local replica may answer it (`serves_locally`)."""

    def __init__(self, replica: ReadRouter, home: HomeRegion, *, max_lag: float = 30.0):
        self.replica = replica
        """A router whose only endpoint is the local replica (a hot standby refuses writes)."""
        self.home = home
        self.max_lag = max_lag

    def state(self, mark: str | None = None) -> tuple[bool, float, bool]:
        """(replayed past `mark`, lag in seconds, receiving WAL); Unavailable if the replica
        does not answer."""
        rows = self.replica.read(REPLICA_STATE, (mark or "0/0",))
        replayed, lag, streaming = rows[0]
        return bool(replayed), float(lag), bool(streaming)

    def serves_locally(self, mark: str | None) -> bool:
        try:
            replayed, lag, streaming = self.state(mark)
        except Unavailable as error:
            logger.warning("reading from the home Region: %s", error)
            return False
        if not streaming:
            logger.warning("reading from the home Region: the replica receives no WAL from its source")
            return False
        if lag > self.max_lag:
            logger.warning("reading from the home Region: the replica lags %.1f s", lag)
            return False
        return replayed

    def health(self) -> dict[str, Any]:
        """For /health/deep: the replica's state; never fails."""
        try:
            _, lag, streaming = self.state()
        except Unavailable:
            return {
                "replica": False,
                "replica_lag_seconds": None,
                "replica_streaming": None,
                "reads_from": "home",
            }
        return {
            "replica": True,
            "replica_lag_seconds": round(lag, 3),
            "replica_streaming": streaming,
            "reads_from": "replica" if streaming and lag <= self.max_lag else "home",
        }


class NoCache:
    """The read Region has no cache: every lookup is a miss, every store a no-op."""

    def get(self, name: str) -> Any:
        return None

    def set(self, name: str, value: str, ex: int | None = None) -> Any:
        return None

    def delete(self, *names: str) -> Any:
        return None

    def eval(self, script: str, numkeys: int, *keys_and_args: Any) -> Any:
        return None

    def ping(self) -> Any:
        return None
