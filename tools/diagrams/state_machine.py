"""A state machine's own diagram from its definition: states, the happy path (thick), Catch edges
to compensations (dotted), Retry noted on the state. Tokens in the definition (Fn::Join parts,
Fn::Sub variables, DefinitionSubstitutions) are named by the construct path they refer to."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from tools.diagrams.markup import RESERVED, slug, text
from tools.diagrams.template import SUB_VARIABLE, Template

TOKEN = re.compile(r"@@token(\d+)@@")
PSEUDO = {"AWS::Partition": "aws", "AWS::URLSuffix": "amazonaws.com", "AWS::NoValue": ""}
COMPARISONS = {
    "Equals": "==",
    "GreaterThan": ">",
    "GreaterThanEquals": ">=",
    "LessThan": "<",
    "LessThanEquals": "<=",
    "Matches": "matches",
}


@dataclass
class Definition:
    """A parsed definition whose strings still hold @@tokenN@@ placeholders."""

    states: dict[str, Any]
    names: list[str] = field(default_factory=list)
    resources: dict[int, str] = field(default_factory=dict)
    """Token index -> the logical id it refers to, for tokens naming a resource."""

    def resolve(self, value: str) -> str:
        return TOKEN.sub(lambda m: self.names[int(m.group(1))], value)

    def targets(self, value: Any) -> list[str]:
        """The names of the resources a value refers to, in order of appearance."""
        found: list[str] = []
        for item in _strings(value):
            for match in TOKEN.finditer(item):
                if int(match.group(1)) in self.resources:
                    found.append(self.names[int(match.group(1))])
        return list(dict.fromkeys(found))

    def target_ids(self, value: Any) -> list[str]:
        """The logical ids a value refers to."""
        found = [
            self.resources[int(m.group(1))]
            for item in _strings(value)
            for m in TOKEN.finditer(item)
            if int(m.group(1)) in self.resources
        ]
        return list(dict.fromkeys(found))


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def token_name(t: Template, token: Any) -> str:
    if isinstance(token, dict) and "Ref" in token:
        ref = str(token["Ref"])
        if ref.startswith("AWS::"):
            return PSEUDO.get(ref, ref.removeprefix("AWS::").lower())
        return _path(t, ref)
    if isinstance(token, dict) and "Fn::GetAtt" in token:
        target = token["Fn::GetAtt"]
        return _path(t, target[0] if isinstance(target, list) else str(target).split(".")[0])
    referred = t.refs_of(token)  # an imported value, or a resource inside another function
    return _path(t, referred[0]) if referred else "token"


def _path(t: Template, logical_id: str) -> str:
    if not t.exists(logical_id):
        return logical_id
    served = t.served_by(logical_id)
    return t.path(served[0] if served else logical_id)


def definition(t: Template, logical_id: str) -> Definition | None:
    properties = t.properties(logical_id)
    names: list[str] = []
    resources: dict[int, str] = {}

    def placeholder(token: Any) -> str:
        referred = t.refs_of(token)
        if referred:
            resources[len(names)] = referred[0]
        names.append(token_name(t, token))
        return f"@@token{len(names) - 1}@@"

    raw = properties.get("DefinitionString", properties.get("Definition"))
    if isinstance(raw, dict) and "Fn::Join" in raw:
        separator, parts = raw["Fn::Join"]
        body = separator.join(p if isinstance(p, str) else placeholder(p) for p in parts)
    elif isinstance(raw, dict) and "Fn::Sub" in raw:
        sub = raw["Fn::Sub"]
        source, variables = (sub[0], sub[1]) if isinstance(sub, list) else (sub, {})
        body = SUB_VARIABLE.sub(lambda m: _sub(m.group(1), variables, placeholder), source)
    elif isinstance(raw, dict) and "States" in raw:
        body = json.dumps(raw)
    elif isinstance(raw, str):
        body = raw
    else:
        return None
    for key, value in properties.get("DefinitionSubstitutions", {}).items():
        body = body.replace("${" + key + "}", value if isinstance(value, str) else placeholder(value))
    try:
        parsed = json.loads(body)
    except json.JSONDecodeError:
        return None
    return Definition(parsed, names, resources) if isinstance(parsed, dict) and "States" in parsed else None


def _sub(name: str, variables: dict[str, Any], placeholder: Any) -> str:
    if name in variables:
        value = variables[name]
        return value if isinstance(value, str) else str(placeholder(value))
    logical_id, _, attribute = name.partition(".")
    return str(placeholder({"Fn::GetAtt": [logical_id, attribute]} if attribute else {"Ref": logical_id}))


def _service_action(d: Definition, state: dict[str, Any]) -> tuple[str, Any]:
    """The task's action ("lambda:invoke", "dynamodb:putItem"; "invoke" for a bare function ARN)
    and the part of the state naming its target."""
    resource = d.resolve(str(state.get("Resource", "")))
    if ":::" in resource:
        return resource.split(":::", 1)[1], state.get("Parameters", state.get("Arguments", {}))
    if d.targets(state.get("Resource", "")):
        return "invoke", state.get("Resource", "")
    return resource, state.get("Parameters", state.get("Arguments", {}))


def _action(d: Definition, state: dict[str, Any]) -> str:
    action, where = _service_action(d, state)
    return " ".join([action, *d.targets(where)]).strip()


def _all_states(machine: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for state in machine.get("States", {}).values():
        yield state
        for branch in state.get("Branches", []):
            yield from _all_states(branch)
        for key in ("ItemProcessor", "Iterator"):
            if key in state:
                yield from _all_states(state[key])


def task_actions(t: Template, logical_id: str) -> dict[str, set[str]]:
    """Logical id -> the actions the state machine's tasks perform on it."""
    parsed = definition(t, logical_id)
    actions: dict[str, set[str]] = {}
    if parsed is None:
        return actions
    for state in _all_states(parsed.states):
        if state.get("Type") == "Task":
            action, where = _service_action(parsed, state)
            for target in parsed.target_ids(where):
                actions.setdefault(target, set()).add(action)
    return actions


