"""The synthesized app as one model: every stack's resources, and references resolved across them.

Rules never walk intrinsics themselves: `Model.target` follows Ref, Fn::GetAtt, Fn::ImportValue
(by export name) and Fn::GetStackOutput (CDK's weak cross-stack references) to the resource they
name, in whichever template it lives; `Model.render` turns Fn::Join/Fn::Sub into text with one
placeholder per token, so a rule can read an env file or a state machine definition.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PATH_KEY = "aws:cdk:path"
PLACEHOLDER = re.compile(r"\$\{Token\[(\d+)\]\}")
SUB_VARIABLE = re.compile(r"\$\{([^}!]+)\}")


@dataclass(frozen=True)
class Resource:
    stack: str
    logical_id: str
    type: str
    body: dict[str, Any] = field(hash=False, compare=False)
    template_path: str = field(default="", hash=False, compare=False)
    construct_path: str = field(default="", hash=False, compare=False)

    @property
    def properties(self) -> dict[str, Any]:
        props = self.body.get("Properties", {})
        return props if isinstance(props, dict) else {}

    @property
    def path(self) -> str:
        """The construct path (from path metadata or the assembly's manifest), else stack/logical id."""
        return str(
            self.body.get("Metadata", {}).get(PATH_KEY)
            or self.construct_path
            or f"{self.stack}/{self.logical_id}"
        )

    @property
    def deletion_policy(self) -> str:
        return str(self.body.get("DeletionPolicy", "Delete"))

    @property
    def update_replace_policy(self) -> str:
        return str(self.body.get("UpdateReplacePolicy", "Delete"))

    @property
    def keeps_data(self) -> bool:
        return self.deletion_policy in KEEPING_POLICIES

    def __str__(self) -> str:
        return self.path


KEEPING_POLICIES = {"Retain", "Snapshot", "RetainExceptOnCreate"}


@dataclass(frozen=True)
class Target:
    """What a reference points to: a resource, and the attribute read (None for Ref)."""

    resource: Resource
    attribute: str | None = None


@dataclass
class Rendered:
    """A string value with each token replaced by `${Token[n]}`; `tokens[n]` is the token."""

    text: str
    tokens: list[Any]
    stack: str

    def token_at(self, placeholder: str) -> Any:
        match = PLACEHOLDER.fullmatch(placeholder.strip())
        return self.tokens[int(match.group(1))] if match else None


class Model:
    def __init__(
        self,
        templates: dict[str, dict[str, Any]],
        paths: dict[str, str] | None = None,
        construct_paths: dict[tuple[str, str], str] | None = None,
    ) -> None:
        """`templates` maps stack name (the template file's stem) to the parsed template;
        `construct_paths` maps (stack, logical id) to a construct path."""
        self.templates = templates
        self.paths = paths or {}
        known = construct_paths or {}
        self._resources: dict[tuple[str, str], Resource] = {}
        self._by_type: dict[str, list[Resource]] = {}
        for stack, template in templates.items():
            for logical_id, raw in (template.get("Resources") or {}).items():
                if not isinstance(raw, dict):
                    continue
                body = _without_nulls(raw)
                resource = Resource(
                    stack,
                    logical_id,
                    str(body.get("Type", "")),
                    body,
                    self.paths.get(stack, ""),
                    known.get((stack, logical_id), ""),
                )
                self._resources[(stack, logical_id)] = resource
                self._by_type.setdefault(resource.type, []).append(resource)
        self._exports: dict[str, tuple[str, Any]] = {}
        for stack, template in templates.items():
            for output in (template.get("Outputs") or {}).values():
                name = output.get("Export", {}).get("Name")
                literal = self.literal(name, stack) if name is not None else None
                if isinstance(literal, str):
                    self._exports[literal] = (stack, output.get("Value"))

    @classmethod
    def from_files(cls, template_paths: list[str]) -> Model:
        """Templates from the assembly, with construct paths from each stack's metadata file."""
        templates, paths, construct_paths = {}, {}, {}
        for template_path in template_paths:
            file = Path(template_path)
            stack = file.name.removesuffix(".template.json")
            templates[stack] = json.loads(file.read_text())
            paths[stack] = template_path
            metadata = file.with_name(f"{stack}.metadata.json")
            if metadata.is_file():
                for path, entries in json.loads(metadata.read_text()).items():
                    for entry in entries:
                        if entry.get("type") == "aws:cdk:logicalId":
                            construct_paths[(stack, str(entry["data"]))] = path.lstrip("/")
        return cls(templates, paths, construct_paths)

    # --- resources -------------------------------------------------------------------------

    def of_type(self, *types: str) -> Iterator[Resource]:
        for resource_type in types:
            yield from self._by_type.get(resource_type, [])

    def resource(self, stack: str, logical_id: str) -> Resource | None:
        return self._resources.get((stack, logical_id))

    def exported(self, resource: Resource) -> bool:
        """Whether an output with an export name (for another app or stack) carries it."""
        for stack, value in self._exports.values():
            target = self.target(value, stack)
            if target and target.resource == resource:
                return True
        return False

    # --- references ------------------------------------------------------------------------

    def target(self, value: Any, stack: str) -> Target | None:
        """The resource a Ref, GetAtt, ImportValue or GetStackOutput names; None otherwise."""
        if not isinstance(value, dict) or len(value) != 1:
            return None
        ((function, argument),) = value.items()
        if function == "Ref" and isinstance(argument, str):
            found = self.resource(stack, argument)
            return Target(found) if found else None
        if function == "Fn::GetAtt":
            parts = argument.split(".", 1) if isinstance(argument, str) else argument
            if not isinstance(parts, list) or len(parts) != 2:
                return None
            found = self.resource(stack, str(parts[0]))
            return Target(found, str(parts[1])) if found else None
        if function == "Fn::ImportValue":
            name = self.literal(argument, stack)
            exported = self._exports.get(name) if isinstance(name, str) else None
            return self.target(exported[1], exported[0]) if exported else None
        if function == "Fn::GetStackOutput" and isinstance(argument, dict):
            other = self.literal(argument.get("StackName"), stack)
            output = (self.templates.get(str(other), {}).get("Outputs") or {}).get(argument.get("OutputName"))
            return self.target(output.get("Value"), str(other)) if output else None
        return None

    def targets(self, value: Any, stack: str) -> Iterator[Target]:
        """Every resource referenced anywhere inside a value (lists, joins, subs, objects)."""
        direct = self.target(value, stack)
        if direct:
            yield direct
            return
        if isinstance(value, dict):
            if set(value) == {"Fn::Sub"}:
                yield from self._sub_targets(value["Fn::Sub"], stack)
                return
            for inner in value.values():
                yield from self.targets(inner, stack)
        elif isinstance(value, list):
            for inner in value:
                yield from self.targets(inner, stack)

    def _sub_targets(self, argument: Any, stack: str) -> Iterator[Target]:
        text, variables = _sub(argument)
        for name in SUB_VARIABLE.findall(str(text)):
            if name in variables:
                yield from self.targets(variables[name], stack)
            elif "." in name:
                found = self.target({"Fn::GetAtt": name.split(".", 1)}, stack)
                if found:
                    yield found
            else:
                found = self.target({"Ref": name}, stack)
                if found:
                    yield found

    def targets_of_type(self, value: Any, stack: str, *types: str) -> list[Resource]:
        return [t.resource for t in self.targets(value, stack) if t.resource.type in types]

    def one_target(self, value: Any, stack: str, *types: str) -> Resource | None:
        found = self.targets_of_type(value, stack, *types)
        return found[0] if len(found) == 1 else None

    # --- values ----------------------------------------------------------------------------

    def literal(self, value: Any, stack: str) -> Any:
        """A plain value, a parameter's default, or a join of literals; None when unknowable."""
        if isinstance(value, (str, int, float, bool)):
            return value
        if isinstance(value, dict) and set(value) == {"Ref"}:
            parameter = (self.templates.get(stack, {}).get("Parameters") or {}).get(value["Ref"])
            return parameter.get("Default") if parameter else None
        if isinstance(value, dict) and set(value) == {"Fn::Join"}:
            separator, parts = _join(value["Fn::Join"])
            literals = [self.literal(part, stack) for part in parts] if parts is not None else [None]
            return None if any(p is None for p in literals) else separator.join(map(str, literals))
        return None

    def render(self, value: Any, stack: str) -> Rendered:
        """A string value as text, every token in it replaced by a numbered placeholder."""
        rendered = Rendered("", [], stack)
        rendered.text = self._render(value, stack, rendered.tokens)
        return rendered

    def _render(self, value: Any, stack: str, tokens: list[Any]) -> str:
        if isinstance(value, str):
            return value
        if isinstance(value, (int, float, bool)):
            return json.dumps(value)
        if isinstance(value, dict) and set(value) == {"Fn::Base64"}:
            return self._render(value["Fn::Base64"], stack, tokens)
        if isinstance(value, dict) and set(value) == {"Fn::Join"}:
            separator, parts = _join(value["Fn::Join"])
            if parts is not None:
                return separator.join(self._render(part, stack, tokens) for part in parts)
        if isinstance(value, dict) and set(value) == {"Fn::Sub"}:
            text, variables = _sub(value["Fn::Sub"])

            def substitute(match: re.Match[str]) -> str:
                name = match.group(1)
                if name in variables:
                    return self._render(variables[name], stack, tokens)
                token = {"Fn::GetAtt": name.split(".", 1)} if "." in name else {"Ref": name}
                return self._render(token, stack, tokens)

            return SUB_VARIABLE.sub(substitute, str(text))
        tokens.append(value)
        return f"${{Token[{len(tokens) - 1}]}}"


def _join(argument: Any) -> tuple[str, list[Any] | None]:
    """Separator and parts of a well-formed Fn::Join (parts None when they are not a list)."""
    if isinstance(argument, list) and len(argument) == 2 and isinstance(argument[1], list):
        return str(argument[0]), argument[1]
    return "", None


def _sub(argument: Any) -> tuple[str, dict[str, Any]]:
    """Text and variables of an Fn::Sub, in either of its two forms."""
    if isinstance(argument, str):
        return argument, {}
    if isinstance(argument, list) and len(argument) == 2 and isinstance(argument[1], dict):
        return str(argument[0]), argument[1]
    return "", {}


def actions_of(statement: dict[str, Any]) -> list[str]:
    actions = statement.get("Action", [])
    return [str(a) for a in (actions if isinstance(actions, list) else [actions])]


def allows(statement: dict[str, Any], action: str) -> bool:
    """Whether an Allow statement's actions cover `action` (wildcards as IAM reads them)."""
    if statement.get("Effect") != "Allow":
        return False
    for granted in actions_of(statement):
        pattern = re.escape(granted.lower()).replace(r"\*", ".*").replace(r"\?", ".")
        if re.fullmatch(pattern, action.lower()):
            return True
    return False


def _without_nulls(value: Any) -> Any:
    """The value with JSON nulls dropped from its objects and lists: CloudFormation treats a
    null property as one not given, and the rules then need not guard every lookup."""
    if isinstance(value, dict):
        return {key: _without_nulls(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [_without_nulls(item) for item in value if item is not None]
    return value


def as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]
