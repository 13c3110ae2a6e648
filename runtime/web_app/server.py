"""HTTP front of the orders/catalog API (stdlib `http.server`), run by systemd on each instance.

  GET  /health                 200 whenever this process serves HTTP (the load balancer's check):
                               it never touches the databases or the cache, so an outage of a
                               dependency does not make every instance look broken at once
  GET  /health/deep            each dependency's status (writer, every replica, cache), within
                               HEALTH_TIMEOUT seconds whatever hangs; 200 when the writer and the
                               cache answer, 503 otherwise (for operators and boot checks); an
                               answer is reused for DEEP_HEALTH_REUSE seconds
  GET  /products/<id>          cached read; `?consistent=1` reads the writer, skipping the cache
  PUT  /products/<id>          {"name", "price", "stock"}: upsert, invalidates the cache
  POST /orders                 {"product_id", "quantity"}: 201, 404 for an unknown product,
                               or 409 when out of stock
  GET  /orders/<id>            replica read; `?consistent=1` (read-your-writes) reads the writer

In a read Region (`read_region` given; see regions.py) the app serves GETs from the local
replica, forwards every write, every `?consistent=1` read, and the reads of a caller whose
write the replica has not replayed, to the home Region, and says where a read came from in
`X-Served-From`. Its /health/deep is 200 when the replica answers, with the replica's lag.
In the home Region every write's answer carries the write mark (a cookie with the write's WAL
position; `Secure` when the load balancer says the caller came over HTTPS). A read Region
passes the mark on with `Secure` set by its own caller's scheme: home only sees the scheme of
the hop from that Region.

A request with a Transfer-Encoding (a chunked body) is a 411 and its connection is closed:
bodies are read by Content-Length only, and an unread body would pass for the next request.
So a body the route does not read (a GET's, a write to an unknown path) is read and dropped
after the answer; one longer than MAX_BODY, or with a malformed Content-Length, ends the
connection (`Connection: close`) instead.
A path that is not ASCII is a 400.

Input that does not fit the columns is a 400, never a 500: a price is a finite decimal
(string or JSON number) in whole cents from 0 to 9999999999.99 (numeric(12, 2)); stock and
quantity are JSON integers (not booleans, not 1.0) that fit a PostgreSQL integer.

While the writer does not answer, writes (and `?consistent=1` reads) are a 503 with a
`Retry-After` header and a body that says whether the write may have been applied; other reads
are served from the replicas and the cache.

The instance keeps no state: any instance can serve any request.
"""

from __future__ import annotations

import json
import logging
import math
import re
import threading
import time
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from decimal import Decimal, InvalidOperation
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import SplitResult, parse_qs, urlencode, urlsplit

import psycopg
from catalog import Catalog, OutOfStock, UnknownProduct
from regions import FORWARDED_HEADER, SERVED_FROM_HEADER, ReadRegion, mark_of, write_mark
from routing import Unavailable

logger = logging.getLogger(__name__)
PRODUCT = re.compile(r"^/products/([A-Za-z0-9_-]{1,64})$")
ORDER = re.compile(r"^/orders/(\d{1,18})$")
MAX_BODY = 16 * 1024
PASSED_FROM_CALLER = ("Content-Type", "Cookie", "User-Agent")
"""The caller's headers a read Region forwards home (see regions.USER_AGENT for the last)."""
MAX_PRICE = Decimal("9999999999.99")  # numeric(12, 2)
CENT = Decimal("0.01")
MAX_INTEGER = 2**31 - 1  # PostgreSQL integer
HEALTH_TIMEOUT = 2.5
"""Seconds /health/deep waits for the databases and the cache."""
DEEP_HEALTH_REUSE = 1.0
"""Seconds an answer of /health/deep is reused: anyone on the internet can ask for it through
the load balancer, and each fresh answer opens a connection to every database, so requests
for it, however many, cost each instance at most one round of checks per second."""
IDLE_TIMEOUT = 75.0
"""Seconds a connection may sit silent (between requests or inside one) before it is closed: a
client that declares a body and stalls frees its thread. Longer than the ALB's 60 s idle
timeout, as Elastic Load Balancing asks of targets, so the ALB never sends a request down a
connection the app is closing."""


class BadRequest(Exception):
    pass


def integer(body: dict[str, Any], field: str, low: int) -> int:
    value = body.get(field)
    if type(value) is not int:  # bool is an int subclass; 1.9 or 1.0 is not an integer here
        raise BadRequest(f"{field} must be a JSON integer")
    if not low <= value <= MAX_INTEGER:
        raise BadRequest(f"{field} must be between {low} and {MAX_INTEGER}")
    return value


