"""Reads of the multi-tier app against real local servers (PostgreSQL primary + 2 streaming
replicas, Valkey), measured side by side in one run:

1. latency of a product read served from the cache next to the same read from a replica
   (median and p99, interleaved one by one so machine load hits both alike);
2. read throughput with 0, 1 and 2 replicas behind the router (0: every read on the writer),
   interleaved rounds, median of the rounds.

All servers run on this one machine: a replica here adds no CPU, so (2) shows what routing
costs and that spreading works, not the capacity a replica on its own instance adds in AWS.
"""

from __future__ import annotations

import os
import statistics
import threading
import time
from decimal import Decimal
from typing import Any

import psycopg

from tests.local_servers import Cluster, cluster, load_web_app

LATENCY_READS = int(os.environ.get("BENCH_MULTI_TIER_READS", "2000"))
THROUGHPUT_SECONDS = float(os.environ.get("BENCH_MULTI_TIER_SECONDS", "1.5"))
ROUNDS = int(os.environ.get("BENCH_MULTI_TIER_ROUNDS", "3"))
THREADS = 8
PRODUCTS = 200
READ_QUERY = "SELECT id, name, price, stock FROM products WHERE id = %s"


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def main() -> None:
    app = load_web_app()
    with cluster(standbys=2) as servers:
        cache = servers.cache_admin()
        router = make_router(app, servers, replicas=2)
        catalog = app["catalog"].Catalog(router, cache, ttl=600)
        catalog.create_schema()
        for index in range(PRODUCTS):
            catalog.put_product(f"p{index}", f"product {index}", Decimal("9.99"), 100)
        servers.wait_for_replay()
        latency(catalog)
        throughput(app, servers)
        cache.close()
        router.close()


def make_router(app: dict[str, Any], servers: Cluster, replicas: int) -> Any:
    routing = app["routing"]
    return routing.ReadRouter(
        routing.Endpoint("writer", lambda: psycopg.connect(servers.primary.dsn)),
        [
            routing.Endpoint(f"replica{i}", lambda dsn=s.dsn: psycopg.connect(dsn))
            for i, s in enumerate(servers.standbys[:replicas], start=1)
        ],
    )


def latency(catalog: Any) -> None:
    for index in range(PRODUCTS):
        catalog.get_product(f"p{index}")  # warm the cache
    cached, replica = [], []
    for n in range(LATENCY_READS):
        product_id = f"p{n % PRODUCTS}"
        started = time.perf_counter()
        catalog.get_product(product_id)
        cached.append(time.perf_counter() - started)
        started = time.perf_counter()
        catalog.router.read(READ_QUERY, (product_id,))
        replica.append(time.perf_counter() - started)
    print(f"product read latency, {LATENCY_READS} reads each, interleaved (microseconds):")
    print(f"  {'':18}{'median':>10}{'p99':>10}")
    for name, samples in (("from the cache", cached), ("from a replica", replica)):
        print(f"  {name:18}{statistics.median(samples) * 1e6:10.0f}{percentile(samples, 0.99) * 1e6:10.0f}")
    print(
        f"  replica/cache:    {statistics.median(replica) / statistics.median(cached):10.2f}"
        f"{percentile(replica, 0.99) / percentile(cached, 0.99):10.2f}"
    )


def reads_per_second(router: Any) -> float:
    stop = time.perf_counter() + THROUGHPUT_SECONDS
    counts = [0] * THREADS

    def reader(slot: int) -> None:
        n = 0
        while time.perf_counter() < stop:
            router.read(READ_QUERY, (f"p{n % PRODUCTS}",))
            n += 1
        counts[slot] = n
        router.close()

    started = time.perf_counter()
    threads = [threading.Thread(target=reader, args=(slot,)) for slot in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(counts) / (time.perf_counter() - started)


def throughput(app: dict[str, Any], servers: Cluster) -> None:
    results: dict[int, list[float]] = {0: [], 1: [], 2: []}
    served: dict[int, dict[str, int]] = {}
    for _ in range(ROUNDS):
        for replicas in results:
            router = make_router(app, servers, replicas)
            results[replicas].append(reads_per_second(router))
            served[replicas] = dict(router.queries)
    baseline = statistics.median(results[0])
    print(
        f"read throughput, {THREADS} threads, "
        f"median of {ROUNDS} interleaved rounds of {THROUGHPUT_SECONDS} s:"
    )
    for replicas, samples in results.items():
        rate = statistics.median(samples)
        split = ", ".join(f"{name} {count}" for name, count in sorted(served[replicas].items()))
        print(f"  {replicas} replica(s): {rate:8.0f} reads/s  x{rate / baseline:4.2f}  (last round: {split})")
