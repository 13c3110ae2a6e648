"""How many shards a provisioned stream needs, from numbers a user knows.

Kinesis limits per shard (AWS, "Quotas and limits", Kinesis Data Streams developer guide):

- writes: 1,000 records per second and 1 MiB per second;
- reads: 2 MiB per second, shared by every standard (polling) consumer, and 5 GetRecords calls
  per second; an enhanced fan-out consumer gets its own 2 MiB per second per shard instead;
- a record is at most 1 MiB by default (a stream can be raised to 10 MiB, which this kit does
  not set).

So, for peak `r` records/s of average size `s` bytes read by `c` standard consumers:

    write_by_count = ceil(r / 1000)
    write_by_bytes = ceil(r * s / 1 MiB)
    read_by_bytes  = ceil(r * s * c / 2 MiB)
    shards         = max(write_by_count, write_by_bytes, read_by_bytes, 1)

The count assumes partition keys spread the load evenly: one hot key is held to a single
shard's 1,000 records/s and 1 MiB/s whatever the shard count.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..shared.props import PropError, expect

MIB = 1024 * 1024
WRITE_RECORDS_PER_SHARD = 1000
WRITE_BYTES_PER_SHARD = MIB
READ_BYTES_PER_SHARD = 2 * MIB
READ_CALLS_PER_SHARD = 5
MAX_RECORD_BYTES = MIB
MAX_ENHANCED_FAN_OUT_CONSUMERS = 20
# A Lambda event source polls each shard once a second: five standard consumers use all five
# GetRecords calls a shard allows, and a sixth is throttled whatever the shard count.
MAX_STANDARD_CONSUMERS = READ_CALLS_PER_SHARD


@dataclass(frozen=True)
class ShardPlan:
    """The shard count and the limit that set it, for the page and for a synth-time check."""

    shards: int
    write_by_count: int
    write_by_bytes: int
    read_by_bytes: int

    @property
    def bound_by(self) -> str:
        """Which limit decides the count: 'write records', 'write bytes' or 'read bytes'."""
        candidates = {
            "write records": self.write_by_count,
            "write bytes": self.write_by_bytes,
            "read bytes": self.read_by_bytes,
        }
        return max(candidates, key=lambda name: candidates[name])


def plan_shards(
    *,
    peak_records_per_second: int,
    average_record_bytes: int,
    standard_consumers: int = 1,
    enhanced_fan_out_consumers: int = 0,
) -> ShardPlan:
    """The shards a provisioned stream needs at its peak; refuses what Kinesis cannot do."""
    expect("peak_records_per_second", peak_records_per_second, int)
    expect("average_record_bytes", average_record_bytes, int)
    expect("standard_consumers", standard_consumers, int)
    expect("enhanced_fan_out_consumers", enhanced_fan_out_consumers, int)
    if peak_records_per_second < 1:
        raise PropError("peak_records_per_second", f"must be at least 1, got {peak_records_per_second}")
    if average_record_bytes < 1:
        raise PropError("average_record_bytes", f"must be at least 1 byte, got {average_record_bytes}")
    if average_record_bytes > MAX_RECORD_BYTES:
        raise PropError(
            "average_record_bytes",
            f"{average_record_bytes} bytes is over the 1 MiB ({MAX_RECORD_BYTES} bytes) a Kinesis record "
            "may hold; store the payload in S3 and send its key, or raise the stream's "
            "MaxRecordSizeInKiB (up to 10 MiB) yourself",
        )
    if standard_consumers < 0 or enhanced_fan_out_consumers < 0:
        raise PropError("standard_consumers", "consumer counts cannot be negative")
    if standard_consumers + enhanced_fan_out_consumers < 1:
        raise PropError("standard_consumers", "a stream nobody reads needs no shards; count its consumers")
    if standard_consumers > MAX_STANDARD_CONSUMERS:
        raise PropError(
            "standard_consumers",
            f"{standard_consumers} polling consumers exceed the {READ_CALLS_PER_SHARD} GetRecords calls "
            "per second a shard allows (each Lambda event source polls every shard once a second); "
            "make the extra consumers enhanced fan-out consumers",
        )
    if enhanced_fan_out_consumers > MAX_ENHANCED_FAN_OUT_CONSUMERS:
        raise PropError(
            "enhanced_fan_out_consumers",
            f"{enhanced_fan_out_consumers} exceeds the {MAX_ENHANCED_FAN_OUT_CONSUMERS} enhanced fan-out "
            "consumers a stream may register",
        )
    bytes_per_second = peak_records_per_second * average_record_bytes
    write_by_count = math.ceil(peak_records_per_second / WRITE_RECORDS_PER_SHARD)
    write_by_bytes = math.ceil(bytes_per_second / WRITE_BYTES_PER_SHARD)
    read_by_bytes = math.ceil(bytes_per_second * standard_consumers / READ_BYTES_PER_SHARD)
    shards = max(write_by_count, write_by_bytes, read_by_bytes, 1)
    return ShardPlan(shards, write_by_count, write_by_bytes, read_by_bytes)
