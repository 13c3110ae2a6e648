"""The orders API behind API Gateway (REST, Lambda proxy integration, Cognito authorizer).

Routes: POST /orders, GET /orders/{id}, GET /orders (the caller's own), PUT /orders/{id},
DELETE /orders/{id}; GET /health where a stack routes it (the Standby stacks). Every error is a
JSON body {"error": {"code", "message"}, "requestId"},
the same shape API Gateway's own gateway responses use; bad input is a 4xx, never a 500.

Who may touch an order is decided here, not by the authorizer: the Cognito authorizer only proves
who the caller is (the token's claims, in requestContext.authorizer.claims). Every route takes the
caller's `sub` from those claims and passes it to the store, which acts only on that caller's
orders (OWASP API1:2023, broken object level authorization). Another caller's order answers 404,
exactly like one that does not exist.
"""

from __future__ import annotations

import json
import os
import random
import re
import uuid
from http import HTTPStatus
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, CORSConfig, Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from orders import (
    CreateInProgress,
    InvalidCursor,
    KeyReused,
    OrderNotFound,
    OrderStore,
    VersionConflict,
)
from settings import Settings
from tracing import Tracing
from validation import InvalidBody, validate

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100
IDEMPOTENCY_KEY = re.compile(r"^[A-Za-z0-9_.:-]{8,128}$")
PAGE_SIZE = re.compile(r"^[0-9]{1,3}$")
EXTRA_HEADERS = ["Idempotency-Key", "Content-Type", "Authorization"]


class ApiError(Exception):
    def __init__(self, status: HTTPStatus, message: str) -> None:
        # A message may quote the request (a field name, a path): a lone surrogate in it could not
        # be encoded as UTF-8 by the log writer or the X-Ray emitter, so it is written escaped.
        message = message.encode("utf-8", "backslashreplace").decode("utf-8")
        super().__init__(message)
        self.status = status
        self.message = message


def _cors(origins: tuple[str, ...]) -> CORSConfig | None:
    if not origins:
        return None
    return CORSConfig(allow_origin=origins[0], extra_origins=list(origins[1:]), allow_headers=EXTRA_HEADERS)


settings = Settings.from_environ(os.environ)
logger = Logger()
tracer = Tracing(aws_calls=settings.trace_aws_calls)
app = APIGatewayRestResolver(cors=_cors(settings.cors_allowed_origins))
store = OrderStore(settings.table_name, settings.owner_index)


def after_restore() -> None:
    """What SnapStart's snapshot must not share between the environments restored from it.

    They all resume with the `random` state of the snapshot: botocore's retry jitter would
    make them retry in step, and Powertools' debug-log sampling (POWERTOOLS_LOGGER_SAMPLE_RATE),
    decided once at Init, would be the same in all of them. Each reseeds from os.urandom and
    draws its own sampling. The DynamoDB client is kept: Init made no call, so it holds no
    connection, and its credentials refresh themselves before they expire (the tests show both).
    """
    random.seed()
    logger.refresh_sample_rate_calculation()


try:  # in Lambda's managed Python runtimes; Lambda runs the hooks only under SnapStart
    from snapshot_restore_py import register_after_restore
except ImportError:  # elsewhere there is no snapshot to restore
    pass
else:
    register_after_restore(after_restore)


def _error(status: HTTPStatus, message: str) -> Response[str]:
    request_id = app.current_event.request_context.request_id
    code = status.name  # e.g. NOT_FOUND, the style of API Gateway's response types
    body = {"error": {"code": code, "message": message}, "requestId": request_id}
    return Response(status_code=status.value, content_type="application/json", body=json.dumps(body))


def _json(status: HTTPStatus, document: Any, headers: dict[str, str] | None = None) -> Response[str]:
    return Response(
        status_code=status.value, content_type="application/json", body=json.dumps(document), headers=headers
    )


