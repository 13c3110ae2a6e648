"""Messages per second through the fleet's worker (trivial job) next to a bare boto3
receive/delete loop, both against the same local SQS (moto in server mode on 127.0.0.1, in a
process of its own).

The bare loop is the floor: receive 10, delete those 10, repeat, one thread. The worker adds
what makes it safe (a job pool, a heartbeat, batched deletes, one JSON log line and one EMF
record per job). Rounds are interleaved so load on the machine hits both alike; the figures are
ratios of medians. Besides wall-clock throughput (which moto's own cost per request dominates),
the client's CPU time per message shows what the worker itself costs.
"""

from __future__ import annotations

import importlib
import itertools
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

RUNTIME = Path(__file__).resolve().parent.parent / "runtime" / "worker_fleet"
MESSAGES = int(os.environ.get("BENCH_WORKER_MESSAGES", "300"))
ROUNDS = int(os.environ.get("BENCH_WORKER_ROUNDS", "3"))
CONCURRENCY = 10


def _runtime() -> tuple[Any, Any]:
    sys.path.insert(0, str(RUNTIME))
    try:
        return importlib.import_module("sqs_worker"), importlib.import_module("telemetry")
    finally:
        sys.path.remove(str(RUNTIME))


def _fill(sqs: Any, queue_url: str) -> None:
    for start in range(0, MESSAGES, 10):
        entries = [
            {"Id": str(i), "MessageBody": f'{{"jobId": "job-{start + i}"}}'}
            for i in range(min(10, MESSAGES - start))
        ]
        sqs.send_message_batch(QueueUrl=queue_url, Entries=entries)


Measured = tuple[float, float]  # (messages per second, client CPU milliseconds per message)


def _measured(started: float, cpu_started: float) -> Measured:
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    return MESSAGES / elapsed, cpu * 1000 / MESSAGES


def bare_loop(sqs: Any, queue_url: str) -> Measured:
    _fill(sqs, queue_url)
    started, cpu_started, done = time.perf_counter(), time.process_time(), 0
    while done < MESSAGES:
        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get(
            "Messages", []
        )
        if messages:
            entries = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)]
            sqs.delete_message_batch(QueueUrl=queue_url, Entries=entries)
            done += len(messages)
    return _measured(started, cpu_started)


def through_worker(sqs: Any, queue_url: str, sqs_worker: Any, telemetry: Any, sink: Any) -> Measured:
    _fill(sqs, queue_url)
    settings = sqs_worker.Settings(queue_url=queue_url, concurrency=CONCURRENCY, wait_seconds=1)
    jobs, all_ran = itertools.count(1), threading.Event()

    def trivial_job(job: dict[str, Any]) -> None:
        if next(jobs) == MESSAGES:  # next() on a count is atomic under the GIL
            all_ran.set()

    worker = sqs_worker.Worker(sqs, settings, trivial_job, telemetry.Telemetry("bench", stream=sink))
    thread = threading.Thread(target=worker.run)
    started, cpu_started = time.perf_counter(), time.process_time()
    thread.start()
    # Done when every message's job succeeded and its delete has returned. This thread sleeps
    # until the last job ran and polls only for the last deletes: CPU time is the whole
    # process's, and polling every 2 ms throughout (as this did) cost about 0.03 ms of CPU
    # per wake-up, a quarter of a millisecond per message charged to the worker.
    all_ran.wait()
    while worker.counters.succeeded < MESSAGES or worker._held:
        time.sleep(0.002)
    result = _measured(started, cpu_started)
    worker.stop("benchmark over")
    thread.join()
    return result


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _start_server(port: int) -> subprocess.Popen[bytes]:
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return server
        except OSError:
            time.sleep(0.1)
    server.kill()
    raise RuntimeError("moto server did not start within 30 s")


def main() -> None:
    sqs_worker, telemetry = _runtime()
    port = _free_port()
    server = _start_server(port)
    try:
        sqs = boto3.client(
            "sqs",
            endpoint_url=f"http://127.0.0.1:{port}",
            region_name="eu-west-1",
            aws_access_key_id="bench",
            aws_secret_access_key="bench",
            config=Config(max_pool_connections=CONCURRENCY + 4),
        )
        queue_url = sqs.create_queue(QueueName="bench")["QueueUrl"]
        bare, worker = [], []
        with open(os.devnull, "w") as sink:
            for _ in range(ROUNDS):
                bare.append(bare_loop(sqs, queue_url))
                worker.append(through_worker(sqs, queue_url, sqs_worker, telemetry, sink))
    finally:
        server.terminate()
        server.wait(10)
    rate = statistics.median(r for r, _ in bare), statistics.median(r for r, _ in worker)
    cpu = statistics.median(c for _, c in bare), statistics.median(c for _, c in worker)
    print(f"worker throughput, {MESSAGES} messages, median of {ROUNDS} interleaved rounds each:")
    print("                                   msg/s   client CPU ms/msg")
    print(f"  bare boto3 receive/delete loop: {rate[0]:7.0f}   {cpu[0]:8.2f}")
    print(f"  worker ({CONCURRENCY} slots, trivial job):  {rate[1]:7.0f}   {cpu[1]:8.2f}")
    print(f"  ratio worker/bare:              {rate[1] / rate[0]:7.2f}   {cpu[1] / cpu[0]:8.2f}")
    print(f"  throughput lost to the worker:  {(1 - rate[1] / rate[0]) * 100:6.1f} %")
