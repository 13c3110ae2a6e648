"""The read Region's app against real servers: a PostgreSQL primary (the home Region's writer,
behind a relay standing for RDS Proxy) and a streaming replica of it (the read Region's
cross-Region replica), the home app in front of the primary and the read Region's app in front
of the replica, all on loopback (tests/local_servers.py). Lag is made with
`pg_wal_replay_pause()`; "down" is the replica's process stopped."""

from __future__ import annotations

import contextlib
import http.client
import json
import re
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from typing import Any

import psycopg
import psycopg.sql
import pytest

from stacks.multi_tier_stack import WEB_APP_CACHE_ACCESS
from tests.local_servers import Cluster, closed_port, cluster, load_web_app

pytestmark = pytest.mark.servers
app = load_web_app()
regions = app["regions"]
POLL_FOR = 10.0
"""Seconds a bounded poll waits for the replica before the test fails."""


@dataclass
class Browser:
    """One user: keeps the cookies the apps set, as a browser does."""

    port: int
    cookies: dict[str, str] = field(default_factory=dict)

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any, dict[str, str]]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        headers = {"Content-Type": "application/json"} if body is not None else {}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{name}={value}" for name, value in self.cookies.items())
        connection.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
        response = connection.getresponse()
        data = response.read()
        for name, value in response.getheaders():
            if name.lower() == "set-cookie":
                self.cookies.update({key: morsel.value for key, morsel in SimpleCookie(value).items()})
        connection.close()
        return response.status, json.loads(data) if data else None, dict(response.getheaders())


@dataclass
class World:
    servers: Cluster
    home_port: int
    read_port: int

    @property
    def replica(self) -> Any:
        return self.servers.standbys[0]

    def user(self, port: int | None = None) -> Browser:
        return Browser(port or self.read_port)


def serve_in_background(server: Any) -> None:
    threading.Thread(target=server.serve_forever, daemon=True).start()


def read_app(servers: Cluster, home_url: str, *, max_lag: float = 30.0) -> tuple[Any, Any]:
    """The read Region's app as main.read_region_for builds it: the replica its only endpoint."""
    routing = app["routing"]
    replica = servers.standbys[0]
    router = routing.ReadRouter(
        routing.Endpoint("replica", lambda: psycopg.connect(replica.dsn)),
        retry_after=0.3,
        statement_deadline=1.0,
    )
    region = regions.ReadRegion(
        router, regions.HomeRegion(home_url, region="ap-northeast-1"), max_lag=max_lag
    )
    # Port 0: the server binds a port the system picks, read back from server_address.
    server = app["server"].serve(app["catalog"].Catalog(router, regions.NoCache()), 0, "127.0.0.1",
                                 read_region=region)  # fmt: skip
    serve_in_background(server)
    return server, region


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    with cluster(standbys=1, cache_access=WEB_APP_CACHE_ACCESS) as servers:
        routing = app["routing"]
        writer = routing.ReadRouter(routing.Endpoint("writer", lambda: psycopg.connect(servers.proxy_dsn)))
        cache = servers.cache_admin(socket_timeout=1)
        catalog = app["catalog"].Catalog(writer, cache, ttl=60, fresh_window=2)
        catalog.create_schema()
        home = app["server"].serve(catalog, 0, "127.0.0.1")
        serve_in_background(home)
        reader, _ = read_app(servers, f"http://127.0.0.1:{home.server_address[1]}")
        try:
            yield World(servers, home.server_address[1], reader.server_address[1])
        finally:
            for server in (reader, home):
                server.shutdown()
                server.server_close()


@contextlib.contextmanager
def replay_paused(world: World) -> Iterator[None]:
    with psycopg.connect(world.replica.dsn, autocommit=True) as connection:
        connection.execute("SELECT pg_wal_replay_pause()")
    try:
        yield
    finally:
        with psycopg.connect(world.replica.dsn, autocommit=True) as connection:
            connection.execute("SELECT pg_wal_replay_resume()")


def product(name: str, stock: int = 5) -> dict[str, Any]:
    return {"name": name, "price": "9.50", "stock": stock}


