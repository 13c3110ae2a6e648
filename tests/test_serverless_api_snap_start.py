"""ServerlessApi with SnapStart: API Gateway must invoke the alias of the published version."""

from __future__ import annotations

from aws_cdk.assertions import Template

from tests.kit import one, resources
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
