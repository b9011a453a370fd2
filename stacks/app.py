"""Assemble every stack of the application from a validated configuration."""

from __future__ import annotations

import tempfile
from collections.abc import Collection

from cdktf import App

from constructs_lib.bundled_function import LambdaBundle

from .bootstrap_stack import StateBootstrapStack
from .ci_stack import CiIdentityStack
from .config import AppConfig
from .monitoring_stack import TransactionMonitoringStack

BOOTSTRAP = "bootstrap"


def stack_names(config: AppConfig) -> tuple[str, ...]:
    """Every stack of the app, in deployment order: bootstrap, `ci-<account>` per account, the environments."""
    return config.stack_names()


def build_app(config: AppConfig, outdir: str, bundle: LambdaBundle, only: Collection[str] = ()) -> App:
    """The cdktf app: the state bootstrap, the CI identities of each account and one stack per configured
    environment (`only`: just those)."""
    app = App(outdir=outdir)
    if not only or BOOTSTRAP in only:
        StateBootstrapStack(app, config)
    for account in config.accounts():
        if not only or config.ci_stack_name(account) in only:
            CiIdentityStack(app, config, account)
    for env in config.environments:
        if not only or env.name in only:
            TransactionMonitoringStack(app, config, env, bundle)
    return app


def synthesize(config: AppConfig, outdir: str, only: Collection[str] = ()) -> None:
    """Build the processor's deployment zip once, then synthesize every stack (or `only` those) into `outdir`."""
    from constructs_lib.lambda_bundle import build_bundle
    from processor.migrate import migrations_checksum

    with tempfile.TemporaryDirectory(prefix="processor-bundle-") as scratch:
        info = build_bundle(scratch)
        bundle = LambdaBundle(
            path=str(info.path), sha256_base64=info.sha256_base64, migrations_checksum=migrations_checksum()
        )
        build_app(config, outdir, bundle, only).synth()