def test_a_user_reads_their_own_write_while_the_replica_has_not_replayed_it(world: World) -> None:
    alice, bob = world.user(), world.user()
    assert alice.call("PUT", "/products/lamp", product("lamp v1"))[0] == 200
    world.servers.wait_for_replay()
    with replay_paused(world):
        status, body, headers = alice.call("PUT", "/products/lamp", product("lamp v2"))
        assert (status, body["name"], headers["X-Served-From"]) == (200, "lamp v2", "home")
        # Alice's read goes home (her mark is past what the replica replayed) and sees her write.
        status, body, headers = alice.call("GET", "/products/lamp")
        assert (status, body["name"], headers["X-Served-From"]) == (200, "lamp v2", "home")
        # Bob wrote nothing: the replica serves him its older view.
        status, body, headers = bob.call("GET", "/products/lamp")
        assert (status, body["name"], headers["X-Served-From"]) == (200, "lamp v1", "replica")
    world.servers.wait_for_replay()
    # Once the replica has replayed past her write, Alice reads locally again, and sees it.
    status, body, headers = alice.call("GET", "/products/lamp")
    assert (status, body["name"], headers["X-Served-From"]) == (200, "lamp v2", "replica")


def test_the_write_mark_is_taken_after_the_commit_so_a_replica_past_it_has_the_write(world: World) -> None:
    """The mark must cover the commit record: a position read inside the transaction would be
    before it, and a replica at that position would not show the write yet."""
    alice = world.user(world.home_port)  # Alice happens to be routed to the home Region
    with replay_paused(world):
        for n in range(5):
            assert alice.call("PUT", f"/products/mark{n}", product(f"mark {n}"))[0] == 200
        mark = alice.cookies[regions.WRITE_MARK_COOKIE]
        assert regions.LSN.match(mark)
    deadline = time.monotonic() + POLL_FOR
    with psycopg.connect(world.replica.dsn, autocommit=True) as replica:
        while not replica.execute("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", (mark,)).fetchone()[0]:  # type: ignore[index]
            assert time.monotonic() < deadline, "the replica never replayed past the mark"
            time.sleep(0.01)
        names = replica.execute("SELECT name FROM products WHERE id = 'mark4'").fetchall()
    assert names == [("mark 4",)]


def test_writes_are_forwarded_home_and_never_reach_the_replica(world: World) -> None:
    user = world.user()
    status, body, headers = user.call("PUT", "/products/desk", product("desk", stock=3))
    assert (status, headers["X-Served-From"]) == (200, "home")
    status, order, headers = user.call("POST", "/orders", {"product_id": "desk", "quantity": 2})
    assert (status, order["total"], headers["X-Served-From"]) == (201, "19.00", "home")
    with psycopg.connect(world.servers.primary.dsn) as primary:
        assert primary.execute("SELECT stock FROM products WHERE id = 'desk'").fetchone() == (1,)
    # Bad input is judged at home, and its answer passed back unchanged.
    status, body, _ = user.call("POST", "/orders", {"product_id": "desk", "quantity": 0})
    assert status == 400 and "quantity" in body["error"]


def test_a_replica_lagging_past_the_bound_sends_every_read_home(world: World) -> None:
    world.user().call("PUT", "/products/chair", product("chair v1"))
    world.servers.wait_for_replay()
    strict, region = read_app(world.servers, f"http://127.0.0.1:{world.home_port}", max_lag=0.2)
    try:
        with replay_paused(world):
            world.user(world.home_port).call("PUT", "/products/chair", product("chair v2"))
            deadline = time.monotonic() + POLL_FOR
            while region.state()[1] <= 0.2:  # the lag the app measures grows while replay is paused
                assert time.monotonic() < deadline, "the measured lag never passed the bound"
                time.sleep(0.02)
            status, body, headers = world.user(strict.server_address[1]).call("GET", "/products/chair")
            assert (status, body["name"], headers["X-Served-From"]) == (200, "chair v2", "home")
    finally:
        strict.shutdown()
        strict.server_close()


def test_a_forged_or_malformed_mark_is_ignored(world: World) -> None:
    world.user().call("PUT", "/products/rug", product("rug"))
    world.servers.wait_for_replay()
    for forged in ("not-an-lsn", "0/0; injected", "'); DROP TABLE products; --"):
        user = world.user()
        user.cookies[regions.WRITE_MARK_COOKIE] = forged
        status, body, headers = user.call("GET", "/products/rug")
        assert (status, body["name"], headers["X-Served-From"]) == (200, "rug", "replica")


