"""Send simulated device readings to the telemetry stream.

    python runtime/telemetry_producer/producer.py --stream-name STREAM --devices 50 --readings 20
    python runtime/telemetry_producer/producer.py --stream-name STREAM --spike-device device-7

Each reading's partition key is its device id: Kinesis hashes the key (MD5) to pick a shard, so a
device's readings stay in one shard, in the order they were accepted, and many devices spread
over all shards. One very busy device (a hot key) is held to one shard's 1,000 records or
1 MiB per second whatever the shard count.

Records go in PutRecords calls of at most 500 records and 5 MiB. PutRecords is not atomic: each
entry succeeds or fails on its own (ProvisionedThroughputExceededException, InternalFailure), so
only the failed entries are sent again, after a jittered exponential back-off. A retried record
lands after records of the same key that succeeded first: readings carry their own timestamp.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import boto3

MAX_BATCH_RECORDS = 500
MAX_BATCH_BYTES = 5 * 1024 * 1024
MAX_RECORD_BYTES = 1024 * 1024  # data plus partition key
MAX_PARTITION_KEY = 256


@dataclass(frozen=True)
class Entry:
    data: bytes
    partition_key: str

    @property
    def size(self) -> int:
        return len(self.data) + len(self.partition_key.encode("utf-8"))


@dataclass
class Result:
    sent: int = 0
    attempts: int = 0
    retried: int = 0
    failed: list[tuple[Entry, str]] = field(default_factory=list)
    """Entries still refused after the last attempt, with the last error code."""


def entry(reading: dict[str, Any]) -> Entry:
    key = str(reading["deviceId"])
    made = Entry(json.dumps(reading, separators=(",", ":")).encode("utf-8"), key)
    if not 1 <= len(key) <= MAX_PARTITION_KEY:
        raise ValueError(f"deviceId: a partition key is 1 to {MAX_PARTITION_KEY} characters, got {len(key)}")
    if made.size > MAX_RECORD_BYTES:
        raise ValueError(f"reading of {key}: {made.size} bytes is over a record's 1 MiB")
    return made


def batches(entries: Iterable[Entry]) -> Iterator[list[Entry]]:
    """Consecutive groups within PutRecords' 500 records and 5 MiB."""
    batch: list[Entry] = []
    size = 0
    for item in entries:
        if batch and (len(batch) == MAX_BATCH_RECORDS or size + item.size > MAX_BATCH_BYTES):
            yield batch
            batch, size = [], 0
        batch.append(item)
        size += item.size
    if batch:
        yield batch


def put_all(
    client: Any,
    stream_name: str,
    entries: Iterable[Entry],
    *,
    max_attempts: int = 5,
    base_delay: float = 0.05,
    sleep: Callable[[float], None] = time.sleep,
) -> Result:
    """Send every entry; retry only the entries PutRecords refused, up to `max_attempts` calls."""
    result = Result()
    for batch in batches(entries):
        pending = batch
        for attempt in range(1, max_attempts + 1):
            result.attempts += 1
            response = client.put_records(
                StreamName=stream_name,
                Records=[{"Data": e.data, "PartitionKey": e.partition_key} for e in pending],
            )
            refused = [
                (item, outcome.get("ErrorCode", "?"))
                for item, outcome in zip(pending, response["Records"], strict=True)
                if "ErrorCode" in outcome
            ]
            result.sent += len(pending) - len(refused)
            if not refused:
                break
            if attempt == max_attempts:
                result.failed.extend(refused)
                break
            result.retried += len(refused)
            pending = [item for item, _ in refused]
            sleep(random.uniform(0, base_delay * 2 ** (attempt - 1)))  # full jitter
    return result


def readings(
    devices: int, per_device: int, *, spike_device: str | None = None, start: float | None = None
) -> list[dict[str, Any]]:
    """`per_device` readings of each device around 21 C, interleaved by time; the last reading of
    `spike_device` is 30 degrees above its normal: the anomaly to look for."""
    rng = random.Random(7)
    start = time.time() if start is None else start
    out = []
    for step in range(per_device):
        for number in range(devices):
            device = f"device-{number}"
            temperature = round(21 + number % 5 + rng.gauss(0, 0.3), 2)
            if device == spike_device and step == per_device - 1:
                temperature += 30
            out.append({"deviceId": device, "timestamp": start + step, "temperature": temperature})
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--stream-name", required=True, help="the stack's StreamName output")
    parser.add_argument("--devices", type=int, default=20)
    parser.add_argument("--readings", type=int, default=20, help="readings per device")
    parser.add_argument("--spike-device", help="a device whose last reading is an anomaly, e.g. device-7")
    args = parser.parse_args(argv)
    if args.devices < 1 or args.readings < 1:
        parser.error("--devices and --readings must be at least 1")
    sent = readings(args.devices, args.readings, spike_device=args.spike_device)
    result = put_all(boto3.client("kinesis"), args.stream_name, (entry(r) for r in sent))
    print(
        f"sent {result.sent} of {len(sent)} readings in {result.attempts} PutRecords calls "
        f"({result.retried} entries retried)"
    )
    for item, code in result.failed:
        print(f"not sent after retries: {item.partition_key} ({code})", file=sys.stderr)
    return 1 if result.failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
