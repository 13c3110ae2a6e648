"""A new user's CDK app, not the kit's: a fresh App with the context a new project's cdk.json
gives it, and an empty stack to build a construct in.

Two cdk.json files a user may have:
- `minimal`: only `{"app": ...}`, so no feature flag is set and every flag has its old default;
- `cdk-init`: what `cdk init app --language python` of the pinned CLI writes
  (tests/fixtures/cdk_init/cdk.json; tests/test_fresh_app.py checks it against the CLI's own
  template in node_modules).

The kit's own cdk.json carries more flags than either (see tests/kit.py's bare_stack), which is
how a construct that relies on one can pass the kit's tests and fail in a user's app.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

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
# What `cdk synth` adds to any app's context on its own (the CLI's defaults, not cdk.json's).
CLI_CONTEXT = {"aws:cdk:enable-path-metadata": True, "aws:cdk:enable-asset-metadata": True}


def fresh_app(context: str = "minimal", *, nag: bool = True, extra: dict[str, Any] | None = None) -> cdk.App:
    """A new App with the context of a `minimal` or `cdk-init` cdk.json, and the security gate
    (cdk-nag's two packs and the wiring checks) when `nag`."""
    app = cdk.App(
        context={**CONTEXTS[context], **CLI_CONTEXT, **(extra or {})},
        outdir=tempfile.mkdtemp(prefix="fresh-app."),
    )
    if nag:
        cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app), ServerlessChecks(app), WiringChecks())
    return app


def fresh_stack(
    context: str = "minimal", *, nag: bool = True, env: bool = False, stack_id: str = "UserStack"
) -> cdk.Stack:
    """An empty stack in a fresh app: without an environment, or with an explicit account and
    Region (`env`), as a user's `app.py` may have it."""
    return cdk.Stack(fresh_app(context, nag=nag), stack_id, env=ACCOUNT_ENV if env else None)


def synthesized(stack: cdk.Stack) -> dict[str, Any]:
    """The stack's template, synthesized as `cdk synth` does (the gate raises on a finding)."""
    app = stack.node.root
    assert isinstance(app, cdk.App)
    return app.synth().get_stack_by_name(stack.stack_name).template  # type: ignore[no-any-return]


USER_CASES = [(context, nag, env) for context in CONTEXTS for nag in (True, False) for env in (False, True)]
"""Every way the issue's user built a construct: (context, nag, env)."""


def case_id(case: tuple[str, bool, bool]) -> str:
    context, nag, env = case
    return f"{context}-{'nag' if nag else 'no-nag'}-{'env' if env else 'no-env'}"
