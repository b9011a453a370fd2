"""Every resource name an environment derives from `project.name`, made in one place and checked at load.

A construct checks the name it is given with its own rule (`NAME_RULE` on its props). The configuration checks
the names it will give with the same rules when it loads, so a project name that makes a name some construct
refuses stops there, as `project.name`, before any construct exists; the wiring then passes names through.
"""

from __future__ import annotations

from dataclasses import dataclass

from constructs_lib.alarms import AlertTopicProps, SystemAlarmsProps
from constructs_lib.cache import TransactionCacheProps
from constructs_lib.database import TransactionDatabaseProps
from constructs_lib.maintenance import DataMaintenanceProps
from constructs_lib.networking import NetworkingProps
from constructs_lib.processor import TransactionProcessorProps
from constructs_lib.secrets import SECRET_NAME_RULE
from constructs_lib.stream import TransactionStreamProps
from constructs_lib.validation import NameRule
from processor.contract import ConfigError


@dataclass(frozen=True)
class ResourceNames:
    """The names of one environment's constructs: `<project>-<environment>` and what each store adds to it."""

    project: str
    environment: str

    @property
    def prefix(self) -> str:
        """`<project>-<environment>`: the prefix of every resource name of the environment."""
        return f"{self.project}-{self.environment}"

    @property
    def stream(self) -> str:
        return f"{self.prefix}-transactions"

    @property
    def cache(self) -> str:
        return f"{self.prefix}-history"

    @property
    def database(self) -> str:
        return f"{self.prefix}-transactions"

    @property
    def connection_secret(self) -> str:
        return f"{self.project}/{self.environment}/db-connection"

    def _rules(self) -> tuple[tuple[str, str, NameRule], ...]:
        """(what, name, the rule of the construct that takes it) for every derived name."""
        return (
            ("network", self.prefix, NetworkingProps.NAME_RULE),
            ("stream", self.stream, TransactionStreamProps.NAME_RULE),
            ("cache", self.cache, TransactionCacheProps.NAME_RULE),
            ("database", self.database, TransactionDatabaseProps.NAME_RULE),
            ("connection secret", self.connection_secret, SECRET_NAME_RULE),
            ("processor", self.prefix, TransactionProcessorProps.NAME_RULE),
            ("maintenance job", self.prefix, DataMaintenanceProps.NAME_RULE),
            ("alert topic", self.prefix, AlertTopicProps.NAME_RULE),
            ("alarms", self.prefix, SystemAlarmsProps.NAME_RULE),
        )

    def check(self) -> None:
        """Refuse, as `project.name`, a project name that makes a name its construct would refuse."""
        for what, name, rule in self._rules():
            try:
                rule.check("name", name)
            except ConfigError as error:
                raise ConfigError(
                    "project.name",
                    self.project,
                    f"a name for which {self.environment}'s {what} name ({name!r}) is {error.expectation}",
                ) from None
