"""HTTP front of the orders/catalog API (stdlib only), run by systemd on each instance.

  GET  /health                 200 when the writer answers (replicas and cache reported)
  GET  /products/<id>          cached read; `?consistent=1` reads the writer, skipping the cache
  PUT  /products/<id>          {"name", "price", "stock"}: upsert, invalidates the cache
  POST /orders                 {"product_id", "quantity"}: 201, or 409 when out of stock
  GET  /orders/<id>            replica read; `?consistent=1` (read-your-writes) reads the writer

The instance keeps no state: any instance can serve any request.
"""

from __future__ import annotations

import json
import logging
import re
from decimal import Decimal, InvalidOperation
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from catalog import Catalog, OutOfStock

logger = logging.getLogger(__name__)
PRODUCT = re.compile(r"^/products/([A-Za-z0-9_-]{1,64})$")
ORDER = re.compile(r"^/orders/(\d{1,18})$")
MAX_BODY = 16 * 1024


class BadRequest(Exception):
    pass


def make_handler(catalog: Catalog) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "web_app"
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            self._serve(self._get)

        def do_PUT(self) -> None:
            self._serve(self._put)

        def do_POST(self) -> None:
            self._serve(self._post)

        def _get(self, path: str, consistent: bool) -> tuple[int, Any]:
            if path == "/health":
                databases = catalog.router.check()
                cache = catalog.cache_answers()
                healthy = databases[catalog.router.writer.name]
                status = HTTPStatus.OK if healthy else HTTPStatus.SERVICE_UNAVAILABLE
                return status, {"databases": databases, "cache": cache}
            if match := PRODUCT.match(path):
                product = catalog.get_product(match[1], consistent=consistent)
                return (HTTPStatus.OK, product.__dict__) if product else (HTTPStatus.NOT_FOUND, None)
            if match := ORDER.match(path):
                order = catalog.get_order(int(match[1]), consistent=consistent)
                return (HTTPStatus.OK, order.__dict__) if order else (HTTPStatus.NOT_FOUND, None)
            return HTTPStatus.NOT_FOUND, None

        def _put(self, path: str, consistent: bool) -> tuple[int, Any]:
            if not (match := PRODUCT.match(path)):
                return HTTPStatus.NOT_FOUND, None
            body = self._json()
            try:
                name, price, stock = str(body["name"]), Decimal(str(body["price"])), int(body["stock"])
            except (KeyError, ValueError, InvalidOperation) as error:
                raise BadRequest(f"a product needs name, price and stock: {error}") from None
            if price < 0 or stock < 0:
                raise BadRequest("price and stock must not be negative")
            return HTTPStatus.OK, catalog.put_product(match[1], name, price, stock).__dict__

        def _post(self, path: str, consistent: bool) -> tuple[int, Any]:
            if path != "/orders":
                return HTTPStatus.NOT_FOUND, None
            body = self._json()
            try:
                product_id, quantity = str(body["product_id"]), int(body["quantity"])
            except (KeyError, ValueError) as error:
                raise BadRequest(f"an order needs product_id and quantity: {error}") from None
            if quantity < 1:
                raise BadRequest("quantity must be at least 1")
            try:
                return HTTPStatus.CREATED, catalog.place_order(product_id, quantity).__dict__
            except OutOfStock:
                return HTTPStatus.CONFLICT, {"error": f"not enough stock of {product_id}"}

        def _json(self) -> dict[str, Any]:
            length = int(self.headers.get("Content-Length") or 0)
            if not 0 < length <= MAX_BODY:
                raise BadRequest(f"a JSON body of at most {MAX_BODY} bytes is required")
            try:
                body = json.loads(self.rfile.read(length))
            except ValueError:
                raise BadRequest("the body is not JSON") from None
            if not isinstance(body, dict):
                raise BadRequest("the body must be a JSON object")
            return body

        def _serve(self, route: Any) -> None:
            url = urlsplit(self.path)
            consistent = parse_qs(url.query).get("consistent", ["0"])[0] in {"1", "true"}
            try:
                status, payload = route(url.path, consistent)
            except BadRequest as error:
                status, payload = HTTPStatus.BAD_REQUEST, {"error": str(error)}
            except Exception:
                logger.exception("request %s %s failed", self.command, self.path)
                status, payload = HTTPStatus.INTERNAL_SERVER_ERROR, {"error": "internal error"}
            data = json.dumps(payload if payload is not None else {"error": "not found"}).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            logger.info("%s %s", self.address_string(), format % args)

    return Handler


def serve(catalog: Catalog, port: int, host: str = "0.0.0.0") -> ThreadingHTTPServer:
    return ThreadingHTTPServer((host, port), make_handler(catalog))