def text(body: dict[str, Any], field: str) -> str:
    value = body.get(field)
    if not isinstance(value, str) or not value:
        raise BadRequest(f"{field} must be a non-empty string")
    return value


def price(body: dict[str, Any]) -> Decimal:
    value = body.get("price")
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        raise BadRequest("price must be a decimal number or a string holding one")
    try:
        amount = Decimal(value)
    except InvalidOperation:
        raise BadRequest("price must be a decimal number or a string holding one") from None
    if not amount.is_finite() or not 0 <= amount <= MAX_PRICE:
        raise BadRequest(f"price must be between 0 and {MAX_PRICE}")
    if amount != amount.quantize(CENT):
        raise BadRequest("price must be in whole cents")
    return amount


def unavailable(method: str, error: Unavailable, retry_after: int) -> dict[str, Any]:
    """The 503 body: what did not answer, and whether a write may have been applied."""
    if method == "GET":
        return {"error": f"the database did not answer; retry in {retry_after} s"}
    if error.sent:
        return {
            "error": "the database writer stopped answering during this write: it may or may not have "
            "been applied; read it back with ?consistent=1 before retrying",
            "applied": None,
        }
    return {
        "error": f"the database writer is unavailable: nothing was written; retry in {retry_after} s",
        "applied": False,
    }


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


class DeepHealth:
    """Each dependency's status, asked at once and each bounded, reused for `reuse` seconds."""

    def __init__(self, catalog: Catalog, reuse: float = DEEP_HEALTH_REUSE):
        self.catalog = catalog
        self.reuse = reuse
        self._lock = threading.Lock()
        self._last: tuple[float, tuple[int, Any]] | None = None

    def __call__(self) -> tuple[int, Any]:
        with self._lock:  # callers meanwhile wait (at most HEALTH_TIMEOUT) and share the answer
            if self._last is None or time.monotonic() - self._last[0] >= self.reuse:
                self._last = (time.monotonic(), self._ask())
            return self._last[1]

    def _ask(self) -> tuple[int, Any]:
        # Everything at once, each bounded: a dependency that hangs must not hang the check.
        deadline = time.monotonic() + HEALTH_TIMEOUT
        cache: Future[bool] = Future()
        ping = threading.Thread(target=lambda: cache.set_result(self.catalog.cache_answers()), daemon=True)
        ping.start()
        databases = self.catalog.router.check(timeout=HEALTH_TIMEOUT)
        try:
            cache_answers = cache.result(timeout=max(0.0, deadline - time.monotonic()))
        except FutureTimeout:
            cache_answers = False
        healthy = databases[self.catalog.router.writer.name] and cache_answers
        status = HTTPStatus.OK if healthy else HTTPStatus.SERVICE_UNAVAILABLE
        return status, {"databases": databases, "cache": cache_answers}


class ReadRegionHealth(DeepHealth):
    """The read Region's deep check: 200 when the local replica answers, with its lag."""

    def __init__(self, catalog: Catalog, read_region: ReadRegion, reuse: float = DEEP_HEALTH_REUSE):
        super().__init__(catalog, reuse)
        self.read_region = read_region

    def _ask(self) -> tuple[int, Any]:
        state = self.read_region.health()
        return (HTTPStatus.OK if state["replica"] else HTTPStatus.SERVICE_UNAVAILABLE), state


def last_write_position(catalog: Catalog) -> str | None:
    """The writer's WAL position now, after the write committed: a replica that has replayed
    up to it has the write. None if the writer does not say (the mark then lasts its max age)."""
    try:
        return str(catalog.router.write("SELECT pg_current_wal_lsn()::text")[0][0])
    except Exception as error:
        logger.warning("no WAL position for the write mark: %s", error)
        return None


def secure_as_the_caller(set_cookie: str, secure: bool) -> str:
    """A Set-Cookie from home with its Secure attribute as this Region's caller's scheme says:
    home judged by the scheme of the hop from this Region, not of the browser's request."""
    kept = [part for part in set_cookie.split(";") if part.strip().lower() != "secure"]
    return ";".join(kept) + ("; Secure" if secure else "")


def declared_length(content_length: str | None) -> int | None:
    """The body's length by its Content-Length (0 when absent), None when malformed."""
    if content_length is None:
        return 0
    text = content_length.strip()
    return int(text) if text.isdigit() and text.isascii() else None


