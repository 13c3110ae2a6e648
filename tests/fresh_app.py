"""A new user's CDK app, not the kit's: a fresh App with the context a new project's cdk.json
gives it, and an empty stack to build a construct in, with or without cdk-nag, with no env or an
explicit account and Region (issue 20: a proxy named literally `Proxy`).

Two cdk.json files a user may have:
- `minimal`: only `{"app": ...}`, so no feature flag is set and every flag has its old default;
- `cdk-init`: what `cdk init app --language python --generate-only` of the pinned CLI
  (node_modules/aws-cdk 2.1148.1) writes: its template's cdk.json plus
  lib/init-templates/.recommended-feature-flags.json as context
  (tests/fixtures/cdk_init/cdk.json; tests/test_fresh_app.py checks it against the CLI's own
  template in node_modules).

The kit's own cdk.json carries more flags than either (see tests/kit.py's bare_stack), which is
how a construct that relies on one can pass the kit's tests and fail in a user's app.

Build with `fresh_stack(*case)` for each `case` of `USER_CASES` (ids: `case_id`); read the
template with `synthesized(stack)` and the context lookups the CLI would have to make with
`lookups(stack)`.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any, NamedTuple

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks, ServerlessChecks

from patterns.wiring import WiringChecks

ROOT = Path(__file__).resolve().parent.parent
CDK_INIT_JSON = ROOT / "tests" / "fixtures" / "cdk_init" / "cdk.json"
CONTEXTS: dict[str, dict[str, Any]] = {
    "minimal": {},
    "cdk-init": json.loads(CDK_INIT_JSON.read_text())["context"],
}
ACCOUNT_ENV = cdk.Environment(account="111111111111", region="eu-west-1")
ENVS: dict[str, cdk.Environment | None] = {"no-env": None, "explicit-env": ACCOUNT_ENV}
"""A user's stack: without an environment, or with an explicit account and Region."""
# What `cdk synth` adds to any app's context on its own (the CLI's defaults, not cdk.json's).
CLI_CONTEXT = {"aws:cdk:enable-path-metadata": True, "aws:cdk:enable-asset-metadata": True}


def fresh_app(context: str = "minimal", *, nag: bool = True, extra: dict[str, Any] | None = None) -> cdk.App:
    """A new App with the context of a `minimal` or `cdk-init` cdk.json, and the security gate
    (cdk-nag's two packs and the wiring checks: any finding then fails the synth) when `nag`."""
    app = cdk.App(
        context={**CONTEXTS[context], **CLI_CONTEXT, **(extra or {})},
        outdir=tempfile.mkdtemp(prefix="fresh-app."),
    )
    if nag:
        cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app), ServerlessChecks(app), WiringChecks())
    return app


def fresh_stack(
    context: str = "minimal", nag: bool = True, env: str = "no-env", *, stack_id: str = "UserStack"
) -> cdk.Stack:
    """An empty stack in a fresh app, with the environment `ENVS[env]`, as a user's `app.py`
    may have it."""
    return cdk.Stack(fresh_app(context, nag=nag), stack_id, env=ENVS[env])


def synthesized(stack: cdk.Stack) -> dict[str, Any]:
    """The stack's template, synthesized as `cdk synth` does (the gate raises on a finding)."""
    app = stack.node.root
    assert isinstance(app, cdk.App)
    return app.synth().get_stack_by_name(stack.stack_name).template  # type: ignore[no-any-return]


def lookups(stack: cdk.Stack) -> list[str]:
    """The providers of the context lookups the CLI would have to make for the stack's app
    (each needs AWS credentials): the cloud assembly's missing context. The app is synthesized
    once; after `synthesized` this reads the same assembly."""
    app = stack.node.root
    assert isinstance(app, cdk.App)
    manifest = json.loads((Path(app.synth().directory) / "manifest.json").read_text())
    return [entry["provider"] for entry in manifest.get("missing", [])]


class UserCase(NamedTuple):
    """One way a new user builds a construct: a key of CONTEXTS, cdk-nag on or off, a key of ENVS."""

    context: str
    nag: bool
    env: str


USER_CASES = [UserCase(context, nag, env) for context in CONTEXTS for nag in (True, False) for env in ENVS]
"""Every way the issue's user built a construct, for `pytest.mark.parametrize(..., ids=case_id)`."""


def case_id(case: UserCase) -> str:
    return f"{case.context}-{'nag' if case.nag else 'no-nag'}-{case.env}"
