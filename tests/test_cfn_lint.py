"""Every template of every stack, in both profiles, passes cfn-lint with no error or warning
(W3005 ignored, as in .cfnlintrc.yaml: it fires on CDK's own generated DependsOn)."""

from __future__ import annotations

import json

import pytest
import yaml
from cfnlint.api import ManualArgs, lint

from stacks import STACK_IDS
from tests.kit import PROFILES, ROOT, template_json

IGNORED = yaml.safe_load((ROOT / ".cfnlintrc.yaml").read_text())["ignore_checks"]


@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize("stack", STACK_IDS)
def test_template_passes_cfn_lint(stack: str, profile: str) -> None:
    findings = lint(json.dumps(template_json(stack, profile)), config=ManualArgs(ignore_checks=IGNORED))
    assert [f"{m.rule.id} {m.message} ({'/'.join(map(str, m.path))})" for m in findings] == []


def test_the_linter_is_really_looking() -> None:
    """Guards the test above: a template with a known mistake is reported."""
    broken = {"Resources": {"Queue": {"Type": "AWS::SQS::Queue", "Properties": {"VisibilityTimeout": 99999}}}}
    assert lint(json.dumps(broken), config=ManualArgs(ignore_checks=IGNORED))
