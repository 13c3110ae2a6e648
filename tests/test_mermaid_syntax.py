"""Every committed Mermaid block parses with the real Mermaid parser (tools/check_mermaid.mjs, the
pinned `mermaid` package under jsdom), not only with tests/mermaid_checks.py's reading of it."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from tests.mermaid_checks import mermaid_blocks

ROOT = Path(__file__).resolve().parent.parent
CHECKER = ROOT / "tools" / "check_mermaid.mjs"
SUMMARY = re.compile(r"^checked (\d+) mermaid blocks in (\d+) files: (\d+) failed$", re.M)


def check(*files: Path) -> subprocess.CompletedProcess[str]:
    assert (ROOT / "node_modules" / "mermaid").is_dir(), "no node_modules: run `make bootstrap`"
    return subprocess.run(
        ["node", str(CHECKER), *map(str, files)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def summary(output: str) -> tuple[int, int, int]:
    found = SUMMARY.search(output)
    assert found, f"the checker printed no summary:\n{output}"
    checked, files, failed = (int(n) for n in found.groups())
    return checked, files, failed


def test_every_committed_mermaid_block_parses() -> None:
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    expected = sum(len(mermaid_blocks(page.read_text())) for page in pages)
    assert expected > 0
    result = check(*pages)
    assert result.returncode == 0, result.stdout + result.stderr
    assert summary(result.stdout) == (expected, len(pages), 0)


def test_a_broken_block_is_reported(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "# Page\n\n"
        '```mermaid\nflowchart LR\n  a["ok"] --> b["ok"]\n```\n\n'
        "Text.\n\n"
        '```mermaid\nflowchart LR\n  a["unclosed" --> b\n```\n'
    )
    result = check(page)
    assert result.returncode == 1, result.stdout + result.stderr
    assert summary(result.stdout) == (2, 1, 1)
    failures = [line for line in result.stdout.splitlines() if line.startswith(f"{page}:")]
    assert len(failures) == 1, result.stdout
    assert failures[0].startswith(f"{page}:10: "), failures[0]
    assert "Parse error" in failures[0]
