"""Assemble every stack of the application from a validated configuration."""

from __future__ import annotations

from cdktf import App

from .bootstrap_stack import StateBootstrapStack
from .config import AppConfig
from .monitoring_stack import TransactionMonitoringStack


def build_app(config: AppConfig, outdir: str) -> App:
    """The cdktf app: the state bootstrap plus one stack per configured environment."""
    app = App(outdir=outdir)
    StateBootstrapStack(app, config)
    for env in config.environments:
        TransactionMonitoringStack(app, config, env)
    return app
