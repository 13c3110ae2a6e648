"""Frontend: the synthesized stack in both profiles, and the StaticSite construct's props.

Each test states the CloudFront, S3 or Cognito behaviour it relies on."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import aws_certificatemanager as acm

from patterns.frontend import StaticSite, build_site
from patterns.frontend.construct import SPA_FUNCTION
from patterns.shared.defaults import PRODUCTION, SANDBOX
from patterns.shared.props import PropError
from stacks.paths import runtime_dir
from tests.kit import PROFILES, bare_stack, one, resources, template_json

STACK = "Frontend"
CACHING_DISABLED = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"  # AWS managed cache policy ids
ALL_VIEWER_EXCEPT_HOST = "b689b0a8-53d0-40ab-baf2-68738e2966ac"


def config(profile: str) -> dict[str, Any]:
    _, distribution = one(template_json(STACK, profile), "AWS::CloudFront::Distribution", "Site/Distribution")
    return distribution["Properties"]["DistributionConfig"]


def behaviour(profile: str, pattern: str) -> dict[str, Any]:
    for found in config(profile)["CacheBehaviors"]:
        if found["PathPattern"] == pattern:
            return found
    raise AssertionError(f"no behaviour {pattern}")


@pytest.mark.parametrize("profile", PROFILES)
def test_the_api_path_is_never_cached_and_gets_every_header_but_host(profile: str) -> None:
    """API Gateway routes on its own Host name (a viewer Host gets a 403), and CloudFront
    forwards Authorization from an origin request policy only when caching is disabled
    (AWS re:Post, "CloudFront authorization header")."""
    api = behaviour(profile, "/v1/*")
    assert api["CachePolicyId"] == CACHING_DISABLED
    assert api["OriginRequestPolicyId"] == ALL_VIEWER_EXCEPT_HOST
    assert {"POST", "PUT", "DELETE"} <= set(api["AllowedMethods"])
    assert "FunctionAssociations" not in api  # an API 404 is the API's, not index.html


@pytest.mark.parametrize("profile", PROFILES)
def test_hashed_assets_are_cached_a_year_and_documents_revalidated(profile: str) -> None:
    """CloudFront keeps an object for the origin's max-age within the policy's min/max TTL; with
    MinTTL 0, `Cache-Control: no-cache` makes it revalidate every time (CloudFront Developer
    Guide, "Manage how long content stays in the cache")."""
    document = template_json(STACK, profile)
    policies = {
        k: v["Properties"]["CachePolicyConfig"]
        for k, v in resources(document, "AWS::CloudFront::CachePolicy")
    }
    assets = policies[behaviour(profile, "/assets/*")["CachePolicyId"]["Ref"]]
    default = policies[config(profile)["DefaultCacheBehavior"]["CachePolicyId"]["Ref"]]
    assert assets["MaxTTL"] >= 365 * 86400 and assets["DefaultTTL"] >= 365 * 86400
    assert default["MinTTL"] == 0
    deployments = _named_deployments(document)
    assert deployments["Assets"]["SystemMetadata"]["cache-control"] == "public, max-age=31536000, immutable"
    assert deployments["Documents"]["SystemMetadata"]["cache-control"] == "no-cache"


def _deployments(document: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [(v["Metadata"]["aws:cdk:path"], v) for _, v in resources(document, "Custom::CDKBucketDeployment")]


def _named_deployments(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The two deployments' properties by name: Assets, Documents."""
    return {path.split("/Site/", 1)[1].split("/")[0]: d["Properties"] for path, d in _deployments(document)}


@pytest.mark.parametrize("profile", PROFILES)
def test_spa_routes_come_from_a_function_not_a_distribution_wide_error_page(profile: str) -> None:
    """A CustomErrorResponse maps every 403/404 of every behaviour, the API's and a missing
    asset's included, to index.html with a 200; a viewer-request function on the default
    behaviour rewrites only routes."""
    assert "CustomErrorResponses" not in config(profile)
    (association,) = config(profile)["DefaultCacheBehavior"]["FunctionAssociations"]
    assert association["EventType"] == "viewer-request"


