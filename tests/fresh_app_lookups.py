"""A construct built the way a new user builds it: in a fresh CDK app whose cdk.json is either
minimal (only `{"app": ...}`: no feature flag at all) or what `cdk init app --language python`
of the pinned CLI writes, with or without cdk-nag, in a stack with no env or with an explicit
account and Region.

`tests/kit.py`'s `bare_stack` always carries the kit's own cdk.json flags, which hides what a
construct does without them (issue 20: a proxy named literally `Proxy`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks, ServerlessChecks

FIXTURES = Path(__file__).resolve().parent / "fixtures"
# node_modules/aws-cdk 2.1148.1: `cdk init app --language python --generate-only` wrote this
# (the template's cdk.json plus lib/init-templates/.recommended-feature-flags.json as context).
CDK_INIT_JSON: dict[str, Any] = json.loads((FIXTURES / "cdk_init_python.cdk.json").read_text())
MINIMAL_JSON: dict[str, Any] = {"app": "python3 app.py"}
CDK_JSONS = {"minimal": MINIMAL_JSON, "cdk-init": CDK_INIT_JSON}
EXPLICIT_ENV = cdk.Environment(account="111111111111", region="eu-west-1")
ENVS: dict[str, cdk.Environment | None] = {"no-env": None, "explicit-env": EXPLICIT_ENV}


def fresh_app(cdk_json: str = "minimal", *, nag: bool = True) -> cdk.App:
    """A new app reading `cdk_json`'s context as `cdk synth` would; `nag` registers the
    AwsSolutions and Serverless packs (any finding then fails the synth)."""
    app = cdk.App(context=dict(CDK_JSONS[cdk_json].get("context", {})))
    if nag:
        cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app), ServerlessChecks(app))
    return app


def fresh_stack(cdk_json: str = "minimal", *, nag: bool = True, env: str = "no-env") -> cdk.Stack:
    return cdk.Stack(fresh_app(cdk_json, nag=nag), "UserStack", env=ENVS[env])


def ways() -> Iterator[tuple[str, bool, str]]:
    """Every (cdk.json, nag, env) a user may build with: for pytest.mark.parametrize."""
    for cdk_json in CDK_JSONS:
        for nag in (True, False):
            for env in ENVS:
                yield cdk_json, nag, env


def synthesized(stack: cdk.Stack) -> tuple[dict[str, Any], list[str]]:
    """The stack's template and the providers of the context lookups the CLI would have to make
    (each needs AWS credentials). Synthesis raises on any nag finding when the packs are on."""
    app = stack.node.root
    assert isinstance(app, cdk.App)
    assembly = app.synth()
    manifest = json.loads((Path(assembly.directory) / "manifest.json").read_text())
    lookups = [entry["provider"] for entry in manifest.get("missing", [])]
    return assembly.get_stack_by_name(stack.stack_name).template, lookups
