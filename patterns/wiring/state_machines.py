"""State machines do not write sensitive fields into logs or dead-letter messages."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from .core import Settings, Violation, rule
from .model import Model, Rendered, Resource, as_list

IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
PAYLOAD_KEYS = ("Parameters", "Arguments", "ItemSelector", "ResultSelector", "Output", "Assign")
WHOLE_STATE = {"$", "States.JsonToString($)", "{% $states.input %}", "{% $string($states.input) %}"}
SENDERS = {
    ":states:::sqs:sendMessage": "MessageBody",
    ":states:::sns:publish": "Message",
    ":states:::events:putEvents": "Detail",
}


def normalized(name: str) -> str:
    return name.lower().replace("_", "").replace("-", "")


def definition(model: Model, machine: Resource) -> Any:
    return parsed(model, machine)[0]


def parsed(model: Model, machine: Resource) -> tuple[Any, Rendered]:
    """The ASL definition, its tokens left as `${Token[n]}` strings, and those tokens."""
    props = machine.properties
    if isinstance(props.get("Definition"), dict):
        return props["Definition"], Rendered("", [], machine.stack)
    rendered = model.render(props.get("DefinitionString", ""), machine.stack)
    text = rendered.text
    for name, value in (props.get("DefinitionSubstitutions") or {}).items():
        text = text.replace("${" + name + "}", str(model.literal(value, machine.stack) or name))
    try:
        return json.loads(text), rendered
    except json.JSONDecodeError:
        return None, rendered


def _state_maps(document: Any) -> Iterator[dict[str, Any]]:
    if isinstance(document, dict):
        if isinstance(document.get("States"), dict):
            yield document["States"]
        for value in document.values():
            yield from _state_maps(value)
    elif isinstance(document, list):
        for item in document:
            yield from _state_maps(item)


def _next_states(state: dict[str, Any]) -> Iterator[str]:
    for key in ("Next", "Default"):
        if isinstance(state.get(key), str):
            yield state[key]
    for branch in as_list(state.get("Choices")) + as_list(state.get("Catch")):
        if isinstance(branch, dict) and isinstance(branch.get("Next"), str):
            yield branch["Next"]


def failure_sinks(model: Model) -> dict[Resource, str]:
    """Queues a state machine sends to from the states its Catch clauses lead to."""
    found: dict[Resource, str] = {}
    for machine in model.of_type("AWS::StepFunctions::StateMachine"):
        document, rendered = parsed(model, machine)
        for states in _state_maps(document):
            pending = [
                c["Next"] for s in states.values() for c in as_list(s.get("Catch")) if isinstance(c, dict)
            ]
            seen: set[str] = set()
            while pending:
                name = pending.pop()
                if name in seen or name not in states:
                    continue
                seen.add(name)
                state = states[name]
                pending.extend(_next_states(state))
                if str(state.get("Resource", "")).endswith(":states:::sqs:sendMessage"):
                    url = (state.get("Parameters") or {}).get("QueueUrl", "")
                    token = rendered.token_at(str(url))
                    for queue in model.targets_of_type(token, machine.stack, "AWS::SQS::Queue"):
                        found.setdefault(queue, f"failure destination of {machine.path}")
    return found


def sends_whole_state(value: Any) -> bool:
    """A payload that is the state, or holds it under some key (`"state.$": "$"`)."""
    if isinstance(value, str):
        return value.strip() in WHOLE_STATE
    if isinstance(value, dict):
        return any(
            (key.endswith(".$") and sends_whole_state(inner))
            or (isinstance(inner, dict) and sends_whole_state(inner))
            for key, inner in value.items()
        )
    return False


def sensitive_fields(document: Any, sensitive: set[str]) -> set[str]:
    """Sensitive names the definition reads or writes: in paths, expressions and payload keys."""
    found: set[str] = set()

    def walk(node: Any, payload: bool) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "States" and isinstance(value, dict):
                    for state in value.values():
                        walk(state, False)
                    continue
                if payload and normalized(key.removesuffix(".$")) in sensitive:
                    found.add(key.removesuffix(".$"))
                walk(value, payload or key in PAYLOAD_KEYS)
        elif isinstance(node, list):
            for item in node:
                walk(item, payload)
        elif isinstance(node, str) and ("$" in node):
            found.update(word for word in IDENTIFIER.findall(node) if normalized(word) in sensitive)

    walk(document, False)
    return found


def _logs_data(machine: Resource) -> bool:
    logging = machine.properties.get("LoggingConfiguration") or {}
    return bool(logging.get("IncludeExecutionData")) and str(logging.get("Level", "OFF")).upper() != "OFF"


@rule(
    "StateMachineSensitiveLogs",
    doc="A state machine that logs execution data (IncludeExecutionData at any level but OFF) does "
    "not carry fields named as sensitive: every state's input and output would be written to the log. "
    "In production it does not log execution data at all: the input carries what no state names.",
    source="https://docs.aws.amazon.com/step-functions/latest/dg/cw-logs.html "
    "(IncludeExecutionData logs input, output and errors)",
)
def state_machine_sensitive_logs(model: Model, settings: Settings) -> Iterator[Violation]:
    sensitive = {normalized(f) for f in settings.sensitive_fields}
    for machine in model.of_type("AWS::StepFunctions::StateMachine"):
        if not _logs_data(machine):
            continue
        fields = sensitive_fields(definition(model, machine), sensitive)
        level = machine.properties["LoggingConfiguration"].get("Level")
        if not fields and settings.production:
            yield Violation(
                "StateMachineSensitiveLogs",
                machine,
                f"logs execution data (level {level}) in production: every state's input and output, "
                "including fields of the execution's input that no state names (a Lambda task given "
                "'$' passes them all), is kept for the log group's retention.",
                "Set include_execution_data=False in production, or acknowledge the finding on this "
                "state machine saying why its data holds nothing sensitive.",
                "Properties/LoggingConfiguration",
            )
        if fields:
            yield Violation(
                "StateMachineSensitiveLogs",
                machine,
                f"logs execution data (level {level}) and its states carry {', '.join(sorted(fields))}: "
                "those values are written to CloudWatch Logs.",
                "Set include_execution_data=False in this profile, or keep the values out of the state "
                "(pass a reference to them, e.g. a token id).",
                "Properties/LoggingConfiguration",
            )


@rule(
    "StateMachineSensitiveMessage",
    doc="A task that sends the whole state to a queue, topic or bus (MessageBody '$') does not do so "
    "when the state carries fields named as sensitive.",
    source="https://docs.aws.amazon.com/step-functions/latest/dg/connect-sqs.html; "
    "https://docs.aws.amazon.com/step-functions/latest/dg/input-output-inputpath-params.html",
)
def state_machine_sensitive_message(model: Model, settings: Settings) -> Iterator[Violation]:
    sensitive = {normalized(f) for f in settings.sensitive_fields}
    for machine in model.of_type("AWS::StepFunctions::StateMachine"):
        document = definition(model, machine)
        fields = sensitive_fields(document, sensitive)
        if not fields:
            continue
        senders = [
            name
            for states in _state_maps(document)
            for name, state in states.items()
            if isinstance(state, dict) and _sends_state(state)
        ]
        if senders:
            yield Violation(
                "StateMachineSensitiveMessage",
                machine,
                f"{', '.join(sorted(senders))} send the whole state while it carries "
                f"{', '.join(sorted(fields))}: each message holds them.",
                "Send only the fields the reader needs (e.g. orderId, the failure and the execution id).",
                "Properties/DefinitionString",
            )


def _sends_state(state: dict[str, Any]) -> bool:
    resource = str(state.get("Resource", ""))
    field = next((f for suffix, f in SENDERS.items() if resource.endswith(suffix)), None)
    payload = state.get("Parameters") or state.get("Arguments") or {}
    if field is None or not isinstance(payload, dict):
        return False
    return sends_whole_state(payload.get(f"{field}.$", payload.get(field)))
