"""ServerlessApi with SnapStart: API Gateway must invoke the alias of the published version."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk.assertions import Template

from tests.kit import bare_stack, one, resources
from tests.test_serverless_api import build


def test_with_snap_start_every_route_invokes_the_alias_of_the_snapshotted_version() -> None:
    """Only a published version, or an alias on one, resumes from the snapshot; an integration
    that names the function invokes $LATEST, which runs Init every cold start
    (https://docs.aws.amazon.com/lambda/latest/dg/snapstart.html). API Gateway's permission to
    invoke is per qualified ARN, so the permissions must name the alias too."""
    stack, _ = build(snap_start=True)
    document = Template.from_stack(stack).to_json()  # the security gate runs here
    alias_id, _ = one(document, "AWS::Lambda::Alias", "Things/Handler/Live")
    methods = [
        m
        for _, m in resources(document, "AWS::ApiGateway::Method", "Things/")
        if m["Properties"].get("Integration", {}).get("Type") == "AWS_PROXY"
    ]
    assert methods
    for method in methods:
        uri = method["Properties"]["Integration"]["Uri"]
        assert {"Ref": alias_id} in uri["Fn::Join"][1]
    permissions = list(resources(document, "AWS::Lambda::Permission", "Things/"))
    assert permissions and all(p["Properties"]["FunctionName"] == {"Ref": alias_id} for _, p in permissions)


def _snap_start_of(stack: cdk.Stack) -> list[object]:
    functions = Template.from_stack(stack).find_resources("AWS::Lambda::Function")
    return [
        f["Properties"].get("SnapStart")
        for f in functions.values()
        if "Things/" in f["Metadata"]["aws:cdk:path"]
    ]


def test_by_default_a_production_api_resumes_from_a_snapshot_and_a_sandbox_one_runs_init() -> None:
    """The default follows who pays: in production a caller waits on every cold start, so the
    handler is snapshotted (ApplyOn PublishedVersions; only versions restore, so the routes
    invoke the alias); a sandbox API is mostly idle, and SnapStart bills each cached version by
    the second whether invoked or not (https://aws.amazon.com/lambda/pricing/), so it is off.
    The prop overrides the profile either way."""
    production = bare_stack({"profile": "production"})
    urls = ["https://shop.example.io/"]
    build(production, callback_urls=urls, logout_urls=urls)
    assert _snap_start_of(production) == [{"ApplyOn": "PublishedVersions"}]
    one(Template.from_stack(production).to_json(), "AWS::Lambda::Alias", "Things/Handler/Live")
    sandbox, _ = build()
    assert _snap_start_of(sandbox) == [None]
    opted_out = bare_stack({"profile": "production"})
    build(opted_out, callback_urls=urls, logout_urls=urls, snap_start=False)
    assert _snap_start_of(opted_out) == [None]
