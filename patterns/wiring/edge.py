"""A bucket behind CloudFront admits exactly the distributions that serve it.

With origin access control, CloudFront signs its requests to S3 (and asks KMS to decrypt) as the
service principal `cloudfront.amazonaws.com`: every distribution of every account is that same
principal, so only the condition `aws:SourceArn` = the distribution's ARN tells this one from
another. A statement without it, or with a wildcard, lets any distribution read the bucket.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from .core import Settings, Violation, rule
from .model import Model, Resource, allows, as_list

CLOUDFRONT = "cloudfront.amazonaws.com"
DISTRIBUTION, BUCKET = "AWS::CloudFront::Distribution", "AWS::S3::Bucket"
SOURCE = "https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/private-content-restricting-access-to-s3.html"


def _served(model: Model) -> dict[Resource, set[Resource]]:
    """Each bucket that is an origin with access control, and the distributions serving it."""
    served: dict[Resource, set[Resource]] = {}
    for distribution in model.of_type(DISTRIBUTION):
        config = distribution.properties.get("DistributionConfig", {})
        for origin in as_list(config.get("Origins")):
            if not isinstance(origin, dict) or "S3OriginConfig" not in origin:
                continue
            for bucket in model.targets_of_type(origin.get("DomainName"), distribution.stack, BUCKET):
                served.setdefault(bucket, set()).add(distribution)
    return served


def _text(model: Model, value: Any, stack: str) -> str:
    rendered = model.render(value, stack)
    text = rendered.text
    for index, token in enumerate(rendered.tokens):
        text = text.replace(f"${{Token[{index}]}}", json.dumps(token, sort_keys=True))
    return text


def _cloudfront_statements(document: Any) -> Iterator[dict[str, Any]]:
    for statement in as_list((document or {}).get("Statement")):
        if not isinstance(statement, dict) or statement.get("Effect") != "Allow":
            continue
        principal = statement.get("Principal", {})
        services = as_list(principal.get("Service")) if isinstance(principal, dict) else []
        if CLOUDFRONT in services:
            yield statement


def _source_arns(statement: dict[str, Any]) -> list[tuple[str, Any]]:
    found: list[tuple[str, Any]] = []
    for operator, pairs in (statement.get("Condition") or {}).items():
        for key, value in (pairs or {}).items():
            if key.lower() == "aws:sourcearn":
                found.extend((operator, one) for one in as_list(value))
    return found


def _judge(
    model: Model, owner: Resource, statement: dict[str, Any], distributions: set[Resource], what: str
) -> Iterator[Violation]:
    arns = _source_arns(statement)
    named: set[Resource] = set()
    for operator, value in arns:
        if "*" in _text(model, value, owner.stack) or "?" in _text(model, value, owner.stack):
            yield Violation(
                "CloudFrontSourceArn",
                owner,
                f"{what} admits CloudFront with aws:SourceArn {operator} a wildcard: any distribution "
                "matching it, of any owner in the account, can read through it.",
                "Name the distribution's ARN exactly (StringEquals aws:SourceArn).",
            )
            return
        named.update(model.targets_of_type(value, owner.stack, DISTRIBUTION))
    if not arns:
        yield Violation(
            "CloudFrontSourceArn",
            owner,
            f"{what} admits the CloudFront service principal without aws:SourceArn: every "
            "distribution in every AWS account is that principal.",
            "Add the condition StringEquals aws:SourceArn = arn:aws:cloudfront::<account>:distribution/<id>.",
        )
    elif not named <= distributions:
        others = ", ".join(sorted(d.path for d in named - distributions))
        yield Violation(
            "CloudFrontSourceArn",
            owner,
            f"{what} admits {others}, which does not serve this bucket.",
            "Admit only the distributions whose origin is this bucket.",
        )


@rule(
    "CloudFrontSourceArn",
    doc="A bucket served through CloudFront origin access control, and its KMS key, admit the "
    "CloudFront service principal only with aws:SourceArn naming the distributions that serve it "
    "(no wildcard), and each such distribution is admitted.",
    source=f"{SOURCE}; aws/aws-cdk#21771 (CDK's wildcard key statement)",
)
def cloudfront_source_arn(model: Model, settings: Settings) -> Iterator[Violation]:
    served = _served(model)
    for policy in model.of_type("AWS::S3::BucketPolicy"):
        bucket = model.one_target(policy.properties.get("Bucket"), policy.stack, BUCKET)
        if bucket is None:
            continue
        admitted: set[Resource] = set()
        for statement in _cloudfront_statements(policy.properties.get("PolicyDocument")):
            yield from _judge(
                model, policy, statement, served.get(bucket, set()), f"The policy of {bucket.path}"
            )
            if allows(statement, "s3:GetObject"):
                if not _source_arns(statement):  # reported above: it admits every distribution
                    admitted.update(served.get(bucket, set()))
                for _, value in _source_arns(statement):
                    admitted.update(model.targets_of_type(value, policy.stack, DISTRIBUTION))
        for distribution in served.get(bucket, set()) - admitted:
            yield Violation(
                "CloudFrontSourceArn",
                policy,
                f"{distribution.path} serves {bucket.path} with origin access control, but the "
                "bucket policy does not let it read (s3:GetObject): every request gets a 403.",
                "Allow cloudfront.amazonaws.com s3:GetObject with aws:SourceArn = that distribution.",
            )
    for key in model.of_type("AWS::KMS::Key"):
        for statement in _cloudfront_statements(key.properties.get("KeyPolicy")):
            distributions = set().union(*served.values()) if served else set()
            yield from _judge(model, key, statement, distributions, f"The key policy of {key.path}")


@rule(
    "CloudFrontNoOriginAccessIdentity",
    doc="S3 origins use origin access control, not the legacy origin access identity (OAI cannot "
    "read SSE-KMS objects and is not offered in Regions opened after December 2022).",
    source=SOURCE,
)
def no_origin_access_identity(model: Model, settings: Settings) -> Iterator[Violation]:
    for distribution in model.of_type(DISTRIBUTION):
        config = distribution.properties.get("DistributionConfig", {})
        for origin in as_list(config.get("Origins")):
            if isinstance(origin, dict) and (origin.get("S3OriginConfig") or {}).get("OriginAccessIdentity"):
                yield Violation(
                    "CloudFrontNoOriginAccessIdentity",
                    distribution,
                    f"origin {origin.get('Id')} reads its bucket with an origin access identity.",
                    "Use an origin access control (S3BucketOrigin.with_origin_access_control).",
                )
