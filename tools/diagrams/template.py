"""One stack's template: construct paths, references between resources, and which resources are
nodes (a person cares about them) or plumbing folded into the nodes they serve."""

from __future__ import annotations

import functools
import re
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from tools.diagrams import catalog

SUB_VARIABLE = re.compile(r"\$\{([^}!]+)\}")
IMPORT = "import:"
"""Prefix of the id standing for a value read from another stack."""
IMPORTED_TYPE = "Fn::ImportValue"  # the type such an id answers to


def stack_output(stack_name: str, output: str) -> str:
    """The name an output goes by when another stack reads it with Fn::GetStackOutput."""
    return f"{stack_name}/{output}"


def is_import(logical_id: str) -> bool:
    return logical_id.startswith(IMPORT)


PathKey = tuple[str | int, ...]


@dataclass(frozen=True)
class Reference:
    target: str
    where: PathKey
    """Where in the referring resource's properties, e.g. ("Environment", "Variables", "TABLE")."""


def references(value: Any, where: PathKey = ()) -> Iterator[Reference]:
    """Every Ref, Fn::GetAtt, Fn::Sub variable and cross-stack read (Fn::ImportValue,
    Fn::GetStackOutput) in a value, pseudo parameters excluded."""
    if isinstance(value, list):
        for index, item in enumerate(value):
            yield from references(item, (*where, index))
    elif isinstance(value, dict):
        if "Ref" in value and isinstance(value["Ref"], str):
            if not value["Ref"].startswith("AWS::"):
                yield Reference(value["Ref"], where)
            return
        if isinstance(value.get("Fn::ImportValue"), str):
            yield Reference(IMPORT + value["Fn::ImportValue"], where)
            return
        output = value.get("Fn::GetStackOutput")
        if isinstance(output, dict) and isinstance(output.get("StackName"), str):
            yield Reference(IMPORT + stack_output(output["StackName"], str(output.get("OutputName"))), where)
            return
        if "Fn::GetAtt" in value:
            target = value["Fn::GetAtt"]
            yield Reference(target[0] if isinstance(target, list) else str(target).split(".")[0], where)
            return
        if "Fn::Sub" in value:
            text, variables = value["Fn::Sub"], dict[str, Any]()
            if isinstance(text, list):
                text, variables = text[0], text[1] if len(text) > 1 else {}
            names = frozenset(variables)
            for match in SUB_VARIABLE.finditer(str(text)):
                name = match.group(1).split(".")[0]
                if not name.startswith("AWS::") and name not in names:
                    yield Reference(name, where)
            yield from references(variables, where)
            return
        for key, item in value.items():
            yield from references(item, (*where, key))


