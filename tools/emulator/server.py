"""The emulator itself: moto's ThreadedMotoServer in this process on 127.0.0.1 (``start_emulator``), with the gap
patches applied, and ``Emulator``, the handle tests and tools hold: its endpoint, the environment and boto3
clients that talk to it with the fixed test credentials (or an assumed role's), reset and stop.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from typing import Any

from tools.emulator.patches import INVOKE_WITHOUT_DOCKER, LAMBDA_WITHOUT_DOCKER, apply_gap_patches

REGION = "ap-northeast-1"
TEST_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


@dataclass
class Emulator:
    """A running emulator (``start_emulator``): moto's server thread, where it listens, the patches applied, and
    moto's process-wide config as found at start (given back by ``stop``)."""

    server: Any
    host: str
    port: int
    region: str = REGION
    patches: list[str] = field(default_factory=list)
    previous_config: dict[str, Any] | None = None

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def account_id(self) -> str:
        """The account the fixed test credentials act in (moto's default account)."""
        from moto.core import DEFAULT_ACCOUNT_ID

        return DEFAULT_ACCOUNT_ID

    def terraform_env(self, credentials: dict[str, str] | None = None) -> dict[str, str]:
        """Environment for terraform/boto3 talking to the emulator (the stack config carries the endpoints), with
        the fixed test credentials (the default account's root) or a session's (`session_credentials`)."""
        return {
            **(credentials or TEST_CREDENTIALS),
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_PROFILE": "",
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        }

    def session_credentials(self, role_arn: str, *, web_identity: bool = False) -> dict[str, str]:
        """Credentials of a session of `role_arn`, as `AWS_*` variables: requests made with them act in the role's
        account and as that role (moto keys each session's account by its access key), which is how stacks of
        several accounts are applied here. `web_identity`: through AssumeRoleWithWebIdentity, as a CI job does
        (moto checks neither the token nor the trust policy: tests/test_ci_identity.py evaluates those)."""
        sts = self.client("sts")
        name = role_arn.rsplit("/", 1)[-1][:64]
        if web_identity:
            answer = sts.assume_role_with_web_identity(
                RoleArn=role_arn, RoleSessionName=name, WebIdentityToken="emulator.github.token"
            )
        else:
            answer = sts.assume_role(RoleArn=role_arn, RoleSessionName=name)
        session = answer["Credentials"]
        return {
            "AWS_ACCESS_KEY_ID": session["AccessKeyId"],
            "AWS_SECRET_ACCESS_KEY": session["SecretAccessKey"],
            "AWS_SESSION_TOKEN": session["SessionToken"],
        }

    def client(self, service: str, region: str | None = None, credentials: dict[str, str] | None = None) -> Any:
        """A boto3 client of the emulator, with the test credentials or a session's (`session_credentials`)."""
        import boto3

        credentials = credentials or TEST_CREDENTIALS
        return boto3.client(
            service,
            region_name=region or self.region,
            endpoint_url=self.endpoint,
            aws_access_key_id=credentials["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=credentials["AWS_SECRET_ACCESS_KEY"],
            aws_session_token=credentials.get("AWS_SESSION_TOKEN") or None,
        )

    def reset(self) -> None:
        import urllib.request

        urllib.request.urlopen(
            urllib.request.Request(f"{self.endpoint}/moto-api/reset", method="POST"), timeout=30
        ).read()

    def stop(self) -> None:
        self.server.stop()
        if self.previous_config is not None:  # moto's config is process-wide: give it back as we found it
            from moto.moto_api import _internal as api

            api.moto_api_backend.set_config(self.previous_config)

    def set_config(self, config: dict[str, Any]) -> None:
        """POST /moto-api/config (moto's runtime switches, e.g. ``LAMBDA_WITHOUT_DOCKER``)."""
        import json
        import urllib.request

        request = urllib.request.Request(
            f"{self.endpoint}/moto-api/config",
            data=json.dumps(config).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        urllib.request.urlopen(request, timeout=30).read()


def start_emulator(port: int = 0, *, patches: bool = True) -> Emulator:
    """Start moto's ThreadedMotoServer on 127.0.0.1 (``port=0``: a free port) with the gap patches."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no per-request access log; 5xx tracebacks stay
    applied = apply_gap_patches() if patches else []
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    host, real_port = server.get_host_and_port()
    emulator = Emulator(server=server, host=host, port=real_port, patches=applied)
    if patches:
        from moto.moto_api import _internal as api

        emulator.previous_config = json.loads(json.dumps(api.moto_api_backend.get_config()))
        emulator.set_config(LAMBDA_WITHOUT_DOCKER)
        emulator.patches = sorted([*applied, INVOKE_WITHOUT_DOCKER.name])
    return emulator
