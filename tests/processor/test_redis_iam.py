"""ElastiCache IAM authentication: the token is AWS's documented SigV4 presign, it is what reaches Redis
(as the password of AUTH), every new connection signs a fresh one, and the processor reconnects before
ElastiCache's 12-hour limit on IAM connections.

The rig's Redis cannot check a SigV4 signature (only ElastiCache can), so the token is compared two ways:
offline with an independent implementation of AWS's algorithm (itself checked against AWS's published
example), and on the real redis-server, which is given exactly the expected token as the user's password
with credentials and the clock frozen, so a login succeeds only if the processor sends that token.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import time
import types
from dataclasses import replace
from urllib.parse import parse_qsl, quote, urlsplit

import botocore.auth
import pytest
import redis
from botocore.credentials import ReadOnlyCredentials
from txn_events import failed_ids, kinesis_event, txn_doc

from processor import redis_iam, redis_store
from processor.config import RedisSettings, Settings
from processor.contract import AUTH_IAM, REDIS_ACL_RULES
from processor.handler import BatchProcessor
from tests.support.pipeline import REDIS_CACHE_NAME, REDIS_USER
from tests.support.servers import RedisServer

REGION = "ap-northeast-1"
ACCESS_KEY, SECRET_KEY, SESSION_TOKEN = "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "session/token+="
SIGNED_AT = dt.datetime(2025, 11, 24, 8, 30, 15)
EMPTY_PAYLOAD = hashlib.sha256(b"").hexdigest()


def reference_presign(
    *,
    host: str,
    path: str,
    query: dict,
    service: str,
    region: str,
    access_key: str,
    secret_key: str,
    session_token: str | None,
    when: dt.datetime,
    expires: int,
    payload_hash: str,
) -> dict:
    """AWS Signature Version 4 for a presigned GET, written from AWS's description of the algorithm
    (canonical request, string to sign, derived signing key), not from botocore: the query parameters of
    the presigned URL, X-Amz-Signature included."""
    amz_date = when.strftime("%Y%m%dT%H%M%SZ")
    scope = f"{amz_date[:8]}/{region}/{service}/aws4_request"
    params = {
        **query,
        "X-Amz-Algorithm": "AWS4-HMAC-SHA256",
        "X-Amz-Credential": f"{access_key}/{scope}",
        "X-Amz-Date": amz_date,
        "X-Amz-Expires": str(expires),
        "X-Amz-SignedHeaders": "host",
    }
    if session_token:
        params["X-Amz-Security-Token"] = session_token

    def enc(value: str) -> str:
        return quote(value, safe="-_.~")

    canonical_query = "&".join(f"{enc(k)}={enc(v)}" for k, v in sorted((enc(k), v) for k, v in params.items()))
    canonical_request = "\n".join(["GET", path, canonical_query, f"host:{host}\n", "host", payload_hash])
    string_to_sign = "\n".join(
        ["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical_request.encode()).hexdigest()]
    )
    key = f"AWS4{secret_key}".encode()
    for part in (amz_date[:8], region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return {**params, "X-Amz-Signature": hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()}


def test_the_reference_signer_reproduces_awss_published_presigned_url_example():
    """Amazon S3 API reference, "Authenticating Requests: Using Query Parameters (AWS Signature Version 4)":
    GET examplebucket/test.txt, 24 May 2013, us-east-1, 86400 s, an unsigned payload (S3's presign)."""
    params = reference_presign(
        host="examplebucket.s3.amazonaws.com",
        path="/test.txt",
        query={},
        service="s3",
        region="us-east-1",
        access_key="AKIAIOSFODNN7EXAMPLE",
        secret_key="wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        session_token=None,
        when=dt.datetime(2013, 5, 24),
        expires=86400,
        payload_hash="UNSIGNED-PAYLOAD",
    )
    assert params["X-Amz-Signature"] == "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"


class _Clock:
    """botocore's signing clock (``datetime.datetime.utcnow()`` in ``botocore.auth``), frozen at ``now``."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, now: dt.datetime) -> None:
        clock = self

        class Frozen(dt.datetime):
            @classmethod
            def utcnow(cls):  # type: ignore[override]
                return clock.now

        self.now = now
        monkeypatch.setattr(botocore.auth, "datetime", types.SimpleNamespace(datetime=Frozen))


@pytest.fixture
def signing_clock(monkeypatch) -> _Clock:
    return _Clock(monkeypatch, SIGNED_AT)


@pytest.fixture
def function_credentials(monkeypatch) -> ReadOnlyCredentials:
    """The credentials Lambda gives the function (environment variables), fixed; nothing else is consulted."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        "AWS_SESSION_TOKEN": SESSION_TOKEN,
        "AWS_CONFIG_FILE": "/dev/null",
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
        "AWS_EC2_METADATA_DISABLED": "true",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    return ReadOnlyCredentials(ACCESS_KEY, SECRET_KEY, SESSION_TOKEN)


def expected_token(when: dt.datetime, *, cache: str = REDIS_CACHE_NAME, user: str = REDIS_USER) -> dict:
    return reference_presign(
        host=cache,
        path="/",
        query={"Action": "connect", "User": user},
        service="elasticache",
        region=REGION,
        access_key=ACCESS_KEY,
        secret_key=SECRET_KEY,
        session_token=SESSION_TOKEN,
        when=when,
        expires=900,
        payload_hash=EMPTY_PAYLOAD,
    )


def test_the_token_is_awss_documented_presign_of_connect_for_the_user(signing_clock, function_credentials):
    user, token = redis_iam.IAMCredentialProvider(REDIS_USER, REDIS_CACHE_NAME, REGION).get_credentials()

    assert user == REDIS_USER
    assert not token.startswith(("http://", "https://"))  # ElastiCache takes the URL without its scheme
    url = urlsplit("http://" + token)
    assert (url.netloc, url.path) == (REDIS_CACHE_NAME, "/")
    params = parse_qsl(url.query, keep_blank_values=True, strict_parsing=True)
    assert len(params) == len(dict(params))
    assert dict(params) == expected_token(SIGNED_AT)
    assert dict(params)["X-Amz-Credential"] == f"{ACCESS_KEY}/20251124/{REGION}/elasticache/aws4_request"


def test_a_token_is_bound_to_its_time_user_and_cache(signing_clock, function_credentials):
    provider = redis_iam.IAMCredentialProvider(REDIS_USER, REDIS_CACHE_NAME, REGION)
    first = provider.get_credentials()[1]
    signing_clock.now = SIGNED_AT + dt.timedelta(seconds=1)
    assert provider.get_credentials()[1] != first  # signed afresh at every call, never cached
    other_user = redis_iam.IAMCredentialProvider("japancart-dev-history-other", REDIS_CACHE_NAME, REGION)
    other_cache = redis_iam.IAMCredentialProvider(REDIS_USER, "japancart-prod-history", REGION)
    signatures = {
        dict(parse_qsl(urlsplit("http://" + p.get_credentials()[1]).query))["X-Amz-Signature"]
        for p in (provider, other_user, other_cache)
    }
    assert len(signatures) == 3


# --------------------------------------------------------------------------------------------------
# On the real redis-server
# --------------------------------------------------------------------------------------------------


def token_at(when: dt.datetime) -> str:
    """The token the processor must send at ``when``: the independent reference, as a password string."""
    params = expected_token(when)
    return f"{REDIS_CACHE_NAME}/?" + "&".join(
        f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in params.items()
    )


@pytest.fixture
def iam_redis(rig_ca):
    """A redis-server of its own (its ACL is changed here): the processor's user with ``ACL_RULES``."""
    server = RedisServer(
        rig_ca, acl_rules=REDIS_ACL_RULES, user=REDIS_USER, password="replaced-by-each-test-0123456789"
    ).start()
    yield server
    server.destroy()


def accept_only(server: RedisServer, *tokens: str) -> None:
    """Make the user's passwords exactly ``tokens`` (Redis compares AUTH's password byte for byte)."""
    admin = server.client()
    try:
        admin.execute_command("ACL", "SETUSER", REDIS_USER, "resetpass", *[f">{t}" for t in tokens])
    finally:
        admin.close()


def iam_settings(server: RedisServer) -> RedisSettings:
    return RedisSettings(
        server.host, server.port, REDIS_USER, auth=AUTH_IAM, cache_name=REDIS_CACHE_NAME, region=REGION
    )


def app_connections(server: RedisServer) -> list:
    admin = server.client(decode_responses=True)
    try:
        return [c["id"] for c in admin.client_list() if c["user"] == REDIS_USER]
    finally:
        admin.close()


@pytest.mark.integration
def test_the_signed_token_reaches_redis_and_a_tampered_one_is_refused(
    iam_redis, trust_rig_ca, signing_clock, function_credentials
):
    token = token_at(SIGNED_AT)
    accept_only(iam_redis, token)
    client = redis_store.connect(iam_settings(iam_redis))
    try:
        assert client.ping() is True
        assert len(app_connections(iam_redis)) == 1  # signed in as the processor's user, over TLS
    finally:
        client.close()

    signature_at = token.rindex("X-Amz-Signature=") + len("X-Amz-Signature=")
    flipped = token[:signature_at] + ("0" if token[signature_at] != "0" else "1") + token[signature_at + 1 :]
    for refused in (flipped, token_at(SIGNED_AT + dt.timedelta(seconds=1)), token.replace(ACCESS_KEY, "AKIDOTHER")):
        accept_only(iam_redis, refused)
        client = redis_store.connect(iam_settings(iam_redis))
        try:
            with pytest.raises(redis.exceptions.AuthenticationError):
                client.ping()
        finally:
            client.close()


@pytest.mark.integration
def test_every_new_connection_signs_a_fresh_token(iam_redis, trust_rig_ca, signing_clock, function_credentials):
    accept_only(iam_redis, token_at(SIGNED_AT))
    client = redis_store.connect(iam_settings(iam_redis))
    try:
        assert client.ping() is True
        admin = iam_redis.client()
        admin.execute_command("CLIENT", "KILL", "USER", REDIS_USER)  # the connection is lost
        admin.close()
        later = SIGNED_AT + dt.timedelta(minutes=20)  # the first token has expired
        signing_clock.now = later
        accept_only(iam_redis, token_at(later))
        assert client.ping() is True  # redis-py reconnected, with a token signed now
    finally:
        client.close()


@pytest.mark.integration
def test_the_processor_reconnects_with_a_fresh_token_before_the_12_hour_limit(
    iam_redis, settings: Settings, trust_rig_ca, signing_clock, function_credentials, pg_conn
):
    offset = {"seconds": 0.0}
    processor = BatchProcessor(
        replace(settings, redis=iam_settings(iam_redis)),
        clock=lambda: time.time() + offset["seconds"],
        emit=lambda line: None,
    )
    try:
        accept_only(iam_redis, token_at(SIGNED_AT))
        assert failed_ids(processor.process(kinesis_event([txn_doc(n) for n in range(20)]))) == []
        [first] = app_connections(iam_redis)

        offset["seconds"] = 11 * 3600 - 60  # still within the limit: the same connection
        assert failed_ids(processor.process(kinesis_event([txn_doc(n) for n in range(20, 30)], 20))) == []
        assert app_connections(iam_redis) == [first]

        offset["seconds"] = 11 * 3600
        signing_clock.now = SIGNED_AT + dt.timedelta(hours=11)
        accept_only(iam_redis, token_at(signing_clock.now))  # only a token signed now gets in
        assert failed_ids(processor.process(kinesis_event([txn_doc(n) for n in range(30, 40)], 30))) == []
        [second] = app_connections(iam_redis)
        assert second != first  # the old connection was closed, a new one opened with a new token
    finally:
        processor.close()