@pytest.mark.parametrize(
    ("uri", "rewritten"),
    [
        ("/", "/index.html"),
        ("/new", "/index.html"),
        ("/edit/3f2c", "/index.html"),
        ("/assets/app.0123456789.js", "/assets/app.0123456789.js"),
        ("/assets/missing.css", "/assets/missing.css"),
        ("/config.json", "/config.json"),
    ],
)
def test_the_spa_function_rewrites_routes_and_leaves_files(uri: str, rewritten: str) -> None:
    """The function's own code, run by Node (CloudFront Functions run JavaScript)."""
    script = (
        SPA_FUNCTION.read_text()
        + f"\nprocess.stdout.write(handler({{request: {{uri: {json.dumps(uri)}}}}}).uri);"
    )
    assert (
        subprocess.run(["node", "-e", script], capture_output=True, text=True, check=True).stdout == rewritten
    )


@pytest.mark.parametrize("profile", PROFILES)
def test_every_response_carries_the_security_headers_and_a_csp_naming_only_the_sign_in_domain(
    profile: str,
) -> None:
    document = template_json(STACK, profile)
    ((policy_id, policy),) = resources(document, "AWS::CloudFront::ResponseHeadersPolicy")
    headers = policy["Properties"]["ResponseHeadersPolicyConfig"]["SecurityHeadersConfig"]
    assert headers["StrictTransportSecurity"]["AccessControlMaxAgeSec"] >= 31536000
    assert headers["ContentTypeOptions"]["Override"] is True
    assert headers["FrameOptions"]["FrameOption"] == "DENY"
    csp = json.dumps(headers["ContentSecurityPolicy"]["ContentSecurityPolicy"])
    assert "connect-src 'self' " in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
    assert "ServerlessApi" in csp  # the sign-in domain is read from the API stack, not written here
    dist = config(profile)
    for found in [dist["DefaultCacheBehavior"], *dist["CacheBehaviors"]]:
        assert found["ResponseHeadersPolicyId"] == {"Ref": policy_id}


@pytest.mark.parametrize("profile", PROFILES)
def test_the_site_bucket_is_private_encrypted_by_its_key_and_tls_only(profile: str) -> None:
    """S3 resolves an alias ARN in default encryption when it writes each object (S3 API
    Reference, PutBucketEncryption): the key is this construct's, through its alias."""
    document = template_json(STACK, profile)
    _, bucket = one(document, "AWS::S3::Bucket", "Site/Site/Resource")
    props = bucket["Properties"]
    assert all(props["PublicAccessBlockConfiguration"].values())
    default = props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0][
        "ServerSideEncryptionByDefault"
    ]
    assert default["SSEAlgorithm"] == "aws:kms"
    _, alias = one(document, "AWS::KMS::Alias", "Site/Key/Alias")
    alias_parts = alias["Properties"]["AliasName"]["Fn::Join"][1]
    arn_parts = default["KMSMasterKeyID"]["Fn::Join"][1]
    assert arn_parts[-2:] == alias_parts[-2:] and arn_parts[-3] == ":" + alias_parts[0]
    _, policy = one(document, "AWS::S3::BucketPolicy", "Site/Site/Policy")
    deny = [s for s in policy["Properties"]["PolicyDocument"]["Statement"] if s["Effect"] == "Deny"]
    assert deny and deny[0]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_sandbox_leaves_nothing_and_production_keeps_the_site() -> None:
    sandbox, production = template_json(STACK, "sandbox"), template_json(STACK, "production")
    assert all(d["Properties"].get("RetainOnDelete") is False for _, d in _deployments(sandbox))
    assert list(resources(sandbox, "Custom::S3AutoDeleteObjects"))
    assert one(production, "AWS::S3::Bucket", "Site/Site/Resource")[1]["DeletionPolicy"] == "Retain"
    assert not list(resources(production, "Custom::S3AutoDeleteObjects"))


