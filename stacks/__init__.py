"""The kit's app: every pattern's stack, the profile from context, and the security gate."""

from __future__ import annotations

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks, ServerlessChecks

from patterns.defaults import profile_of
from stacks.fan_out_stack import FanOutStack

# Stack ids are fixed: users and docs refer to them.
STACKS = {
    "FanOut": (FanOutStack, "SNS fan-out of order events to queues and functions"),
}


def build_app(app: cdk.App | None = None) -> cdk.App:
    app = app or cdk.App()
    profile = profile_of(app)
    # The security gate runs on every synth: any unacknowledged finding fails it.
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app), ServerlessChecks(app))
    for stack_id, (stack_class, description) in STACKS.items():
        stack_class(app, stack_id, profile=profile, description=f"refarch: {description} ({profile.name})")
    return app
