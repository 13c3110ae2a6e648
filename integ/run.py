"""`make integ [STACK=<Stack>]`: deploy each integration test app into the account in the
environment, let its assertions run (a failed assertion fails the deploy), destroy it, then
check that nothing of the run is left.

Deploys go through the kit's pinned CDK CLI: the integ-runner CLI (2.197.10, the newest on the
registry) reads cloud assemblies up to schema 53, and aws-cdk-lib 2.275 writes schema 55.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
from pathlib import Path

import boto3

from integ import leftovers
from integ.names import APPS, RUN_ID_ENV, STACK_NAME_PREFIX

INTEG_DIR = Path(__file__).resolve().parent
ROOT = INTEG_DIR.parent
CDK = ROOT / "node_modules" / ".bin" / "cdk"
ESTIMATES = INTEG_DIR / "estimates.md"
NEEDS = """make integ needs an AWS account to deploy into, and found no credentials.
It deploys real resources (see the cost table above) into the account and region of the
environment, e.g.:
  export AWS_PROFILE=<your sandbox profile> AWS_REGION=<region>   # or AWS_ACCESS_KEY_ID/...
  npx cdk bootstrap                                                # once per account and region
  make integ STACK=<Stack>"""


def estimates(stacks: list[str]) -> str:
    lines = ESTIMATES.read_text().splitlines()
    header = [line for line in lines if line.startswith("| Stack") or line.startswith("|---")]
    rows = [line for line in lines if any(line.startswith(f"| {stack} |") for stack in stacks)]
    return "\n".join(header + rows)


def new_run_id() -> str:
    return f"integ-{time.strftime('%Y%m%d%H%M%S', time.gmtime())}-{secrets.token_hex(3)}"


def stack_regions(outdir: Path) -> dict[str, str | None]:
    """The run's stacks and the Region each went to, from the assembly the deploy synthesized
    (none if it never did); None for an environment-agnostic stack (the environment's Region)."""
    if not (outdir / "manifest.json").is_file():
        return {}
    manifest = json.loads((outdir / "manifest.json").read_text())
    stacks: dict[str, str | None] = {}
    for artifact_id, artifact in manifest["artifacts"].items():
        if artifact["type"] != "aws:cloudformation:stack":
            continue
        region = artifact.get("environment", "").rpartition("/")[2]
        name = artifact.get("properties", {}).get("stackName", artifact_id)
        stacks[name] = None if region in ("", "unknown-region") else region
    return stacks


def harness_stack_name(stack: str) -> str:
    return f"{STACK_NAME_PREFIX}{stack}"  # as integ.harness.integ_stack_name, without loading CDK


def cdk(command: str, module: str, outdir: Path, env: dict[str, str]) -> int:
    app = f"{sys.executable} {INTEG_DIR / f'{module}.py'}"
    extra = ["--require-approval", "never"] if command == "deploy" else ["--force"]
    args = [str(CDK), command, "--all", "--app", app, "-o", str(outdir), "-c", "profile=sandbox", *extra]
    return subprocess.run(args, cwd=ROOT, env=env).returncode


def run_one(stack: str, run_id: str) -> list[str]:
    """Deploy, (assertions run inside the deploy), destroy, check; the problems found."""
    module = APPS[stack]
    outdir = ROOT / "cdk.out.integ" / module
    env = {**os.environ, RUN_ID_ENV: run_id, "PYTHONPATH": str(ROOT)}
    print(f"\n== {stack}: deploy and assert (run {run_id})", flush=True)
    problems = []
    try:
        if cdk("deploy", module, outdir, env) != 0:
            problems.append(f"{stack}: deploy or an assertion failed (see the CloudFormation events above)")
    finally:
        print(f"\n== {stack}: destroy", flush=True)
        if cdk("destroy", module, outdir, env) != 0:
            problems.append(f"{stack}: destroy failed")
        stacks = stack_regions(outdir) or {harness_stack_name(stack): None}
        for group in leftovers.delete_assertion_logs_where_deployed(stacks):
            print(f"deleted the assertion provider's log group {group}")
        left = leftovers.leftovers(run_id, stacks)
        problems += [f"{stack}: left in the account: {item}" for item in left]
    return problems


def main(argv: list[str]) -> int:
    # Standby needs a hosted zone of yours (REFARCH_INTEG_DOMAIN, REFARCH_INTEG_ZONE_ID): only
    # with it does a run of every app include it.
    needs_zone = set() if os.environ.get("REFARCH_INTEG_ZONE_ID") else {"Standby"}
    stacks = argv or [stack for stack in APPS if stack not in needs_zone]
    unknown = sorted(set(stacks) - set(APPS))
    if unknown:
        print(f"STACK: unknown {', '.join(unknown)}; the integ apps are: {', '.join(APPS)}", file=sys.stderr)
        return 2
    print(f"make integ: {', '.join(stacks)}, deployed into a real account, then destroyed.\n")
    print(estimates(stacks) + "\n")
    session = boto3.Session()
    if session.get_credentials() is None or session.region_name is None:
        print(NEEDS, file=sys.stderr)
        return 2
    run_id = new_run_id()
    problems: list[str] = []
    for stack in stacks:
        problems += run_one(stack, run_id)
    if problems:
        print(f"\nINTEG RUN {run_id} FAILED:", file=sys.stderr)
        for problem in problems:
            print(f"  {problem}", file=sys.stderr)
        return 1
    print(f"\nintegration run {run_id}: {', '.join(stacks)} deployed, asserted, destroyed; nothing left.")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
