"""What the synthesized `Streaming` stack does with real readings, in moto, with the real
producer and consumer. moto routes records to shards by the MD5 of the partition key; it does
not run the event source mapping nor forward the stream to Firehose, so the tests hand the
records read back from moto's shards to the handler and to Firehose themselves."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from tests.kit import template_json
from tests.streaming_world import STREAM, StreamingWorld, producer, readings_of

SPIKE = "device-7"


@pytest.fixture(params=["sandbox", "production"])
def world(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[StreamingWorld]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    with mock_aws():
        yield StreamingWorld(template_json("Streaming", request.param)).build()


def _send(world: StreamingWorld, devices: int = 12, per_device: int = 15, spike: str | None = None) -> Any:
    cli = producer()
    sent = cli.readings(devices, per_device, spike_device=spike, start=1_700_000_000)
    result = cli.put_all(world.kinesis, STREAM, [cli.entry(r) for r in sent], sleep=lambda _: None)
    assert result.failed == [] and result.sent == len(sent)
    return sent


def test_a_device_s_readings_stay_in_one_shard_in_order_chosen_by_md5(world: StreamingWorld) -> None:
    """Kinesis maps a partition key's MD5, as a 128-bit integer, into one shard's hash key range
    (AWS, "Kinesis Data Streams terminology": partition key), and sequence numbers order the
    records of a shard."""
    summary = world.kinesis.describe_stream_summary(StreamName=STREAM)["StreamDescriptionSummary"]
    assert summary["StreamModeDetails"]["StreamMode"] == "ON_DEMAND"
    sent = _send(world)
    ranges = {
        s["ShardId"]: (int(s["HashKeyRange"]["StartingHashKey"]), int(s["HashKeyRange"]["EndingHashKey"]))
        for s in world.shards()
    }
    shards_of: dict[str, set[str]] = {}
    for shard_id, records in world.records_by_shard().items():
        for record in records:
            shards_of.setdefault(record["PartitionKey"], set()).add(shard_id)
        for device in {r["PartitionKey"] for r in records}:
            times = [r["timestamp"] for r in readings_of(records) if r["deviceId"] == device]
            assert times == sorted(times) and len(times) == 15, device
    assert len({s for found in shards_of.values() for s in found}) > 1  # twelve keys spread out
    for device, found in shards_of.items():
        (shard_id,) = found
        low, high = ranges[shard_id]
        assert low <= int(hashlib.md5(device.encode()).hexdigest(), 16) <= high
    assert len(shards_of) == len({r["deviceId"] for r in sent})


def test_the_consumer_reports_only_the_bad_record_and_publishes_the_spike(
    world: StreamingWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    _send(world, per_device=14)
    bad = world.kinesis.put_record(
        StreamName=STREAM, PartitionKey="device-3", Data=b'{"deviceId": "device-3", '
    )
    _send(world, per_device=1, spike=SPIKE)  # one more reading each; device-7's is 30 degrees up
    handler = world.consumer(monkeypatch)
    failed: list[str] = []
    by_shard = world.records_by_shard()
    for shard_id, records in by_shard.items():
        for event in world.batches(shard_id, records):
            failed += world.invoke(handler, event)
    assert failed == [bad["SequenceNumber"]]
    anomalies = world.anomalies()
    assert [(a["deviceId"], a["temperature"] > 45) for a in anomalies] == [(SPIKE, True)]
    assert anomalies[0]["anomalyId"].endswith(anomalies[0]["anomalyId"].split(":")[1])

    # Lambda retries the shard from the reported record: the records after it come again,
    # and neither count twice in the statistics nor publish the anomaly again.
    shard_id = bad["ShardId"]
    records = by_shard[shard_id]
    start = next(i for i, r in enumerate(records) if r["SequenceNumber"] == bad["SequenceNumber"])
    retried = {"Records": [world.lambda_record(shard_id, r) for r in records[start:]]}
    assert world.invoke(handler, retried) == [bad["SequenceNumber"]]
    assert world.anomalies() == []


class TopicDownOnce:
    """The SNS client, refusing the first publish as a topic that is briefly unavailable does."""

    def __init__(self, client: Any) -> None:
        self.client, self.refused, self.published = client, 0, 0

    def publish(self, **kwargs: Any) -> Any:
        if not self.refused:
            self.refused += 1
            raise ClientError({"Error": {"Code": "InternalError", "Message": "down"}}, "Publish")
        self.published += 1
        return self.client.publish(**kwargs)


def _drain(
    world: StreamingWorld, handler: Any, shard_id: str, records: list[dict[str, Any]]
) -> list[list[str]]:
    """Feed a shard to the handler as Lambda's poller does with ReportBatchItemFailures: the next
    batch starts at the lowest reported sequence number, or after the batch when none failed.
    Returns what each invocation reported."""
    reports: list[list[str]] = []
    position = 0
    while position < len(records):
        batch = records[position : position + world.batch_size]
        failed = world.invoke(handler, {"Records": [world.lambda_record(shard_id, r) for r in batch]})
        reports.append(failed)
        assert len(reports) < 10, reports
        sequences = [r["SequenceNumber"] for r in batch]
        position += sequences.index(min(failed, key=int)) if failed else len(batch)
    return reports


def test_an_anomaly_that_cannot_be_published_is_published_on_the_retry_once(
    world: StreamingWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Later readings of the spiking device, in the same batch, must not mark its history past
    the failed record: that would make the retry look already applied and drop the anomaly."""
    _send(world, per_device=14)
    _send(world, per_device=1, spike=SPIKE)
    _send(world, per_device=3)  # device-7 reads normally again, after the spike, in its shard
    handler = world.consumer(monkeypatch)
    topic = TopicDownOnce(handler.sns)
    monkeypatch.setattr(handler, "sns", topic)
    for shard_id, records in world.records_by_shard().items():
        reports = _drain(world, handler, shard_id, records)
        if SPIKE not in {r["PartitionKey"] for r in records}:
            assert reports == [[]] * len(reports)
            continue
        assert len(records) <= world.batch_size  # the shard is one batch, then its retry
        spike = next(r for r in records if json.loads(r["Data"])["temperature"] > 45)
        start = records.index(spike)
        # The failed record and every later one of its shard in the batch, then a clean retry.
        assert reports[0] == [r["SequenceNumber"] for r in records[start : world.batch_size]]
        assert reports[1:] == [[]] * (len(reports) - 1)
    anomalies = world.anomalies()
    assert [(a["deviceId"], a["temperature"] > 45) for a in anomalies] == [(SPIKE, True)]
    assert topic.refused == topic.published == 1


