"""The multi-tier web app against real servers: a PostgreSQL primary with two streaming
replicas, a relay standing for RDS Proxy in front of the primary, and Valkey with ACL users as
ElastiCache sets them up, all started here on loopback (see tests/local_servers.py)."""

from __future__ import annotations

import contextlib
import http.client
import json
import re
import select
import socket
import threading
import time
import types
from collections import Counter
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import psycopg
import pytest
import valkey

from patterns.multi_tier.data_tier import DEFAULT_DATABASE_PORT, PROXY_PORT
from stacks.multi_tier_stack import WEB_APP_CACHE_ACCESS
from tests.kit import one, template_json
from tests.local_servers import (
    CACHE_APP_PASSWORD,
    CACHE_APP_USER,
    PROXY_HOST,
    Cluster,
    closed_port,
    cluster,
    load_web_app,
)

pytestmark = pytest.mark.servers
app = load_web_app()
RETRY_AFTER = 0.3
STATEMENT_DEADLINE = 1.0
ADDRESS_QUERY = "SELECT host(inet_server_addr())"
HEALTH_WITHIN = 3.5
"""Seconds /health/deep may take, whatever hangs: its own deadline (2.5 s) plus slack."""
WRITE_WITHIN = 2 + STATEMENT_DEADLINE + 1
"""Seconds a write may take when the writer does not answer: the connect timeout (2 s) or the
statement deadline, whichever applies, plus slack; never the time the writer stays down."""
KNOWN_DOWN_FOR = 1.5
"""retry_after where a test counts on an endpoint staying known down across several requests."""


@pytest.fixture(scope="module")
def servers() -> Iterator[Cluster]:
    # The app's cache user has the access string the stack gives its ElastiCache user: every
    # cache call of these tests goes through it, so a command it lacks fails a test.
    with cluster(standbys=2, cache_access=WEB_APP_CACHE_ACCESS) as running:
        yield running


@pytest.fixture
def cache(servers: Cluster) -> Iterator[valkey.Valkey]:
    """The tests' own admin connection (flush, inspect); the app uses `app_cache`."""
    client = servers.cache_admin(socket_timeout=1)
    client.flushall()
    yield client
    client.close()


@pytest.fixture
def app_cache(servers: Cluster, cache: valkey.Valkey) -> Iterator[valkey.Valkey]:
    client = valkey.Valkey(
        port=servers.valkey_port, username=CACHE_APP_USER, password=CACHE_APP_PASSWORD, socket_timeout=1
    )
    yield client
    client.close()


def connect(dsn: str) -> Any:
    return lambda: psycopg.connect(dsn)


def make_router(servers: Cluster, **kwargs: Any) -> Any:
    """The writer through the proxy, as the stack wires it; the replicas directly."""
    return app["routing"].ReadRouter(
        app["routing"].Endpoint("writer", connect(servers.proxy_dsn)),
        [app["routing"].Endpoint(f"replica{i}", connect(s.dsn)) for i, s in enumerate(servers.standbys, 1)],
        **{"retry_after": RETRY_AFTER, "statement_deadline": STATEMENT_DEADLINE, **kwargs},
    )


@pytest.fixture
def catalog(servers: Cluster, app_cache: valkey.Valkey) -> Iterator[Any]:
    router = make_router(servers)
    catalog = app["catalog"].Catalog(router, app_cache, ttl=60, fresh_window=2)
    catalog.create_schema()
    yield catalog
    router.close()


@contextlib.contextmanager
def replay_paused(servers: Cluster) -> Iterator[None]:
    """Replicas keep receiving WAL but stop applying it: a lag we control."""
    for standby in servers.standbys:
        with psycopg.connect(standby.dsn, autocommit=True) as connection:
            connection.execute("SELECT pg_wal_replay_pause()")
    try:
        yield
    finally:
        for standby in servers.standbys:
            with psycopg.connect(standby.dsn, autocommit=True) as connection:
                connection.execute("SELECT pg_wal_replay_resume()")


def new_product(catalog: Any, servers: Cluster, product_id: str, stock: int = 10) -> None:
    catalog.put_product(product_id, f"{product_id} name", Decimal("2.50"), stock)
    servers.wait_for_replay()


