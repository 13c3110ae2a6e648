"""What each path of the order saga costs in Step Functions state transitions and Lambda calls.

Standard workflows bill per state transition, so the transitions of each path are the cost
figure. Every path runs in one process, in moto, from the synthesized definition with the real
handlers (the tests' harness); a two-line order, one SKU short for the out-of-stock path.
Printed side by side with the ratio to the happy path.
"""

from __future__ import annotations

import logging
import os

PRICE_PER_1000_TRANSITIONS = 0.025  # USD, Standard workflows, us-east-1, after the free tier
PRICE_PER_MILLION_REQUESTS = 0.20  # USD, Lambda requests (duration not included)

for name, value in {
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_DEFAULT_REGION": "eu-west-1",
    "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
    "POWERTOOLS_LOG_LEVEL": "ERROR",
}.items():
    os.environ.setdefault(name, value)


def main() -> None:
    from moto import mock_aws

    # moto logs every error a state raises (the paths under test raise on purpose).
    logging.getLogger("moto").setLevel(logging.CRITICAL)

    from tests.order_workflow_harness import MOTO_CONFIG, Sandbox, order

    paths = {
        "completed": {},
        "out of stock": {"lines": {"SKU-1": 1, "SKU-2": 9}},
        "payment declined": {"paymentToken": "tok_decline"},
        "shipment failed": {"address": {"country": "AQ"}},
    }
    rows = []
    with mock_aws(config=MOTO_CONFIG):
        box = Sandbox()
        with box.running():
            for index, (path, overrides) in enumerate(paths.items()):
                box.stock("SKU-1", 5)
                box.stock("SKU-2", 5)
                lines = overrides.pop("lines", {"SKU-1": 1, "SKU-2": 1})
                calls_before = len(box.handlers.calls)
                arn = box.start(order(f"bench-{index}", lines=lines, **overrides))
                status = box.finish(arn)["status"]
                transitions = len(box.states_entered(arn))
                rows.append((path, status, transitions, len(box.handlers.calls) - calls_before))
    happy = rows[0][2]
    header = ("path", "status", "transitions", "lambda calls", "USD / 1M orders", "vs completed")
    print(f"{header[0]:<18}{header[1]:<11}" + "".join(f"{h:>{len(h) + 3}}" for h in header[2:]))
    for path, status, transitions, calls in rows:
        cost = transitions * 1000 * PRICE_PER_1000_TRANSITIONS + calls * PRICE_PER_MILLION_REQUESTS
        print(f"{path:<18}{status:<11}{transitions:>14}{calls:>15}{cost:>18.2f}{transitions / happy:>15.2f}")


if __name__ == "__main__":
    main()
