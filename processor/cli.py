"""What the command-line tools share: a direct connection given on the command line (password in PGPASSWORD)."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Mapping

from processor.config import RDS_CA_BUNDLE, DbSettings, SecretFetcher
from processor.contract import AUTH_PASSWORD


def add_connection_arguments(parser: argparse.ArgumentParser, *, user: str) -> None:
    """`--host` (connect directly, password from PGPASSWORD), `--port`, `--dbname`, `--user`, `--ca-file`."""
    parser.add_argument("--host", help="connect directly (password from PGPASSWORD)")
    parser.add_argument("--port", type=int, default=5432)
    parser.add_argument("--dbname", default="transactions")
    parser.add_argument("--user", default=user)
    parser.add_argument("--ca-file", default=None, help="CA bundle (default: the RDS bundle in processor/certs)")


def direct_db_settings(args: argparse.Namespace, parser: argparse.ArgumentParser) -> DbSettings:
    """The connection `add_connection_arguments` described; exits with a usage error without PGPASSWORD."""
    password = os.environ.get("PGPASSWORD")
    if not password:
        parser.error("--host needs the password in PGPASSWORD")
    return DbSettings(
        args.host,
        args.port,
        args.dbname,
        args.user,
        auth=AUTH_PASSWORD,
        password=password,
        ca_file=args.ca_file or RDS_CA_BUNDLE,
    )


def db_settings(
    args: argparse.Namespace,
    parser: argparse.ArgumentParser,
    from_secrets: Callable[[Mapping[str, str], SecretFetcher], DbSettings],
) -> DbSettings:
    """With `--host`, the connection given on the command line; without, what `from_secrets` reads from the
    environment and Secrets Manager, as the function does."""
    if args.host:
        return direct_db_settings(args, parser)
    from processor.aws_secrets import fetch_secret_string

    return from_secrets(os.environ, fetch_secret_string)
