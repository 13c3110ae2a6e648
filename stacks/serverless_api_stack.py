"""`ServerlessApi`: the orders API (create, read, list by customer, update, delete) with the
demo handler in lambda/orders_api, its request schemas read from the same file the handler
validates with."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from aws_cdk import CfnOutput, Stack
from constructs import Construct

from patterns.api_routes import Route, TableIndex
from patterns.defaults import Profile, export_topic_arn
from patterns.serverless_api import ServerlessApi
from stacks.paths import lambda_dir

CUSTOMER_INDEX = TableIndex(name="byCustomer", partition_key="customerId", sort_key="createdAt")


def order_routes(schemas: dict[str, Any]) -> list[Route]:
    return [
        Route("POST", "/orders", body_schema=schemas["createOrder"], headers={"Idempotency-Key": True}),
        Route("GET", "/orders", query_parameters={"customerId": True, "limit": False, "cursor": False}),
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
            table_indexes=[CUSTOMER_INDEX],
            table_time_to_live_attribute="expiresAt",
            environment={"CUSTOMER_INDEX": CUSTOMER_INDEX.name},
            profile=profile,
        )
        self.orders = orders
        CfnOutput(self, "ApiUrl", value=orders.url)
        CfnOutput(self, "UserPoolId", value=orders.user_pool.user_pool_id)
        if orders.user_pool_client is not None:
            CfnOutput(self, "UserPoolClientId", value=orders.user_pool_client.user_pool_client_id)
        CfnOutput(self, "TableName", value=orders.table.table_name)
        export_topic_arn(self, "AlarmTopicArn", orders.alarm_topic)
