"""MultiTier, deployed: what docs/multi-tier.md promises, through the load balancer.

- `GET /health` answers 200 `{"status": "serving"}` (the ALB's shallow check).
- `GET /health/deep` answers 200 with the writer, every replica and the cache up: the read tier
  the app serves from is there and reachable from the instances.
- `PUT /products/<id>` goes through RDS Proxy to the writer and answers 200 with the product.
- `GET /products/<id>` then answers the written product: cache-aside from Valkey, the replicas
  behind it. (The answer does not say which one served it; the deep check above is what shows
  that both answer.)

The production profile needs a certificate: context `certificate_arn` (the kit's snapshot uses
none, so the sandbox ALB serves plain HTTP, as the page says).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

# The CDK CLI runs this file as a script: make the kit's packages importable.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aws_cdk as cdk
from aws_cdk import integ_tests_alpha as integ

from integ import harness
from stacks.multi_tier_stack import MultiTierStack

INTERVAL, TIMEOUT = cdk.Duration.seconds(30), cdk.Duration.minutes(10)
PRODUCT = {"name": "Integration book", "price": "12.00", "stock": 5}


def build(app: cdk.App) -> integ.IntegTest:
    product_id = f"integ-{harness.run_id()}"
    stack = MultiTierStack(
        app, "MultiTier", profile=harness.profile(app), stack_name=harness.integ_stack_name("MultiTier")
    )
    test = harness.integ_test(app, "MultiTierInteg", stack)
    url = stack.web.url

    def http(
        path: str, expected: dict[str, object], method: str = "GET", body: str | None = None
    ) -> integ.IApiCall:
        call = test.assertions.http_api_call(f"{url}{path}", method=method, body=body)
        call.expect(integ.ExpectedResult.object_like(expected))
        return call.wait_for_assertions(interval=INTERVAL, total_timeout=TIMEOUT)

    product = {"id": product_id, **PRODUCT}
    (
        http("/health", {"status": 200, "body": {"status": "serving"}})
        .next(
            http(
                "/health/deep",
                {"status": 200, "body": {"databases": {"writer": True, "replica1": True}, "cache": True}},
            )
        )
        .next(
            http(
                f"/products/{product_id}",
                {"status": 200, "body": product},
                method="PUT",
                body=json.dumps(PRODUCT),
            )
        )
        .next(http(f"/products/{product_id}", {"status": 200, "body": product}))
    )
    return test


if __name__ == "__main__":
    harness.run(build)