def test_a_request_forwarded_to_a_read_region_is_refused_not_looped(world: World) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", world.read_port, timeout=5)
    connection.request("GET", "/products/rug", headers={regions.FORWARDED_HEADER: "ap-northeast-1"})
    assert connection.getresponse().status == 508


def test_home_unreachable_fails_a_write_saying_nothing_was_written(world: World) -> None:
    with closed_port() as home_port:
        orphan, _ = read_app(world.servers, f"http://127.0.0.1:{home_port}")
        try:
            user = world.user(orphan.server_address[1])
            status, body, headers = user.call("PUT", "/products/x", product("x"))
            assert (status, body["applied"], headers["Retry-After"]) == (503, False, "5")
        finally:
            orphan.shutdown()
            orphan.server_close()


def test_a_stopped_replica_degrades_reads_to_home_and_the_health_check_stays_200(world: World) -> None:
    user = world.user()
    user.call("PUT", "/products/vase", product("vase"))
    world.replica.stop()
    try:
        status, body, headers = world.user().call("GET", "/products/vase")
        assert (status, body["name"], headers["X-Served-From"]) == (200, "vase", "home")
        assert world.user().call("GET", "/health")[0] == 200
        status, body, _ = world.user().call("GET", "/health/deep")
        assert (status, body["replica"], body["reads_from"]) == (503, False, "home")
    finally:
        world.replica.start()


def test_forwarding_keeps_its_connection_to_home_across_requests(world: World) -> None:
    """A new connection to home costs a TCP and a TLS handshake (two round trips, ~300 ms from
    Tokyo to Virginia); forwarded requests share kept connections, and one that was closed
    is replaced, not reported as an error."""
    reader, region = read_app(world.servers, f"http://127.0.0.1:{world.home_port}")
    try:
        user = world.user(reader.server_address[1])
        statuses = [user.call("PUT", f"/products/kept{n}", product("kept"))[0] for n in range(4)]
        assert statuses == [200] * 4
        assert region.home.connections_opened == 1
        # The home side closes every connection (as a restarted server or a load balancer's idle
        # timeout does): the next request opens a new one and succeeds.
        (kept,) = region.home._idle
        kept.sock.shutdown(socket.SHUT_RDWR)
        assert user.call("PUT", "/products/kept9", product("kept"))[0] == 200
        assert region.home.connections_opened == 2
    finally:
        reader.shutdown()
        reader.server_close()


