"""The integration test apps cannot rot unseen: each synthesizes in both profiles with the kit's
security gate (cdk-nag AwsSolutions + Serverless, the wiring checks, CloudFormation validation)
and cfn-lint, carries the run tag on every stack, and its sandbox templates are the committed
snapshot (`make integ-update` rewrites it). Nothing here deploys: `make integ` does, against an
account."""

from __future__ import annotations

import json

import pytest
from cfnlint.api import ManualArgs, lint

from integ import harness, names, run, snapshots
from stacks import CONTEXT_STACK_IDS, STACK_IDS
from tests.kit import PROFILES, ROOT
from tests.test_cfn_lint import IGNORED

# The kit's stacks, and those built only with context that have an app of their own (Standby).
INTEG_STACKS = sorted(snapshots.APPS)


def test_every_stack_of_the_kit_has_an_integ_app() -> None:
    assert set(STACK_IDS) <= set(snapshots.APPS) <= set(STACK_IDS) | set(CONTEXT_STACK_IDS)
    for module in snapshots.APPS.values():
        assert (ROOT / "integ" / f"{module}.py").is_file()


@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize("stack", INTEG_STACKS)
def test_integ_app_passes_the_gate_and_cfn_lint(stack: str, profile: str) -> None:
    """The gate runs inside synthesize (an unacknowledged finding raises); cfn-lint here."""
    templates = snapshots.synthesize(stack, profile)
    assert any("DeployAssert" in artifact for artifact in templates), "no assertion stack"
    for artifact, template in templates.items():
        findings = lint(json.dumps(template), config=ManualArgs(ignore_checks=IGNORED))
        assert [f"{artifact}: {m.rule.id} {m.message}" for m in findings] == []


@pytest.mark.parametrize("stack", INTEG_STACKS)
def test_integ_snapshot_is_current(stack: str) -> None:
    committed = snapshots.committed(stack)
    assert committed, f"no snapshot for {stack}: run make integ-update STACK={stack}"
    current = snapshots.synthesize(stack)
    assert sorted(current) == sorted(committed), f"stacks changed: run make integ-update STACK={stack}"
    for artifact, template in current.items():
        # Compared as JSON text, so that the first differing line is what the report shows.
        assert (
            json.dumps(template, indent=1, sort_keys=True).splitlines()
            == json.dumps(committed[artifact], indent=1, sort_keys=True).splitlines()
        ), f"{artifact} differs from its snapshot: run make integ-update STACK={stack}"


@pytest.mark.parametrize("stack", INTEG_STACKS)
def test_every_integ_resource_carries_the_run_tag(stack: str) -> None:
    """The leftover check after destroy finds resources by this tag, so a taggable resource
    without it would go unseen. Checked on the stacks under test: every resource whose template
    has Tags (a list of Key/Value, with PropagateAtLaunch for an Auto Scaling group) has the run
    tag among them."""
    untagged = []
    for artifact, template in snapshots.synthesize(stack).items():
        for logical_id, resource in template["Resources"].items():
            tags = resource.get("Properties", {}).get("Tags")
            run_tags = [t for t in tags or [] if isinstance(t, dict) and t.get("Key") == names.RUN_TAG]
            if isinstance(tags, list) and [t.get("Value") for t in run_tags] != [names.SNAPSHOT_RUN_ID]:
                untagged.append(f"{artifact}/{logical_id}")
    assert untagged == []


def test_integ_stacks_never_take_the_kit_stack_names() -> None:
    """A run must not update or export over a user's own deployment of the kit."""
    for stack in INTEG_STACKS:
        stack_name = harness.integ_stack_name(stack)
        assert stack_name not in STACK_IDS
        assert stack_name.startswith(names.STACK_NAME_PREFIX)


def test_every_stack_has_a_cost_and_time_estimate_with_its_source() -> None:
    for stack in INTEG_STACKS:
        (row,) = [line for line in run.estimates([stack]).splitlines() if line.startswith(f"| {stack} |")]
        cells = [cell.strip() for cell in row.strip("|").split("|")]
        assert len(cells) == 4 and all(cells), row
        assert "min" in cells[1] and "docs/" in cells[3], row


def test_without_credentials_make_integ_stops_at_once_saying_what_it_needs(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: object
) -> None:
    for variable in ("AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path) + "/none")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path) + "/none")
    monkeypatch.setattr(run, "run_one", lambda *args: pytest.fail("deployed without credentials"))
    assert run.main(["FanOut"]) == 2
    out, err = capsys.readouterr()
    assert "| FanOut |" in out  # the estimate comes first
    assert "no credentials" in err and "AWS_PROFILE" in err


def test_an_unknown_stack_is_refused_naming_the_valid_ones(capsys: pytest.CaptureFixture[str]) -> None:
    assert run.main(["Nope"]) == 2
    assert "FanOut" in capsys.readouterr().err
