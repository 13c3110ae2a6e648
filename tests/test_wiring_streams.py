"""The Kinesis wiring rules beyond their fixture cases (listed in tests/test_wiring_rules.py).

StreamKeyAccess: with SSE-KMS, Kinesis calls KMS as the caller; a reader without kms:Decrypt and
a writer without kms:GenerateDataKey on the stream's key get KMSAccessDeniedException (AWS,
"Permissions to use user-generated KMS keys"; Firehose: "Grant Firehose access to a Kinesis
data stream"). StreamAlarmDimension: Kinesis and Firehose publish per-stream metrics only with
the StreamName / DeliveryStreamName dimension, so an alarm without it has no data.
"""

from __future__ import annotations

from tests.test_wiring_rules import findings


def test_a_writer_with_only_decrypt_is_told_what_it_lacks() -> None:
    (producer,) = [
        v
        for v in findings("streams", "readers-and-writers-without-key-grants", "StreamKeyAccess")
        if v.resource.logical_id == "ProducerRole"
    ]
    assert "kms:GenerateDataKey" in producer.description and "writes to" in producer.description
