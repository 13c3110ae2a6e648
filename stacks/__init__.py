"""The kit's app: every pattern's stack, the profile from context, and the security gate."""

from __future__ import annotations

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks, ServerlessChecks

from patterns.defaults import profile_of
from stacks.fan_out_stack import FanOutStack
from stacks.multi_tier_stack import MultiTierStack

# Stack ids are fixed: users, docs and tests refer to them.
STACK_IDS = ("FanOut", "MultiTier")


def build_app(app: cdk.App | None = None) -> cdk.App:
    app = app or cdk.App()
    profile = profile_of(app)
    # The security gate runs on every synth: any unacknowledged finding fails it.
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app), ServerlessChecks(app))

    def described(what: str) -> str:
        return f"refarch: {what} ({profile.name} profile)"

    FanOutStack(app, "FanOut", profile=profile, description=described("SNS fan-out of order events"))
    MultiTierStack(
        app,
        "MultiTier",
        profile=profile,
        description=described("ALB, Auto Scaling, RDS with replicas, Valkey"),
    )
    return app