def _retries(state: dict[str, Any]) -> list[str]:
    return [f"retry {_errors(r)} x{r.get('MaxAttempts', 3)}" for r in state.get("Retry", [])]


def _errors(rule: dict[str, Any]) -> str:
    errors = [str(e) for e in rule.get("ErrorEquals", [])]
    return ", ".join(errors) if len(errors) <= 2 else f"{errors[0]} +{len(errors) - 1} more"


def _condition(d: Definition, rule: dict[str, Any]) -> str:
    if "Condition" in rule:
        return d.resolve(str(rule["Condition"]))
    for key in ("And", "Or"):
        if key in rule:
            return f" {key.lower()} ".join(_condition(d, r) for r in rule[key])
    if "Not" in rule:
        return "not " + _condition(d, rule["Not"])
    variable = str(rule.get("Variable", ""))
    for key, value in rule.items():
        if key in ("Variable", "Next", "Comment", "Assign", "Output"):
            continue
        if key.startswith("Is"):
            return f"{variable} is {'' if value else 'not '}{key[2:].lower()}"
        operator = next(
            (op for suffix, op in COMPARISONS.items() if key.removesuffix("Path").endswith(suffix)), key
        )
        return f"{variable} {operator} {json.dumps(value) if not isinstance(value, str) else value}"
    return "choice"


def _short(condition: str, limit: int = 60) -> str:
    return condition if len(condition) <= limit else condition[: limit - 1].rstrip() + "…"


