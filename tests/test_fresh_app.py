"""The `cdk-init` context of tests/fresh_app.py is what `cdk init app --language python` of the
pinned CLI writes into cdk.json: its template's cdk.json plus the feature flags the CLI
recommends (aws-cdk's lib/commands/init/init.js, `applyFutureFlags`, merges
lib/init-templates/.recommended-feature-flags.json, sorted, into `context`). When the CLI pin in
package.json moves, this fails until the fixture is rewritten from the new CLI."""

from __future__ import annotations

import json

from tests.fresh_app import CDK_INIT_JSON, CONTEXTS, ROOT

TEMPLATES = ROOT / "node_modules" / "aws-cdk" / "lib" / "init-templates"


def test_the_cdk_init_fixture_is_what_the_pinned_cli_writes() -> None:
    fixture = json.loads(CDK_INIT_JSON.read_text())
    template = json.loads((TEMPLATES / "app" / "python" / "cdk.template.json").read_text())
    flags = json.loads((TEMPLATES / ".recommended-feature-flags.json").read_text())
    assert fixture["watch"] == template["watch"]
    assert list(fixture["context"]) == sorted(flags)
    assert fixture["context"] == flags


def test_the_minimal_context_sets_no_flag_and_the_kit_sets_more_than_cdk_init() -> None:
    kit = json.loads((ROOT / "cdk.json").read_text())["context"]
    assert CONTEXTS["minimal"] == {}
    assert set(CONTEXTS["cdk-init"]) - set(kit) == set(), "the kit dropped a flag cdk init sets"