def test_production_has_the_cloudfront_web_acl_and_sandbox_none() -> None:
    assert config("production")["WebACLId"].startswith("arn:aws:wafv2:us-east-1:")
    assert "WebACLId" not in config("sandbox")


@pytest.mark.parametrize("profile", PROFILES)
def test_the_invalidation_names_only_files_whose_names_do_not_change(profile: str) -> None:
    deployments = _named_deployments(template_json(STACK, profile))
    assert sorted(deployments["Documents"]["DistributionPaths"]) == ["/", "/config.json", "/index.html"]
    assert "DistributionPaths" not in deployments["Assets"]
    assert deployments["Assets"]["Prune"] is False  # a cached old index.html still finds its assets


@pytest.mark.parametrize("profile", PROFILES)
def test_the_web_client_returns_to_this_distribution_with_the_code_flow_only(profile: str) -> None:
    """Cognito redirects only to a registered callback URL; the client is in this stack, so the
    distribution's domain is a reference, not a value copied into -c callback_url."""
    document = template_json(STACK, profile)
    _, client = one(document, "AWS::Cognito::UserPoolClient", "WebClient")
    props = client["Properties"]
    assert props["AllowedOAuthFlows"] == ["code"] and props["GenerateSecret"] is False
    distribution_id, _ = one(document, "AWS::CloudFront::Distribution", "Site/Distribution")
    assert distribution_id in json.dumps(props["CallbackURLs"])


def test_build_renames_assets_after_their_content(tmp_path: Path) -> None:
    built = build_site(runtime_dir("orders_web"), tmp_path / "out")
    names = sorted(p.name for p in (built / "assets").iterdir())
    html = (built / "index.html").read_text()
    assert all(f'"/assets/{name}"' in html for name in names) and len(names) == 2
    (tmp_path / "site" / "assets").mkdir(parents=True)
    (tmp_path / "site" / "index.html").write_text('<script src="/assets/gone.js"></script>')
    with pytest.raises(PropError, match="site_dir"):
        build_site(tmp_path / "site")


@pytest.mark.parametrize(
    ("props", "prop"),
    [
        (
            {
                "web_acl_arn": "arn:aws:wafv2:eu-west-1:123456789012:regional/webacl/x/"
                "a1b2c3d4-5678-90ab-cdef-111111111111"
            },
            "web_acl_arn",
        ),
        ({"domain_name": "shop.example.org"}, "certificate"),
        ({"connect_origins": "https://x.example.org"}, "connect_origins"),
        ({"connect_origins": ["http://x.example.org"]}, "connect_origins"),
    ],
)
def test_bad_props_fail_naming_the_prop(props: dict[str, Any], prop: str) -> None:
    with pytest.raises(PropError) as error:
        StaticSite(bare_stack(), "Site", site_dir=runtime_dir("orders_web"), profile=SANDBOX, **props)
    assert error.value.prop == prop


def test_a_certificate_outside_us_east_1_is_refused_and_production_needs_a_web_acl() -> None:
    """CloudFront reads ACM certificates only from us-east-1 (ACM User Guide, "Supported Regions")."""
    stack = bare_stack()
    certificate = acm.Certificate.from_certificate_arn(
        stack, "Cert", "arn:aws:acm:eu-west-1:123456789012:certificate/a1b2c3d4-5678-90ab-cdef-111111111111"
    )
    with pytest.raises(PropError, match="us-east-1"):
        StaticSite(
            stack,
            "Site",
            site_dir=runtime_dir("orders_web"),
            domain_name="shop.example.org",
            certificate=certificate,
            profile=SANDBOX,
        )
    with pytest.raises(PropError) as error:
        StaticSite(bare_stack(), "Site", site_dir=runtime_dir("orders_web"), profile=PRODUCTION)
    assert error.value.prop == "web_acl_arn"
