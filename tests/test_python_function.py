"""PythonFunction alone: the kit's function defaults, with only its required props."""

from __future__ import annotations

import re
from importlib.metadata import version

import pytest
from aws_cdk import Duration
from aws_cdk.assertions import Template

from patterns.shared import PRODUCTION, SANDBOX
from patterns.shared.python_function import POWERTOOLS_VERSION, PythonFunction
from stacks.paths import lambda_dir
from tests.kit import bare_stack, one, resources


def _synth(**overrides: object) -> dict:  # type: ignore[type-arg]
    stack = bare_stack()
    props = {
        "code_dir": lambda_dir("order_events"),
        "handler": "analytics.handler",
        "service_name": "demo",
        "invoked_synchronously_by": "a test",
    }
    PythonFunction(stack, "Demo", profile=SANDBOX, **{**props, **overrides})  # type: ignore[arg-type]
    return Template.from_stack(stack).to_json()  # the security gate runs here


def test_with_only_required_props_the_gate_asks_how_failures_are_kept() -> None:
    """Only the caller knows whether the function is invoked asynchronously (and needs a
    failure destination): the security gate refuses until that is settled."""
    stack = bare_stack()
    PythonFunction(
        stack, "Demo", profile=SANDBOX, code_dir=lambda_dir("order_events"), handler="a.b", service_name="d"
    )
    with pytest.raises(RuntimeError, match="ValidationFailed") as failed:
        Template.from_stack(stack)
    assert re.findall(r"Acknowledge with '([^']+)'", str(failed.value)) == [
        "Serverless::Serverless-LambdaDLQ"
    ]


def test_defaults() -> None:
    document = _synth()
    _, function = one(document, "AWS::Lambda::Function", "/Demo/")
    properties = function["Properties"]
    assert properties["Runtime"] == "python3.14"
    assert properties["Architectures"] == ["arm64"]
    assert properties["TracingConfig"] == {"Mode": "Active"}
    assert properties["LoggingConfig"]["LogFormat"] == "JSON"
    assert properties["Environment"]["Variables"]["POWERTOOLS_SERVICE_NAME"] == "demo"
    (_, group), *_ = resources(document, "AWS::Logs::LogGroup")
    assert group["Properties"]["RetentionInDays"] == 7 and group["DeletionPolicy"] == "Delete"
    (_, role), *_ = resources(document, "AWS::IAM::Role")
    assert "ManagedPolicyArns" not in role["Properties"]


def test_powertools_layer_is_resolved_per_region_from_the_pinned_version() -> None:
    document = _synth()
    defaults = [p.get("Default") for p in document["Parameters"].values()]
    assert f"/aws/service/powertools/python/arm64/python3.14/{POWERTOOLS_VERSION}" in defaults
    assert version("aws-lambda-powertools") == POWERTOOLS_VERSION, "the layer and the tested library differ"


def test_production_keeps_logs_a_year() -> None:
    stack = bare_stack()
    PythonFunction(
        stack,
        "Demo",
        profile=PRODUCTION,
        code_dir=lambda_dir("order_events"),
        handler="x.y",
        service_name="d",
        invoked_synchronously_by="a test",
    )
    (_, group), *_ = resources(Template.from_stack(stack).to_json(), "AWS::Logs::LogGroup")
    assert group["Properties"]["RetentionInDays"] == 365 and group["DeletionPolicy"] == "Retain"


@pytest.mark.parametrize("seconds", [0, 901])
def test_timeout_out_of_lambda_range_is_refused(seconds: int) -> None:
    with pytest.raises(ValueError, match=r"^timeout: "):
        _synth(timeout=Duration.seconds(seconds))


def test_snap_start_is_applied_to_a_published_version_that_callers_invoke_through_an_alias() -> None:
    """Lambda restores from a snapshot only for published versions and aliases of them; $LATEST
    always runs Init (https://docs.aws.amazon.com/lambda/latest/dg/snapstart.html, "You can use
    SnapStart only on published function versions and aliases that point to versions"). So the
    function must publish a version and expose an alias on it for callers to invoke."""
    stack = bare_stack()
    demo = PythonFunction(
        stack,
        "Demo",
        profile=SANDBOX,
        code_dir=lambda_dir("order_events"),
        handler="analytics.handler",
        service_name="demo",
        invoked_synchronously_by="a test",
        snap_start=True,
    )
    document = Template.from_stack(stack).to_json()
    function_id, function = one(document, "AWS::Lambda::Function", "/Demo/")
    assert function["Properties"]["SnapStart"] == {"ApplyOn": "PublishedVersions"}
    version_id, version_ = one(document, "AWS::Lambda::Version", "/Demo/")
    assert version_["Properties"]["FunctionName"] == {"Ref": function_id}
    _, alias = one(document, "AWS::Lambda::Alias", "/Demo/")
    assert alias["Properties"]["FunctionVersion"] == {"Fn::GetAtt": [version_id, "Version"]}
    assert demo.invocable.node.path.endswith("/Demo/Live")
    # Each published version keeps its snapshot cached, billed, until the version is deleted
    # (snapstart.html, "Pricing"): a version replaced by a deploy must not be retained, or every
    # deploy would leave one more snapshot behind.
    assert version_.get("DeletionPolicy", "Delete") == "Delete"
    assert version_.get("UpdateReplacePolicy", "Delete") == "Delete"


def test_without_snap_start_callers_invoke_the_function_and_no_version_is_published() -> None:
    """Each published version of a SnapStart function keeps a billed snapshot cache; none is
    made unless asked for."""
    document = _synth()
    _, function = one(document, "AWS::Lambda::Function", "/Demo/")
    assert "SnapStart" not in function["Properties"]
    assert not list(resources(document, "AWS::Lambda::Version", "/Demo/"))
