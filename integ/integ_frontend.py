"""Frontend, deployed with the ServerlessApi it fronts: what docs/frontend.md promises.

Through the distribution: the page (200) with the security headers; config.json holding the web
client's id written at deploy; an SPA route answered with the page; a missing asset an error,
not the page; the API path reaching API Gateway (401 without a token, the authorizer's answer).
Straight to S3: the bucket refuses (403), it is read only through the distribution.
"""

from __future__ import annotations

import sys
from pathlib import Path

# The CDK CLI runs this file as a script: make the kit's packages importable.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aws_cdk as cdk
from aws_cdk import integ_tests_alpha as integ

from integ import harness
from stacks.frontend_stack import FrontendStack
from stacks.serverless_api_stack import ServerlessApiStack


def build(app: cdk.App) -> integ.IntegTest:
    profile = harness.profile(app)
    api = ServerlessApiStack(
        app, "ServerlessApi", profile=profile, stack_name=harness.integ_stack_name("FrontendApi")
    )
    stack = FrontendStack(
        app, "Frontend", profile=profile, api=api.orders, stack_name=harness.integ_stack_name("Frontend")
    )
    test = harness.integ_test(app, "FrontendInteg", api, stack)
    site = stack.site.url  # ends with "/"

    def get(url: str, expected: dict[str, object]) -> integ.IApiCall:
        call = test.assertions.http_api_call(url)
        call.expect(integ.ExpectedResult.object_like(expected))
        return call

    page = get(
        site, {"status": 200, "headers": {"x-frame-options": ["DENY"], "x-content-type-options": ["nosniff"]}}
    )
    config = get(
        f"{site}config.json", {"status": 200, "body": {"clientId": stack.web_client.user_pool_client_id}}
    )
    route = get(f"{site}edit/00000000-0000-0000-0000-000000000000", {"status": 200})
    missing = get(f"{site}assets/missing.0000000000.js", {"status": 403})
    api_path = get(f"{site}v1/orders", {"status": 401})
    direct = get(f"https://{stack.site.bucket.bucket_regional_domain_name}/index.html", {"status": 403})
    page.next(config).next(route).next(missing).next(api_path).next(direct)
    return test


if __name__ == "__main__":
    harness.run(build)
