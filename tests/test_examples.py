"""Every page example (docs/examples/*.py) is a CDK app of its own that synthesizes through the
security gate in a fresh app (no cdk.json flags: the context of a `{"app": ...}` cdk.json), and
every construct it builds has exactly the public attributes its class documents.

To add an example: write docs/examples/<name>.py (a tiny app ending in `app.synth()`), put
`<!-- begin example: docs/examples/<name>.py -->` and `<!-- end example -->` in the page, run
`make docs`."""

from __future__ import annotations

import os
import runpy
from pathlib import Path
from typing import Any

import pytest
from constructs import Construct

from tests.kit import ROOT
from tests.test_props_tables import UNCONVERTED, exported_constructs
from tools.props_tables import documented_attributes, refresh

EXAMPLES = sorted((ROOT / "docs" / "examples").glob("*.py"))


def _constructs_in(value: Any, found: dict[int, Construct], depth: int = 0) -> None:
    """The kit's constructs in `value`, and those in their attributes (a workflow's starter)."""
    if isinstance(value, Construct) and type(value).__module__.startswith("patterns."):
        if id(value) in found:
            return
        found[id(value)] = value
        if depth < 3:
            for attribute in vars(value).values():
                _constructs_in(attribute, found, depth + 1)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Construct]]:
    """Each example run as `cdk synth` would run the app, from a folder holding only a
    cdk.json with `{"app": ...}`; the constructs each one built."""
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


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda path: path.name)
def test_every_example_synthesizes_through_the_security_gate(
    example: Path, built: dict[str, list[Construct]]
) -> None:
    """`app.synth()` in the example raises on any unacknowledged cdk-nag finding."""
    assert built[example.name], f"{example.name} builds none of the kit's constructs"


def test_every_example_is_on_a_page() -> None:
    shown = refresh(ROOT).examples
    assert sorted(shown) == sorted(f"docs/examples/{path.name}" for path in EXAMPLES)


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
            public = {name for name in vars(construct) if not name.startswith("_")}
            assert public == documented_attributes(cls), f"{example}: {construct.node.path} ({path})"
    wanted = {path for path in exported_constructs() if path not in UNCONVERTED}
    built_names = {path.rsplit(".", 1)[1] for path in seen}
    assert sorted(path for path in wanted if path.rsplit(".", 1)[1] not in built_names) == [], (
        "documented constructs that no example builds"
    )