@contextlib.contextmanager
def recording_home(
    status: int = 200, answer_headers: tuple[tuple[str, str], ...] = ()
) -> Iterator[tuple[str, list[dict[str, str]]]]:
    """A stand-in for home that records the headers of what reaches it and answers `status`."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    seen: list[dict[str, str]] = []

    class Record(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _answer(self) -> None:
            seen.append(dict(self.headers.items()))
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(status)
            for name, value in answer_headers:
                self.send_header(name, value)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        do_GET = do_PUT = do_POST = _answer

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Record)
    serve_in_background(server)
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()


def test_forwarded_requests_carry_the_forwarding_token_and_a_client_cannot_supply_it(world: World) -> None:
    """The home WAF leaves requests with the token out of its per-IP rate rule (test_global_reads_waf.py)."""
    with recording_home() as (url, seen):
        home = regions.HomeRegion(url, region="ap-northeast-1", forwarding_token="t0ken")
        home.forward("PUT", "/products/a", b"{}", {"Content-Type": "application/json"})
        assert seen[-1][regions.FORWARDING_TOKEN_HEADER] == "t0ken"
        # Through the read app: a client's own token header is not passed on.
        reader, region = read_app(world.servers, url)
        region.home = regions.HomeRegion(url, region="ap-northeast-1", forwarding_token="t0ken")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", reader.server_address[1], timeout=5)
            forged = {regions.FORWARDING_TOKEN_HEADER: "forged", "Content-Type": "application/json"}
            connection.request("PUT", "/products/a", body=b"{}", headers=forged)
            assert connection.getresponse().status == 200
            assert seen[-1][regions.FORWARDING_TOKEN_HEADER] == "t0ken"
        finally:
            reader.shutdown()
            reader.server_close()


STREAMING = "SELECT EXISTS (SELECT FROM pg_stat_wal_receiver WHERE status = 'streaming')"


@contextlib.contextmanager
def upstream_cut(world: World) -> Iterator[None]:
    """The replica stays up but receives no WAL: its primary_conninfo points at a closed port
    (reloaded, so the WAL receiver restarts and cannot reconnect), as when the link to home
    breaks. Restored afterwards, and waited for until the receiver streams again."""
    with closed_port() as dead:
        with psycopg.connect(world.replica.dsn, autocommit=True) as replica:
            original = psycopg.sql.Literal(replica.execute("SHOW primary_conninfo").fetchone()[0])  # type: ignore[index]
            conninfo = f"host=127.0.0.1 port={dead} connect_timeout=1"
            replica.execute(f"ALTER SYSTEM SET primary_conninfo = '{conninfo}'")
            replica.execute("SELECT pg_reload_conf()")
            deadline = time.monotonic() + POLL_FOR
            while replica.execute(STREAMING).fetchone()[0]:  # type: ignore[index]
                assert time.monotonic() < deadline, "the WAL receiver kept streaming"
                time.sleep(0.05)
        try:
            yield
        finally:
            with psycopg.connect(world.replica.dsn, autocommit=True) as replica:
                replica.execute(psycopg.sql.SQL("ALTER SYSTEM SET primary_conninfo = {}").format(original))
                replica.execute("SELECT pg_reload_conf()")
    world.servers.wait_for_replay(timeout=POLL_FOR * 3)


def test_a_replica_cut_off_from_its_source_sends_reads_home_though_its_lag_reads_0(world: World) -> None:
    """The reviewer's reproduction: with the upstream gone, the replica has applied all it
    received, so receive == replay and the measured lag is 0 while writes pile up at home."""
    writer = world.user(world.home_port)
    writer.call("PUT", "/products/clock", product("clock v1"))
    world.servers.wait_for_replay()
    with upstream_cut(world):
        assert writer.call("PUT", "/products/clock", product("clock v2"))[0] == 200
        with psycopg.connect(world.replica.dsn) as replica:  # the replica really is behind
            assert replica.execute("SELECT name FROM products WHERE id = 'clock'").fetchone() == ("clock v1",)
        status, body, headers = world.user().call("GET", "/products/clock")  # a user with no mark
        assert (status, body["name"], headers["X-Served-From"]) == (200, "clock v2", "home")
        status, health, _ = world.user().call("GET", "/health/deep")
        assert (status, health["replica_streaming"], health["reads_from"]) == (200, False, "home")
    status, body, headers = world.user().call("GET", "/products/clock")
    assert (status, body["name"], headers["X-Served-From"]) == (200, "clock v2", "replica")


def test_a_redirect_from_home_reaches_the_client_with_its_location(world: World) -> None:
    """Home answers 301 with a Location (e.g. HTTP to HTTPS); without it the client cannot follow."""
    where = "https://home.shop.example.test/products/a"
    with recording_home(301, (("Location", where),)) as (url, _):
        reader, _ = read_app(world.servers, url)
        try:
            status, _, headers = world.user(reader.server_address[1]).call("PUT", "/products/a", product("a"))
            assert (status, headers.get("Location")) == (301, where)
        finally:
            reader.shutdown()
            reader.server_close()


def raw_exchange(port: int, request: bytes) -> bytes:
    """Sends `request` as is and reads until the server closes (bounded by the timeout)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as connection:
        connection.sendall(request)
        received = b""
        with contextlib.suppress(TimeoutError):
            while chunk := connection.recv(65536):
                received += chunk
    return received


@pytest.mark.parametrize("over_https", [True, False])
def test_the_write_mark_is_secure_when_the_caller_came_over_https(world: World, over_https: bool) -> None:
    """The ALB tells the app the caller's scheme in X-Forwarded-Proto (ELB User Guide, "HTTP
    headers and Application Load Balancers"); a Secure cookie is never sent over plain HTTP."""
    connection = http.client.HTTPConnection("127.0.0.1", world.home_port, timeout=5)
    headers = {"Content-Type": "application/json", "X-Forwarded-Proto": "https" if over_https else "http"}
    connection.request("PUT", "/products/safe", body=json.dumps(product("safe")), headers=headers)
    response = connection.getresponse()
    response.read()
    (cookie,) = [value for name, value in response.getheaders() if name.lower() == "set-cookie"]
    assert bool(SimpleCookie(cookie)[regions.WRITE_MARK_COOKIE]["secure"]) is over_https


