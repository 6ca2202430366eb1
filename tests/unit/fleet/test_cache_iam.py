"""IAM authentication to the Valkey cache: the signed token, the client's TLS, a real AUTH.

The token is checked against a SigV4 signature computed here from AWS's published
algorithm (fixed credentials and clock), and used as the password of a fakeredis TCP
server's ACL user, as ElastiCache would check it.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import ssl
import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

import botocore.auth
import pytest
import valkey
from botocore.credentials import Credentials
from dynabatch import BatchClient
from fleet.cache import MemoryCache, ValkeyCache
from fleet.cache_iam import TOKEN_LIFETIME_SECONDS, TOKEN_REFRESH_SECONDS, IamAuthToken
from fleet.handlers import loader
from fleet.runtime import cache_for
from fleet.settings import Settings, SettingsError
from valkey.connection import SSLConnection

from tests.support.handlers import FakeContext, answer, list_event, seed

ACCESS_KEY, SECRET_KEY = "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
SIGNED_AT = datetime.datetime(2026, 11, 28, 12, 0, 0)


@pytest.fixture
def signing_time(monkeypatch: pytest.MonkeyPatch) -> list[datetime.datetime]:
    """botocore's signing clock, fixed (and movable by the test)."""
    now = [SIGNED_AT]
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda *_, **__: now[0])
    return now


def provider(clock: Any = None, user: str = "fleet-functions") -> IamAuthToken:
    return IamAuthToken(
        user,
        "fleet-cache",
        "eu-west-1",
        credentials=Credentials(ACCESS_KEY, SECRET_KEY),
        **({"clock": clock} if clock else {}),
    )


def expected_signature(query: dict[str, str], host: str, when: datetime.datetime) -> str:
    """SigV4 query authentication, step by step as AWS documents it."""
    day = when.strftime("%Y%m%d")
    canonical_query = "&".join(
        f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}"
        for k, v in sorted(query.items())
        if k != "X-Amz-Signature"
    )
    canonical = "\n".join(
        ["GET", "/", canonical_query, f"host:{host}", "", "host", hashlib.sha256(b"").hexdigest()]
    )
    scope = f"{day}/eu-west-1/elasticache/aws4_request"
    to_sign = "\n".join(
        [
            "AWS4-HMAC-SHA256",
            when.strftime("%Y%m%dT%H%M%SZ"),
            scope,
            hashlib.sha256(canonical.encode()).hexdigest(),
        ]
    )
    key = ("AWS4" + SECRET_KEY).encode()
    for part in (day, "eu-west-1", "elasticache", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()


def test_the_token_is_a_presigned_connect_request_for_the_serverless_cache(
    signing_time: list[datetime.datetime],
) -> None:
    username, token = provider().get_credentials()

    parts = urlsplit("https://" + token)
    query = dict(parse_qsl(parts.query, strict_parsing=True))
    assert username == "fleet-functions"
    assert not token.startswith("https://")
    assert (parts.netloc, parts.path) == ("fleet-cache", "/")
    assert query == {
        "Action": "connect",
        "User": "fleet-functions",
        "ResourceType": "ServerlessCache",
        "X-Amz-Algorithm": "AWS4-HMAC-SHA256",
        "X-Amz-Credential": f"{ACCESS_KEY}/20261128/eu-west-1/elasticache/aws4_request",
        "X-Amz-Date": "20261128T120000Z",
        "X-Amz-Expires": str(TOKEN_LIFETIME_SECONDS),
        "X-Amz-SignedHeaders": "host",
        "X-Amz-Signature": expected_signature(query, "fleet-cache", SIGNED_AT),
    }


def test_the_token_is_reused_then_made_again_before_it_expires(
    signing_time: list[datetime.datetime],
) -> None:
    clock = [0.0]
    tokens = provider(clock=lambda: clock[0])
    first = tokens.token()

    clock[0] += TOKEN_REFRESH_SECONDS - 1
    signing_time[0] += datetime.timedelta(seconds=TOKEN_REFRESH_SECONDS - 1)
    assert tokens.token() == first
    clock[0] += 1
    signing_time[0] += datetime.timedelta(seconds=1)
    second = tokens.token()

    assert second != first
    assert "X-Amz-Date=20261128T121000Z" in second
    assert TOKEN_REFRESH_SECONDS < TOKEN_LIFETIME_SECONDS


IAM_ENV = {
    "CACHE_URL": "rediss://fleet-cache-abc123.serverless.euw1.cache.amazonaws.com:6379",
    "CACHE_AUTH": "iam",
    "CACHE_USER_ID": "fleet-functions",
    "CACHE_NAME": "fleet-cache",
    "AWS_REGION": "eu-west-1",
}


def test_the_client_authenticates_with_iam_over_tls_checking_the_hostname() -> None:
    settings = Settings.from_env(IAM_ENV)

    cache = cache_for(settings)

    assert isinstance(cache, ValkeyCache)
    pool = cache.client.connection_pool
    options = pool.connection_kwargs
    assert pool.connection_class is SSLConnection
    assert options["ssl_cert_reqs"] == "required"
    assert options["ssl_check_hostname"] is True
    assert isinstance(options["credential_provider"], IamAuthToken)
    assert (options["credential_provider"].user_id, options["credential_provider"].region) == (
        "fleet-functions",
        "eu-west-1",
    )
    # The connection pool makes SSL connections that verify both.
    connection = pool.make_connection()
    assert connection.cert_reqs == ssl.CERT_REQUIRED and connection.check_hostname


def test_any_tls_url_checks_the_hostname_and_plain_urls_are_unchanged() -> None:
    tls = ValkeyCache("rediss://cache.example:6379").client.connection_pool.connection_kwargs
    plain = ValkeyCache("redis://cache.example:6379").client.connection_pool.connection_kwargs

    assert tls["ssl_check_hostname"] is True and tls["ssl_cert_reqs"] == "required"
    assert "ssl_check_hostname" not in plain and "credential_provider" not in plain


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"CACHE_USER_ID": ""}, "CACHE_USER_ID"),
        ({"CACHE_NAME": ""}, "CACHE_NAME"),
        ({"AWS_REGION": ""}, "AWS_REGION"),
        ({"CACHE_URL": "redis://cache.example:6379"}, "rediss://"),
        ({"CACHE_URL": ""}, "rediss://"),
        ({"CACHE_AUTH": "password"}, "CACHE_AUTH"),
    ],
)
def test_iam_settings_are_refused_when_incomplete_or_without_tls(
    change: dict[str, str], message: str
) -> None:
    with pytest.raises(SettingsError, match=message):
        Settings.from_env({**IAM_ENV, **change})


