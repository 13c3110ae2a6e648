"""`make bench`: run every benchmark module in benchmarks/ (or those named) in turn.

Each benchmark measures what it compares side by side in one run and prints ratios, because
these machines are shared and noisy: absolute times are context, the ratio is the figure.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


def main(names: list[str]) -> int:
    modules = names or sorted(p.stem for p in BENCHMARKS.glob("*.py") if p.stem != "__init__")
    for name in modules:
        print(f"== {name}", flush=True)
        importlib.import_module(f"benchmarks.{name}").main()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
