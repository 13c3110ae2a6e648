"""The CloudFront wiring rules on templates CDK itself writes: its default OAC wiring of a
KMS-encrypted bucket (the wildcard key statement of aws/aws-cdk#21771), a legacy OAI, and the
Frontend stack's own template with one statement broken at a time."""

from __future__ import annotations

import copy
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_cloudfront_origins as origins
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk.assertions import Template

from patterns.wiring import RULES, Model, Settings
from tests.kit import template_json


def findings(template: dict[str, Any], rule: str) -> list[str]:
    registered = next(r for r in RULES if r.id == rule)
    return [v.resource.logical_id for v in registered.check(Model({"Edge": template}), Settings())]


def cdk_default(oai: bool = False) -> dict[str, Any]:
    stack = cdk.Stack(cdk.App(), "Edge")
    key = kms.Key(stack, "Key")
    bucket = s3.Bucket(stack, "Bucket", encryption_key=key, encryption=s3.BucketEncryption.KMS)
    origin = (
        origins.S3BucketOrigin.with_origin_access_identity(bucket)
        if oai
        else origins.S3BucketOrigin.with_origin_access_control(bucket)
    )
    cloudfront.Distribution(stack, "Cdn", default_behavior=cloudfront.BehaviorOptions(origin=origin))
    return Template.from_stack(stack).to_json()


def logical_id(template: dict[str, Any], resource_type: str, prefix: str) -> str:
    return next(
        k for k, v in template["Resources"].items() if v["Type"] == resource_type and k.startswith(prefix)
    )


def test_cdks_default_key_statement_admits_every_distribution_of_the_account() -> None:
    template = cdk_default()
    assert findings(template, "CloudFrontSourceArn") == [logical_id(template, "AWS::KMS::Key", "Key")]


def test_a_legacy_origin_access_identity_is_found() -> None:
    template = cdk_default(oai=True)
    assert findings(template, "CloudFrontNoOriginAccessIdentity") == [
        logical_id(template, "AWS::CloudFront::Distribution", "Cdn")
    ]
    assert findings(cdk_default(), "CloudFrontNoOriginAccessIdentity") == []


def frontend() -> dict[str, Any]:
    return copy.deepcopy(template_json("Frontend", "sandbox"))


def site_policy(template: dict[str, Any]) -> dict[str, Any]:
    policy = template["Resources"][logical_id(template, "AWS::S3::BucketPolicy", "SitePolicy")]
    return next(
        s
        for s in policy["Properties"]["PolicyDocument"]["Statement"]
        if s.get("Principal", {}).get("Service")
    )


def test_the_frontend_admits_exactly_its_distribution() -> None:
    assert findings(frontend(), "CloudFrontSourceArn") == []


def test_a_bucket_statement_without_source_arn_is_found() -> None:
    template = frontend()
    del site_policy(template)["Condition"]
    assert findings(template, "CloudFrontSourceArn") == [
        logical_id(template, "AWS::S3::BucketPolicy", "SitePolicy")
    ]


def test_a_bucket_that_does_not_admit_its_distribution_is_found() -> None:
    """The distribution named is another one: the real one gets 403 on every request."""
    template = frontend()
    template["Resources"]["OtherCdn"] = {
        "Type": "AWS::CloudFront::Distribution",
        "Properties": {"DistributionConfig": {}},
    }
    condition = site_policy(template)["Condition"]["StringEquals"]
    condition["AWS:SourceArn"] = {
        "Fn::Join": ["", ["arn:aws:cloudfront::1:distribution/", {"Ref": "OtherCdn"}]]
    }
    found = findings(template, "CloudFrontSourceArn")
    policy = logical_id(template, "AWS::S3::BucketPolicy", "SitePolicy")
    assert found == [policy, policy]  # admits a stranger, and not its own distribution
