"""The checks as a CDK policy-validation plugin, and the same checks on an assembly folder."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import aws_cdk as cdk
import jsii

from .core import DEFAULT_SENSITIVE_FIELDS, RULES, Settings, Violation, run
from .model import Model

PLUGIN_NAME = "Wiring"
VERSION = "1.0.0"
ACKNOWLEDGED = "aws:cdk:acknowledged-rules"
PROFILE_CONTEXT_KEY = "profile"


def acknowledgement_id(rule: str) -> str:
    """The id to acknowledge a finding with: `Wiring::QueueDeadLetter`."""
    return f"{PLUGIN_NAME}::{rule}"


@jsii.implements(cdk.IPolicyValidationPlugin)
class WiringChecks:
    """Cross-resource wiring checks on every synth. Register next to cdk-nag:

        Validations.of(app).add_plugins(WiringChecks(production=True))

    `production` turns on the production-only rules; None reads the `profile` context value.
    `sensitive_fields` adds names to the fields a state machine must not log.
    Acknowledge one finding on one construct with
    `Validations.of(construct).acknowledge(Acknowledgment(id="Wiring::<rule>", reason=...))`;
    CDK applies it to this plugin's report like to any other.
    """

    def __init__(self, *, production: bool | None = None, sensitive_fields: Iterable[str] = ()) -> None:
        self.production = production
        self.sensitive_fields = tuple(sensitive_fields)

    @property
    def name(self) -> str:
        return PLUGIN_NAME

    @property
    def version(self) -> str:
        return VERSION

    @property
    def rule_ids(self) -> list[str]:
        return [r.id for r in RULES]

    def settings(self, app: cdk.App | None = None) -> Settings:
        production = self.production
        if production is None:
            production = bool(app and app.node.try_get_context(PROFILE_CONTEXT_KEY) == "production")
        return Settings(production, DEFAULT_SENSITIVE_FIELDS + self.sensitive_fields)

    def validate(self, context: cdk.IPolicyValidationContext) -> cdk.PolicyValidationPluginReport:
        model = Model.from_files([stack.template_path for stack in context.stack_templates])
        found = run(model, self.settings(context.app_construct))  # type: ignore[arg-type]
        return cdk.PolicyValidationPluginReport(
            success=not found, violations=[_policy_violation(v) for v in found]
        )


def _policy_violation(violation: Violation) -> cdk.PolicyViolation:
    return cdk.PolicyViolation(
        rule_name=violation.rule,
        description=f"[{violation.rule}] {violation.resource.path} {violation.description}",
        fix=violation.fix,
        severity="error",
        violating_resources=[
            cdk.PolicyViolatingResource(
                resource_logical_id=violation.resource.logical_id,
                template_path=violation.resource.template_path,
                locations=[violation.location],
            )
        ],
    )


def check_assembly(
    directory: str | Path, *, production: bool, sensitive_fields: Iterable[str] = ()
) -> list[Violation]:
    """The unacknowledged findings in a synthesized assembly (e.g. cdk.out), without CDK."""
    folder = Path(directory)
    model = Model.from_files([str(p) for p in sorted(folder.glob("*.template.json"))])
    found = run(model, Settings(production, DEFAULT_SENSITIVE_FIELDS + tuple(sensitive_fields)))
    accepted = acknowledgements(folder)
    return [v for v in found if not _acknowledged(v, accepted)]


def acknowledgements(folder: Path) -> dict[str, set[str]]:
    """Acknowledgement id -> construct paths it was made on, from the stacks' metadata files."""
    found: dict[str, set[str]] = {}
    for metadata in folder.glob("*.metadata.json"):
        for path, entries in json.loads(metadata.read_text()).items():
            for entry in entries:
                if entry.get("type") == ACKNOWLEDGED:
                    for finding in entry.get("data") or {}:
                        found.setdefault(finding, set()).add(path.lstrip("/"))
    return found


def _acknowledged(violation: Violation, accepted: dict[str, set[str]]) -> bool:
    path = violation.resource.path
    return any(
        path == made_on or path.startswith(made_on + "/")
        for made_on in accepted.get(acknowledgement_id(violation.rule), ())
    )
