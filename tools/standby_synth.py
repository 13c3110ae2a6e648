"""The Standby stacks synthesized offline with example Regions and domain (under the .test
top-level domain, which never resolves, RFC 6761), through the security gate: what the DR table
(tools/dr_table.py) and the tests read when no `-c primary_region=...` is given."""

from __future__ import annotations

import functools
import json
import tempfile
from pathlib import Path
from typing import Any

import aws_cdk as cdk
from aws_cdk import cx_api
from cdk_nag import AwsSolutionsChecks, ServerlessChecks

from patterns.shared.defaults import profile_named
from patterns.wiring import WiringChecks
from stacks.serverless_api_stack import KIT_PRODUCTION_CONTEXT
from stacks.standby_stack import EXAMPLE_CONTEXT, PILOT_LIGHT, STRATEGY_KEY, build_standby

ROOT = Path(__file__).resolve().parent.parent


def context(profile: str, strategy: str = PILOT_LIGHT, **extra: Any) -> dict[str, Any]:
    """cdk.json's context (feature flags), the profile, the example settings, the strategy."""
    flags = json.loads((ROOT / "cdk.json").read_text())["context"]
    sign_in = KIT_PRODUCTION_CONTEXT if profile == "production" else {}
    return {**flags, "profile": profile, **sign_in, **EXAMPLE_CONTEXT, STRATEGY_KEY: strategy, **extra}


@functools.cache
def assembly(profile: str, strategy: str = PILOT_LIGHT) -> cx_api.CloudAssembly:
    """Only the Standby stacks (not the whole kit), gated as `build_app` gates them."""
    app = cdk.App(
        context=context(profile, strategy, **{"aws:cdk:enable-path-metadata": True}),
        outdir=tempfile.mkdtemp(prefix=f"cdk.out.standby.{profile}."),
    )
    production = profile_named(profile).is_production
    cdk.Validations.of(app).add_plugins(
        AwsSolutionsChecks(app), ServerlessChecks(app), WiringChecks(production=production)
    )
    build_standby(app, profile=profile_named(profile), described=lambda what: f"refarch: {what}")
    return app.synth()


def templates(profile: str, strategy: str = PILOT_LIGHT) -> dict[str, dict[str, Any]]:
    return {stack.stack_name: stack.template for stack in assembly(profile, strategy).stacks}