def test_a_non_ascii_path_is_answered_400_not_dropped(world: World) -> None:
    for method in (b"GET", b"PUT"):  # a PUT is forwarded home, where the path must be encoded
        answer = raw_exchange(
            world.read_port,
            method + b" /products/caf\xc3\xa9 HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}",
        )
        assert answer.startswith(b"HTTP/1.1 400 "), answer[:80]


def test_a_chunked_body_is_refused_and_the_connection_closed(world: World) -> None:
    """A chunked body the app does not read would stay on the kept connection and be taken for
    the next request (request smuggling): refused with 411, one answer, then the close."""
    body = b'{"name": "x", "price": "1.00", "stock": 1}'
    chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
    for port in (world.read_port, world.home_port):
        answer = raw_exchange(
            port,
            b"PUT /products/chunk HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n" + chunked,
        )
        assert answer.startswith(b"HTTP/1.1 411 "), answer[:80]
        assert answer.count(b"HTTP/1.1 ") == 1, answer


@contextlib.contextmanager
def raw_home() -> Iterator[tuple[str, list[bytes]]]:
    """A stand-in for home on a bare socket: records the bytes of each request's head as they
    arrive (no HTTP library in between to add or fix headers) and answers 200 `{}`."""
    seen: list[bytes] = []
    listener = socket.create_server(("127.0.0.1", 0))

    def answer(connection: socket.socket) -> None:
        with connection:
            buffered = b""
            while True:
                while b"\r\n\r\n" not in buffered:
                    if not (chunk := connection.recv(65536)):
                        return
                    buffered += chunk
                head, buffered = buffered.split(b"\r\n\r\n", 1)
                seen.append(head)
                length = re.search(rb"(?im)^content-length:\s*(\d+)", head)
                body_length = int(length[1]) if length else 0
                while len(buffered) < body_length:
                    buffered += connection.recv(65536)
                buffered = buffered[body_length:]
                connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")

    def accept() -> None:
        with contextlib.suppress(OSError):
            while True:
                threading.Thread(target=answer, args=(listener.accept()[0],), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}", seen
    finally:
        listener.close()


def header_values(head: bytes, name: bytes) -> list[bytes]:
    """A header's values in a request head, matched by name case-insensitively as WAF does."""
    return [line.split(b":", 1)[1].strip() for line in head.split(b"\r\n")[1:]
            if line.split(b":", 1)[0].strip().lower() == name.lower()]  # fmt: skip


def test_a_forwarded_request_carries_a_user_agent_so_homes_waf_lets_it_in(world: World) -> None:
    """Home's web ACL runs AWSManagedRulesCommonRuleSet, whose NoUserAgent_HEADER rule "inspects
    for requests that are missing the HTTP User-Agent header" and blocks them (AWS WAF Developer
    Guide, "Core rule set (CRS) managed rule group"). http.client sends none of its own; a
    caller's User-Agent is passed on (the read Region's WAF, the same rule set, let it in), and a
    caller without one (only possible past that WAF, e.g. on the load balancer directly) gets
    the read Region's own."""
    with raw_home() as (url, seen):
        reader, _ = read_app(world.servers, url)
        try:
            port = reader.server_address[1]
            for method, caller_agent in (("PUT", None), ("PUT", "Mozilla/5.0 (X11)"), ("GET", None)):
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                connection.putrequest(method, "/products/ua?consistent=1", skip_accept_encoding=True)
                if caller_agent:
                    connection.putheader("User-Agent", caller_agent)
                connection.putheader("Content-Length", "2")
                connection.endheaders(b"{}")
                assert connection.getresponse().status == 200
                connection.close()
                expected = (caller_agent or "refarch-read-region/1 (ap-northeast-1)").encode()
                assert header_values(seen[-1], b"User-Agent") == [expected], seen[-1]
        finally:
            reader.shutdown()
            reader.server_close()


