"""Read a cloud assembly folder (cdk.out): every stack's template and construct paths."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tools.diagrams.template import Template, stack_output

STACK = "aws:cloudformation:stack"
NESTED_ASSEMBLY = "cdk:cloud-assembly"
LOGICAL_ID = "aws:cdk:logicalId"


class AssemblyError(Exception):
    """The folder is not a cloud assembly, or a stack asked for is not in it."""


def load(cdk_out: Path) -> list[Template]:
    """Every stack in the assembly (nested stage assemblies included), sorted by display name,
    each knowing what the others export."""
    templates = _load(cdk_out)
    exports = {name: f"{path} in stack {stack}" for stack, name, path in exported(templates)}
    return [Template(t.stack, t.document, t.paths_from_metadata, t.stack_name, exports) for t in templates]


def context_only(examples: list[Template], kit: list[Template]) -> list[Template]:
    """The stacks of `examples` (the app synthesized with example context) that `kit` lacks."""
    names = {t.stack for t in kit}
    return [t for t in examples if t.stack not in names]


def exported(templates: list[Template]) -> list[tuple[str, str, str]]:
    """(stack, name, construct path of the exported resource) of every output another stack can
    read: by its export name (Fn::ImportValue) or by stack and output (Fn::GetStackOutput)."""
    found = []
    for t in templates:
        for output_id, output in t.document.get("Outputs", {}).items():
            targets = [i for i in t.refs_of(output.get("Value")) if i in t.resources]
            names = [stack_output(t.stack_name, output_id), output.get("Export", {}).get("Name")]
            for name in names:
                if isinstance(name, str):
                    found.append((t.stack, name, t.path(targets[0]) if targets else name))
    return sorted(found)


def _load(cdk_out: Path) -> list[Template]:
    manifest_file = cdk_out / "manifest.json"
    if not manifest_file.is_file():
        raise AssemblyError(f"{cdk_out}: no manifest.json; is this a cdk.out folder? Run `cdk synth` first")
    manifest = json.loads(manifest_file.read_text())
    templates: list[Template] = []
    for artifact_id, artifact in sorted(manifest.get("artifacts", {}).items()):
        properties = artifact.get("properties", {})
        if artifact.get("type") == NESTED_ASSEMBLY:
            templates += _load(cdk_out / properties["directoryName"])
        elif artifact.get("type") == STACK:
            document = json.loads((cdk_out / properties["templateFile"]).read_text())
            name = artifact.get("displayName", artifact_id)
            stack_name = properties.get("stackName", artifact_id)
            templates.append(Template(name, document, _paths(cdk_out, artifact), stack_name))
    return sorted(templates, key=lambda t: t.stack)


def _paths(cdk_out: Path, artifact: dict[str, Any]) -> dict[str, str]:
    """Logical id -> construct path, from the metadata CDK writes beside the template."""
    metadata: dict[str, Any] = dict(artifact.get("metadata", {}))
    extra = artifact.get("additionalMetadataFile")
    if extra and (cdk_out / extra).is_file():
        metadata.update(json.loads((cdk_out / extra).read_text()))
    return {
        str(entry["data"]): path.strip("/")
        for path, entries in metadata.items()
        for entry in entries
        if entry.get("type") == LOGICAL_ID
    }


def find(templates: list[Template], name: str) -> Template:
    for template in templates:
        if name in (template.stack, template.stack.rsplit("/", 1)[-1]):
            return template
    known = ", ".join(t.stack for t in templates) or "none"
    raise AssemblyError(f"no stack {name!r} in the assembly (stacks: {known})")
