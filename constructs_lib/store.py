"""What the two private data stores (the Redis history and the PostgreSQL database) take alike."""

from __future__ import annotations

from dataclasses import dataclass

from .encryption import EnvironmentKeys
from .networking import Networking
from .validation import LOG_RETENTION_DAYS, require_choice, require_zones_for


@dataclass(frozen=True, kw_only=True)
class PrivateStoreProps:
    """Inputs every private store shares:

    keys: the environment's keys; each store says which of them protects what. Required.
    networking: the private subnets and VPC (and its zone count for Multi-AZ). Required.
    log_retention_days: retention of the store's exported logs (a CloudWatch Logs value). Default: 365.
    """

    keys: EnvironmentKeys
    networking: Networking
    log_retention_days: int = 365

    def check_store(self, standby_field: str, standby: bool) -> None:
        """The shared checks; `standby_field` names the store's own switch that needs a second zone."""
        require_choice("log_retention_days", self.log_retention_days, LOG_RETENTION_DAYS)
        require_zones_for(standby_field, standby, self.networking.availability_zone_count)