def test_a_write_is_read_back_from_the_writer_under_read_your_writes(catalog: Any, servers: Cluster) -> None:
    new_product(catalog, servers, "ryw")
    with replay_paused(servers):
        order = catalog.place_order("ryw", 3)
        assert catalog.get_order(order.id, consistent=True) == order
        # The same read without read-your-writes goes to a lagging replica, which has not got it.
        assert catalog.get_order(order.id) is None
    servers.wait_for_replay()
    assert catalog.get_order(order.id) == order
    assert order.total == "7.50"


def test_reads_are_spread_round_robin_over_the_replicas(catalog: Any, servers: Cluster) -> None:
    hosts = Counter(catalog.router.read(ADDRESS_QUERY)[0][0] for _ in range(8))
    assert hosts == {standby.host: 4 for standby in servers.standbys}
    assert catalog.router.read(ADDRESS_QUERY, consistent=True)[0][0] == servers.primary.host


def test_a_stopped_replica_is_skipped_without_an_error_to_the_caller(catalog: Any, servers: Cluster) -> None:
    first, second = servers.standbys
    catalog.router.read(ADDRESS_QUERY)  # connections to both replicas are open before the stop
    catalog.router.read(ADDRESS_QUERY)
    second.stop()
    try:
        served = [catalog.router.read(ADDRESS_QUERY)[0][0] for _ in range(6)]
        assert served == [first.host] * 6
        first.stop()
        assert catalog.router.read(ADDRESS_QUERY)[0][0] == servers.primary.host  # no replica: the writer
    finally:
        for standby in (first, second):
            if standby.process is None:
                standby.start()
    time.sleep(RETRY_AFTER)  # replicas left out are tried again after retry_after
    assert {catalog.router.read(ADDRESS_QUERY)[0][0] for _ in range(4)} == {first.host, second.host}


def test_a_cache_hit_does_not_touch_the_database(
    catalog: Any, servers: Cluster, cache: valkey.Valkey
) -> None:
    new_product(catalog, servers, "hot")
    product = catalog.get_product("hot")  # a miss: read from a replica, then cached
    assert product is not None and cache.ttl("product:hot") > 0
    queries_before = sum(catalog.router.queries.values())
    # Change the row behind the app's back: a read that reached the database would see it.
    with psycopg.connect(servers.primary.dsn, autocommit=True) as connection:
        connection.execute("UPDATE products SET name = 'changed directly' WHERE id = 'hot'")
    servers.wait_for_replay()
    assert catalog.get_product("hot") == product
    assert sum(catalog.router.queries.values()) == queries_before


def test_a_write_invalidates_the_cache_and_the_next_read_sees_it(
    catalog: Any, servers: Cluster, cache: valkey.Valkey
) -> None:
    new_product(catalog, servers, "sale")
    assert catalog.get_product("sale").price == "2.50"
    assert cache.exists("product:sale")
    with replay_paused(servers):
        catalog.put_product("sale", "sale name", Decimal("1.99"), 10)
        assert not cache.exists("product:sale")
        # Replicas still have the old price; right after a write a miss reads the writer, so the
        # old row is not put back into the cache for a whole TTL.
        assert catalog.get_product("sale").price == "1.99"
        assert json.loads(cache.get("product:sale"))["price"] == "1.99"


def test_an_order_invalidates_its_product_stock(catalog: Any, servers: Cluster) -> None:
    new_product(catalog, servers, "widget", stock=5)
    assert catalog.get_product("widget").stock == 5
    catalog.place_order("widget", 2)
    assert catalog.get_product("widget").stock == 3
    with pytest.raises(app["catalog"].OutOfStock):
        catalog.place_order("widget", 4)
    assert catalog.get_product("widget", consistent=True).stock == 3