@dataclass
class Drawing:
    d: Definition
    lines: list[str] = field(default_factory=list)
    ids: dict[tuple[str, str], str] = field(default_factory=dict)

    def state_id(self, scope: str, name: str) -> str:
        key = (scope, name)
        if key not in self.ids:
            base = slug(f"{scope}_{name}") or "state"
            taken = base in self.ids.values() or base in ("start", "finish") or base.lower() in RESERVED
            self.ids[key] = f"{base}_{len(self.ids)}" if taken else base
        return self.ids[key]

    def edge(self, source: str, target: str, arrow: str, label: str = "", indent: str = "  ") -> None:
        labelled = f'|"{text(label)}"|' if label else ""
        self.lines.append(f"{indent}{source} {arrow}{labelled} {target}")

    def machine(self, scope: str, machine: dict[str, Any], entry: str, indent: str) -> None:
        """Draw one state machine (the top level, a Parallel branch, a Map iterator)."""
        states: dict[str, Any] = machine.get("States", {})
        happy = happy_path(machine)
        self.edge(entry, self.state_id(scope, str(machine.get("StartAt"))), "==>", indent=indent)
        for name, state in states.items():
            self.state(scope, name, state, indent)
        for name, state in states.items():
            here = self.state_id(scope, name)
            for target, label, arrow in transitions(self.d, state):
                chosen = arrow == "-->" and name in happy and happy[name] == target
                if target is None and scope:
                    continue  # the end of a branch: the Parallel or Map state goes on
                end = "finish" if target is None else self.state_id(scope, target)
                self.edge(here, end, "==>" if chosen else arrow, label, indent)

    def state(self, scope: str, name: str, state: dict[str, Any], indent: str) -> None:
        kind = str(state.get("Type", "?"))
        details = [kind]
        if kind == "Task":
            details.append(_action(self.d, state))
        if kind == "Fail":
            details.append(": ".join(str(state[k]) for k in ("Error", "Cause") if k in state))
        if kind == "Wait":
            details += [f"{k} {state[k]}" for k in ("Seconds", "Timestamp", "SecondsPath") if k in state]
        details += _retries(state)
        label = text(name) + "".join("<br/>" + text(line) for line in details if line)
        here = self.state_id(scope, name)
        if kind in ("Parallel", "Map"):
            self.lines.append(f'{indent}subgraph {here}["{label}"]')
            branches = state.get("Branches") or [state.get("ItemProcessor") or state.get("Iterator") or {}]
            for index, branch in enumerate(branches):
                entry = self.state_id(here, f"b{index}")  # a dot where the branch starts
                self.lines.append(f'{indent}  {entry}((" "))')
                self.machine(entry, branch, entry, indent + "  ")
            self.lines.append(f"{indent}end")
            return
        shape = {"Choice": ('{"', '"}'), "Succeed": ('(["', '"])'), "Fail": ('[["', '"]]')}
        opening, closing = shape.get(kind, ('["', '"]'))
        self.lines.append(f"{indent}{here}{opening}{label}{closing}")


def transitions(d: Definition, state: dict[str, Any]) -> Iterator[tuple[str | None, str, str]]:
    """(next state or None for the end, label, arrow) for every way out of a state."""
    if "Next" in state:
        yield state["Next"], "", "-->"
    if state.get("End") or state.get("Type") == "Succeed":
        yield None, "", "-->"
    for rule in state.get("Choices", []):
        yield rule.get("Next"), _short(_condition(d, rule)), "-->"
    if "Default" in state:
        yield state["Default"], "default", "-->"
    for catch in state.get("Catch", []):
        yield catch.get("Next"), "catch " + _errors(catch), "-.->"


def happy_path(machine: dict[str, Any]) -> dict[str, str | None]:
    """State -> the state after it on the happy path, from StartAt along Next; at a Choice, the
    first choice (then Default) that does not lead straight to a Fail state."""
    states: dict[str, Any] = machine.get("States", {})
    path: dict[str, str | None] = {}
    name = machine.get("StartAt")
    while isinstance(name, str) and name in states and name not in path:
        state = states[name]
        options = [rule.get("Next") for rule in state.get("Choices", [])] + [state.get("Default")]
        options = [o for o in options if o in states]
        succeeding = [o for o in options if states[o].get("Type") != "Fail"]
        following = state.get("Next") or next(iter(succeeding or options), None)
        path[name] = None if state.get("Type") in ("Succeed", "Fail") else following
        name = following
    return path


def state_machine_diagram(t: Template, logical_id: str) -> str | None:
    parsed = definition(t, logical_id)
    if parsed is None:
        return None
    drawing = Drawing(parsed, ["flowchart TD", "  start((start))", "  finish((end))"])
    drawing.machine("", parsed.states, "start", "  ")
    return "\n".join(drawing.lines) + "\n"


def state_machines(t: Template) -> list[tuple[str, str]]:
    """(construct path, diagram) of every state machine in the stack whose definition parses."""
    found = []
    for logical_id in t.nodes:
        if t.type_of(logical_id) == "AWS::StepFunctions::StateMachine":
            diagram = state_machine_diagram(t, logical_id)
            if diagram is not None:
                found.append((t.path(logical_id), diagram))
    return found
