"""`[environments.<name>.load]`: the sustained load an environment is sized for.

A configuration section of its own (not in stacks/capacity.py) so the configuration layer owns it and the
capacity model reads it: configuration -> capacity, never back.
"""

from __future__ import annotations

from dataclasses import dataclass

from constructs_lib.validation import require_int, require_range


@dataclass(frozen=True, kw_only=True)
class LoadSettings:
    """The sustained load an environment is sized for (`[environments.<name>.load]`).

    The write peak and the record size belong to `[stream]` (peak_records_per_second, average_record_bytes);
    this is the day-long average, which fills the Redis history and the database.
    average_records_per_second: transactions per second averaged over a day. Default 1, which the construct
      defaults (cache.t4g.small, 20-200 GiB) hold; set each environment's real load (prod ships 17: about
      1,000 a minute, the launch load).
    headroom: growth the 24-hour history must hold on top of the average (1.0 = twice it). Default 1.0.
    """

    average_records_per_second: int = 1
    headroom: float = 1.0

    def __post_init__(self) -> None:
        require_int("average_records_per_second", self.average_records_per_second, 1, 10_000_000)
        require_range("headroom", self.headroom, 0, 10)
