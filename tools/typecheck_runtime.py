"""mypy --strict on the code that ships to Lambda and to instances, one root at a time.

Each root is a folder of modules that import each other by bare name (`from order import ...`),
as they do on Lambda or on the instance: a function's asset folder or a runtime folder. It is not
a package (no __init__.py), so mypy checks it from inside, with MYPYPATH set to that folder alone
and a cache of its own: two roots may both have a `settings` module.

A root is found, not listed: every folder under lambda/, runtime/ or patterns/ that holds .py
files and no __init__.py. A function folder moved into a pattern's package is checked where it is.

    python -m tools.typecheck_runtime          # every root
    python -m tools.typecheck_runtime lambda/order_saga
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SEARCHED = ("lambda", "runtime", "patterns")
SKIPPED = {"__pycache__", "node_modules", "cdk.out"}


def roots(base: Path = ROOT) -> list[Path]:
    """Folders of bare-name modules: .py files and no __init__.py, outside caches."""
    found = []
    for top in SEARCHED:
        for folder in sorted({path.parent for path in (base / top).rglob("*.py")}):
            if SKIPPED.isdisjoint(folder.relative_to(base).parts) and not (folder / "__init__.py").exists():
                found.append(folder)
    return found


def check(root: Path, base: Path = ROOT) -> int:
    """mypy's exit code for one root (0: no errors); its report goes to stdout."""
    relative = root.relative_to(base)
    cache = base / ".mypy_cache" / "runtime" / "-".join(relative.parts)
    command = [
        sys.executable,
        "-m",
        "mypy",
        "--config-file",
        str(ROOT / "pyproject.toml"),
        "--strict",
        "--explicit-package-bases",
        "--cache-dir",
        str(cache),
        *sorted(path.name for path in root.glob("*.py")),
    ]
    print(f"mypy --strict {relative}/", flush=True)
    return subprocess.run(
        command, cwd=root, env={**os.environ, "MYPYPATH": str(root)}, check=False
    ).returncode


def main(arguments: list[str]) -> int:
    selected = [ROOT / argument for argument in arguments] if arguments else roots()
    if not selected:
        print("no runtime roots found under " + ", ".join(SEARCHED), file=sys.stderr)
        return 1
    failed = [root for root in selected if check(root.resolve()) != 0]
    for root in failed:
        print(f"type errors in {root.relative_to(ROOT)}/", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
