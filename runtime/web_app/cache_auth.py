"""ElastiCache IAM authentication: the cache password is a short-lived signed token.

The token is a SigV4-presigned `GET https://<replication group id>/?Action=connect&User=<user id>`
for service `elasticache`, valid 15 minutes, with the scheme stripped; it is sent as the
password of AUTH for an ElastiCache user whose authentication mode is `iam` (and whose user id
equals its user name). The token is checked only when a connection authenticates: a connection
lives up to 12 hours, then ElastiCache closes it and the client authenticates again with a
new token. The instance role needs `elasticache:Connect` on the replication group and the user.
No secret is stored anywhere.

Signed with botocore's own RequestSigner (botocore comes with boto3, no extra dependency).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import botocore.session
from botocore.model import ServiceId
from botocore.signers import RequestSigner
from valkey.credentials import CredentialProvider

TOKEN_LIFETIME = 900  # seconds: the most ElastiCache accepts
REFRESH_AFTER = 600  # a cached token is at least 5 minutes from expiry when it is used


class IamAuthToken(CredentialProvider):
    """(user id, token) for each new connection; a token is reused for `refresh_after` seconds."""

    def __init__(
        self,
        *,
        user_id: str,
        replication_group_id: str,
        region: str,
        credentials: Any = None,
        refresh_after: float = REFRESH_AFTER,
        clock: Callable[[], float] = time.monotonic,
    ):
        if not 0 < refresh_after < TOKEN_LIFETIME:
            raise ValueError(f"refresh_after: must be between 0 and {TOKEN_LIFETIME} seconds")
        session = botocore.session.get_session()
        self.user_id = user_id
        self.replication_group_id = replication_group_id
        self.region = region
        self._signer = RequestSigner(
            ServiceId("elasticache"),
            region,
            "elasticache",
            "v4",
            credentials if credentials is not None else session.get_credentials(),
            session.get_component("event_emitter"),
        )
        self._refresh_after = refresh_after
        self._clock = clock
        self._lock = threading.Lock()
        self._token: tuple[float, str] | None = None

    def get_credentials(self) -> tuple[str, str]:
        with self._lock:
            now = self._clock()
            if self._token is None or now - self._token[0] >= self._refresh_after:
                self._token = (now, self.sign())
            return self.user_id, self._token[1]

    def sign(self) -> str:
        query = urlencode({"Action": "connect", "User": self.user_id})
        request = {
            "method": "GET",
            "url": f"https://{self.replication_group_id}/?{query}",
            "body": {},
            "headers": {},
            "context": {},
        }
        url: str = self._signer.generate_presigned_url(
            request, operation_name="connect", expires_in=TOKEN_LIFETIME, region_name=self.region
        )
        return url.removeprefix("https://")  # ElastiCache takes the signed URL without its scheme
