"""The committed diagrams match what the current app synthesizes (so docs cannot go stale), and
every stack of the kit gives a diagram that reads, with its construct paths and its edges."""

from __future__ import annotations

from pathlib import Path

import pytest

from stacks import STACK_IDS
from tests.kit import PROFILES, ROOT, assembly
from tests.mermaid_checks import check_flowchart
from tools.diagrams import cloud_assembly, pages
from tools.diagrams.__main__ import standby_templates
from tools.diagrams.edges import edges
from tools.diagrams.flowchart import flowchart
from tools.diagrams.state_machine import state_machines
from tools.diagrams.template import Template


def kit_templates(profile: str) -> list[Template]:
    return cloud_assembly.load(Path(assembly(profile).directory))


def test_committed_diagrams_match_the_synthesized_templates() -> None:
    # tests/kit.py synthesizes with cdk.json's context, as `cdk synth` (and so `make docs`) does
    # and the Standby stacks, which `make docs` synthesizes with example context
    templates = kit_templates("sandbox")
    result = pages.refresh(templates + standby_templates(templates), ROOT)
    assert result.problems == []
    stale = sorted(str(page.relative_to(ROOT)) for page in result.changed)
    assert stale == [], f"diagrams differ from the templates in {stale}: run `make docs` and commit"


def kit_stacks() -> list[tuple[str, str]]:
    return [(profile, stack) for profile in PROFILES for stack in STACK_IDS]


@pytest.mark.parametrize(("profile", "stack"), kit_stacks())
def test_kit_stack_diagram(profile: str, stack: str) -> None:
    t = cloud_assembly.find(kit_templates(profile), stack)
    assert t.has_path_metadata()
    assert all(t.path(node) != node for node in t.nodes), "a node is labelled by its logical id"
    diagrams = [flowchart(t)] + [diagram for _, diagram in state_machines(t)]
    for diagram in diagrams:
        assert check_flowchart(diagram) == []
        assert "@@token" not in diagram and "Fn::" not in diagram


@pytest.mark.parametrize(("profile", "stack"), kit_stacks())
def test_kit_stack_connections_are_all_drawn(profile: str, stack: str) -> None:
    """Every subscription, event source mapping and state machine of the stack shows up."""
    t = cloud_assembly.find(kit_templates(profile), stack)
    pairs = {(edge.source, edge.target) for edge in edges(t)}
    expected = {
        "AWS::SNS::Subscription": ("TopicArn", "Endpoint"),
        "AWS::Lambda::EventSourceMapping": ("EventSourceArn", "FunctionName"),
    }
    for logical_id, resource in t.resources.items():
        if resource["Type"] in expected:
            source, target = (t.refs_in(logical_id, name) for name in expected[resource["Type"]])
            for a in source:
                for b in target:
                    assert (t.served_by(a)[0], t.served_by(b)[0]) in pairs, t.path(logical_id)
    machines = [i for i in t.resources if t.type_of(i) == "AWS::StepFunctions::StateMachine"]
    assert len(state_machines(t)) == len(machines)
