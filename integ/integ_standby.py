"""Standby, deployed (warm standby, so both Regions serve): what docs/standby.md promises of the
failover name.

- `https://api.<domain>/health` answers 200 `{"status": "ok"}` through the PRIMARY failover
  record, its regional custom domain and certificate (DNS and the certificate's validation may
  take minutes after the deploy, so the call is retried).

It needs a public hosted zone in the account: `REFARCH_INTEG_DOMAIN` and `REFARCH_INTEG_ZONE_ID`
(and optionally `REFARCH_INTEG_PRIMARY_REGION`, `REFARCH_INTEG_STANDBY_REGION`); the committed
snapshot is synthesized with the kit's example values under the never-resolving .test domain.
The game-day failover (the runbook's execution in the standby Region) is run by hand, as the
page describes: integ-tests-alpha's assertions call AWS in one Region only, and a cross-Region
reference to the runbook's ARN is what these stacks avoid. Run it in a sandbox account: the
table is named after the domain, like a deployment of the kit's own Standby stacks.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

# The CDK CLI runs this file as a script: make the kit's packages importable.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aws_cdk as cdk
from aws_cdk import integ_tests_alpha as integ

from integ import harness
from stacks.standby_stack import WARM_STANDBY, StandbySettings, build_standby

# A new certificate's DNS validation and the record's propagation: minutes, rarely more than 30.
INTERVAL, TIMEOUT = cdk.Duration.seconds(60), cdk.Duration.minutes(30)
EXAMPLE = {"domain": "refarch.test", "zone": "Z0EXAMPLE0REFARCH0TEST"}


def settings() -> StandbySettings:
    return StandbySettings(
        primary_region=os.environ.get("REFARCH_INTEG_PRIMARY_REGION", "eu-west-1"),
        standby_region=os.environ.get("REFARCH_INTEG_STANDBY_REGION", "eu-central-1"),
        domain=os.environ.get("REFARCH_INTEG_DOMAIN", EXAMPLE["domain"]),
        hosted_zone_id=os.environ.get("REFARCH_INTEG_ZONE_ID", EXAMPLE["zone"]),
        strategy=WARM_STANDBY,
    )


def build(app: cdk.App) -> integ.IntegTest:
    profile = harness.profile(app)
    given = settings()
    stacks = build_standby(
        app,
        profile=profile,
        described=lambda what: f"refarch integ: {what}",
        settings=given,
        stack_name=harness.integ_stack_name,
    )
    test = harness.integ_test(app, "StandbyInteg", *stacks.values())
    test.assertions.http_api_call(f"https://{given.api_domain}/health").expect(
        integ.ExpectedResult.object_like({"status": 200, "body": {"status": "ok"}})
    ).wait_for_assertions(interval=INTERVAL, total_timeout=TIMEOUT)
    return test


if __name__ == "__main__":
    harness.run(build)
