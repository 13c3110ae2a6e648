"""API Gateway REST proxy events and a Lambda context, shaped as API Gateway and Lambda send
them, for running the orders API handler in-process."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any


@dataclass
class FakeContext:
    function_name: str = "orders-api"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:eu-west-1:123456789012:function:orders-api"
    aws_request_id: str = "c6af9ac6-7b61-11e6-9a41-93e8deadbeef"

    def get_remaining_time_in_millis(self) -> int:
        return 10_000


def proxy_event(
    method: str,
    path: str,
    *,
    body: Any = None,
    headers: dict[str, str] | None = None,
    query: dict[str, str] | None = None,
    caller: str | None = "user-1",
    content_type: str | None = "application/json",
) -> dict[str, Any]:
    """`path` is concrete (/orders/123); the resource template is derived from it."""
    segments = path.strip("/").split("/")
    resource = "/orders/{id}" if len(segments) == 2 else "/" + "/".join(segments)
    all_headers = {"Host": "api.example.com", "User-Agent": "tests", **(headers or {})}
    if content_type is not None and body is not None:
        all_headers.setdefault("Content-Type", content_type)
    text = body if isinstance(body, str) or body is None else json.dumps(body)
    return {
        "resource": resource,
        "path": path,
        "httpMethod": method,
        "headers": all_headers,
        "multiValueHeaders": {name: [value] for name, value in all_headers.items()},
        "queryStringParameters": query,
        "multiValueQueryStringParameters": {k: [v] for k, v in query.items()} if query else None,
        "pathParameters": {"id": segments[1]} if len(segments) == 2 else None,
        "stageVariables": None,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "a1b2c3",
            "stage": "v1",
            "resourcePath": resource,
            "path": f"/v1{path}",
            "httpMethod": method,
            "requestId": str(uuid.uuid4()),
            "identity": {"sourceIp": "198.51.100.7", "userAgent": "tests"},
            "authorizer": {"claims": {"sub": caller}} if caller else None,
        },
        "body": text,
        "isBase64Encoded": False,
    }
