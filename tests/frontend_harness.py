"""The orders web app served locally as CloudFront would serve it, in front of the REAL orders
API handler (lambda/orders_api) on moto's DynamoDB, with a stand-in for Cognito's hosted UI.

- `Edge` (one loopback port) plays the distribution: the built site (content-hashed assets),
  extensionless paths answered with index.html (the rule of spa_routes.js), the security headers
  with the CSP from patterns/frontend/policies.py, `/config.json` as the deployment writes it,
  and `/v1/*` turned into the API Gateway proxy event the handler gets in AWS.
- Sign-in: `FakeCognito` (a second port, so the CSP's connect-src is exercised) implements the
  two endpoints the page uses: /oauth2/authorize sends the browser straight back with a code,
  /oauth2/token checks the PKCE code_verifier against the S256 challenge (RFC 7636 section 4.6)
  and issues an ID token the test signs (HS256 with a test key). The edge plays the Cognito
  authorizer: a token the test did not sign, or one past its expiry, gets API Gateway's 401.
- API Gateway and WAF refuse some requests before any handler runs (403 from WAF, 429 from
  throttling, 502/504): `Edge.fail_next` answers the next API call of one method so, since no
  local handler can produce them; `after_handler=True` runs the handler first (a write that landed, then a
  timeout), which is how a retried create can meet a reused Idempotency-Key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from patterns.frontend import content_security_policy
from tests.orders_api_events import FakeContext

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")  # Debian's, from make bootstrap
# Flags that run Chromium headless as root in a container with no GPU and no network beyond
# loopback; Playwright adds a fresh --user-data-dir of its own to every launch.
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SIGNING_KEY = b"test-only-signing-key"
CLIENT_ID = "web-client-under-test"
TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript",
    ".css": "text/css",
    ".json": "application/json",
}


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def issue_token(sub: str, email: str, lifetime: int = 900) -> str:
    header = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = b64url(json.dumps({"sub": sub, "email": email, "exp": int(time.time()) + lifetime}).encode())
    signature = b64url(hmac.new(SIGNING_KEY, f"{header}.{body}".encode(), hashlib.sha256).digest())
    return f"{header}.{body}.{signature}"


def verified_claims(token: str) -> dict[str, Any] | None:
    try:
        header, body, signature = token.split(".")
        expected = b64url(hmac.new(SIGNING_KEY, f"{header}.{body}".encode(), hashlib.sha256).digest())
        if not hmac.compare_digest(expected, signature):
            return None
        claims: dict[str, Any] = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    except ValueError:
        return None
    return claims if claims.get("exp", 0) > time.time() else None


class _Quiet(BaseHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass

    def reply(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


@dataclass
class Fault:
    method: str
    status: int
    code: str
    message: str
    after_handler: bool = False


@dataclass
class Edge:
    site: Path
    handler: Callable[[dict[str, Any], Any], dict[str, Any]]
    sign_in_origin: str = ""
    faults: list[Fault] = field(default_factory=list)
    requests: list[tuple[str, str, int]] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def origin(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def fail_next(
        self, method: str, status: int, code: str, message: str, *, after_handler: bool = False
    ) -> None:
        """Answer the next API call made with `method` so. Bound to a method because the page's
        own reads (the list it loads after sign-in) may still be in flight and would take it."""
        with self.lock:
            self.faults.append(Fault(method, status, code, message, after_handler))

    def _take_fault(self, method: str) -> Fault | None:
        with self.lock:
            for index, fault in enumerate(self.faults):
                if fault.method == method:
                    return self.faults.pop(index)
        return None

    def config(self) -> dict[str, str]:
        return {
            "apiUrl": f"{self.origin}/v1",
            "signInUrl": self.sign_in_origin,
            "clientId": CLIENT_ID,
            "redirectUri": f"{self.origin}/",
        }

    def start(self) -> Edge:
        edge = self

        class Handler(_Quiet):
            def do_GET(self) -> None:
                edge.serve(self)

            do_HEAD = do_POST = do_PUT = do_DELETE = do_GET

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()

    def security_headers(self) -> dict[str, str]:
        return {
            "Content-Security-Policy": content_security_policy([self.sign_in_origin]),
            "X-Content-Type-Options": "nosniff",
            "X-Frame-Options": "DENY",
            "Referrer-Policy": "strict-origin-when-cross-origin",
        }

    def serve(self, request: _Quiet) -> None:
        path = urlsplit(request.path).path
        if path.startswith("/v1/"):
            status, body, headers = self.api(request, path.removeprefix("/v1"))
        else:
            status, body, headers = self.static(path)
        self.requests.append((request.command, request.path, status))
        request.reply(status, body, {**headers, **self.security_headers()})

    def static(self, path: str) -> tuple[int, bytes, dict[str, str]]:
        if path == "/config.json":
            return 200, json.dumps(self.config()).encode(), {"Content-Type": TYPES[".json"]}
        if "." not in path.rsplit("/", 1)[-1]:  # spa_routes.js: a route, not a file
            path = "/index.html"
        file = (self.site / path.lstrip("/")).resolve()
        if self.site.resolve() not in file.parents or not file.is_file():
            # What S3 answers through OAC without s3:ListBucket for a missing key.
            return 403, b"<Error><Code>AccessDenied</Code></Error>", {"Content-Type": "application/xml"}
        return 200, file.read_bytes(), {"Content-Type": TYPES.get(file.suffix, "application/octet-stream")}

    def api(self, request: _Quiet, path: str) -> tuple[int, bytes, dict[str, str]]:
        request_id = str(uuid.uuid4())
        length = int(request.headers.get("Content-Length") or 0)
        body = request.rfile.read(length).decode() if length else None
        fault = self._take_fault(request.command)
        if fault and not fault.after_handler:
            return self._gateway_error(fault.status, fault.code, fault.message, request_id)
        claims = verified_claims(request.headers.get("Authorization") or "")
        if claims is None:  # the Cognito authorizer's answer, in the API's gateway-response shape
            return self._gateway_error(401, "UNAUTHORIZED", "Unauthorized", request_id)
        split = urlsplit(request.path)
        query = {k: v[-1] for k, v in parse_qs(split.query).items()} or None
        segments = path.strip("/").split("/")
        resource = "/orders/{id}" if len(segments) == 2 else "/" + "/".join(segments)
        headers = {k: v for k, v in request.headers.items()}
        event = {
            "resource": resource,
            "path": path,
            "httpMethod": request.command,
            "headers": headers,
            "multiValueHeaders": {k: [v] for k, v in headers.items()},
            "queryStringParameters": query,
            "multiValueQueryStringParameters": {k: [v] for k, v in query.items()} if query else None,
            "pathParameters": {"id": segments[1]} if len(segments) == 2 else None,
            "stageVariables": None,
            "requestContext": {
                "accountId": "123456789012",
                "apiId": "local",
                "stage": "v1",
                "resourcePath": resource,
                "path": f"/v1{path}",
                "httpMethod": request.command,
                "requestId": request_id,
                "identity": {"sourceIp": "127.0.0.1", "userAgent": request.headers.get("User-Agent")},
                "authorizer": {"claims": {"sub": claims["sub"], "email": claims.get("email")}},
            },
            "body": body,
            "isBase64Encoded": False,
        }
        response = self.handler(event, FakeContext())
        if fault:
            return self._gateway_error(fault.status, fault.code, fault.message, request_id)
        out = dict(response.get("headers") or {})
        for name, values in (response.get("multiValueHeaders") or {}).items():
            out[name] = ",".join(values)
        return response["statusCode"], (response.get("body") or "").encode(), out

    @staticmethod
    def _gateway_error(
        status: int, code: str, message: str, request_id: str
    ) -> tuple[int, bytes, dict[str, str]]:
        body = {"error": {"code": code, "message": message}, "requestId": request_id}
        return status, json.dumps(body).encode(), {"Content-Type": "application/json"}


@dataclass
class FakeCognito:
    """/oauth2/authorize and /oauth2/token of the hosted UI, for one user chosen by the test."""

    sub: str = "user-a"
    email: str = "ana@example.com"
    token_lifetime: int = 900
    challenges: dict[str, tuple[str, str]] = field(default_factory=dict)
    server: ThreadingHTTPServer | None = None

    @property
    def origin(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> FakeCognito:
        cognito = self

        class Handler(_Quiet):
            def do_GET(self) -> None:
                cognito.get(self)

            def do_POST(self) -> None:
                cognito.post(self)

            def do_OPTIONS(self) -> None:
                self.reply(204, b"", cognito.cors(self))

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()

    @staticmethod
    def cors(request: _Quiet) -> dict[str, str]:
        return {
            "Access-Control-Allow-Origin": request.headers.get("Origin") or "*",
            "Access-Control-Allow-Headers": "Content-Type",
            "Access-Control-Allow-Methods": "POST",
        }

    def get(self, request: _Quiet) -> None:
        split = urlsplit(request.path)
        query = {k: v[-1] for k, v in parse_qs(split.query).items()}
        if split.path == "/oauth2/authorize":
            if query.get("code_challenge_method") != "S256" or not query.get("code_challenge"):
                request.reply(400, b"PKCE S256 required", {})
                return
            code = uuid.uuid4().hex
            self.challenges[code] = (query["code_challenge"], query["redirect_uri"])
            target = f"{query['redirect_uri']}?{urlencode({'code': code, 'state': query.get('state', '')})}"
            request.reply(302, b"", {"Location": target})
        elif split.path == "/logout":
            request.reply(302, b"", {"Location": query.get("logout_uri", "/")})
        else:
            request.reply(404, b"", {})

    def post(self, request: _Quiet) -> None:
        length = int(request.headers.get("Content-Length") or 0)
        form = {k: v[-1] for k, v in parse_qs(request.rfile.read(length).decode()).items()}
        challenge, redirect = self.challenges.pop(form.get("code", ""), ("", ""))
        verifier = form.get("code_verifier", "")
        computed = b64url(hashlib.sha256(verifier.encode()).digest())
        if not challenge or computed != challenge or form.get("redirect_uri") != redirect:
            request.reply(
                400, b'{"error":"invalid_grant"}', {"Content-Type": "application/json", **self.cors(request)}
            )
            return
        token = issue_token(self.sub, self.email, self.token_lifetime)
        document = {
            "id_token": token,
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": self.token_lifetime,
        }
        request.reply(
            200, json.dumps(document).encode(), {"Content-Type": "application/json", **self.cors(request)}
        )