def test_firehose_writes_every_reading_it_is_given_under_the_configured_prefix(world: StreamingWorld) -> None:
    """moto writes PutRecordBatch to S3 under the literal prefix plus its own yyyy/mm/dd/HH
    (it does not evaluate !{timestamp:...} nor compress); the dated part is Firehose's."""
    sent = _send(world, devices=5, per_device=4)
    records = [r for shard in world.records_by_shard().values() for r in shard]
    world.forward_to_archive(records)
    objects = world.archived_objects()
    literal = world.archive["Prefix"].split("!{", 1)[0]
    assert literal == "readings/" and all(key.startswith(literal) for key in objects)
    lines = b"".join(objects.values()).splitlines()
    assert sorted(lines) == sorted(r["Data"] for r in records)
    assert len(lines) == len(sent)


class FlakyKinesis:
    """A Kinesis client that refuses every third entry of a PutRecords call the first time it
    sees it, as a throttled shard does (the entry gets ErrorCode, the others are written)."""

    def __init__(self, client: Any) -> None:
        self.client, self.refused, self.calls = client, set(), 0

    def put_records(self, *, StreamName: str, Records: list[dict[str, Any]]) -> dict[str, Any]:
        self.calls += 1
        outcome: list[dict[str, Any] | None] = []
        passed = []
        for index, record in enumerate(Records):
            if index % 3 == 0 and record["Data"] not in self.refused:
                self.refused.add(record["Data"])
                outcome.append(
                    {"ErrorCode": "ProvisionedThroughputExceededException", "ErrorMessage": "slow"}
                )
            else:
                outcome.append(None)
                passed.append(record)
        written = iter(
            self.client.put_records(StreamName=StreamName, Records=passed)["Records"] if passed else []
        )
        return {"Records": [o if o is not None else next(written) for o in outcome]}


def test_the_producer_resends_only_the_refused_entries(world: StreamingWorld) -> None:
    cli = producer()
    sent = cli.readings(40, 20, start=1_700_000_000)  # 800 readings: two PutRecords batches
    flaky = FlakyKinesis(world.kinesis)
    result = cli.put_all(flaky, STREAM, [cli.entry(r) for r in sent], sleep=lambda _: None)
    assert result.failed == [] and result.sent == 800
    assert result.retried == len(flaky.refused) > 0
    assert flaky.calls == 4  # each batch once, then once more with its refused entries
    stored = sorted(r["Data"] for shard in world.records_by_shard().values() for r in shard)
    assert stored == sorted(cli.entry(r).data for r in sent)  # every reading once: none twice