def home_target(url: SplitResult, method: str) -> str:
    """The path and query to ask home for; a read there reads the writer (`consistent=1`)."""
    query = parse_qs(url.query)
    if method == "GET":
        query["consistent"] = ["1"]
    return url.path + ("?" + urlencode(query, doseq=True) if query else "")


def make_handler(
    catalog: Catalog,
    deep_health_reuse: float = DEEP_HEALTH_REUSE,
    read_region: ReadRegion | None = None,
    idle_timeout: float = IDLE_TIMEOUT,
) -> type[BaseHTTPRequestHandler]:
    deep_health = (
        ReadRegionHealth(catalog, read_region, deep_health_reuse)
        if read_region
        else DeepHealth(catalog, deep_health_reuse)
    )

    class Handler(BaseHTTPRequestHandler):
        server_version = "web_app"
        protocol_version = "HTTP/1.1"
        timeout = idle_timeout
        _unread: int | None = 0
        """Bytes of the request's body not read yet (None: a Content-Length that is no number)."""

        def do_GET(self) -> None:
            self._serve(self._get)

        def do_PUT(self) -> None:
            self._serve(self._put)

        def do_POST(self) -> None:
            self._serve(self._post)

        def _get(self, path: str, consistent: bool) -> tuple[int, Any]:
            if path == "/health":
                return HTTPStatus.OK, {"status": "serving"}
            if path == "/health/deep":
                return deep_health()
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
            name, amount, stock = text(body, "name"), price(body), integer(body, "stock", 0)
            return HTTPStatus.OK, catalog.put_product(match[1], name, amount, stock).__dict__

        def _post(self, path: str, consistent: bool) -> tuple[int, Any]:
            if path != "/orders":
                return HTTPStatus.NOT_FOUND, None
            body = self._json()
            product_id, quantity = text(body, "product_id"), integer(body, "quantity", 1)
            try:
                return HTTPStatus.CREATED, catalog.place_order(product_id, quantity).__dict__
            except UnknownProduct:
                return HTTPStatus.NOT_FOUND, {"error": f"no product {product_id}"}
            except OutOfStock:
                return HTTPStatus.CONFLICT, {"error": f"not enough stock of {product_id}"}

        def _json(self) -> dict[str, Any]:
            try:
                length = int(self.headers.get("Content-Length") or 0)
            except ValueError:
                length = -1
            if not 0 < length <= MAX_BODY:
                self.close_connection = True  # the body, if any, is left unread
                raise BadRequest(f"a JSON body of at most {MAX_BODY} bytes is required")
            try:
                # Decimal, not float: 1.9 must not pass for an integer, nor 0.1 become 0.1000000000000000055.
                data, self._unread = self.rfile.read(length), 0
                body = json.loads(data, parse_float=Decimal, parse_constant=_no_constant)
            except ValueError:
                raise BadRequest("the body is not JSON") from None
            if not isinstance(body, dict):
                raise BadRequest("the body must be a JSON object")
            return body

        def _serve(self, route: Any) -> None:
            self._unread = declared_length(self.headers.get("Content-Length"))
            self._answer(route)
            if self._unread and not self.close_connection:
                # A body nobody read (a GET's, or one sent to an unknown path) would be parsed
                # as the next request on this kept connection, which the load balancer reuses
                # for other clients: read and dropped (a longer one closed the connection).
                self.rfile.read(self._unread)
                self._unread = 0

        def _answer(self, route: Any) -> None:
            if self.headers.get("Transfer-Encoding"):
                # Bodies are read by Content-Length only: a chunked body left on a kept
                # connection would be read as the next request.
                self.close_connection = True
                self._send(
                    HTTPStatus.LENGTH_REQUIRED,
                    {"error": "send the body with a Content-Length"},
                    {"Connection": "close"},
                )
                return
            if not self.path.isascii():  # not a URL (RFC 3986): percent-encode it
                self.close_connection = True
                self._send(
                    HTTPStatus.BAD_REQUEST,
                    {"error": "the path must be ASCII (percent-encoded)"},
                    {"Connection": "close"},
                )
                return
            url = urlsplit(self.path)
            consistent = parse_qs(url.query).get("consistent", ["0"])[0] in {"1", "true"}
            if read_region is not None and not url.path.startswith("/health"):
                if self.headers.get(FORWARDED_HEADER):  # HOME_URL names this Region, not home
                    self._send(HTTPStatus.LOOP_DETECTED, {"error": "forwarded to a read Region"})
                    return
                # A consistent read is the writer's, and the writer is home: the replica here
                # (in the router's writer slot) may not have a write the caller wants to check.
                mark = mark_of(self.headers.get("Cookie"))
                if self.command != "GET" or consistent or not read_region.serves_locally(mark):
                    self._forward(url)
                    return
            headers: dict[str, str] = {}
            if read_region is not None:
                headers[SERVED_FROM_HEADER] = "replica"
            try:
                status, payload = route(url.path, consistent)
                if read_region is None and self.command != "GET" and status < 300:
                    position = last_write_position(catalog)
                    headers["Set-Cookie"] = write_mark(position, secure=self._came_over_https())
            except Unavailable as error:
                if read_region is not None and self.command == "GET":
                    self._forward(url)  # the replica went away since it was asked
                    return
                logger.warning("request %s %s: %s", self.command, self.path, error)
                retry_after = max(1, math.ceil(catalog.router.retry_after))
                status, payload = (
                    HTTPStatus.SERVICE_UNAVAILABLE,
                    unavailable(self.command, error, retry_after),
                )
                headers["Retry-After"] = str(retry_after)
            except BadRequest as error:
                status, payload = HTTPStatus.BAD_REQUEST, {"error": str(error)}
            except psycopg.DataError as error:  # a value the columns cannot hold, after all
                message = error.diag.message_primary or str(error)
                status, payload = HTTPStatus.BAD_REQUEST, {"error": f"invalid value: {message}"}
            except Exception:
                logger.exception("request %s %s failed", self.command, self.path)
                status, payload = HTTPStatus.INTERNAL_SERVER_ERROR, {"error": "internal error"}
            self._send(status, payload if payload is not None else {"error": "not found"}, headers)

        def _forward(self, url: SplitResult) -> None:
            assert read_region is not None
            body = self._body() if self.command != "GET" else b""
            passed = {name: self.headers[name] for name in PASSED_FROM_CALLER if self.headers.get(name)}
            try:
                answer = read_region.home.forward(self.command, home_target(url, self.command), body, passed)
            except Unavailable as error:
                logger.warning("request %s %s: %s", self.command, self.path, error)
                self._send(
                    HTTPStatus.SERVICE_UNAVAILABLE,
                    unavailable(self.command, error, 5),
                    {"Retry-After": "5", SERVED_FROM_HEADER: "home"},
                )
                return
            self.send_response(answer.status)
            for name, value in answer.headers:
                if name.lower() == "set-cookie":
                    value = secure_as_the_caller(value, self._came_over_https())
                self.send_header(name, value)
            self.send_header(SERVED_FROM_HEADER, "home")
            self.send_header("Content-Length", str(len(answer.body)))
            self._close_if_unreadable()
            self.end_headers()
            self.wfile.write(answer.body)

        def _body(self) -> bytes:
            """The raw body to forward (at most MAX_BODY bytes; home judges what it holds)."""
            try:
                length = int(self.headers.get("Content-Length") or 0)
            except ValueError:
                length = 0
            if not 0 <= length <= MAX_BODY:
                self.close_connection = True
                return b""
            self._unread = 0
            return self.rfile.read(length)

        def _close_if_unreadable(self, headers: dict[str, str] | None = None) -> None:
            """Before the end of the headers: a body too long (or of unknown length) to read and
            drop ends the connection after this answer, said to the client."""
            too_long = self._unread is None or self._unread > MAX_BODY
            if (too_long or self.close_connection) and "Connection" not in (headers or {}):
                self.send_header("Connection", "close")  # sets close_connection

        def _came_over_https(self) -> bool:
            """Behind the load balancer, X-Forwarded-Proto is the scheme this hop's caller used
            (home behind a read Region sees the read Region's scheme, which fixes the mark anew)."""
            return self.headers.get("X-Forwarded-Proto", "").lower() == "https"

        def _send(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self._close_if_unreadable(headers)
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            logger.info("%s %s", self.address_string(), format % args)

    return Handler


def serve(
    catalog: Catalog,
    port: int,
    host: str = "0.0.0.0",
    *,
    deep_health_reuse: float = DEEP_HEALTH_REUSE,
    read_region: ReadRegion | None = None,
    idle_timeout: float = IDLE_TIMEOUT,
) -> ThreadingHTTPServer:
    handler = make_handler(catalog, deep_health_reuse, read_region, idle_timeout)
    return ThreadingHTTPServer((host, port), handler)
