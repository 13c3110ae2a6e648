"""The DR table of docs/backup.md, computed from the synthesized app: each profile synthesized
with a copy Region (`-c backup_copy_region=...`), its `Backup` template read by
`patterns.backup.recovery`. `python -m tools.dr_table --write` rewrites the page's table;
`make bench` prints it; tests/test_backup_recovery.py fails when the page is stale."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import Any

import aws_cdk as cdk

from patterns.backup import recovery
from patterns.shared.backup import BACKUP_TAG_KEY
from stacks import STACK_IDS, build_app
from stacks.backup_stack import COPY_REGION_CONTEXT_KEY
from stacks.serverless_api_stack import KIT_PRODUCTION_CONTEXT
from stacks.standby_stack import PILOT_LIGHT, WARM_STANDBY
from tools import standby_recovery, standby_synth

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "backup.md"
BEGIN, END = "<!-- dr-table:begin -->\n", "<!-- dr-table:end -->"
COPY_REGION = "us-west-2"  # any Region: the figures do not depend on which
CDK_JSON = ROOT / "cdk.json"


def templates(profile: str) -> dict[str, dict[str, Any]]:
    import json

    context: dict[str, Any] = {**json.loads(CDK_JSON.read_text())["context"], "profile": profile}
    context[COPY_REGION_CONTEXT_KEY] = COPY_REGION
    if profile == "production":
        context.update(KIT_PRODUCTION_CONTEXT)
    app = build_app(cdk.App(context=context, outdir=tempfile.mkdtemp(prefix="cdk.out.dr.")))
    assembly = app.synth()
    return {stack.stack_name: stack.template for stack in assembly.stacks}


def marked_tables_have_pitr(by_stack: dict[str, dict[str, Any]]) -> bool:
    """Whether every table the plan selects also keeps its own point-in-time recovery."""
    found = False
    for stack in STACK_IDS:
        for resource in by_stack[stack]["Resources"].values():
            if resource["Type"] not in ("AWS::DynamoDB::GlobalTable", "AWS::DynamoDB::Table"):
                continue
            properties = resource["Properties"]
            replicas = properties.get("Replicas", [properties])
            tags = {t["Key"] for r in replicas for t in r.get("Tags", [])}
            if BACKUP_TAG_KEY not in tags:
                continue
            found = True
            specs = [r.get("PointInTimeRecoverySpecification", {}) for r in replicas]
            if not all(s.get("PointInTimeRecoveryEnabled") for s in specs):
                return False
    return found


def marked_databases_have_pitr(by_stack: dict[str, dict[str, Any]]) -> bool:
    """Whether every database the plan selects keeps automated backups (RDS restores those to
    any second of their retention)."""
    databases = [
        resource["Properties"]
        for stack in STACK_IDS
        for resource in by_stack[stack]["Resources"].values()
        if resource["Type"] == "AWS::RDS::DBInstance"
        and BACKUP_TAG_KEY in {t["Key"] for t in resource["Properties"].get("Tags", [])}
    ]
    return bool(databases) and all(int(d.get("BackupRetentionPeriod", 1)) >= 1 for d in databases)


def compute() -> str:
    table: list[recovery.Row] = []
    for profile in ("sandbox", "production"):
        by_stack = templates(profile)
        facts = recovery.facts(by_stack["Backup"], by_stack["BackupCopy"])
        table += recovery.rows(
            profile,
            facts,
            tables_have_pitr=marked_tables_have_pitr(by_stack),
            database_has_pitr=marked_databases_have_pitr(by_stack),
        )
        # Pilot light and warm standby, from the Standby stacks synthesized with example Regions.
        for strategy in (PILOT_LIGHT, WARM_STANDBY):
            standby = standby_recovery.facts(standby_synth.templates(profile, strategy))
            table += standby_recovery.rows(profile, standby)
    notes = "".join(
        f"- {name}: {value:g} h, {what}\n" for name, (value, what) in recovery.ASSUMPTIONS.items()
    )
    notes += "".join(
        f"- {name}: {value:g}, {what}\n" for name, (value, what) in standby_recovery.ASSUMPTIONS.items()
    )
    caveats = "".join(f"- [{mark}] {text}\n" for mark, text in standby_recovery.NOTES.items())
    return (
        recovery.markdown(table)
        + "\nPilot light and warm standby:\n\n"
        + caveats
        + "\nAssumed, not read from the templates:\n\n"
        + notes
    )


def write(text: str) -> None:
    page = PAGE.read_text()
    before, rest = page.split(BEGIN, 1)
    PAGE.write_text(before + BEGIN + text + END + rest.split(END, 1)[1])


def main(argv: list[str]) -> int:
    text = compute()
    print(text)
    if "--write" in argv:
        write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
