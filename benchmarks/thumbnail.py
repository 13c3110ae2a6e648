"""The thumbnail function: what its cold start costs, and what one image costs once warm,
against the bare decode + resize of the same library (Pillow) in the same run.

Cold start: fresh Python processes, interleaved, timing (inside the process) the import of
Pillow alone and of the handler module (Pillow, Powertools, boto3 and two clients). Warm: the
real record handler in-process against moto (head, get, thumbnail, put), per JPEG of three
sizes, next to `Image.open(...).thumbnail(...)` + JPEG save alone, and to the handler's own
`make_thumbnail` (its draft decoding and orientation). Ratios are the figures; absolute times
are context (this machine is x86_64 and shared; Lambda runs the aarch64 wheel).
"""

from __future__ import annotations

import io
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
FUNCTION_DIR = ROOT / "lambda" / "thumbnail"
COLD_ROUNDS = int(os.environ.get("BENCH_COLD_ROUNDS", "5"))
WARM_ROUNDS = int(os.environ.get("BENCH_WARM_ROUNDS", "7"))
SIZES = ((640, 480), (1920, 1080), (4000, 3000))
ENVIRONMENT = {
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_DEFAULT_REGION": "eu-west-1",
    "AWS_EC2_METADATA_DISABLED": "true",
    "UPLOADS_BUCKET": "uploads",
    "THUMBNAILS_BUCKET": "thumbnails",
    "REJECTED_QUEUE_URL": "https://sqs.eu-west-1.amazonaws.com/123456789012/rejected",
    "POWERTOOLS_SERVICE_NAME": "thumbnail",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_LOG_LEVEL": "WARNING",
}
TIMED_IMPORT = """
import sys, time
sys.path.insert(0, {folder!r})
started = time.perf_counter()
{code}
print(time.perf_counter() - started)
"""
COLD_CASES = {"import PIL.Image": "import PIL.Image", "handler module (import + init)": "import handler"}


def cold_once(code: str) -> float:
    script = TIMED_IMPORT.format(folder=str(FUNCTION_DIR), code=code)
    out = subprocess.run(
        [sys.executable, "-c", script],
        env={**os.environ, **ENVIRONMENT},
        capture_output=True,
        text=True,
        check=True,
    )
    return float(out.stdout.strip().splitlines()[-1])


def photo(width: int, height: int) -> bytes:
    """A JPEG with detail (a gradient with noise), so decoding is not trivially fast."""
    from PIL import Image

    image = Image.linear_gradient("L").resize((width, height)).convert("RGB")
    noise = Image.effect_noise((width, height), 40).convert("RGB")
    out = io.BytesIO()
    Image.blend(image, noise, 0.3).save(out, format="JPEG", quality=90)
    return out.getvalue()


def bare(data: bytes) -> bytes:
    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        image.thumbnail((256, 256))
        out = io.BytesIO()
        image.convert("RGB").save(out, format="JPEG", quality=85)
        return out.getvalue()


def median_ms(action: Any, rounds: int) -> float:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def main() -> None:
    cold: dict[str, list[float]] = {name: [] for name in COLD_CASES}
    for _ in range(COLD_ROUNDS):
        for name, code in COLD_CASES.items():
            cold[name].append(cold_once(code))
    base = statistics.median(cold["import PIL.Image"])
    print(f"cold start, median of {COLD_ROUNDS} fresh processes:")
    for name, times in cold.items():
        print(
            f"  {name:34s} {statistics.median(times) * 1000:7.1f} ms  x{statistics.median(times) / base:5.1f}"
        )

    os.environ.update(ENVIRONMENT)
    from moto import mock_aws

    with mock_aws():
        import boto3

        s3 = boto3.client("s3")
        for bucket in ("uploads", "thumbnails"):
            s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        sys.path.insert(0, str(FUNCTION_DIR))
        import handler  # the real module, its clients inside moto
        import thumbnails
        from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

        print(f"warm, per image, median of {WARM_ROUNDS}:")
        print(
            f"  {'size':>10s} {'bare Pillow':>12s} {'make_thumbnail':>15s} {'handler+S3(moto)':>17s}  ratios"
        )
        for width, height in SIZES:
            data = photo(width, height)
            key = f"uploads/{width}x{height}.jpg"
            etag = s3.put_object(Bucket="uploads", Key=key, Body=data)["ETag"].strip('"')
            body = json.dumps(
                {
                    "source": "aws.s3",
                    "detail-type": "Object Created",
                    "detail": {
                        "bucket": {"name": "uploads"},
                        "object": {"key": key, "size": len(data), "etag": etag},
                    },
                }
            )
            record = SQSRecord({"messageId": "m", "body": body, "receiptHandle": "r", "attributes": {}})

            def through_handler(key: str = key, record: SQSRecord = record) -> None:
                s3.delete_object(
                    Bucket="thumbnails", Key=handler.thumbnail_key(key)
                )  # not idempotently skipped
                assert handler.record_handler(record) == "made"

            t_bare = median_ms(lambda data=data: bare(data), WARM_ROUNDS)
            t_own = median_ms(
                lambda data=data: thumbnails.make_thumbnail(data, max_pixels=10**8), WARM_ROUNDS
            )
            t_handler = median_ms(through_handler, WARM_ROUNDS)
            print(
                f"  {width}x{height:<5d} {t_bare:9.1f} ms {t_own:12.1f} ms {t_handler:14.1f} ms"
                f"  own/bare x{t_own / t_bare:.2f}  handler/bare x{t_handler / t_bare:.2f}"
            )


if __name__ == "__main__":
    main()
