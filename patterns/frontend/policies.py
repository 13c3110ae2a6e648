"""What the distribution caches, for how long, and which headers every response carries.

Cache behaviours, by content:
- `/assets/*` (content-hashed names, build.py): cached a year at the edge and in browsers
  (`Cache-Control: public, max-age=31536000, immutable`): a changed file is a new name.
- everything else from the bucket (index.html, config.json, SPA routes): `Cache-Control:
  no-cache`, and a cache policy whose minimum TTL is 0, so CloudFront and the browser revalidate
  with the origin (a conditional GET on the ETag) on every load: a release shows at once.
- the API path: not cached (CachingDisabled) and every viewer header but Host forwarded
  (AllViewerExceptHostHeader): API Gateway routes on its own Host name, and the Authorization
  header reaches the origin only from a behaviour that does not cache.
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Duration
from aws_cdk import aws_cloudfront as cloudfront
from constructs import Construct

YEAR = Duration.days(365)
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"
HSTS_MAX_AGE = Duration.days(730)


def content_security_policy(connect_origins: Sequence[str]) -> str:
    """The page may load its own scripts and styles only, and talk to itself (the API is behind
    the same distribution) and to `connect_origins` (the sign-in domain's token endpoint):
    no inline script, no framing, no plugin, no other host."""
    connect = " ".join(["'self'", *connect_origins])
    return "; ".join(
        [
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data:",
            f"connect-src {connect}",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


def asset_cache_policy(scope: Construct, construct_id: str) -> cloudfront.CachePolicy:
    return cloudfront.CachePolicy(
        scope,
        construct_id,
        comment="Content-hashed assets: a year",
        min_ttl=Duration.days(1),
        default_ttl=YEAR,
        max_ttl=YEAR,
        enable_accept_encoding_gzip=True,
        enable_accept_encoding_brotli=True,
    )


def document_cache_policy(scope: Construct, construct_id: str) -> cloudfront.CachePolicy:
    return cloudfront.CachePolicy(
        scope,
        construct_id,
        comment="index.html, config.json: revalidated on every request",
        min_ttl=Duration.seconds(0),
        default_ttl=Duration.seconds(0),
        max_ttl=Duration.days(1),
        enable_accept_encoding_gzip=True,
        enable_accept_encoding_brotli=True,
    )


def security_headers(scope: Construct, construct_id: str, *, csp: str) -> cloudfront.ResponseHeadersPolicy:
    return cloudfront.ResponseHeadersPolicy(
        scope,
        construct_id,
        comment="HSTS, CSP, nosniff, no framing, referrer policy",
        security_headers_behavior=cloudfront.ResponseSecurityHeadersBehavior(
            strict_transport_security=cloudfront.ResponseHeadersStrictTransportSecurity(
                access_control_max_age=HSTS_MAX_AGE, include_subdomains=True, override=True
            ),
            content_security_policy=cloudfront.ResponseHeadersContentSecurityPolicy(
                content_security_policy=csp, override=True
            ),
            content_type_options=cloudfront.ResponseHeadersContentTypeOptions(override=True),
            frame_options=cloudfront.ResponseHeadersFrameOptions(
                frame_option=cloudfront.HeadersFrameOption.DENY, override=True
            ),
            referrer_policy=cloudfront.ResponseHeadersReferrerPolicy(
                referrer_policy=cloudfront.HeadersReferrerPolicy.STRICT_ORIGIN_WHEN_CROSS_ORIGIN,
                override=True,
            ),
        ),
    )
