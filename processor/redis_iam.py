"""ElastiCache IAM authentication: a short-lived SigV4 token instead of a stored Redis password.

The token is AWS's documented one (ElastiCache, "Authenticating with IAM", "Connecting"): the request
``GET http://<replication group id>/?Action=connect&User=<user id>``, presigned with Signature Version 4
for the service ``elasticache`` in the cache's region, valid 900 seconds; the presigned URL without its
``http://`` is the password of ``AUTH <user id> <token>``. It is signed locally with the function's role
credentials (no call to AWS), and ElastiCache checks it against the role's ``elasticache:Connect`` on that
replication group and that user. ElastiCache requires the user id and user name of an IAM user to be equal.

A token only opens a connection: redis-py asks the credential provider at every connect, so each new
connection gets a fresh token, and a connection outlives its token. ElastiCache closes IAM-authenticated
connections after 12 hours; the processor reconnects before that (``redis_store.MAX_CONNECTION_SECONDS``).
"""

from __future__ import annotations

from typing import Any

import redis

SERVICE = "elasticache"
TOKEN_SECONDS = 900


def auth_token(cache_name: str, user_id: str, region: str, credentials: Any) -> str:
    """The IAM token for ``user_id`` on replication group ``cache_name``; ``credentials`` has ``access_key``,
    ``secret_key`` and ``token`` (botocore's frozen credentials). The signing time is now."""
    from botocore.auth import SigV4QueryAuth  # botocore ships with the Lambda runtime
    from botocore.awsrequest import AWSRequest

    request = AWSRequest(method="GET", url=f"http://{cache_name}/", params={"Action": "connect", "User": user_id})
    SigV4QueryAuth(credentials, SERVICE, region, expires=TOKEN_SECONDS).add_auth(request)
    url: str = request.url
    return url.removeprefix("http://")


class IAMCredentialProvider(redis.CredentialProvider):
    """Hands redis-py the user id and a freshly signed token at every connect.

    ``credentials`` (for tests) is a botocore credentials object; by default the function's own, resolved
    once by botocore (Lambda's environment variables) and refreshed by botocore when they can expire."""

    def __init__(self, user_id: str, cache_name: str, region: str, credentials: Any | None = None) -> None:
        self.user_id = user_id
        self.cache_name = cache_name
        self.region = region
        self._credentials = credentials

    def _current_credentials(self) -> Any:
        if self._credentials is None:
            import botocore.session

            self._credentials = botocore.session.get_session().get_credentials()
            if self._credentials is None:
                raise redis.exceptions.AuthenticationError("no AWS credentials to sign an ElastiCache IAM token with")
        return self._credentials.get_frozen_credentials()

    def get_credentials(self) -> tuple[str, str]:
        return self.user_id, auth_token(self.cache_name, self.user_id, self.region, self._current_credentials())

    def __repr__(self) -> str:
        return (
            f"IAMCredentialProvider(user_id={self.user_id!r}, cache_name={self.cache_name!r}, region={self.region!r})"
        )
