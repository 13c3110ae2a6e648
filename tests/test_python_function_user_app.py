"""PythonFunction built as issue 20's user built it: in a fresh app (minimal or `cdk init`
cdk.json), without a profile (like every other construct, it follows the `profile` context),
and the props that passed silently or failed without naming the prop."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest

from patterns.shared import PythonFunction
from patterns.shared.props import PropError
from tests.fresh_app import USER_CASES, UserCase, case_id, fresh_app, fresh_stack, synthesized
from tests.kit import resources


@pytest.fixture(scope="module")
def code(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("report")
    (folder / "report.py").write_text("def handler(event, context):\n    return {}\n")
    return folder


def build(stack: cdk.Stack, code: Path, **props: Any) -> PythonFunction:
    arguments: dict[str, Any] = {
        "code_dir": str(code),
        "handler": "report.handler",
        "service_name": "reports",
        "invoked_synchronously_by": "API Gateway",
    }
    return PythonFunction(stack, "Report", **{**arguments, **props})


@pytest.mark.parametrize("case", [c for c in USER_CASES if c.nag], ids=case_id)
def test_without_a_profile_it_passes_the_gate_in_a_users_app(case: UserCase, code: Path) -> None:
    context, nag, env = case
    stack = fresh_stack(context, nag=nag, env=env)
    build(stack, code)
    (_, group), *_ = resources(synthesized(stack), "AWS::Logs::LogGroup")
    assert group["Properties"]["RetentionInDays"] == 7  # sandbox, the default profile


def test_without_a_profile_it_follows_the_profile_context(code: Path) -> None:
    """Production keeps logs a year and retains them: what `-c profile=production` promises."""
    app = fresh_app(nag=False, extra={"profile": "production"})
    stack = cdk.Stack(app, "Prod")
    build(stack, code)
    (_, group), *_ = resources(synthesized(stack), "AWS::Logs::LogGroup")
    assert group["Properties"]["RetentionInDays"] == 365 and group["DeletionPolicy"] == "Retain"


BAD_PROPS: list[tuple[dict[str, Any], str]] = [
    ({"memory_size": 10241}, r"^memory_size: must be between 128 and 10240 MB, got 10241 MB"),
    ({"memory_size": 127}, r"^memory_size: must be between 128 and 10240 MB"),
    ({"handler": "handler"}, r"^handler: must be module.function \(e.g. app.handler\), got 'handler'"),
    ({"handler": ".handler"}, r"^handler: must be module.function"),
    ({"service_name": ""}, r"^service_name: must not be empty"),
    ({"service_name": "  "}, r"^service_name: must not be empty"),
    ({"profile": "production"}, r"^profile: expected .*Profile \(or None\), got str 'production'"),
    ({"timeout": 30}, r"^timeout: expected Duration, got int 30"),
    ({"timeout": cdk.Duration.minutes(16)}, r"^timeout: must be between 1 and 900 s, got 960 s"),
    ({"code_dir": "no/such/folder"}, r"^code_dir: 'no/such/folder' is not a folder"),
    (
        {"environment": {"POWERTOOLS_SERVICE_NAME": "x"}},
        r"^environment: POWERTOOLS_SERVICE_NAME .* use service_name",
    ),
    ({"environment": {"_HANDLER": "x"}}, r"^environment: '_HANDLER' is not a valid variable name"),
    (
        {"environment": {"LAMBDA_TASK_ROOT": "/x"}},
        r"^environment: LAMBDA_TASK_ROOT is set by the Lambda runtime",
    ),
    ({"environment": ["A=1"]}, r"^environment: expected .*Mapping \(or None\), got list"),
]


@pytest.mark.parametrize(("props", "message"), BAD_PROPS, ids=[m.split(":")[0][1:] for _, m in BAD_PROPS])
def test_a_wrong_prop_fails_naming_it(props: dict[str, Any], message: str, code: Path) -> None:
    with pytest.raises(PropError, match=message):
        build(fresh_stack(nag=False), code, **props)


def test_powertools_log_level_may_be_overridden(code: Path) -> None:
    stack = fresh_stack(nag=False)
    build(stack, code, environment={"POWERTOOLS_LOG_LEVEL": "DEBUG"})
    (_, function), *_ = resources(synthesized(stack), "AWS::Lambda::Function")
    assert function["Properties"]["Environment"]["Variables"]["POWERTOOLS_LOG_LEVEL"] == "DEBUG"