def _body(schema_name: str) -> dict[str, Any]:
    """The request body as a JSON object matching its schema, or the 4xx saying why not."""
    event = app.current_event
    try:
        raw = event.decoded_body or ""
        size = len(raw.encode("utf-8"))  # a lone surrogate in the text itself cannot be encoded
    except (ValueError, UnicodeError):  # bad base64, not UTF-8
        raise ApiError(HTTPStatus.BAD_REQUEST, "the body is not UTF-8 text") from None
    if size > settings.max_body_bytes:
        raise ApiError(
            HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"the body is larger than {settings.max_body_bytes} bytes"
        )
    media_type = (event.headers.get("content-type") or "").split(";", 1)[0].strip().lower()
    if media_type != "application/json":
        raise ApiError(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "send the body as application/json")
    try:
        document = json.loads(raw)
        # A lone surrogate (e.g. "\ud800") parses in Python but is no Unicode text: it cannot be
        # encoded as UTF-8 to DynamoDB, a log or a trace. I-JSON (RFC 7493 section 2.1) forbids it.
        json.dumps(document, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise ApiError(
            HTTPStatus.BAD_REQUEST, "the body has a lone surrogate escape (\\ud800-\\udfff)"
        ) from None
    except (ValueError, RecursionError):  # RecursionError: nested deeper than Python parses
        raise ApiError(HTTPStatus.BAD_REQUEST, "the body is not valid JSON") from None
    try:
        validate(schema_name, document)
    except InvalidBody as error:
        raise ApiError(HTTPStatus.BAD_REQUEST, str(error)) from None
    if not isinstance(document, dict):  # every request schema is an object; this tells mypy
        raise ApiError(HTTPStatus.BAD_REQUEST, "the body must be a JSON object")
    return document


def _order_id(raw: str) -> str:
    try:
        return str(uuid.UUID(raw))
    except ValueError:
        raise ApiError(HTTPStatus.NOT_FOUND, f"order {raw!r} not found") from None


def _caller() -> str:
    """The authenticated caller: the `sub` claim of the ID token the Cognito authorizer verified.
    Never a value from the body, the path or the query."""
    claims = app.current_event.request_context.authorizer.claims or {}
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject:
        raise ApiError(HTTPStatus.UNAUTHORIZED, "the request carries no authenticated caller")
    return subject


@app.post("/orders")
@tracer.capture_method
def create_order() -> Response[str]:
    key = app.current_event.headers.get("idempotency-key") or ""
    if not IDEMPOTENCY_KEY.fullmatch(key):
        raise ApiError(
            HTTPStatus.BAD_REQUEST,
            "send an Idempotency-Key header of 8 to 128 letters, digits or _.:- (a UUID works)",
        )
    caller = _caller()
    request = _body("createOrder")
    try:
        created = store.create(caller, key, request)
    except KeyReused:
        raise ApiError(
            HTTPStatus.UNPROCESSABLE_ENTITY, "this Idempotency-Key was already used for a different request"
        ) from None
    except CreateInProgress:
        raise ApiError(
            HTTPStatus.CONFLICT, "a request with this Idempotency-Key is in progress; retry it"
        ) from None
    order = created.order
    logger.info("order created", order_id=order["id"], replayed=created.replayed)
    headers = {"Location": f"/orders/{order['id']}", "Idempotent-Replayed": str(created.replayed).lower()}
    return _json(HTTPStatus.CREATED, order, headers)


@app.get("/orders/<order_id>")
@tracer.capture_method
def get_order(order_id: str) -> Response[str]:
    caller = _caller()
    order_id = _order_id(order_id)
    try:
        return _json(HTTPStatus.OK, store.get(caller, order_id))
    except OrderNotFound:
        raise ApiError(HTTPStatus.NOT_FOUND, f"order {order_id} not found") from None


@app.get("/orders")
@tracer.capture_method
def list_orders() -> Response[str]:
    caller = _caller()
    event = app.current_event
    if event.get_query_string_value("customerId") is not None:
        raise ApiError(
            HTTPStatus.BAD_REQUEST, "customerId is not a parameter: GET /orders lists the caller's own orders"
        )
    limit_text = event.get_query_string_value("limit") or str(DEFAULT_PAGE_SIZE)
    if not PAGE_SIZE.fullmatch(limit_text) or not 1 <= int(limit_text) <= MAX_PAGE_SIZE:
        raise ApiError(HTTPStatus.BAD_REQUEST, f"limit must be an integer from 1 to {MAX_PAGE_SIZE}")
    try:
        page = store.by_owner(caller, int(limit_text), event.get_query_string_value("cursor"))
    except InvalidCursor as error:
        raise ApiError(HTTPStatus.BAD_REQUEST, str(error)) from None
    return _json(HTTPStatus.OK, page)


@app.put("/orders/<order_id>")
@tracer.capture_method
def update_order(order_id: str) -> Response[str]:
    caller = _caller()
    order_id = _order_id(order_id)
    changes = _body("updateOrder")
    try:
        return _json(HTTPStatus.OK, store.update(caller, order_id, changes["version"], changes))
    except OrderNotFound:
        raise ApiError(HTTPStatus.NOT_FOUND, f"order {order_id} not found") from None
    except VersionConflict as conflict:
        raise ApiError(
            HTTPStatus.CONFLICT,
            f"version {changes['version']} is stale: the order is at version {conflict.current_version}; "
            "read it again and reapply your change",
        ) from None


@app.delete("/orders/<order_id>")
@tracer.capture_method
def delete_order(order_id: str) -> Response[str]:
    caller = _caller()
    order_id = _order_id(order_id)
    try:
        store.delete(caller, order_id)
    except OrderNotFound:
        raise ApiError(HTTPStatus.NOT_FOUND, f"order {order_id} not found") from None
    return Response(status_code=HTTPStatus.NO_CONTENT.value, body="")


@app.get("/health")
def health() -> Response[str]:
    """For Route 53's health checkers and the failover runbook (the Standby stacks route GET
    /health here without a token): this Region's function runs. It reads nothing, so a slow
    table cannot fail it (a health check fails open on its dependencies), and says nothing."""
    return _json(HTTPStatus.OK, {"status": "ok"})


@app.exception_handler(ApiError)  # type: ignore[untyped-decorator]  # Powertools leaves it untyped
def api_error(error: ApiError) -> Response[str]:
    if error.status >= 500:
        logger.error("request failed", status=error.status.value, reason=error.message)
    else:
        logger.info("request refused", status=error.status.value, reason=error.message)
    return _error(error.status, error.message)


@app.exception_handler(Exception)  # type: ignore[untyped-decorator]  # as above
def unexpected(error: Exception) -> Response[str]:
    logger.exception("unexpected failure")
    return _error(HTTPStatus.INTERNAL_SERVER_ERROR, "the request failed; retry it later")


@app.not_found
def no_route(_: Exception) -> Response[str]:
    return _error(
        HTTPStatus.NOT_FOUND, f"no route for {app.current_event.http_method} {app.current_event.path}"
    )


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
