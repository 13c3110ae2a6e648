"""The props and attributes tables in the pages are what the code says (tools/props_tables.py,
run by `make docs`), and the code says it all: every keyword prop described, no description of
a prop or attribute that does not exist, every attribute described."""

from __future__ import annotations

import importlib
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from constructs import Construct

from tests.kit import ROOT
from tools.props_tables import describe, refresh, section

UNCONVERTED: set[str] = set()


def exported_constructs() -> list[str]:
    """`patterns.<package>.<Class>` of every construct a package exports (its `__all__`)."""
    found = []
    for init in sorted((ROOT / "patterns").glob("*/__init__.py")):
        package = f"patterns.{init.parent.name}"
        module = importlib.import_module(package)
        for name in getattr(module, "__all__", []):
            value = getattr(module, name)
            if isinstance(value, type) and issubclass(value, Construct):
                found.append(f"{package}.{name}")
    return found


def test_the_pages_tables_and_examples_are_what_the_code_says() -> None:
    result = refresh(ROOT)
    assert result.problems == []
    stale = sorted(str(page.relative_to(ROOT)) for page in result.changed)
    assert stale == [], f"tables or examples differ from the code in {stale}: run `make docs` and commit"


def test_every_exported_construct_has_its_tables_on_a_page() -> None:
    documented = set(refresh(ROOT).documented)
    missing = sorted(set(exported_constructs()) - documented - UNCONVERTED)
    assert missing == [], f"add <!-- begin props: <path> --> / <!-- end props --> to a page for {missing}"
    done = sorted(UNCONVERTED & documented)
    assert done == [], f"{done} now have their tables: remove them from UNCONVERTED"


CONSTRUCT = '''
from constructs import Construct


class Gadget(Construct):
    """A gadget.

    Attributes:
        dial: what turns.
        ghost: described, never declared.
    """

    dial: int
    knob: int

    def __init__(self, scope, construct_id, *, size: int = 1, colour: str, shape: str = "round") -> None:
        """Build it.

        Args:
            size: how big, 1-10;
                continued here.
            colour: which colour.
            weight: no such prop.
        """
        super().__init__(scope, construct_id)
'''


@pytest.fixture
def gadget(tmp_path: Path) -> Iterator[type]:
    (tmp_path / "gadget_module.py").write_text(CONSTRUCT)
    sys.path.insert(0, str(tmp_path))
    try:
        yield importlib.import_module("gadget_module").Gadget
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("gadget_module", None)


def test_each_gap_between_code_and_docstring_is_a_problem(gadget: type) -> None:
    doc = describe(gadget, "gadget_module.Gadget")
    assert sorted(doc.problems) == sorted(
        [
            "gadget_module.Gadget: prop shape has no description in __init__'s Args:",
            "gadget_module.Gadget: Args: describes weight, which is not a keyword prop",
            "gadget_module.Gadget: attribute knob has no description in the class's Attributes:",
            "gadget_module.Gadget: Attributes: describes ghost, which the class does not annotate",
        ]
    )
    props = {p.name: p for p in doc.props}
    assert props["size"].description == "how big, 1-10; continued here."
    assert props["size"].default == "1" and props["colour"].default is None
    assert props["shape"].default == "'round'" and props["colour"].type == "str"


def test_a_section_ends_at_the_next_one() -> None:
    doc = "Summary.\n\nArgs:\n    a: first.\n    b: second,\n        more.\n\nReturns:\n    c: not an arg.\n"
    assert section(doc, "Args") == {"a": "first.", "b": "second, more."}


def _copy_rows() -> dict[str, set[str]]:
    """Construct name -> the folders the README's copy table lists for it."""
    readme = (ROOT / "README.md").read_text()
    table = readme.split("## Use a construct in your own CDK app\n", 1)[1].split("\n## ", 1)[0]
    rows: dict[str, set[str]] = {}
    for line in table.splitlines():
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        if line.startswith("| `") and len(cells) == 3:
            for name in re.findall(r"`(\w+)`", cells[0]):
                rows[name] = set(re.findall(r"`(patterns/\w+/)`", cells[1]))
    return rows


def test_a_constructs_page_lists_the_folders_the_readme_lists() -> None:
    """The README sends a user to the pattern's page; that page says what to copy, the same as
    the README's table (tests/test_readme.py checks the table against the imports)."""
    rows = _copy_rows()
    for path, page in refresh(ROOT).documented.items():
        name = path.rsplit(".", 1)[1]
        text = (ROOT / page).read_text()
        assert "\n## Copy it into your app\n" in text, f"{page} has no 'Copy it into your app' section"
        section_text = text.split("\n## Copy it into your app\n", 1)[1].split("\n## ", 1)[0]
        listed = set(re.findall(r"`(patterns/\w+/)`", section_text))
        wanted = rows.get(name) or rows[_home_construct(path, rows)]
        assert listed == wanted, f"{page}: copy {sorted(listed)}, the README says {sorted(wanted)}"


def _home_construct(path: str, rows: dict[str, set[str]]) -> str:
    """A construct without a README row of its own (QueueStarter) goes with its package's."""
    package = path.split(".")[1]
    return next(name for name, folders in rows.items() if f"patterns/{package}/" in folders)