def test_without_cache_auth_no_credentials_are_sent() -> None:
    settings = Settings.from_env({"CACHE_URL": "memory://x"})

    assert settings.cache_auth == "none"
    assert isinstance(cache_for(settings), MemoryCache)


@pytest.fixture
def acl_server() -> Iterator[tuple[str, valkey.Valkey]]:
    """A fakeredis TCP server that serves no one but authenticated ACL users."""
    from fakeredis import TcpFakeServer

    server = TcpFakeServer(("127.0.0.1", 0), server_type="redis")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    host, port = server.server_address[:2]
    admin = valkey.Valkey(host=host, port=port)
    try:
        yield f"redis://{host}:{port}/0", admin
    finally:
        admin.close()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def require_users(admin: valkey.Valkey, users: dict[str, str]) -> None:
    for user, password in users.items():
        admin.execute_command("ACL", "SETUSER", user, "on", f">{password}", "~*", "+@all")
    admin.execute_command("ACL", "SETUSER", "default", "off")


def test_the_signed_token_authenticates_as_the_cache_user(
    signing_time: list[datetime.datetime], acl_server: tuple[str, valkey.Valkey]
) -> None:
    url, admin = acl_server
    tokens = provider()
    require_users(admin, {"fleet-functions": tokens.token()})

    cache = ValkeyCache(url, credential_provider=tokens)

    assert cache.set_many({"dev-1": {"deviceId": "dev-1"}}, 60) == 1
    assert cache.get_many(["dev-1"]) == {"dev-1": {"deviceId": "dev-1"}}


def test_a_refused_token_makes_the_cache_a_miss_not_an_error(
    signing_time: list[datetime.datetime],
    acl_server: tuple[str, valkey.Valkey],
    caplog: pytest.LogCaptureFixture,
) -> None:
    url, admin = acl_server
    require_users(admin, {"fleet-functions": provider().token()})
    # Signed for another user: the server refuses it, as ElastiCache would.
    cache = ValkeyCache(url, credential_provider=provider(user="someone-else"), cooldown=60)

    assert cache.get_many(["dev-1"]) == {}
    assert cache.set_many({"dev-1": {"deviceId": "dev-1"}}, 60) == 0
    assert "cache MGET failed (AuthenticationError" in caplog.text


def test_a_request_is_served_from_dynamodb_when_the_cache_refuses_auth(
    batch: BatchClient, acl_server: tuple[str, valkey.Valkey], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, admin = acl_server
    require_users(admin, {"fleet-functions": "the-right-token"})
    monkeypatch.setenv("CACHE_URL", url.replace("redis://", "redis://fleet-functions:wrong@"))
    seed(batch, {"user-0001": ["dev-1", "dev-2"]})

    status, body = answer(loader.handler(list_event("user-0001"), FakeContext()))

    assert status == 200
    assert [d["deviceId"] for d in body["devices"]] == ["dev-1", "dev-2"]