def test_a_consistent_read_in_the_read_region_is_served_by_home_not_the_lagging_replica(world: World) -> None:
    """A lost forwarded write's 503 says to read it back with ?consistent=1 before retrying: a
    read-back from a replica that has not replayed the write would say "not there", and the
    retry would place the order twice."""
    writer = world.user(world.home_port)
    writer.call("PUT", "/products/kettle", product("kettle v1"))
    world.servers.wait_for_replay()
    with replay_paused(world):
        assert writer.call("PUT", "/products/kettle", product("kettle v2"))[0] == 200
        status, order, _ = writer.call("POST", "/orders", {"product_id": "kettle", "quantity": 1})
        assert status == 201
        reader = world.user()  # no write mark: only the flag says "the writer's view"
        status, body, headers = reader.call("GET", "/products/kettle?consistent=1")
        assert (status, body["name"], headers["X-Served-From"]) == (200, "kettle v2", "home")
        status, body, headers = reader.call("GET", f"/orders/{order['id']}?consistent=true")
        assert (status, body["id"], headers["X-Served-From"]) == (200, order["id"], "home")
        # Without the flag the replica still serves its older view.
        status, body, headers = reader.call("GET", "/products/kettle")
        assert (status, body["name"], headers["X-Served-From"]) == (200, "kettle v1", "replica")


def forwarded_mark(port: int, scheme: str) -> SimpleCookie:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    headers = {"Content-Type": "application/json", "X-Forwarded-Proto": scheme}
    connection.request("PUT", "/products/hop", body=json.dumps(product("hop")), headers=headers)
    response = connection.getresponse()
    response.read()
    assert response.status == 200
    (cookie,) = [value for name, value in response.getheaders() if name.lower() == "set-cookie"]
    return SimpleCookie(cookie)


@pytest.mark.parametrize("scheme", ["https", "http"])
def test_a_forwarded_writes_mark_is_secure_by_the_browsers_scheme_not_the_hop_home(
    world: World, scheme: str
) -> None:
    """X-Forwarded-Proto is the scheme of the hop the load balancer received (ELB User Guide,
    "HTTP headers and Application Load Balancers"): home behind a read Region sees the read
    Region's hop (HTTPS in the stacks, plain HTTP here), so the read Region marks the cookie by
    its own caller's scheme: a browser on HTTPS gets a Secure mark, one on HTTP a mark it keeps."""
    cookie = forwarded_mark(world.read_port, scheme)
    assert bool(cookie[regions.WRITE_MARK_COOKIE]["secure"]) is (scheme == "https")
    assert regions.LSN.match(cookie[regions.WRITE_MARK_COOKIE].value)
    # Home's Secure mark (it saw an HTTPS hop) comes back without it to a browser on plain HTTP.
    with recording_home(200, (("Set-Cookie", "wrote_lsn=0/1; Max-Age=300; Path=/; Secure"),)) as (url, _):
        reader, _ = read_app(world.servers, url)
        try:
            cookie = forwarded_mark(reader.server_address[1], scheme)
            assert bool(cookie[regions.WRITE_MARK_COOKIE]["secure"]) is (scheme == "https")
            assert cookie[regions.WRITE_MARK_COOKIE]["max-age"] == "300"
        finally:
            reader.shutdown()
            reader.server_close()


SMUGGLED = b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n"


@pytest.mark.parametrize(
    "request_line",
    [b"POST /nope", b"PUT /nope", b"GET /products/rug", b"GET /health", b"POST /health"],
)
def test_a_body_nobody_reads_is_not_taken_for_the_next_request(world: World, request_line: bytes) -> None:
    """The load balancer reuses a kept backend connection for other clients' requests: a body
    left unread on it would be parsed as a request of its own (here a GET /health smuggled in a
    body), and its answer given to whoever sends next."""
    for port in (world.home_port, world.read_port):
        with socket.create_connection(("127.0.0.1", port), timeout=5) as connection:
            head = request_line + b" HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(SMUGGLED)
            connection.sendall(head + SMUGGLED)
            connection.sendall(b"GET /nope-too HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            received = b""
            with contextlib.suppress(TimeoutError):
                while chunk := connection.recv(65536):
                    received += chunk
        statuses = re.findall(rb"HTTP/1.1 (\d{3}) ", received)
        assert len(statuses) == 2 and statuses[-1] == b"404", (port, received)


def test_a_body_too_long_to_drop_ends_the_connection_after_one_answer(world: World) -> None:
    body = b"x" * (app["server"].MAX_BODY + 1)
    for port in (world.home_port, world.read_port):
        head = b"POST /nope HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body)
        answer = raw_exchange(port, head + body + SMUGGLED)
        assert answer.startswith(b"HTTP/1.1 404 ") and answer.count(b"HTTP/1.1 ") == 1, answer[:200]
        assert re.search(rb"(?im)^connection: close\r$", answer), answer[:200]
