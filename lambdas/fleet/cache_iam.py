"""IAM authentication to ElastiCache Serverless: the AUTH password is a signed request.

ElastiCache checks an IAM-enabled user's AUTH token the way AWS checks a presigned URL:
the token is ``<cache name>/?Action=connect&User=<user id>&ResourceType=ServerlessCache``
signed with SigV4 for the service ``elasticache`` (query authentication, valid 15 minutes),
less its ``https://``. A connection authenticated with it stays authenticated (ElastiCache
closes it after 12 hours); each new connection needs an unexpired token, so the token is
made again before it expires. The function's own role signs: no secret is stored anywhere.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from botocore.auth import SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from valkey.credentials import CredentialProvider

__all__ = ["IamAuthToken", "TOKEN_LIFETIME_SECONDS", "TOKEN_REFRESH_SECONDS", "SERVICE"]

#: The signing name of ElastiCache.
SERVICE = "elasticache"
#: How long ElastiCache accepts a token (its maximum).
TOKEN_LIFETIME_SECONDS = 900
#: A token older than this is replaced: well before it expires, so that a connection
#: opened at the end of its life (and a clock a little off) still authenticates.
TOKEN_REFRESH_SECONDS = 600


class IamAuthToken(CredentialProvider):
    """valkey-py's credential provider for an IAM-enabled ElastiCache user.

    Parameters
    ----------
    user_id:
        The ElastiCache user id (for IAM users, also its user name): AUTH's username.
    cache_name:
        The serverless cache's name (not its endpoint): the host of the signed request.
    region:
        The cache's region.
    credentials:
        botocore credentials (refreshable or not); default: the default chain's, i.e. the
        Lambda function's role.
    clock:
        Seconds, for deciding when to refresh (tests pass a fake one).
    """

    def __init__(
        self,
        user_id: str,
        cache_name: str,
        region: str,
        *,
        credentials: Any = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if credentials is None:
            import botocore.session

            credentials = botocore.session.get_session().get_credentials()
        if credentials is None:
            raise ValueError("no AWS credentials to sign the cache's IAM AUTH token with")
        self.user_id = user_id
        self.cache_name = cache_name
        self.region = region
        self._credentials = credentials
        self._clock = clock
        self._lock = threading.Lock()
        self._token: str | None = None
        self._made_at = 0.0

    def signed_token(self) -> str:
        """A new token: the presigned connect request, without its scheme."""
        query = {"Action": "connect", "User": self.user_id, "ResourceType": "ServerlessCache"}
        request = AWSRequest(method="GET", url=f"https://{self.cache_name}/?{urlencode(query)}")
        # Frozen: a refreshable credential must not change between its parts while signing.
        frozen = self._credentials.get_frozen_credentials()
        SigV4QueryAuth(frozen, SERVICE, self.region, expires=TOKEN_LIFETIME_SECONDS).add_auth(
            request
        )
        url: str = request.prepare().url
        return url.removeprefix("https://")

    def token(self) -> str:
        """The current token, made again once it is :data:`TOKEN_REFRESH_SECONDS` old."""
        with self._lock:
            now = self._clock()
            if self._token is None or now - self._made_at >= TOKEN_REFRESH_SECONDS:
                self._token = self.signed_token()
                self._made_at = now
            return self._token

    def get_credentials(self) -> tuple[str, str]:
        """AUTH's username and password, asked for by valkey-py on each new connection."""
        return self.user_id, self.token()
