"""GlobalReadsHome and GlobalReads, deployed: what docs/global-reads.md promises, through both
Regions' load balancers.

- Both Regions answer `GET /health` 200 (what the Route 53 health checks ask): home by its own
  name `home.<domain>`, the read Region through its load balancer.
- `PUT /products/<id>` on the read Region's load balancer is forwarded home and answers 200
  with the product (the read Region has no writer).
- `GET /products/<id>` on the read Region's load balancer then answers the product: from the
  replica once it has replayed the write, or from home until then (a call carries no cookie).
- `GET /products/<id>` at `home.<domain>` answers it too: it was written there.
The assertions run from the read Region (their stack is pinned there).

It runs in a real account elsewhere, never here: both Regions need `cdk bootstrap`, and the
Route 53 records need a public hosted zone you own: put `home_region`, `read_region`, `domain`
and `hosted_zone_id` in cdk.json's context for the run. The committed snapshot is synthesized
with `stacks.EXAMPLE_CONTEXT` (a domain that never resolves).
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
from stacks.global_reads_stack import (
    CONTEXT_KEYS,
    EXAMPLE_CONTEXT,
    HOME_STACK_ID,
    READ_STACK_ID,
    GlobalReadsContext,
    GlobalReadsHomeStack,
    GlobalReadsStack,
)

INTERVAL, TIMEOUT = cdk.Duration.seconds(30), cdk.Duration.minutes(10)
PRODUCT = {"name": "Integration lamp", "price": "9.50", "stock": 3}


def build(app: cdk.App) -> integ.IntegTest:
    given = {key: app.node.try_get_context(key) for key in CONTEXT_KEYS}
    context = GlobalReadsContext.of(given) or GlobalReadsContext(**EXAMPLE_CONTEXT)
    profile = harness.profile(app)
    home = GlobalReadsHomeStack(
        app,
        HOME_STACK_ID,
        profile=profile,
        context=context,
        stack_name=harness.integ_stack_name(HOME_STACK_ID),
        env=cdk.Environment(region=context.home_region),
    )
    reads = GlobalReadsStack(
        app,
        READ_STACK_ID,
        profile=profile,
        context=context,
        home_stack_name=home.stack_name,
        home_https=home.https,
        stack_name=harness.integ_stack_name(READ_STACK_ID),
        env=cdk.Environment(region=context.read_region),
    )
    reads.add_dependency(home, "the replica's source and the secret's replica are made by the home stack")
    # The assertions run in the read Region, where they may read the read stack's load balancer;
    # home is called by its own name (`home.<domain>`): nothing references across Regions. Named
    # like the default assertion stack, which `make integ` finds by "DeployAssert" to clean up.
    asserts = cdk.Stack(app, "GlobalReadsDeployAssert", env=cdk.Environment(region=context.read_region))
    test = integ.IntegTest(
        app,
        "GlobalReadsInteg",
        test_cases=[home, reads],
        assertion_stack=asserts,
        stack_update_workflow=False,
    )
    home_url = f"{'https' if home.web.url.startswith('https://') else 'http'}://{context.home_name}"
    product_id = f"integ-{harness.run_id()}"
    product = {"id": product_id, **PRODUCT}

    def http(url: str, path: str, expected: dict[str, object], method: str = "GET") -> integ.IApiCall:
        body = json.dumps(PRODUCT) if method == "PUT" else None
        call = test.assertions.http_api_call(f"{url}{path}", method=method, body=body)
        call.expect(integ.ExpectedResult.object_like(expected))
        return call.wait_for_assertions(interval=INTERVAL, total_timeout=TIMEOUT)

    serving = {"status": 200, "body": {"status": "serving"}}
    (
        http(home_url, "/health", serving)
        .next(http(reads.web.url, "/health", serving))
        .next(http(reads.web.url, f"/products/{product_id}", {"status": 200, "body": product}, method="PUT"))
        .next(http(reads.web.url, f"/products/{product_id}", {"status": 200, "body": product}))
        .next(http(home_url, f"/products/{product_id}", {"status": 200, "body": product}))
    )
    return test


if __name__ == "__main__":
    harness.run(build)
