"""The multi-tier web app against real servers: a PostgreSQL primary with two streaming
replicas, and Valkey, all started here on loopback (see tests/local_servers.py)."""

from __future__ import annotations

import contextlib
import http.client
import json
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

from tests.local_servers import Cluster, cluster, free_port, load_web_app

pytestmark = pytest.mark.servers
app = load_web_app()
RETRY_AFTER = 0.3
PORT_QUERY = "SELECT current_setting('port')::int"
HEALTH_WITHIN = 3.5
"""Seconds /health may take, whatever hangs: its own deadline (2.5 s) plus slack, below the ALB's 5 s."""


@pytest.fixture(scope="module")
def servers() -> Iterator[Cluster]:
    with cluster(standbys=2) as running:
        yield running


@pytest.fixture
def cache(servers: Cluster) -> Iterator[valkey.Valkey]:
    client = valkey.Valkey(port=servers.valkey_port, password="test-token", socket_timeout=1)
    client.flushall()
    yield client
    client.close()


def connect(dsn: str) -> Any:
    return lambda: psycopg.connect(dsn)


def make_router(servers: Cluster) -> Any:
    return app["routing"].ReadRouter(
        app["routing"].Endpoint("writer", connect(servers.primary.dsn)),
        [app["routing"].Endpoint(f"replica{i}", connect(s.dsn)) for i, s in enumerate(servers.standbys, 1)],
        retry_after=RETRY_AFTER,
    )


@pytest.fixture
def catalog(servers: Cluster, cache: valkey.Valkey) -> Iterator[Any]:
    router = make_router(servers)
    catalog = app["catalog"].Catalog(router, cache, ttl=60, fresh_window=2)
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
    ports = Counter(catalog.router.read(PORT_QUERY)[0][0] for _ in range(8))
    assert ports == {standby.port: 4 for standby in servers.standbys}
    assert catalog.router.read(PORT_QUERY, consistent=True)[0][0] == servers.primary.port


def test_a_stopped_replica_is_skipped_without_an_error_to_the_caller(catalog: Any, servers: Cluster) -> None:
    first, second = servers.standbys
    catalog.router.read(PORT_QUERY)  # connections to both replicas are open before the stop
    catalog.router.read(PORT_QUERY)
    second.stop()
    try:
        served = [catalog.router.read(PORT_QUERY)[0][0] for _ in range(6)]
        assert served == [first.port] * 6
        first.stop()
        assert catalog.router.read(PORT_QUERY)[0][0] == servers.primary.port  # no replica: the writer
    finally:
        for standby in (first, second):
            if standby.process is None:
                standby.start()
    time.sleep(RETRY_AFTER)  # replicas left out are tried again after retry_after
    assert {catalog.router.read(PORT_QUERY)[0][0] for _ in range(4)} == {first.port, second.port}


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
    dead = valkey.Valkey(port=free_port(), socket_connect_timeout=0.2, socket_timeout=0.2)
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
    payload = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    connection.request(method, path, body=payload, headers={"Content-Type": "application/json"})
    response = connection.getresponse()
    return response.status, json.loads(response.read())


def test_the_http_api_serves_orders_and_reports_health(http_server: http.client.HTTPConnection) -> None:
    status, health = call(http_server, "GET", "/health")
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


def health(catalog: Any) -> tuple[int, Any, float]:
    with serving(catalog) as connection:
        started = time.monotonic()
        status, body = call(connection, "GET", "/health")
        return status, body, time.monotonic() - started


def test_health_answers_in_time_when_replicas_hang_and_follows_the_writer_only(
    servers: Cluster, cache: valkey.Valkey
) -> None:
    writer = app["routing"].Endpoint("writer", connect(servers.primary.dsn))
    with silent_endpoints(3) as hanging:
        catalog = app["catalog"].Catalog(app["routing"].ReadRouter(writer, hanging), cache)
        for _ in range(2):  # the second check shares the first one's unanswered probes
            status, body, took = health(catalog)
            assert (status, body) == (
                200,
                {
                    "databases": {"writer": True, "replica1": False, "replica2": False, "replica3": False},
                    "cache": True,
                },
            )
            assert took < HEALTH_WITHIN
    with silent_endpoints(1) as (hanging_writer,):
        replica = app["routing"].Endpoint("replica1", connect(servers.standbys[0].dsn))
        router = app["routing"].ReadRouter(
            app["routing"].Endpoint("writer", hanging_writer.connect), [replica]
        )
        status, body, took = health(app["catalog"].Catalog(router, cache))
        assert (status, body) == (503, {"databases": {"writer": False, "replica1": True}, "cache": True})
        assert took < HEALTH_WITHIN


def test_the_service_builds_its_routing_and_cache_from_the_environment(servers: Cluster) -> None:
    environment = {
        "DB_WRITER_HOST": "127.0.0.1",
        "DB_READER_HOSTS": "127.0.0.1,127.0.0.1",
        "DB_PORT": str(servers.primary.port),  # one port for all: every host name is loopback
        "DB_NAME": "postgres",
        "DB_USER": "postgres",
        "DB_SSLMODE": "disable",
        "CACHE_HOST": "127.0.0.1",
        "CACHE_PORT": str(servers.valkey_port),
        "CACHE_PASSWORD": "test-token",
    }
    catalog = app["main"].build(environment)
    assert [r.name for r in catalog.router.replicas] == ["replica1", "replica2"]
    catalog.create_schema()
    catalog.put_product("env", "from env", Decimal("1.00"), 1)
    assert catalog.get_product("env", consistent=True).name == "from env"
    assert catalog.cache.ping()
    catalog.router.close()
