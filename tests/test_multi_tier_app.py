"""The multi-tier web app against real servers: a PostgreSQL primary with two streaming
replicas, and Valkey, all started here on loopback (see tests/local_servers.py)."""

from __future__ import annotations

import contextlib
import http.client
import json
import threading
import time
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


def test_a_cache_that_does_not_answer_is_a_miss_not_an_error(servers: Cluster) -> None:
    router = make_router(servers)
    dead = valkey.Valkey(port=free_port(), socket_connect_timeout=0.2, socket_timeout=0.2)
    catalog = app["catalog"].Catalog(router, dead)
    catalog.create_schema()
    catalog.put_product("nocache", "no cache", Decimal("3.00"), 1)
    assert catalog.get_product("nocache", consistent=True).price == "3.00"
    router.close()


@pytest.fixture
def http_server(catalog: Any) -> Iterator[http.client.HTTPConnection]:
    server = app["server"].serve(catalog, 0, host="127.0.0.1")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield http.client.HTTPConnection("127.0.0.1", server.server_address[1], timeout=5)
    server.shutdown()
    server.server_close()


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
