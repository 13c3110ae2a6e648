"""Every page example (docs/examples/*.py) is a CDK app of its own that synthesizes through the
security gate in a fresh app (no cdk.json flags: the context of a `{"app": ...}` cdk.json), its
page shows it verbatim, and every construct it builds has exactly the public attributes its class
documents (and, for WorkerFleet, Network, WebTier, DataTier and ValkeyCache, annotates).

To add an example: write docs/examples/<name>.py (a tiny app ending in `app.synth()`), put
`<!-- begin example: docs/examples/<name>.py -->` and `<!-- end example -->` in the page, add it
to PAGES, run `make docs`."""

from __future__ import annotations

import ast
import inspect
import os
import re
import runpy
from pathlib import Path
from typing import Any

import pytest
from constructs import Construct

from patterns.multi_tier import DataTier, Network, ValkeyCache, WebTier
from patterns.worker_fleet import WorkerFleet
from tests.kit import ROOT
from tests.test_props_tables import UNCONVERTED, exported_constructs
from tools.props_tables import documented_attributes, refresh

EXAMPLES = sorted((ROOT / "docs" / "examples").glob("*.py"))
PAGES = {
    "fan_out.py": "fan-out.md",
    "multi_tier.py": "multi-tier.md",
    "order_workflow.py": "order-workflow.md",
    "python_function.py": "python-function.md",
    "serverless_api.py": "serverless-api.md",
    "backup.py": "backup.md",
    "failover_runbook.py": "standby.md",
    "standby.py": "standby.md",
    "event_driven.py": "event-driven.md",
    "container_workers.py": "container-workers.md",
    "streaming.py": "streaming.md",
    "static_site.py": "frontend.md",
    "valkey_cache.py": "multi-tier.md",
    "worker_fleet.py": "worker-fleet.md",
    "global_reads.py": "global-reads.md",
}
"""The page (in docs/) that shows each example."""
CONSTRUCTS = (WorkerFleet, Network, WebTier, DataTier, ValkeyCache)
BUILDS = {
    "worker_fleet.py": {WorkerFleet},
    "multi_tier.py": {Network, DataTier, WebTier, ValkeyCache},
    "valkey_cache.py": {Network, ValkeyCache},
}
"""Which of CONSTRUCTS each of their examples builds."""


def _constructs_in(value: Any, found: dict[int, Construct], depth: int = 0) -> None:
    """The kit's constructs in `value`, and those in their attributes (a workflow's starter, a
    data tier's cache), or in the attributes of any other construct the example names."""
    if not isinstance(value, Construct) or id(value) in found or depth > 3:
        return
    if type(value).__module__.startswith("patterns."):
        found[id(value)] = value
    elif depth > 0:
        return
    for attribute in vars(value).values():
        _constructs_in(attribute, found, depth + 1)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Construct]]:
    """Each example run as `cdk synth` would run the app (`python3 app.py`), from a folder
    holding only a cdk.json with `{"app": ...}` (no context); the constructs each one built.
    `app.synth()` in the example raises on any unacknowledged cdk-nag finding."""
    results: dict[str, list[Construct]] = {}
    here = Path.cwd()
    for example in EXAMPLES:
        folder = tmp_path_factory.mktemp(example.stem)
        (folder / "cdk.json").write_text('{"app": "python3 app.py"}\n')
        os.chdir(folder)
        try:
            names = runpy.run_path(str(example), run_name="__main__")
        finally:
            os.chdir(here)
        found: dict[int, Construct] = {}
        for value in names.values():
            _constructs_in(value, found)
        results[example.name] = list(found.values())
    return results


def annotated_attributes(cls: type) -> set[str]:
    tree = ast.parse(inspect.getsource(cls))
    body = tree.body[0]
    assert isinstance(body, ast.ClassDef)
    return {n.target.id for n in body.body if isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name)}


def public_attributes(construct: Construct) -> set[str]:
    return {name for name in vars(construct) if not name.startswith("_")}


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda path: path.name)
def test_every_example_synthesizes_through_the_security_gate(
    example: Path, built: dict[str, list[Construct]]
) -> None:
    """`app.synth()` in the example raises on any unacknowledged cdk-nag finding."""
    assert built[example.name], f"{example.name} builds none of the kit's constructs"


def test_every_example_is_on_a_page() -> None:
    shown = refresh(ROOT).examples
    assert sorted(shown) == sorted(f"docs/examples/{path.name}" for path in EXAMPLES)
    assert sorted(PAGES) == sorted(path.name for path in EXAMPLES)


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda path: path.name)
def test_the_page_shows_the_example_as_it_is(example: Path) -> None:
    page = (ROOT / "docs" / PAGES[example.name]).read_text()
    begin = f"<!-- begin example: docs/examples/{example.name} -->\n"
    assert begin in page
    block = page.split(begin, 1)[1].split("<!-- end example -->", 1)[0]
    assert f"```python\n{example.read_text()}```\n" in block


def test_every_built_construct_has_exactly_its_documented_attributes(
    built: dict[str, list[Construct]],
) -> None:
    seen = set()
    for example, constructs in built.items():
        for construct in constructs:
            cls = type(construct)
            path = f"{cls.__module__.rsplit('.', 1)[0]}.{cls.__name__}"
            if path in UNCONVERTED:
                continue
            seen.add(path)
            assert public_attributes(construct) == documented_attributes(cls), (
                f"{example}: {construct.node.path} ({path})"
            )
    wanted = {path for path in exported_constructs() if path not in UNCONVERTED}
    built_names = {path.rsplit(".", 1)[1] for path in seen}
    assert sorted(path for path in wanted if path.rsplit(".", 1)[1] not in built_names) == [], (
        "documented constructs that no example builds"
    )


@pytest.mark.parametrize("example", BUILDS)
def test_the_example_builds_its_constructs_with_their_documented_and_annotated_attributes(
    example: str, built: dict[str, list[Construct]]
) -> None:
    constructs = [c for c in built[example] if isinstance(c, CONSTRUCTS)]
    assert {type(c) for c in constructs} == BUILDS[example]
    for construct in constructs:
        cls = type(construct)
        assert public_attributes(construct) == documented_attributes(cls) == annotated_attributes(cls), (
            cls.__name__
        )


@pytest.mark.parametrize("cls", CONSTRUCTS, ids=lambda cls: cls.__name__)
def test_every_prop_is_documented_under_args(cls: Any) -> None:
    docstring = inspect.getdoc(cls.__init__) or ""
    documented = set(re.findall(r"^    (\w+):", docstring.split("Args:", 1)[-1], flags=re.MULTILINE))
    props = {
        name
        for name, parameter in inspect.signature(cls.__init__).parameters.items()
        if parameter.kind is inspect.Parameter.KEYWORD_ONLY
    }
    assert documented == props
    page = "multi-tier.md" if cls is not WorkerFleet else "worker-fleet.md"
    module = cls.__module__.split(".")[1]
    assert f"<!-- begin props: patterns.{module}.{cls.__name__} -->" in (ROOT / "docs" / page).read_text()
