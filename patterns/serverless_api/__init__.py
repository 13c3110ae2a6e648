"""Serverless API: API Gateway REST API, Cognito sign-in, WAF, a Lambda handler per route and a
DynamoDB table.

construct: `construct.py` (ServerlessApi), `routes.py` (Route, TableIndex), `protection.py` (user
           pool, WAF)
stack:     `stacks/serverless_api_stack.py`
runtime:   your handler folder; the demo is `lambda/orders_api/`
tests:     `tests/test_serverless_api*.py`, `tests/test_orders_api*.py`
page:      `docs/serverless-api.md`
"""

from .construct import ServerlessApi
from .routes import Route, TableIndex, json_schema

__all__ = ["Route", "ServerlessApi", "TableIndex", "json_schema"]