@pytest.mark.parametrize(
    "recently_written", [False, True], ids=["miss-read-a-replica", "miss-read-the-writer"]
)
def test_a_write_between_a_miss_and_its_fill_does_not_leave_the_old_row_cached(
    catalog: Any,
    servers: Cluster,
    cache: valkey.Valkey,
    monkeypatch: pytest.MonkeyPatch,
    recently_written: bool,
) -> None:
    new_product(catalog, servers, "race")
    if recently_written:  # the miss sees the marker and reads the writer
        catalog.put_product("race", "race name", Decimal("2.75"), 10)
        servers.wait_for_replay()
        assert cache.exists("fresh:product:race")
    else:  # the marker has expired: the miss reads a replica
        cache.delete("fresh:product:race")
    old_price = "2.75" if recently_written else "2.50"
    read = catalog.router.read
    reads: list[bool] = []

    def read_then_write(sql: str, params: Any = (), *, consistent: bool = False) -> Any:
        rows = read(sql, params, consistent=consistent)
        reads.append(consistent)
        monkeypatch.setattr(catalog.router, "read", read)
        # A write and its invalidation land after the miss's query, before its fill.
        catalog.put_product("race", "race name", Decimal("9.99"), 10)
        return rows

    monkeypatch.setattr(catalog.router, "read", read_then_write)
    assert catalog.get_product("race").price == old_price  # it raced the write: its answer is old
    assert reads == [recently_written]
    assert not cache.exists("product:race")  # ...but it is not cached
    servers.wait_for_replay()
    assert catalog.get_product("race").price == "9.99"
    assert json.loads(cache.get("product:race"))["price"] == "9.99"


def test_a_miss_slower_than_half_the_marker_lifetime_is_not_cached(
    catalog: Any, servers: Cluster, cache: valkey.Valkey, monkeypatch: pytest.MonkeyPatch
) -> None:
    new_product(catalog, servers, "slow")
    cache.delete("fresh:product:slow")
    now = [1000.0]
    monkeypatch.setattr(app["catalog"], "time", types.SimpleNamespace(monotonic=lambda: now[0]))
    read = catalog.router.read

    def read_then_write(sql: str, params: Any = (), *, consistent: bool = False) -> Any:
        rows = read(sql, params, consistent=consistent)
        monkeypatch.setattr(catalog.router, "read", read)
        catalog.put_product("slow", "slow name", Decimal("9.99"), 10)
        cache.delete("fresh:product:slow")  # the write's marker came and went during the miss
        now[0] += catalog.fresh_window / 2
        return rows

    monkeypatch.setattr(catalog.router, "read", read_then_write)
    assert catalog.get_product("slow").price == "2.50"
    assert not cache.exists("product:slow")
    servers.wait_for_replay()
    assert catalog.get_product("slow").price == "9.99"  # a quick miss: cached
    assert json.loads(cache.get("product:slow"))["price"] == "9.99"


def test_a_cache_that_does_not_answer_is_a_miss_not_an_error(servers: Cluster) -> None:
    router = make_router(servers)
    with closed_port() as port:
        dead = valkey.Valkey(port=port, socket_connect_timeout=0.2, socket_timeout=0.2)
        catalog = app["catalog"].Catalog(router, dead)
        catalog.create_schema()
        catalog.put_product("nocache", "no cache", Decimal("3.00"), 1)
        servers.wait_for_replay()
        before = Counter(router.queries)
        assert catalog.get_product("nocache").price == "3.00"  # cache get, marker get and fill all fail
        answered = Counter(router.queries)
        answered.subtract(before)
        assert +answered in ({"replica1": 1}, {"replica2": 1})  # no marker seen: a replica answered
        assert not catalog.cache_answers()
    router.close()


@contextlib.contextmanager
def serving(catalog: Any) -> Iterator[http.client.HTTPConnection]:
    server = app["server"].serve(catalog, 0, host="127.0.0.1")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield http.client.HTTPConnection("127.0.0.1", server.server_address[1], timeout=10)
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def http_server(catalog: Any) -> Iterator[http.client.HTTPConnection]:
    with serving(catalog) as connection:
        yield connection


