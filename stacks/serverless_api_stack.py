"""`ServerlessApi`: the orders API (create, read, list your own, update, delete) with the demo
handler in lambda/orders_api, its request schemas read from the same file the handler validates
with. The app's sign-in URLs come from context: `-c callback_url=... -c logout_url=...`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from aws_cdk import CfnOutput, Stack
from constructs import Construct

from patterns.serverless_api import Route, ServerlessApi, TableIndex
from patterns.shared.defaults import Profile
from stacks.paths import lambda_dir

# Orders are listed by their owner, the caller's Cognito sub.
OWNER_INDEX = TableIndex(name="byOwner", partition_key="ownerId", sort_key="createdAt")
# What the kit's own production synth (make synth, the tests) passes: under the .test top-level
# domain, which never resolves (RFC 6761), so a code can never be sent anywhere with it.
KIT_PRODUCTION_CONTEXT = {
    "callback_url": "https://orders.refarch.test/",
    "logout_url": "https://orders.refarch.test/",
    # The Frontend stack's CLOUDFRONT-scope web ACL (a global ACL lives in us-east-1).
    "frontend_web_acl_arn": "arn:aws:wafv2:us-east-1:123456789012:global/webacl/refarch-frontend/"
    "a1b2c3d4-5678-90ab-cdef-111111111111",
}


def order_routes(schemas: dict[str, Any]) -> list[Route]:
    return [
        Route("POST", "/orders", body_schema=schemas["createOrder"], headers={"Idempotency-Key": True}),
        Route("GET", "/orders", query_parameters={"limit": False, "cursor": False}),
        Route("GET", "/orders/{id}"),
        Route("PUT", "/orders/{id}", body_schema=schemas["updateOrder"]),
        Route("DELETE", "/orders/{id}"),
    ]


class ServerlessApiStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, *, profile: Profile, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        code = lambda_dir("orders_api")
        schemas = json.loads((Path(code) / "schemas.json").read_text())
        orders = ServerlessApi(
            self,
            "Orders",
            code_dir=code,
            handler="app.handler",
            service_name="orders-api",
            routes=order_routes(schemas),
            table_indexes=[OWNER_INDEX],
            table_time_to_live_attribute="expiresAt",
            environment={"OWNER_INDEX": OWNER_INDEX.name},
            profile=profile,
            callback_urls=self._sign_in_url("callback_url", profile),
            logout_urls=self._sign_in_url("logout_url", profile),
        )
        self.orders = orders
        CfnOutput(self, "ApiUrl", value=orders.url)
        CfnOutput(self, "UserPoolId", value=orders.user_pool.user_pool_id)
        if orders.user_pool_client is not None:
            CfnOutput(self, "UserPoolClientId", value=orders.user_pool_client.user_pool_client_id)
        CfnOutput(self, "TableName", value=orders.table.table_name)
        CfnOutput(self, "AlarmTopicArn", value=orders.alarm_topic.topic_arn)
        if orders.user_pool_domain is not None:
            CfnOutput(self, "SignInUrl", value=orders.user_pool_domain.base_url())

    def _sign_in_url(self, key: str, profile: Profile) -> list[str]:
        """A sign-in URL from context (none: the sandbox's local default); production needs it."""
        value = self.node.try_get_context(key)
        if value is None and profile.is_production:
            raise ValueError(
                f"{key}: the production profile needs your app's sign-in URLs: cdk deploy "
                "-c profile=production -c callback_url=https://<your app>/ -c logout_url=https://<your app>/"
            )
        return [] if value is None else [str(value)]
