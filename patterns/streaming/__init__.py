"""Streaming: a Kinesis data stream, Lambda consumers, a Firehose archive to S3, and alarms.

construct: `construct.py` (StreamPipeline), `shards.py` (shard arithmetic)
stack:     `stacks/streaming_stack.py`
runtime:   `lambda/telemetry_anomalies/` (the consumer), `runtime/telemetry_producer/` (the CLI)
tests:     `tests/test_streaming_*.py`
page:      `docs/streaming.md`
"""

from .construct import LambdaConsumer, S3Archive, StreamPipeline
from .shards import ShardPlan, plan_shards

__all__ = ["LambdaConsumer", "S3Archive", "ShardPlan", "StreamPipeline", "plan_shards"]