def call(connection: http.client.HTTPConnection, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    status, answer, _ = exchange(connection, method, path, body)
    return status, answer


def exchange(
    connection: http.client.HTTPConnection, method: str, path: str, body: Any = None
) -> tuple[int, Any, http.client.HTTPMessage]:
    payload = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    connection.request(method, path, body=payload, headers={"Content-Type": "application/json"})
    response = connection.getresponse()
    return response.status, json.loads(response.read()), response.headers


def test_the_http_api_serves_orders_and_reports_health(http_server: http.client.HTTPConnection) -> None:
    assert call(http_server, "GET", "/health") == (200, {"status": "serving"})
    status, health = call(http_server, "GET", "/health/deep")
    assert status == 200
    assert health == {"databases": {"writer": True, "replica1": True, "replica2": True}, "cache": True}
    assert (
        call(http_server, "PUT", "/products/book", {"name": "Book", "price": "12.00", "stock": 4})[0] == 200
    )
    status, order = call(http_server, "POST", "/orders", {"product_id": "book", "quantity": 2})
    assert (status, order["total"]) == (201, "24.00")
    assert call(http_server, "GET", f"/orders/{order['id']}?consistent=1") == (200, order)
    assert call(http_server, "POST", "/orders", {"product_id": "book", "quantity": 3})[0] == 409
    assert call(http_server, "POST", "/orders", b"not json")[0] == 400
    assert call(http_server, "PUT", "/products/book", {"name": "Book", "price": "-1", "stock": 1})[0] == 400
    assert call(http_server, "GET", "/nowhere")[0] == 404


PRODUCT = {"name": "Thing", "price": "1.00", "stock": 1}


@pytest.mark.parametrize(
    "body",
    [
        {**PRODUCT, "price": "NaN"},
        {**PRODUCT, "price": "Infinity"},
        b'{"name": "Thing", "price": NaN, "stock": 1}',
        {**PRODUCT, "price": "1e20"},
        b'{"name": "Thing", "price": 1e20, "stock": 1}',
        {**PRODUCT, "price": "10000000000.00"},
        {**PRODUCT, "price": "1.999"},
        {**PRODUCT, "price": "-1"},
        {**PRODUCT, "price": "twelve"},
        {**PRODUCT, "price": True},
        {**PRODUCT, "price": None},
        {**PRODUCT, "stock": None},
        {**PRODUCT, "stock": 10**12},
        {**PRODUCT, "stock": -1},
        {**PRODUCT, "stock": 1.5},
        {**PRODUCT, "stock": True},
        {**PRODUCT, "stock": "3"},
        {**PRODUCT, "name": None},
        {**PRODUCT, "name": 7},
        {"price": "1.00", "stock": 1},
    ],
)
def test_a_product_that_does_not_fit_the_columns_is_a_400(
    http_server: http.client.HTTPConnection, catalog: Any, body: Any
) -> None:
    status, answer = call(http_server, "PUT", "/products/invalid", body)
    assert status == 400 and answer["error"]
    assert catalog.get_product("invalid", consistent=True) is None


def test_a_product_the_database_refuses_is_a_400_and_limits_are_accepted(
    http_server: http.client.HTTPConnection,
) -> None:
    # PostgreSQL text cannot hold NUL: the database's DataError, mapped to 400.
    status, answer = call(http_server, "PUT", "/products/nul", {**PRODUCT, "name": "a\u0000b"})
    assert status == 400 and "NUL" in answer["error"]
    limits = {"name": "Most", "price": "9999999999.99", "stock": 2**31 - 1}
    assert call(http_server, "PUT", "/products/most", limits) == (200, {"id": "most", **limits})
    status, product = call(http_server, "PUT", "/products/number", {**PRODUCT, "price": 12.5, "stock": 0})
    assert (status, product["price"]) == (200, "12.50")


@pytest.mark.parametrize("quantity", [None, 10**12, 2**31, 1.9, 1.0, True, 0, -1, "2"])
def test_an_order_quantity_that_is_not_a_positive_integer_is_a_400(
    http_server: http.client.HTTPConnection, catalog: Any, quantity: Any
) -> None:
    assert call(http_server, "PUT", "/products/q", {**PRODUCT, "stock": 5})[0] == 200
    status, answer = call(http_server, "POST", "/orders", {"product_id": "q", "quantity": quantity})
    assert status == 400 and answer["error"]
    assert catalog.get_product("q", consistent=True).stock == 5


def test_an_order_for_an_unknown_product_is_a_404_and_an_overflowing_total_a_400(
    http_server: http.client.HTTPConnection, catalog: Any
) -> None:
    status, answer = call(http_server, "POST", "/orders", {"product_id": "nosuch", "quantity": 1})
    assert (status, answer) == (404, {"error": "no product nosuch"})
    assert call(http_server, "POST", "/orders", {"product_id": None, "quantity": 1})[0] == 400
    # The total (price * quantity) does not fit numeric(12, 2): the database refuses the order.
    call(http_server, "PUT", "/products/dear", {"name": "Dear", "price": "9999999999.99", "stock": 5})
    status, answer = call(http_server, "POST", "/orders", {"product_id": "dear", "quantity": 2})
    assert status == 400 and "overflow" in answer["error"]
    assert catalog.get_product("dear", consistent=True).stock == 5  # nothing taken
    assert call(http_server, "POST", "/orders", {"product_id": "dear", "quantity": 1})[0] == 201


@contextlib.contextmanager
def silent_endpoints(count: int) -> Iterator[list[Any]]:
    """Endpoints whose server takes the TCP connection and then never answers."""
    listeners = [socket.create_server(("127.0.0.1", 0), backlog=8) for _ in range(count)]
    try:
        yield [
            app["routing"].Endpoint(
                f"replica{index}",
                connect(f"host=127.0.0.1 port={listener.getsockname()[1]} user=postgres connect_timeout=10"),
            )
            for index, listener in enumerate(listeners, 1)
        ]
    finally:
        for listener in listeners:
            listener.close()


def deep_health(catalog: Any) -> tuple[int, Any, float]:
    with serving(catalog) as connection:
        started = time.monotonic()
        status, body = call(connection, "GET", "/health/deep")
        return status, body, time.monotonic() - started


def test_deep_health_answers_in_time_when_replicas_hang_and_follows_the_writer_and_cache(
    servers: Cluster, cache: valkey.Valkey
) -> None:
    writer = app["routing"].Endpoint("writer", connect(servers.primary.dsn))
    with silent_endpoints(3) as hanging:
        catalog = app["catalog"].Catalog(app["routing"].ReadRouter(writer, hanging), cache)
        for _ in range(2):  # the second check shares the first one's unanswered probes
            status, body, took = deep_health(catalog)
            assert (status, body) == (
                200,
                {
                    "databases": {"writer": True, "replica1": False, "replica2": False, "replica3": False},
                    "cache": True,
                },
            )
            assert took < HEALTH_WITHIN
    replica = app["routing"].Endpoint("replica1", connect(servers.standbys[0].dsn))
    with silent_endpoints(1) as (hanging_writer,):
        router = app["routing"].ReadRouter(
            app["routing"].Endpoint("writer", hanging_writer.connect), [replica]
        )
        status, body, took = deep_health(app["catalog"].Catalog(router, cache))
        assert (status, body) == (503, {"databases": {"writer": False, "replica1": True}, "cache": True})
        assert took < HEALTH_WITHIN
    with closed_port() as port:
        dead_cache = valkey.Valkey(port=port, socket_connect_timeout=0.2, socket_timeout=0.2)
        status, body, _ = deep_health(
            app["catalog"].Catalog(app["routing"].ReadRouter(writer, [replica]), dead_cache)
        )
    assert (status, body) == (503, {"databases": {"writer": True, "replica1": True}, "cache": False})


@contextlib.contextmanager
def writer_out(servers: Cluster, how: str) -> Iterator[None]:
    """The primary stopped (refuses connections), or hung: SIGSTOPped with its backends, so
    connections are accepted and statements sent, and nothing ever answers."""
    if how == "stopped":
        servers.primary.stop()
        # Its connections are closed; the relay passes that on in its own time (its threads
        # compete with the app's): the write below is to come after the app has seen it.
        servers.proxy.wait_until_idle()
    else:
        servers.primary.pause()
    try:
        yield
    finally:
        if how == "stopped":
            servers.primary.start()
        else:
            servers.primary.resume()


@pytest.mark.parametrize("how", ["stopped", "hung"])
def test_while_the_writer_is_out_the_instance_stays_healthy_writes_are_a_fast_503_and_reads_served(
    servers: Cluster, catalog: Any, cache: valkey.Valkey, how: str
) -> None:
    """What a Multi-AZ failover (60-120 s, RDS docs "Failing over a Multi-AZ DB instance") looks
    like from the app: the ALB's check stays 200, so the group replaces no instance."""
    # The write after the failed one must find the writer still known down: with RETRY_AFTER
    # (0.3 s) a pause of a loaded machine between the two requests could let it be tried again:
    # the hung writer then takes its connect timeout (2 s) to refuse.
    catalog.router.retry_after = KNOWN_DOWN_FOR
    with serving(catalog) as http:
        assert call(http, "PUT", "/products/outage", {**PRODUCT, "stock": 5})[0] == 200
        status, order = call(http, "POST", "/orders", {"product_id": "outage", "quantity": 1})
        assert status == 201
        servers.wait_for_replay()
        assert call(http, "GET", "/products/outage")[0] == 200  # now cached
        with writer_out(servers, how):
            assert call(http, "GET", "/health") == (200, {"status": "serving"})
            started = time.monotonic()
            # This thread's connection to the writer is open from before: it is the one used.
            status, body, headers = exchange(http, "PUT", "/products/outage", {**PRODUCT, "stock": 9})
            assert time.monotonic() - started < WRITE_WITHIN
            assert status == 503 and headers["Retry-After"] == "2"  # KNOWN_DOWN_FOR, whole seconds up
            if how == "stopped":  # refused: certainly not applied
                assert body["applied"] is False and "nothing was written" in body["error"]
            else:  # sent, never answered: the client cannot know
                assert body["applied"] is None and "may or may not have been applied" in body["error"]
            started = time.monotonic()
            status, body = call(http, "POST", "/orders", {"product_id": "outage", "quantity": 1})
            assert (status, body["applied"]) == (503, False)  # the writer is known down: not even tried
            assert time.monotonic() - started < 1
            assert call(http, "GET", "/products/outage")[1]["stock"] == 4  # from the cache
            cache.delete("product:outage")
            assert call(http, "GET", "/products/outage")[1]["stock"] == 4  # from a replica
            assert call(http, "GET", f"/orders/{order['id']}") == (200, order)  # from a replica
            assert call(http, "GET", f"/orders/{order['id']}?consistent=1")[0] == 503
            started = time.monotonic()
            status, body = call(http, "GET", "/health/deep")
            assert (status, body["databases"]["writer"], body["cache"]) == (503, False, True)
            assert time.monotonic() - started < HEALTH_WITHIN
        time.sleep(max(KNOWN_DOWN_FOR, app["server"].DEEP_HEALTH_REUSE))  # the writer is tried again
        # The same instance, the same HTTP connection (so the same thread): no restart needed.
        assert call(http, "PUT", "/products/outage", {**PRODUCT, "stock": 9})[0] == 200
        assert call(http, "GET", "/products/outage?consistent=1")[1]["stock"] == 9
        assert call(http, "GET", "/health/deep")[0] == 200


def test_deep_health_asks_the_dependencies_at_most_once_per_reuse_window(
    catalog: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Anyone can ask /health/deep through the load balancer: asking it often must not turn
    into as many connections to the databases."""
    rounds: list[float] = []
    check = catalog.router.check

    def counted(timeout: float = 2.5) -> dict[str, bool]:
        rounds.append(time.monotonic())
        return check(timeout)

    monkeypatch.setattr(catalog.router, "check", counted)
    with serving(catalog) as http:
        began = time.monotonic()
        answers = [call(http, "GET", "/health/deep") for _ in range(20)]
        ended = time.monotonic()
    assert all(status == 200 for status, _ in answers)
    # Each round starts at least a window after the one before, and all start between `began`
    # and `ended`: a bound that holds however long each round takes, on a loaded machine too.
    window = app["server"].DEEP_HEALTH_REUSE
    assert len(rounds) <= 1 + (ended - began) / window
    assert len(rounds) < len(answers)


def test_a_connection_the_writer_closed_is_replaced_not_reported(servers: Cluster, catalog: Any) -> None:
    """After a failover or a restart, a connection kept from before is dead: the next write
    opens a new one instead of failing (nothing is left poisoned)."""
    catalog.put_product("reconnect", "before", Decimal("1.00"), 1)
    with psycopg.connect(servers.primary.dsn, autocommit=True) as admin:
        ended = admin.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()"
        ).fetchone()
    assert ended and ended[0] >= 1
    # pg_terminate_backend only signals the backend: it exits, then the relay passes its goodbye
    # on, each in its own time on a loaded machine. The write comes once the goodbye is there.
    kept = catalog.router._local.connections["writer"]
    assert select.select([kept.fileno()], [], [], 30)[0], "the goodbye never reached the app"
    assert catalog.put_product("reconnect", "after", Decimal("1.00"), 1).name == "after"


def stack_environment(profile: str = "sandbox") -> dict[str, str]:
    """NAME=value lines of the env file the stack's user data writes (values that are deploy-time
    tokens read as "<token>")."""
    _, template = one(template_json("MultiTier", profile), "AWS::EC2::LaunchTemplate", "Web/LaunchTemplate")
    user_data = template["Properties"]["LaunchTemplateData"]["UserData"]["Fn::Base64"]
    parts = user_data["Fn::Join"][1] if isinstance(user_data, dict) else [user_data]
    text = "".join(part if isinstance(part, str) else "<token>" for part in parts)
    return dict(re.findall(r"^([A-Z][A-Z0-9_]*)=(.*)$", text, flags=re.MULTILINE))


def test_the_app_built_from_the_stacks_environment_reaches_the_writer_through_the_proxy(
    servers: Cluster, cache: valkey.Valkey, monkeypatch: pytest.MonkeyPatch
) -> None:
    """RDS Proxy listens on the engine's default port whatever the database's port is (AWS RDS
    Proxy limitations; aws/aws-cdk discussion #28321). The local relay stands for the proxy on
    an address and port of its own; the ports the stack gives are mapped to where the local
    servers listen, so a writer port that is not the proxy's fails here as it would in AWS."""
    env = stack_environment()  # its ports are not checked here: the servers' layout does it
    local_port = {
        str(PROXY_PORT): str(servers.proxy.port),
        str(DEFAULT_DATABASE_PORT): str(servers.database_port),
    }
    tokens: list[dict[str, str]] = []

    class LocalToken:  # no IAM here: stands for the signed token, and checks what it is given
        def __init__(self, **kwargs: str) -> None:
            tokens.append(kwargs)

        def get_credentials(self) -> tuple[str, str]:
            return CACHE_APP_USER, CACHE_APP_PASSWORD

    monkeypatch.setattr(app["main"], "IamAuthToken", LocalToken)
    assert env["CACHE_AUTH"] == "iam" and "CACHE_PASSWORD" not in env and "CACHE_SECRET_ARN" not in env
    local = {
        **env,
        "DB_WRITER_HOST": PROXY_HOST,
        "DB_WRITER_PORT": local_port[env["DB_WRITER_PORT"]],
        "DB_READER_HOSTS": ",".join(standby.host for standby in servers.standbys),
        "DB_READER_PORT": local_port[env["DB_READER_PORT"]],
        "DB_NAME": "postgres",
        "DB_USER": "postgres",
        "DB_SECRET_ARN": "",
        "DB_SSLMODE": "disable",  # the local servers have no certificates
        "CACHE_HOST": "127.0.0.1",
        "CACHE_PORT": str(servers.valkey_port),
        "CACHE_TLS": "0",  # likewise; ElastiCache requires TLS for IAM authentication
        "CACHE_REPLICATION_GROUP_ID": "stack-cache",
        "AWS_REGION": "eu-west-1",
    }
    catalog = app["main"].build(local)
    assert tokens == [
        {"user_id": env["CACHE_USER"], "replication_group_id": "stack-cache", "region": "eu-west-1"}
    ]
    assert [r.name for r in catalog.router.replicas] == ["replica1", "replica2"]
    catalog.create_schema()
    catalog.put_product("env", "from env", Decimal("1.00"), 1)
    assert catalog.router.read(ADDRESS_QUERY, consistent=True) == [(servers.primary.host,)]
    servers.wait_for_replay()
    assert catalog.get_product("env").name == "from env"
    assert cache.exists("product:env")  # filled through the app's ACL user
    # RDS Proxy pins a client session that holds a prepared statement to one database
    # connection until it ends ("Avoiding pinning an RDS Proxy", RDS User Guide), and psycopg
    # prepares a query on the server once it ran more than 5 times on a connection (psycopg
    # docs, "Prepared statements"): the app's sessions must never hold one.
    for n in range(8):
        catalog.put_product("env", f"again {n}", Decimal("1.00"), 1)
    writer = catalog.router._local.connections["writer"]
    assert writer.execute("SELECT count(*) FROM pg_prepared_statements").fetchone() == (0,)
    catalog.router.close()
    # The stack's old wiring, the database's port for the writer: nothing listens there.
    wrong = app["main"].build({**local, "DB_WRITER_PORT": local_port[str(DEFAULT_DATABASE_PORT)]})
    with pytest.raises(app["routing"].Unavailable, match="writer refused"):
        wrong.put_product("env", "wrong port", Decimal("1.00"), 1)


def test_the_cache_authenticates_again_with_a_fresh_token_on_every_new_connection(
    servers: Cluster, cache: valkey.Valkey
) -> None:
    """ElastiCache closes an IAM-authenticated connection after 12 hours; a new one must
    authenticate with a token signed then (an old token expires after 15 minutes). The local
    server cannot check a SigV4 token: the provider hands out the local user's password and
    counts the times it was asked."""
    asked: list[float] = []

    class CountingToken(app["cache_auth"].CredentialProvider):  # type: ignore[name-defined,misc]
        def get_credentials(self) -> tuple[str, str]:
            asked.append(time.monotonic())
            return CACHE_APP_USER, CACHE_APP_PASSWORD

    client = valkey.Valkey(
        port=servers.valkey_port,
        credential_provider=CountingToken(),
        retry_on_error=[valkey.exceptions.ConnectionError],
    )
    catalog = app["catalog"].Catalog(
        app["routing"].ReadRouter(app["routing"].Endpoint("w", connect(servers.proxy_dsn))), client
    )
    assert catalog.cache_answers() and len(asked) == 1
    assert cache.execute_command("CLIENT", "KILL", "USER", CACHE_APP_USER) >= 1  # as ElastiCache does at 12 h
    assert catalog.cache_answers() and len(asked) == 2  # reconnected and authenticated again, no miss
    with pytest.raises(valkey.exceptions.AuthenticationError):
        valkey.Valkey(port=servers.valkey_port).get("product:x")  # the default user is off
    client.close()


def test_a_client_that_declares_a_body_and_stalls_is_cut_off_and_others_are_served(catalog: Any) -> None:
    """A slow sender (a body declared, then nothing) must not hold a thread for good: after the
    idle timeout its connection is closed. Shortened here; the deployed one is checked below."""
    server = app["server"].serve(catalog, 0, host="127.0.0.1", idle_timeout=0.5)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=30) as stalled:
            stalled.sendall(b"POST /orders HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
            began = time.monotonic()
            with socket.create_connection(("127.0.0.1", port), timeout=10) as other:
                other.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                assert other.recv(65536).startswith(b"HTTP/1.1 200 ")
            received = b""
            while chunk := stalled.recv(65536):  # until the server closes it
                received += chunk
            assert time.monotonic() - began < 25  # closed by the server, not by this socket's timeout
            assert b"HTTP/1.1 2" not in received, received
    finally:
        server.shutdown()
        server.server_close()


def test_the_apps_idle_timeout_outlasts_the_load_balancers() -> None:
    """Elastic Load Balancing asks targets to keep idle connections open longer than the load
    balancer's idle timeout ("Connection idle timeout", ALB User Guide): otherwise the ALB can
    send a request down a connection the target is closing, and the client gets a 502."""
    _, balancer = one(
        template_json("MultiTier", "production"), "AWS::ElasticLoadBalancingV2::LoadBalancer", "Web/"
    )
    attributes = {a["Key"]: a["Value"] for a in balancer["Properties"]["LoadBalancerAttributes"]}
    assert float(attributes["idle_timeout.timeout_seconds"]) < app["server"].IDLE_TIMEOUT
