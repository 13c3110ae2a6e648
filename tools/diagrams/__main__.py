"""`python -m tools.diagrams --cdk-out cdk.out --print FanOut` prints one stack's diagrams;
`--write` fills the markers in README.md and docs/*.md (`make docs`); `--check` only says
whether they are up to date."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tools.diagrams import cloud_assembly, pages
from tools.diagrams.template import Template

ROOT = Path(__file__).resolve().parent.parent.parent


def arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tools.diagrams", description=__doc__)
    parser.add_argument("--cdk-out", type=Path, default=ROOT / "cdk.out", help="cloud assembly folder")
    parser.add_argument("--root", type=Path, default=ROOT, help="folder with README.md and docs/")
    parser.add_argument("--synth", action="store_true", help="synthesize this kit (sandbox) first")
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--print", metavar="STACK", dest="stack", help="print one stack's diagrams")
    action.add_argument("--write", action="store_true", help="write the diagrams into the pages")
    action.add_argument("--check", action="store_true", help="fail if a page's diagram is stale")
    return parser.parse_args(argv)


def show(template: Template) -> str:
    return f"{pages.stack_block(template)}\n{pages.state_machine_block(template)}"


def standby_templates(loaded: list[Template]) -> list[Template]:
    """The Standby stacks, which need context `make synth` does not give: synthesized offline
    with the example Regions and domain (tools/standby_synth.py), unless already loaded."""
    if any(t.stack == "Standby" for t in loaded):
        return []
    from tools.standby_synth import assembly

    return cloud_assembly.load(Path(assembly("sandbox").directory))


def main(argv: list[str] | None = None) -> int:
    options = arguments(argv)
    if options.synth:
        from tools.synth_all import synth  # only this kit's own app

        synth("sandbox")
    try:
        templates = cloud_assembly.load(options.cdk_out)
        if options.cdk_out.resolve() == (ROOT / "cdk.out").resolve():  # this kit's own app
            templates += standby_templates(templates)
        if options.stack:
            print(show(cloud_assembly.find(templates, options.stack)), end="")
            return 0
    except cloud_assembly.AssemblyError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    for template in templates:
        if not template.has_path_metadata() and not template.paths_from_metadata:
            warning = f"warning: {template.stack} has no construct paths; nodes show logical ids"
            print(warning, file=sys.stderr)
    if not (options.write or options.check):
        for template in templates:
            print(f"## {template.stack}\n\n{show(template)}")
        return 0
    result = pages.refresh(templates, options.root)
    for page, new_text in sorted(result.changed.items()):
        if options.write:
            page.write_text(new_text)
        print(f"{'updated' if options.write else 'stale'}: {page.relative_to(options.root)}")
    for problem in result.problems:
        print(f"error: {problem}", file=sys.stderr)
    return 1 if result.problems or (options.check and result.changed) else 0


if __name__ == "__main__":
    raise SystemExit(main())
