"""`make synth`: synthesize every stack in every profile through the pinned CDK CLI, lint every
template with cfn-lint, and print a summary. Exits non-zero on any nag, wiring or lint finding.

`ALARM_EMAIL=you@example.com make synth` passes `-c alarm_email=...` on; without it, one line
per stack says that its alarms go to a topic nobody is subscribed to."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from patterns.shared.defaults import ALARM_EMAIL_CONTEXT_KEY, PROFILES
from patterns.wiring import Violation, check_assembly
from stacks.global_reads_stack import SKIPPED as GLOBAL_READS_SKIP_LINE
from stacks.serverless_api_stack import KIT_PRODUCTION_CONTEXT
from stacks.standby_stack import SKIP_LINE as STANDBY_SKIP_LINE

ROOT = Path(__file__).resolve().parent.parent
CDK = ROOT / "node_modules" / ".bin" / "cdk"
ACKNOWLEDGED = "aws:cdk:acknowledged-rules"


def outdir(profile: str) -> Path:
    """Sandbox, the default, goes where `cdk synth` puts it; other profiles beside it."""
    return ROOT / ("cdk.out" if profile == "sandbox" else f"cdk.out.{profile}")


def synth_command(profile: str) -> list[str]:
    command = [str(CDK), "synth", "--quiet", "-c", f"profile={profile}", "-o", str(outdir(profile))]
    if os.environ.get("ALARM_EMAIL"):
        command += ["-c", f"{ALARM_EMAIL_CONTEXT_KEY}={os.environ['ALARM_EMAIL']}"]
    if profile == "production":  # the API's sign-in URLs, which production requires
        for key, value in KIT_PRODUCTION_CONTEXT.items():
            command += ["-c", f"{key}={value}"]
    return command


def synth(*profiles: str) -> None:
    """Each profile through the CLI (the path `cdk deploy` takes), the profiles side by side:
    each run is one Python process with one Node kernel, so two of them use two cores."""
    runs = {
        profile: subprocess.Popen(
            synth_command(profile), cwd=ROOT, env=os.environ, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        for profile in profiles
    }
    failed = []
    for profile, run in runs.items():
        stdout, stderr = run.communicate()
        if run.returncode != 0:
            sys.stderr.write((stdout + stderr).decode(errors="replace"))
            report = outdir(profile) / "validation-report.json"
            if report.exists():
                sys.stderr.write(f"\nsecurity gate report: {report}\n")
            failed.append(profile)
    if failed:
        raise SystemExit(f"cdk synth failed for profile {', '.join(failed)}")


def synth_examples() -> None:
    """The sandbox app with `stacks.EXAMPLE_CONTEXT` (the stacks only context builds) into
    cdk.out.examples, for `make docs` to draw."""
    from stacks import EXAMPLE_CONTEXT

    command = [str(CDK), "synth", "--quiet", "-c", "profile=sandbox", "-o", str(ROOT / "cdk.out.examples")]
    for key, value in EXAMPLE_CONTEXT.items():
        command += ["-c", f"{key}={value}"]
    subprocess.run(command, cwd=ROOT, env=os.environ, check=True, capture_output=True)


def acknowledged(assembly: Path, stack: str) -> int:
    """cdk-nag findings the kit acknowledged (not those aws-cdk-lib acknowledges for itself)."""
    metadata = json.loads((assembly / f"{stack}.metadata.json").read_text())
    return sum(
        not finding.startswith("CloudFormation-Validate::")
        for entries in metadata.values()
        for entry in entries
        if entry["type"] == ACKNOWLEDGED
        for finding in entry["data"]
    )


def unsubscribed_alarm_topics(template: dict[str, Any]) -> list[str]:
    """Construct paths of the topics this template's alarms notify that have no subscription
    in the template (a topic passed in from elsewhere is not counted: its owner subscribes)."""
    resources = template.get("Resources", {})
    notified = {
        action["Ref"]
        for resource in resources.values()
        if resource["Type"] == "AWS::CloudWatch::Alarm"
        for action in resource["Properties"].get("AlarmActions", [])
        if isinstance(action, dict) and resources.get(action.get("Ref"), {}).get("Type") == "AWS::SNS::Topic"
    }
    subscribed = {
        resource["Properties"]["TopicArn"].get("Ref")
        for resource in resources.values()
        if resource["Type"] == "AWS::SNS::Subscription"
        and isinstance(resource["Properties"]["TopicArn"], dict)
    }
    return sorted(
        resources[topic].get("Metadata", {}).get("aws:cdk:path", topic).removesuffix("/Resource")
        for topic in notified - subscribed
    )


def alarm_notice(stack: str, topics: list[str]) -> str:
    return (
        f"{stack}: alarms go to {', '.join(topics)}, which nobody is subscribed to yet; deploy with "
        f"-c {ALARM_EMAIL_CONTEXT_KEY}=you@example.com (or ALARM_EMAIL=you@example.com make synth), "
        f"or subscribe your on-call tooling through the topic's export ({stack}-..., see "
        "`aws cloudformation list-exports`)"
    )


def lint(templates: list[Path]) -> dict[Path, list[str]]:
    """cfn-lint's findings per template, from one cfn-lint process for all of them (its start-up,
    loading the resource schemas, costs more than linting a template)."""
    result = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "cfn-lint"), "--format", "parseable", *map(str, templates)],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    findings: dict[Path, list[str]] = {template: [] for template in templates}
    for line in filter(str.strip, result.stdout.splitlines()):
        template = next((t for t in templates if line.startswith(f"{t}:")), None)
        if template is None:  # not a finding of one template: an error of cfn-lint itself
            raise SystemExit(f"cfn-lint: {line}")
        findings[template].append(line)
    if result.returncode & 1 or (result.returncode and not any(findings.values())):  # 1: cfn-lint failed
        raise SystemExit(f"cfn-lint failed ({result.returncode}): {result.stderr[-2000:]}")
    return findings


def main() -> int:
    rows, failures, notices = [], 0, dict[str, str]()
    synth(*PROFILES)
    templates = {profile: sorted(outdir(profile).glob("*.template.json")) for profile in PROFILES}
    findings = lint([template for profile in PROFILES for template in templates[profile]])
    for profile in PROFILES:
        assembly = outdir(profile)
        # The synth already failed on a wiring finding; this counts them per stack for the table.
        wiring = check_assembly(assembly, production=profile == "production")
        for finding in wiring:
            print(f"wiring: {finding}", file=sys.stderr)
        failures += len(wiring)
        for template in templates[profile]:
            stack = template.name.removesuffix(".template.json")
            document = json.loads(template.read_text())
            resources = len(document.get("Resources", {}).keys() - {"CDKMetadata"})
            if topics := unsubscribed_alarm_topics(document):
                notices.setdefault(stack, alarm_notice(stack, topics))
            failures += len(findings[template])
            for line in findings[template]:
                print(line, file=sys.stderr)
            rows.append(
                (
                    profile,
                    stack,
                    resources,
                    acknowledged(assembly, stack),
                    _count(wiring, stack),
                    len(findings[template]),
                )
            )
    table = summary(rows)
    print(table)
    for notice in notices.values():
        print(notice)
    # the app wrote these too, into the CLI's output this script captures
    print(STANDBY_SKIP_LINE)
    print(GLOBAL_READS_SKIP_LINE)
    if failures:
        print(f"wiring checks and cfn-lint: {failures} finding(s)", file=sys.stderr)
        return 1
    write_into_readme(table)
    return 0


def _count(wiring: list[Violation], stack: str) -> int:
    return sum(v.resource.stack == stack for v in wiring)


def summary(rows: list[tuple[str, str, int, int, int, int]]) -> str:
    header = ("profile", "stack", "resources", "acknowledged", "wiring findings", "lint findings")
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    return "\n".join(
        "  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in [header, *rows]
    )


def write_into_readme(table: str) -> None:
    """The README shows the last clean run's summary; tests/test_readme.py checks it is current."""
    readme = ROOT / "README.md"
    text = readme.read_text()
    begin, end = "<!-- synth-table:begin -->\n```\n", "```\n<!-- synth-table:end -->"
    if begin in text and end in text:
        before, rest = text.split(begin, 1)
        readme.write_text(before + begin + table + "\n" + end + rest.split(end, 1)[1])


if __name__ == "__main__":
    raise SystemExit(main())
