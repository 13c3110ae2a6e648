"""The integration test apps, synthesized offline, and their committed snapshots.

A snapshot is each app's CloudFormation templates in the sandbox profile (the profile `make
integ` deploys), written by `make integ-update` into `integ/snapshots/<app>/`, and compared by
tests/test_integ_apps.py. Nothing here needs an account or a network.
"""

from __future__ import annotations

import functools
import importlib
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from integ import harness
from integ.names import APPS
from stacks.serverless_api_stack import KIT_PRODUCTION_CONTEXT

INTEG_DIR = Path(__file__).resolve().parent
SNAPSHOT_DIR = INTEG_DIR / "snapshots"
# Production needs the API's sign-in URLs (the kit's never-resolving .test ones); MultiTier
# production without `certificate_arn` takes the certificate as a deploy-time parameter.
PROFILE_CONTEXT: dict[str, dict[str, Any]] = {
    "sandbox": {"profile": "sandbox"},
    "production": {"profile": "production", **KIT_PRODUCTION_CONTEXT},
}


# integ-tests-alpha gives each assertion a `salt` of Date.now(), so that every deploy runs it
# again; it is the one value that differs between two synths (asset hashes do not: function
# code is hashed without __pycache__), so snapshots hold a placeholder for it.
SALT = "salt"
SALT_PLACEHOLDER = "<Date.now() at synth>"


def normalized(template: dict[str, Any]) -> dict[str, Any]:
    for resource in template.get("Resources", {}).values():
        properties = resource.get("Properties", {})
        if resource["Type"].startswith("Custom::DeployAssert@") and SALT in properties:
            properties[SALT] = SALT_PLACEHOLDER
    return template


@functools.cache  # one synth per app and profile in a test session; callers only read it
def synthesize(stack: str, profile: str = "sandbox") -> dict[str, dict[str, Any]]:
    """Every template of the stack's integ app (its stacks and the assertion stack), by artifact
    id. The security gate runs: an unacknowledged finding raises here."""
    module = importlib.import_module(f"integ.{APPS[stack]}")
    app = harness.new_app(
        context={**PROFILE_CONTEXT[profile], "aws:cdk:enable-path-metadata": True},
        outdir=tempfile.mkdtemp(prefix=f"cdk.out.integ.{stack}.{profile}."),
    )
    module.build(app)
    assembly = app.synth()
    return {artifact.id: normalized(artifact.template) for artifact in assembly.stacks}


def snapshot_path(stack: str) -> Path:
    return SNAPSHOT_DIR / APPS[stack]


def committed(stack: str) -> dict[str, dict[str, Any]]:
    return {
        path.name.removesuffix(".template.json"): json.loads(path.read_text())
        for path in sorted(snapshot_path(stack).glob("*.template.json"))
    }


def write(stack: str) -> None:
    folder = snapshot_path(stack)
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.template.json"):
        old.unlink()
    for artifact_id, template in synthesize(stack).items():
        (folder / f"{artifact_id}.template.json").write_text(
            json.dumps(template, indent=1, sort_keys=True) + "\n"
        )


def main(argv: list[str]) -> int:
    """`python -m integ.snapshots [Stack...]`: rewrite the snapshots of those stacks (all without)."""
    for stack in argv or list(APPS):
        write(stack)
        print(f"wrote {snapshot_path(stack).relative_to(INTEG_DIR.parent)}/")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
