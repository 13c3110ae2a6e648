"""Wall time of each phase of `make test`, one after the other: each command of the Makefile's
`lint` recipe (read from the Makefile, so the two cannot drift), then pytest on its workers.

The phases share the machine alike; their shares of the total say where the loop's time goes.
`BENCH_TEST_WORKERS` sets pytest's workers (default: the Makefile's, `auto`).
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
WORKERS = os.environ.get("BENCH_TEST_WORKERS", "auto")


def lint_commands() -> list[list[str]]:
    """The commands of the Makefile's `lint:` recipe, $(VENV) resolved."""
    lines = (ROOT / "Makefile").read_text().split("\nlint:", 1)[1].splitlines()[1:]
    recipe = [
        line.strip() for line in lines[: next(i for i, x in enumerate(lines) if not x.startswith("\t"))]
    ]
    return [shlex.split(line.replace("$(VENV)/bin/", f"{BIN}/")) for line in recipe]


def main() -> None:
    phases = {shlex.join([Path(c[0]).name, *c[1:]]): c for c in lint_commands()}
    phases[f"pytest -n {WORKERS}"] = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "-n",
        WORKERS,
    ]
    times = {}
    for name, command in phases.items():
        started = time.perf_counter()
        subprocess.run(command, cwd=ROOT, check=True, capture_output=True)
        times[name] = time.perf_counter() - started
    total = sum(times.values())
    print("make test, by phase (one run):")
    for name, seconds in times.items():
        print(f"  {name + ':':<28}{seconds:7.1f} s  {seconds / total:4.0%}")
    print(f"  {'total:':<28}{total:7.1f} s")
