"""The page examples of WorkerFleet, Network, WebTier, DataTier and ValkeyCache
(docs/examples/) are CDK apps that synthesize through cdk-nag as `cdk synth` runs them from a
folder whose cdk.json is only `{"app": ...}` (no feature flag), each page shows its example
verbatim, and every construct they build has exactly the attributes its class documents."""

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

EXAMPLES = {
    "worker_fleet.py": ("worker-fleet.md", {WorkerFleet}),
    "multi_tier.py": ("multi-tier.md", {Network, DataTier, WebTier, ValkeyCache}),
    "valkey_cache.py": ("multi-tier.md", {Network, ValkeyCache}),
}
CONSTRUCTS = (WorkerFleet, Network, WebTier, DataTier, ValkeyCache)


def built_by(example: str, folder: Path) -> list[Construct]:
    """Run the example as the CDK CLI would (`python3 app.py` in the app's folder, no context
    from cdk.json): `app.synth()` in it raises on any cdk-nag finding."""
    (folder / "cdk.json").write_text('{"app": "python3 app.py"}\n')
    here = Path.cwd()
    os.chdir(folder)
    try:
        names = runpy.run_path(str(ROOT / "docs" / "examples" / example), run_name="__main__")
    finally:
        os.chdir(here)
    found: dict[int, Construct] = {}
    for value in names.values():
        if isinstance(value, Construct):
            found[id(value)] = value
            for attribute in vars(value).values():
                if isinstance(attribute, CONSTRUCTS):
                    found[id(attribute)] = attribute
    return [c for c in found.values() if isinstance(c, CONSTRUCTS)]


def documented_attributes(cls: type) -> set[str]:
    """The names under `Attributes:` in the class docstring."""
    docstring = inspect.getdoc(cls) or ""
    section = docstring.split("Attributes:", 1)[1] if "Attributes:" in docstring else ""
    return set(re.findall(r"^    (\w+):", section, flags=re.MULTILINE))


def annotated_attributes(cls: type) -> set[str]:
    tree = ast.parse(inspect.getsource(cls))
    body = tree.body[0]
    assert isinstance(body, ast.ClassDef)
    return {n.target.id for n in body.body if isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name)}


@pytest.mark.parametrize("example", EXAMPLES)
def test_the_example_synthesizes_through_cdk_nag_without_feature_flags(example: str, tmp_path: Path) -> None:
    _, expected = EXAMPLES[example]
    constructs = built_by(example, tmp_path)
    assert {type(c) for c in constructs} == expected
    for construct in constructs:
        public = {name for name in vars(construct) if not name.startswith("_")}
        cls = type(construct)
        assert public == documented_attributes(cls) == annotated_attributes(cls), cls.__name__


@pytest.mark.parametrize("example", EXAMPLES)
def test_the_page_shows_the_example_as_it_is(example: str) -> None:
    page = (ROOT / "docs" / EXAMPLES[example][0]).read_text()
    code = (ROOT / "docs" / "examples" / example).read_text()
    block = f"<!-- begin example: docs/examples/{example} -->\n```python\n{code}```\n<!-- end example -->"
    assert block in page


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
