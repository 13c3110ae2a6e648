"""What every integration test app shares: the kit's feature flags, the profile, the security
gate of `stacks.build_app`, a unique stack name, the run tag, and the acknowledged findings of
the assertion stack that integ-tests-alpha adds.

An integ app module defines `build(app) -> IntegTest` and ends with `run(build)`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_kms as kms
from aws_cdk import integ_tests_alpha as integ
from cdk_nag import AwsSolutionsChecks, ServerlessChecks

from integ.names import RUN_ID_ENV, RUN_TAG, SNAPSHOT_RUN_ID, STACK_NAME_PREFIX
from patterns.shared.defaults import Profile, profile_of
from patterns.wiring import WiringChecks

ROOT = Path(__file__).resolve().parent.parent
UNTAGGABLE = ["AWS::RDS::DBProxyTargetGroup"]
CDK_JSON_CONTEXT: dict[str, Any] = json.loads((ROOT / "cdk.json").read_text())["context"]


def run_id() -> str:
    return os.environ.get(RUN_ID_ENV, SNAPSHOT_RUN_ID)


def integ_stack_name(stack_id: str) -> str:
    """Not the kit's own stack name, so a run never touches (or exports over) a user's stack."""
    return f"{STACK_NAME_PREFIX}{stack_id}"


def new_app(context: dict[str, Any] | None = None, outdir: str | None = None) -> cdk.App:
    """An App with cdk.json's feature flags and the kit's security gate, tagged with the run id."""
    app = cdk.App(context={**CDK_JSON_CONTEXT, **(context or {})}, outdir=outdir)
    profile = profile_of(app)
    cdk.Validations.of(app).add_plugins(
        AwsSolutionsChecks(app), ServerlessChecks(app), WiringChecks(production=profile.is_production)
    )
    # RDS Proxy target groups take no Tags in CloudFormation (F3002), though CDK offers them.
    cdk.Tags.of(app).add(RUN_TAG, run_id(), exclude_resource_types=UNTAGGABLE)
    return app


def profile(app: cdk.App) -> Profile:
    return profile_of(app)


def integ_test(app: cdk.App, name: str, *stacks: cdk.Stack) -> integ.IntegTest:
    """The IntegTest, destroying its stacks after the assertions (integ-runner's --clean)."""
    return integ.IntegTest(
        app,
        name,
        test_cases=list(stacks),
        # The update workflow would first deploy the committed snapshot: a run deploys once.
        stack_update_workflow=False,
    )


# The assertion stack (integ-tests-alpha's SDK-call provider, its roles and the waiters' state
# machines) passes the same gate; it draws no finding, because the library writes those resources
# as plain CfnResource, which cdk-nag's rules (matched on the L1 classes) do not inspect. So there
# is nothing to acknowledge there; a finding that appears after an upgrade fails the synth.


def may_use_key(call: integ.IApiCall, key: kms.IKey | None) -> integ.IApiCall:
    """Let an assertion that writes into an encrypted queue or topic use its key: the SDK call's
    own grant covers only the call's action (sqs:SendMessage, sns:Publish), and SQS and SNS
    then need kms:GenerateDataKey and kms:Decrypt on the customer-managed key, or refuse."""
    if key is not None:
        call.provider.add_to_role_policy(
            {"Effect": "Allow", "Action": ["kms:GenerateDataKey", "kms:Decrypt"], "Resource": [key.key_arn]}
        )
    return call


def run(build: Callable[[cdk.App], integ.IntegTest]) -> None:
    """`python integ/integ_x.py`: what integ-runner (and `cdk synth`) run."""
    app = new_app()
    build(app)
    app.synth()
