"""Wall time of synthesizing the whole app next to an empty app (one empty stack).

Both run as fresh processes (as `cdk synth` runs them), interleaved, so load on the machine
hits both alike. The empty app is the floor: jsii starting Node and loading aws-cdk-lib.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ROUNDS = int(os.environ.get("BENCH_SYNTH_ROUNDS", "5"))
EMPTY_APP = "import aws_cdk as cdk; app = cdk.App(); cdk.Stack(app, 'Empty'); app.synth()"
WHOLE_APP = "from stacks import build_app; build_app().synth()"


def run_once(code: str) -> float:
    with tempfile.TemporaryDirectory() as outdir:
        env = {**os.environ, "CDK_OUTDIR": outdir, "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20"}
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True, capture_output=True)
        return time.perf_counter() - started


def main() -> None:
    empty, whole = [], []
    for _ in range(ROUNDS):
        empty.append(run_once(EMPTY_APP))
        whole.append(run_once(WHOLE_APP))
    empty_median, whole_median = statistics.median(empty), statistics.median(whole)
    print(f"synth, median of {ROUNDS} interleaved runs each:")
    print(f"  empty app (one empty stack): {empty_median:6.2f} s")
    print(f"  whole app (every stack):     {whole_median:6.2f} s")
    print(f"  ratio whole/empty:           {whole_median / empty_median:6.2f}")
