"""tools/typecheck_runtime.py: every folder of shipped code is type-checked as its own root."""

from __future__ import annotations

import shutil
from pathlib import Path

from tools.typecheck_runtime import ROOT, check, roots


def test_every_function_and_runtime_folder_is_a_root_and_no_package_is() -> None:
    found = {str(root.relative_to(ROOT)) for root in roots()}

    assert {"lambda/orders_api", "lambda/order_events", "runtime/web_app", "runtime/worker_fleet"} <= found
    assert not [root for root in roots() if (root / "__init__.py").exists()]
    assert not [root for root in found if "__pycache__" in root]


def test_a_function_folder_inside_a_pattern_package_is_found(tmp_path: Path) -> None:
    package = tmp_path / "patterns" / "order_workflow"
    (package / "starter").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "starter" / "starter.py").write_text("")

    assert roots(tmp_path) == [package / "starter"]


def test_a_type_error_in_a_root_fails_and_sibling_imports_resolve(tmp_path: Path) -> None:
    root = tmp_path / "lambda" / "fn"
    root.mkdir(parents=True)
    (root / "shared.py").write_text("def size() -> int:\n    return 1\n")
    (root / "handler.py").write_text(
        "from shared import size\n\n\ndef handler() -> int:\n    return size()\n"
    )
    assert check(root, base=tmp_path) == 0, "a sibling module imports by bare name, as on Lambda"
    # mypy trusts its cache for a file whose size and whole-second mtime are unchanged; a rewrite
    # within the same second would otherwise not be checked again.
    shutil.rmtree(tmp_path / ".mypy_cache")

    (root / "handler.py").write_text(
        "from shared import size\n\n\ndef handler() -> str:\n    return size()\n"
    )
    assert check(root, base=tmp_path) != 0
