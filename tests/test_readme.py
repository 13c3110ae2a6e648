"""The README stays true: every stack has its page, and each construct's copy list is exactly
the modules it imports (and the runtime folders they load), so a copy into another app works."""

from __future__ import annotations

import ast
import importlib
import json
import re
from pathlib import Path

import pytest

from patterns.wiring import check_assembly
from stacks import CONTEXT_STACK_IDS, STACK_IDS
from tests.kit import PROFILES, ROOT, assembly, template_json

README = (ROOT / "README.md").read_text()
RUNTIME_FOLDER = re.compile(r'"(lambda|runtime)"\s*/\s*"([\w-]+)"')


def _section(title: str) -> str:
    return README.split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]


def _table(title: str) -> list[list[str]]:
    """The body rows of the first table in a section."""
    lines = _section(title).splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| "))
    rows: list[str] = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        rows.append(line)
    return [[cell.strip() for cell in row.strip("|").split("|")] for row in rows[2:]]


def _packages(package: str, seen: set[str] | None = None) -> set[str]:
    """`package` and every package of `patterns/` its modules import, transitively."""
    seen = set() if seen is None else seen
    if package in seen:
        return seen
    seen.add(package)
    for module in (ROOT / "patterns" / package).rglob("*.py"):
        for node in ast.walk(ast.parse(module.read_text())):
            if isinstance(node, ast.ImportFrom | ast.Import):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
                assert not any(n == "patterns" or n.startswith("patterns.") for n in names), (
                    f"{module}: imports inside patterns/ are relative, so the folder works under any name"
                )
            if isinstance(node, ast.ImportFrom) and node.level == 2 and node.module:
                _packages(node.module.split(".")[0], seen)
    return seen


def test_every_stack_has_a_row_and_a_page() -> None:
    rows = {row[0].strip("`"): row for row in _table("The patterns")}
    # every stack of the kit, and those built only with their context (BackupCopy, Standby, ...)
    assert set(STACK_IDS) <= set(rows) <= set(STACK_IDS) | set(CONTEXT_STACK_IDS)
    for stack, row in rows.items():
        page = re.search(r"\(([^)]+\.md)\)", row[-1])
        assert page and (ROOT / page.group(1)).is_file(), stack
        assert f"<!-- diagram:{stack}:begin -->" in (ROOT / page.group(1)).read_text()


COPY_ROWS = _table("Use a construct in your own CDK app")


@pytest.mark.parametrize("row", COPY_ROWS, ids=[row[0].replace("`", "") for row in COPY_ROWS])
def test_a_construct_copy_list_is_exactly_what_it_needs(row: list[str]) -> None:
    constructs = re.findall(r"`(\w+)`", row[0])
    folders = re.findall(r"`patterns/(\w+)/`", row[1])
    assert constructs and folders, row
    home = folders[0]
    for construct in constructs:
        assert construct in importlib.import_module(f"patterns.{home}").__all__, (construct, home)
    assert set(folders) == _packages(home)
    for module in (ROOT / "patterns" / home).rglob("*.py"):
        # Runtime code a construct loads itself lives inside its package, so a copy or an
        # installed kit carries it; a path out of the package would be missing there.
        assert not RUNTIME_FOLDER.search(module.read_text()), f"{module} loads code outside its package"
        assert ".parent.parent" not in module.read_text(), f"{module} reaches outside its package"
    for folder in re.findall(r"`((?:lambda|runtime)/[\w-]+/)`", row[2]):
        assert (ROOT / folder).is_dir(), folder


def test_the_copy_table_covers_every_pattern_package() -> None:
    listed = {re.findall(r"`patterns/(\w+)/`", row[1])[0] for row in COPY_ROWS}
    assert listed == {path.parent.name for path in (ROOT / "patterns").glob("*/__init__.py")}


def test_the_synth_summary_in_the_readme_is_current() -> None:
    """`make synth` writes its summary into the README; this recounts it from the app."""
    rows = []
    for profile in PROFILES:
        for stack in sorted(STACK_IDS):
            metadata = json.loads((Path(assembly(profile).directory) / f"{stack}.metadata.json").read_text())
            acknowledged = sum(
                not finding.startswith("CloudFormation-Validate::")
                for entries in metadata.values()
                for entry in entries
                if entry["type"] == "aws:cdk:acknowledged-rules"
                for finding in entry["data"]
            )
            resources = len(template_json(stack, profile)["Resources"].keys() - {"CDKMetadata"})
            wiring = check_assembly(assembly(profile).directory, production=profile == "production")
            rows.append(
                (profile, stack, resources, acknowledged, sum(v.resource.stack == stack for v in wiring), 0)
            )
    shown = README.split("<!-- synth-table:begin -->\n```\n", 1)[1].split("```", 1)[0]
    assert [tuple(line.split()) for line in shown.splitlines()[1:]] == [
        tuple(str(cell) for cell in row) for row in rows
    ], "run `make synth` and commit the README"


@pytest.mark.parametrize("package", sorted(p.parent.name for p in (ROOT / "patterns").glob("*/__init__.py")))
def test_a_pattern_package_names_files_that_exist(package: str) -> None:
    """Each package's docstring is the one step from a pattern to its stack, runtime, tests and
    page; every path it names exists (globs match at least one file)."""
    doc = importlib.import_module(f"patterns.{package}").__doc__ or ""
    named = re.findall(r"`([\w./*-]+)`", doc)
    assert named or package == "wiring", f"patterns/{package}/__init__.py names no files"
    for name in named:
        if "/" in name and name.split("/")[0] in {"stacks", "tests", "docs", "lambda", "runtime"}:
            assert list(ROOT.glob(name.rstrip("/"))), f"patterns/{package}: {name} does not exist"
        elif name.endswith((".py", "/")):
            assert list((ROOT / "patterns" / package).glob(name.rstrip("/"))), f"patterns/{package}: {name}"
