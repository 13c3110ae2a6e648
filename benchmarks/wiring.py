"""Time of the wiring checks next to the cdk-nag packs, on the whole app, in one process.

The app is synthesized once per profile; then, interleaved round by round so machine load hits
both alike: the wiring plugin's validate() as CDK calls it (read every template, resolve the
references, run every rule), and AwsSolutions + Serverless validating the same construct tree
(what each synth pays for the security gate). Both see the same app; the figure is the ratio.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks, ServerlessChecks

from patterns.wiring import WiringChecks
from stacks import build_app
from stacks.serverless_api_stack import KIT_PRODUCTION_CONTEXT
from tests.kit import CDK_JSON_CONTEXT

ROUNDS = int(os.environ.get("BENCH_WIRING_ROUNDS", "7"))


@dataclass
class Stack:
    template_path: str


@dataclass
class Context:
    """What CDK hands a plugin: the templates and the app's construct tree."""

    stack_templates: list[Stack]
    app_construct: Any


def synthesized(profile: str) -> tuple[cdk.App, Context]:
    outdir = tempfile.mkdtemp(prefix=f"bench.wiring.{profile}.")
    # Production needs the API's sign-in URLs; the kit's own production synth passes these.
    extra = KIT_PRODUCTION_CONTEXT if profile == "production" else {}
    app = build_app(cdk.App(context={**CDK_JSON_CONTEXT, "profile": profile, **extra}, outdir=outdir))
    try:
        app.synth()
    except Exception as error:  # the assembly is written before validation fails
        print(f"  ({profile}: the app has findings; timing the checks anyway: {str(error)[:80]}...)")
    templates = [Stack(str(p)) for p in sorted(Path(outdir).glob("*.template.json"))]
    return app, Context(templates, app)


def timed(action: Any) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def compare(profile: str) -> None:
    app, context = synthesized(profile)
    wiring = WiringChecks(production=profile == "production")
    packs = (AwsSolutionsChecks(), ServerlessChecks())

    def run_wiring() -> None:
        wiring.validate(context)  # type: ignore[arg-type]

    def run_nag() -> None:
        for pack in packs:
            pack.validate_scope(app)

    run_wiring(), run_nag()  # warm-up: the first jsii calls load code
    wiring_times, nag_times = [], []
    for _ in range(ROUNDS):
        wiring_times.append(timed(run_wiring))
        nag_times.append(timed(run_nag))
    wiring_median, nag_median = statistics.median(wiring_times), statistics.median(nag_times)
    print(f"{profile}: whole app, median of {ROUNDS} interleaved runs each:")
    print(f"  wiring checks (validate):          {wiring_median * 1000:8.1f} ms")
    print(f"  cdk-nag AwsSolutions + Serverless: {nag_median * 1000:8.1f} ms")
    print(f"  ratio wiring/nag:                  {wiring_median / nag_median:8.2f}")


def main() -> None:
    for profile in ("sandbox", "production"):
        compare(profile)
