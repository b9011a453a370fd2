"""Where the end-to-end run's time goes: the handler, the event source emulator, moto, PostgreSQL, Redis.

    python bench/e2e_split.py [--checkout DIR] [--runs 5] [--records 5000] [--batch-size 500] [--json]

The end-to-end figure of ``processor_bench.py`` (producer -> moto's Kinesis over HTTP -> event source
emulator -> handler -> TLS stores) is wall time on a shared machine, and most of it is not the processor:
this runs the same drain and splits it by CPU time, which moves far less with the machine's load.

* handler: the main thread inside ``processor.handler.handle``, per batch after the first (warm), and
  the first invocation alone (cold: secrets, TLS and SCRAM logins, the history rebuild);
* event source + SDK: the rest of the main thread while draining (boto3 calls, building the events);
* moto: every other thread of the process (the in-process HTTP emulator);
* PostgreSQL (postmaster and its backends) and Redis: the server processes, from ``/proc`` (Linux).

``--checkout`` measures another checkout's code (its ``tests/support/pipeline.py`` and ``processor``;
it needs the same ``running_pipeline``/``run`` functions, which the code before issue 17 has), with
whatever interpreter runs this script. So one script compares code and interpreter separately:
``<py3.11> bench/e2e_split.py --checkout BASELINE`` vs ``<py3.12> bench/e2e_split.py``, and the
crossings. Run them alternately; a single run says little on a shared machine.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

TICKS = os.sysconf("SC_CLK_TCK")


def _cpu_and_parent(pid: int) -> tuple[float, int]:
    """(user + system CPU seconds, parent pid) of a process, or (0, -1) once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0, -1
    return (int(fields[11]) + int(fields[12])) / TICKS, int(fields[1])


def server_cpu(postmaster_pid: int, redis_pid: int) -> tuple[float, float]:
    """CPU seconds so far of PostgreSQL (the postmaster and its live children) and of Redis."""
    postgres = 0.0
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            cpu, parent = _cpu_and_parent(int(entry))
            if postmaster_pid in (parent, int(entry)):
                postgres += cpu
    return postgres, _cpu_and_parent(redis_pid)[0]


class Split:
    """CPU seconds of one drain, by part; filled in by the wrappers ``measured`` installs."""

    def __init__(self) -> None:
        self.invocations = 0
        self.warm_records = 0
        self.cold = self.warm = self.main = self.others = self.postgres = self.redis = 0.0

    def row(self, records: int, seconds: float) -> dict[str, float]:
        warm_batches = max(self.invocations - 1, 1)
        return {
            "records/s": records / seconds,
            "handler warm ms/batch": self.warm * 1000 / warm_batches,
            "handler warm us/record": self.warm * 1e6 / max(self.warm_records, 1),
            "handler cold ms": self.cold * 1000,
            "event source + SDK ms": (self.main - self.warm - self.cold) * 1000,
            "moto ms": self.others * 1000,
            "PostgreSQL ms": self.postgres * 1000,
            "Redis ms": self.redis * 1000,
        }


@contextmanager
def measured(split: Split, servers: Callable[[], tuple[float, float]]) -> Iterator[None]:
    """Wrap the handler and the event source's drain for the duration of one run."""
    from processor import handler
    from tests.support import kinesis_esm

    real_handle, real_drain = handler.handle, kinesis_esm.EventSourceMapping.run_until_idle

    def handle(event: Any, context: Any = None) -> Any:
        before = time.thread_time()
        try:
            return real_handle(event, context)
        finally:
            spent = time.thread_time() - before
            if split.invocations == 0:
                split.cold = spent
            else:
                split.warm += spent
                split.warm_records += len(event["Records"])
            split.invocations += 1

    def drain(self: Any, *args: Any, **kwargs: Any) -> Any:
        thread, process, (postgres, redis) = time.thread_time(), time.process_time(), servers()
        try:
            return real_drain(self, *args, **kwargs)
        finally:
            split.main = time.thread_time() - thread
            split.others = time.process_time() - process - split.main
            postgres_after, redis_after = servers()
            split.postgres, split.redis = postgres_after - postgres, redis_after - redis

    handler.handle = handle  # pipeline.run looks it up on every call
    kinesis_esm.EventSourceMapping.run_until_idle = drain  # type: ignore[method-assign]
    try:
        yield
    finally:
        handler.handle = real_handle
        kinesis_esm.EventSourceMapping.run_until_idle = real_drain  # type: ignore[method-assign]


def one_run(records: int, batch_size: int) -> dict[str, float]:
    """The benchmark's end-to-end run (durable commits, 2 shards, seed 3), split."""
    from tests.support.pipeline import run, running_pipeline

    split = Split()
    with running_pipeline(shards=2, durable=True) as pipeline:
        datadir = Path(pipeline.pg._datadir)  # the rig's data directory: postmaster.pid names the server
        postmaster = int((datadir / "postmaster.pid").read_text().split()[0])
        redis_pid = pipeline.redis._proc.pid
        with measured(split, lambda: server_cpu(postmaster, redis_pid)):
            result = run(pipeline, records, seed=3, batch_size=batch_size)
    return split.row(result["stats"].records_delivered, result["seconds"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkout", type=Path, default=Path(__file__).resolve().parents[1])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--records", type=int, default=5000)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--json", action="store_true", help="one JSON object per run, no summary")
    args = parser.parse_args()
    sys.path.insert(0, str(args.checkout.resolve()))
    import processor.handler  # noqa: F401 (sets the processor logger's level on import; quieted below)

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    logging.getLogger("processor").setLevel(logging.ERROR)
    label = f"{args.checkout.resolve().name} on Python {sys.version.split()[0]}"
    rows = []
    for _ in range(args.runs):
        rows.append(one_run(args.records, args.batch_size))
        if args.json:
            print(json.dumps({"checkout": label, **rows[-1]}), flush=True)
    if not args.json:
        print(f"{label}, {args.runs} end-to-end runs of {args.records} records; CPU time per drain, medians:")
        for name in rows[0]:
            values = [row[name] for row in rows]
            print(f"  {name:24} {statistics.median(values):10,.1f}   (runs: {', '.join(f'{v:,.1f}' for v in values)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
