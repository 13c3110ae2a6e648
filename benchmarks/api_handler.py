"""The orders API handler: what its cold start costs, and what one request costs once warm.

Cold start: each round starts fresh Python processes, interleaved, and times (inside the
process, so interpreter start-up is left out) importing boto3 alone, then boto3 plus a DynamoDB
client, then the handler module (Powertools logger, router, DynamoDB client), the same with
TRACE_AWS_CALLS=true (Powertools' Tracer, the X-Ray SDK patching botocore), and the X-Ray SDK
alone (it imports botocore and asyncio too, so its time overlaps boto3's). The ratio to boto3
alone is the figure; absolute times are context. benchmarks/cold_start.py measures every
function of the kit the same way.

Warm requests: the real handler in-process against moto, each route timed per call, next to the
same read without the HTTP layer (OrderStore.get) and a bare boto3 GetItem, the floor moto itself
sets. moto copies every table for each transaction, so POST (a two-item transaction) grows with
the table here; in DynamoDB it does not.
"""

from __future__ import annotations

import importlib.util
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
FUNCTION_DIR = ROOT / "lambda" / "orders_api"
COLD_ROUNDS = int(os.environ.get("BENCH_COLD_ROUNDS", "7"))
WARM_REQUESTS = int(os.environ.get("BENCH_WARM_REQUESTS", "300"))
ENVIRONMENT = {
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_DEFAULT_REGION": "eu-west-1",
    "AWS_EC2_METADATA_DISABLED": "true",
    "TABLE_NAME": "orders",
    "OWNER_INDEX": "byOwner",
    "POWERTOOLS_SERVICE_NAME": "orders-api",
}
TIMED_IMPORT = """
import sys, time
sys.path.insert(0, {folder!r})
started = time.perf_counter()
{code}
print(time.perf_counter() - started)
"""
# name -> (code, extra environment)
COLD_CASES = {
    "import boto3": ("import boto3", {}),
    "import boto3 + DynamoDB client": ("import boto3; boto3.client('dynamodb')", {}),
    "handler module (import + init)": ("import app", {}),
    "handler with TRACE_AWS_CALLS=true": ("import app", {"TRACE_AWS_CALLS": "true"}),
    "X-Ray SDK alone (+ its botocore)": ("import aws_xray_sdk.core", {}),
}
# As the stack deploys it (the tests check the template has these keys and index).
TABLE = {
    "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
    "AttributeDefinitions": [
        {"AttributeName": "id", "AttributeType": "S"},
        {"AttributeName": "ownerId", "AttributeType": "S"},
        {"AttributeName": "createdAt", "AttributeType": "S"},
    ],
    "GlobalSecondaryIndexes": [
        {
            "IndexName": "byOwner",
            "KeySchema": [
                {"AttributeName": "ownerId", "KeyType": "HASH"},
                {"AttributeName": "createdAt", "KeyType": "RANGE"},
            ],
            "Projection": {"ProjectionType": "ALL"},
        }
    ],
    "BillingMode": "PAY_PER_REQUEST",
}


def cold_once(code: str, extra: dict[str, str]) -> float:
    # As in Lambda: the tracer is on (it imports and patches with the X-Ray SDK) unless told.
    env = {**os.environ, **ENVIRONMENT, "AWS_LAMBDA_FUNCTION_NAME": "orders-api"}
    env.pop("POWERTOOLS_TRACE_DISABLED", None)
    env.update(extra)
    script = TIMED_IMPORT.format(folder=str(FUNCTION_DIR), code=code)
    result = subprocess.run(
        [sys.executable, "-c", script], env=env, check=True, capture_output=True, text=True, cwd=FUNCTION_DIR
    )
    return float(result.stdout.strip().splitlines()[-1])


def cold_start() -> None:
    timings: dict[str, list[float]] = {name: [] for name in COLD_CASES}
    for _ in range(COLD_ROUNDS):
        for name, (code, extra) in COLD_CASES.items():
            timings[name].append(cold_once(code, extra))
    boto3_alone = statistics.median(timings["import boto3"])
    print(f"cold start, median of {COLD_ROUNDS} fresh processes each (interleaved):")
    for name, values in timings.items():
        median = statistics.median(values)
        print(f"  {name:34} {median * 1000:7.1f} ms   x{median / boto3_alone:5.2f} of boto3 alone")


def load_handler() -> ModuleType:
    sys.path.insert(0, str(FUNCTION_DIR))
    spec = importlib.util.spec_from_file_location("bench_orders_api_app", FUNCTION_DIR / "app.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def timed(call: Callable[[], Any], samples: list[float]) -> Any:
    started = time.perf_counter()
    result = call()
    samples.append(time.perf_counter() - started)
    return result


def warm_requests() -> None:
    os.environ.update({**ENVIRONMENT, "POWERTOOLS_TRACE_DISABLED": "true", "POWERTOOLS_LOG_LEVEL": "WARNING"})
    import boto3
    from moto import mock_aws

    sys.path.insert(0, str(ROOT))
    from tests.orders_api_events import FakeContext, proxy_event

    with mock_aws():
        client = boto3.client("dynamodb")
        client.create_table(TableName="orders", **TABLE)
        module = load_handler()
        handler, store = module.handler, module.store
        context = FakeContext()
        samples: dict[str, list[float]] = {
            "POST /orders": [],
            "GET /orders/{id}": [],
            "PUT /orders/{id}": [],
            "GET /orders (own, 20 a page)": [],
            "OrderStore.get alone (no HTTP)": [],
            "floor: boto3 GetItem on moto": [],
        }
        items = [{"sku": "BOOK-1", "quantity": 2, "unitPriceCents": 1250}]
        for n in range(WARM_REQUESTS):
            caller = f"user-{n % 10}"
            create = proxy_event(
                "POST",
                "/orders",
                body={"items": items},
                headers={"Idempotency-Key": str(uuid.uuid4())},
                caller=caller,
            )
            created = json.loads(timed(lambda e=create: handler(e, context), samples["POST /orders"])["body"])
            path = f"/orders/{created['id']}"
            read = proxy_event("GET", path, caller=caller)
            assert timed(lambda e=read: handler(e, context), samples["GET /orders/{id}"])["statusCode"] == 200
            change = {"version": 1, "items": items, "requiresShipping": False}
            update = proxy_event("PUT", path, body=change, caller=caller)
            assert (
                timed(lambda e=update: handler(e, context), samples["PUT /orders/{id}"])["statusCode"] == 200
            )
            listing = proxy_event("GET", "/orders", query={"limit": "20"}, caller=caller)
            page = timed(lambda e=listing: handler(e, context), samples["GET /orders (own, 20 a page)"])
            assert page["statusCode"] == 200  # timing a refusal would say nothing
            timed(
                lambda c=caller, i=created["id"]: store.get(c, i), samples["OrderStore.get alone (no HTTP)"]
            )
            key = {"id": {"S": created["id"]}}
            timed(
                lambda k=key: client.get_item(TableName="orders", Key=k),
                samples["floor: boto3 GetItem on moto"],
            )
    floor = statistics.median(samples["floor: boto3 GetItem on moto"])
    print(f"warm requests in-process against moto, {WARM_REQUESTS} of each:")
    for name, values in samples.items():
        median = statistics.median(values)
        print(
            f"  {name:30} median {median * 1000:6.2f} ms   p99 {percentile(values, 0.99) * 1000:6.2f} ms"
            f"   x{median / floor:5.2f} of the floor"
        )


def main() -> None:
    cold_start()
    warm_requests()


if __name__ == "__main__":
    main()
