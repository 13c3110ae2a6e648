"""Streaming: records per second through the real telemetry consumer next to a bare decode
loop over the same Kinesis events, and the producer's batched PutRecords next to one PutRecord
per reading, both against moto (in process).

The bare loop is the floor: base64-decode and json.loads each record. The handler adds what
makes it safe: validation, per-device rolling statistics, redelivery detection, Powertools'
batch processing and one publish per anomaly. Rounds are interleaved; figures are medians.
"""

from __future__ import annotations

import base64
import importlib.util
import json
import os
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
from moto import mock_aws

ROOT = Path(__file__).resolve().parent.parent
CONSUMER = ROOT / "lambda" / "telemetry_anomalies"
PRODUCER = ROOT / "runtime" / "telemetry_producer"
READINGS = int(os.environ.get("BENCH_STREAM_READINGS", "5000"))
ROUNDS = int(os.environ.get("BENCH_STREAM_ROUNDS", "3"))
BATCH = 100  # the stack's event source batch size
REGION = "eu-west-1"


@dataclass
class Context:
    function_name: str = "bench"
    memory_limit_in_mb: int = 512
    aws_request_id: str = "bench"
    invoked_function_arn: str = f"arn:aws:lambda:{REGION}:123456789012:function:bench"

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


def _load(folder: Path, module: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"bench_{folder.name}_{module}", folder / f"{module}.py")
    assert spec is not None and spec.loader is not None
    loaded = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = loaded
    sys.path.insert(0, str(folder))
    try:
        spec.loader.exec_module(loaded)
    finally:
        sys.path.remove(str(folder))
    return loaded


def _events(readings: list[dict[str, Any]]) -> list[dict[str, Any]]:
    records = [
        {
            "kinesis": {
                "partitionKey": r["deviceId"],
                "sequenceNumber": str(10**20 + i),
                "data": base64.b64encode(json.dumps(r).encode()).decode(),
                "approximateArrivalTimestamp": r["timestamp"],
                "kinesisSchemaVersion": "1.0",
            },
            "eventSource": "aws:kinesis",
            "eventID": f"shardId-000000000000:{10**20 + i}",
            "eventName": "aws:kinesis:record",
            "eventVersion": "1.0",
            "awsRegion": REGION,
            "eventSourceARN": f"arn:aws:kinesis:{REGION}:123456789012:stream/telemetry",
            "invokeIdentityArn": "arn:aws:iam::123456789012:role/bench",
        }
        for i, r in enumerate(readings)
    ]
    return [{"Records": records[i : i + BATCH]} for i in range(0, len(records), BATCH)]


def bare_decode(events: list[dict[str, Any]]) -> float:
    started = time.perf_counter()
    for event in events:
        for record in event["Records"]:
            json.loads(base64.b64decode(record["kinesis"]["data"]))
    return READINGS / (time.perf_counter() - started)


def through_handler(events: list[dict[str, Any]], handler: ModuleType) -> float:
    handler.detector.devices.clear()  # a fresh container: no record counts as redelivered
    started = time.perf_counter()
    for event in events:
        assert handler.handler(event, Context())["batchItemFailures"] == []
    return READINGS / (time.perf_counter() - started)


def put_batched(client: Any, producer: ModuleType, readings: list[dict[str, Any]]) -> float:
    entries = [producer.entry(r) for r in readings]
    started = time.perf_counter()
    result = producer.put_all(client, "telemetry", entries)
    assert result.failed == []
    return READINGS / (time.perf_counter() - started)


def put_one_by_one(client: Any, producer: ModuleType, readings: list[dict[str, Any]]) -> float:
    entries = [producer.entry(r) for r in readings]
    started = time.perf_counter()
    for item in entries:
        client.put_record(StreamName="telemetry", Data=item.data, PartitionKey=item.partition_key)
    return READINGS / (time.perf_counter() - started)


def main() -> None:
    os.environ.setdefault("AWS_DEFAULT_REGION", REGION)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        os.environ.setdefault(name, "testing")
    os.environ["POWERTOOLS_LOG_LEVEL"] = "WARNING"  # one log line per anomaly, none per record
    with mock_aws():
        topic = boto3.client("sns", region_name=REGION).create_topic(Name="anomalies")["TopicArn"]
        os.environ.update({"ANOMALY_TOPIC_ARN": topic, "Z_THRESHOLD": "4", "WINDOW": "30"})
        kinesis = boto3.client("kinesis", region_name=REGION)
        kinesis.create_stream(StreamName="telemetry", StreamModeDetails={"StreamMode": "ON_DEMAND"})
        producer = _load(PRODUCER, "producer")
        handler = _load(CONSUMER, "handler")
        devices = 50
        readings = producer.readings(devices, READINGS // devices, spike_device="device-7")
        events = _events(readings)
        small = readings[: READINGS // 5]  # one PutRecord per reading is slow: a fifth of them
        bare, real, batched, single = [], [], [], []
        for _ in range(ROUNDS):
            bare.append(bare_decode(events))
            real.append(through_handler(events, handler))
            batched.append(put_batched(kinesis, producer, readings))
            single.append(put_one_by_one(kinesis, producer, small) * len(small) / READINGS)
    b, r = statistics.median(bare), statistics.median(real)
    p, s = statistics.median(batched), statistics.median(single)
    print(f"consumer: {READINGS} readings in batches of {BATCH}, {ROUNDS} rounds (medians)")
    print(f"  bare base64+json decode loop : {b:12,.0f} records/s")
    print(f"  real handler (Powertools)    : {r:12,.0f} records/s  ({r / b:.3f} of the bare loop)")
    print("producer against moto (in process)")
    print(f"  put_all, batched PutRecords  : {p:12,.0f} records/s")
    print(f"  one PutRecord per reading    : {s:12,.0f} records/s  (batched is {p / s:.1f}x)")