@dataclass(eq=False)
class Template:
    stack: str
    """The stack's construct path (its display name), stripped from resource paths."""
    document: dict[str, Any]
    paths_from_metadata: dict[str, str] = field(default_factory=dict)
    """Logical id -> construct path from the stack's metadata file, when the template has none."""
    stack_name: str = ""
    """The CloudFormation stack name (the display name when not given)."""
    exports: dict[str, str] = field(default_factory=dict)
    """Name another stack reads a value by -> what the value is ("Topic in stack FanOut")."""

    def __post_init__(self) -> None:
        self.stack_name = self.stack_name or self.stack
        self.resources: dict[str, dict[str, Any]] = {
            logical_id: resource
            for logical_id, resource in self.document.get("Resources", {}).items()
            if resource.get("Type") not in catalog.IGNORED
        }
        self.outgoing: dict[str, list[Reference]] = {}
        self.incoming: dict[str, list[tuple[str, Reference]]] = defaultdict(list)
        for logical_id, resource in self.resources.items():
            found = [self._canonical(r) for r in references(resource.get("Properties", {}))]
            found = [r for r in found if self.exists(r.target)]
            self.outgoing[logical_id] = sorted(set(found), key=lambda r: (r.target, str(r.where)))
            for reference in self.outgoing[logical_id]:
                self.incoming[reference.target].append((logical_id, reference))

    def exists(self, logical_id: str) -> bool:
        """A resource of this template, or a value imported from another stack."""
        return logical_id in self.resources or is_import(logical_id)

    def type_of(self, logical_id: str) -> str:
        if is_import(logical_id):
            return IMPORTED_TYPE
        return str(self.resources[logical_id]["Type"])

    def properties(self, logical_id: str) -> dict[str, Any]:
        return dict(self.resources.get(logical_id, {}).get("Properties", {}))

    def has_path_metadata(self) -> bool:
        return any("aws:cdk:path" in r.get("Metadata", {}) for r in self.resources.values())

    def path(self, logical_id: str) -> str:
        """The construct path inside the stack, without CDK's default child names."""
        if is_import(logical_id):
            return logical_id.removeprefix(IMPORT)
        full = self.resources.get(logical_id, {}).get("Metadata", {}).get("aws:cdk:path")
        full = full or self.paths_from_metadata.get(logical_id)
        if not full:
            return logical_id
        parts = full.strip("/").split("/")
        stack_parts = self.stack.split("/")
        if parts[: len(stack_parts)] == stack_parts and len(parts) > len(stack_parts):
            parts = parts[len(stack_parts) :]
        while len(parts) > 1 and parts[-1] in ("Resource", "Default"):
            parts.pop()
        return "/".join(parts)

    def refs_in(self, logical_id: str, *properties: str) -> list[str]:
        """Resources referred to under the given top-level properties (all when none given)."""
        return sorted(
            {
                r.target
                for r in self.outgoing.get(logical_id, [])
                if not properties or (r.where and r.where[0] in properties)
            }
        )

    def refs_of(self, value: Any) -> list[str]:
        return sorted({r.target for r in map(self._canonical, references(value)) if self.exists(r.target)})

    def _canonical(self, reference: Reference) -> Reference:
        """An imported value named by what it is, however the stack reads it."""
        if not is_import(reference.target):
            return reference
        name = reference.target.removeprefix(IMPORT)
        return Reference(IMPORT + self.exports.get(name, name), reference.where)

    def referrers(self, logical_id: str) -> list[str]:
        return sorted({source for source, _ in self.incoming.get(logical_id, [])})

    # --- nodes and plumbing -------------------------------------------------------------------

    @functools.cached_property
    def custom_resource_helpers(self) -> frozenset[str]:
        """Functions that exist only to back a custom resource (their ServiceToken)."""
        helpers = set()
        for logical_id in self.resources:
            if catalog.is_custom_resource(self.type_of(logical_id)):
                helpers.update(self.refs_in(logical_id, "ServiceToken"))
        return frozenset(helpers)

    def is_plumbing(self, logical_id: str) -> bool:
        resource_type = self.type_of(logical_id)
        if resource_type == "AWS::KMS::Key":
            return len(self.owners(logical_id, frozenset({logical_id}), keys_fold=True)) <= 1
        if resource_type == "AWS::RDS::DBInstance":
            return "DBClusterIdentifier" in self.properties(logical_id)
        if resource_type == "AWS::Lambda::Function":
            return logical_id in self.custom_resource_helpers
        return (
            resource_type in catalog.FOLD_INTO_REFERENCED
            or resource_type in catalog.FOLD_INTO_REFERRER
            or catalog.is_custom_resource(resource_type)
        )

    @functools.cached_property
    def nodes(self) -> list[str]:
        """Resources drawn as nodes: all but plumbing, and plumbing that serves nothing found."""
        primary = [i for i in self.resources if not self.is_plumbing(i)]
        orphans = [i for i in self.resources if self.is_plumbing(i) and not self._owners_of(i, primary)]
        return sorted(primary + orphans)

    @functools.cached_property
    def _node_set(self) -> frozenset[str]:
        return frozenset(self.nodes)

    def is_node(self, logical_id: str) -> bool:
        return logical_id in self._node_set

    def _owners_of(self, logical_id: str, primary: list[str]) -> set[str]:
        return self.owners(logical_id, frozenset({logical_id})) or self._owner_by_path(logical_id, primary)

    @functools.cache  # noqa: B019 (a template lives as long as its diagram)
    def served_by(self, logical_id: str) -> tuple[str, ...]:
        """The nodes a resource serves: itself for a node, else the nodes its plumbing folds into."""
        if self.is_node(logical_id) or is_import(logical_id):
            return (logical_id,)
        return tuple(sorted(self._owners_of(logical_id, self.nodes)))

    def owners(self, logical_id: str, seen: frozenset[str], keys_fold: bool = False) -> set[str]:
        resource_type = self.type_of(logical_id)
        found: set[str] = set()
        properties = catalog.FOLD_INTO_REFERENCED.get(resource_type)
        if catalog.is_custom_resource(resource_type):
            properties = self._custom_resource_subjects(logical_id)
        if properties:
            for target in self.refs_in(logical_id, *properties):
                found |= self._through(target, seen, keys_fold)
            found = self._most_specific(found)
        folds_down = resource_type in catalog.FOLD_INTO_REFERRER or resource_type == "AWS::Lambda::Function"
        if not found and folds_down:
            for source in self.referrers(logical_id):
                if self.type_of(source) not in catalog.NEVER_OWNS:
                    found |= self._through(source, seen, keys_fold)
        return found

    def _custom_resource_subjects(self, logical_id: str) -> tuple[str, ...]:
        """The properties naming what a custom resource manages: those that are themselves a
        reference (BucketName: {"Ref": ...}), else any but its ServiceToken."""
        properties = {k: v for k, v in self.properties(logical_id).items() if k != "ServiceToken"}
        direct = [
            k for k, v in properties.items() if isinstance(v, dict) and ({"Ref", "Fn::GetAtt"} & set(v))
        ]
        return tuple(sorted(direct or properties))

    def _most_specific(self, candidates: set[str]) -> set[str]:
        """Drop a candidate another one refers to (an ECS cluster, when its service is there)."""
        referred = {target for c in candidates if not is_import(c) for target in self.refs_in(c)}
        return {c for c in candidates if c not in referred} or candidates

    def _through(self, other: str, seen: frozenset[str], keys_fold: bool) -> set[str]:
        if other in seen:
            return set()
        if keys_fold and self.type_of(other) == "AWS::KMS::Key":
            return set()
        if self.is_plumbing(other):
            return self.owners(other, seen | {other}, keys_fold)
        return {other}

    def _owner_by_path(self, logical_id: str, nodes: list[str]) -> set[str]:
        """The node whose construct path is the nearest parent of this resource's path."""
        path = self.path(logical_id)
        best, best_length = set(), 0
        for node in sorted(nodes):
            node_path = self.path(node)
            for prefix in (node_path, node_path.rpartition("/")[0]):
                if prefix and path.startswith(prefix + "/") and len(prefix) > best_length:
                    best, best_length = {node}, len(prefix)
        return best
