"""Run the cdktf CLI so that Ctrl-C stops Terraform gracefully instead of killing it mid-apply.

    python -m tools.graceful [--stack-dir DIR] npx --no-install cdktf deploy dev ...   (make deploy|destroy|bootstrap)

Why: cdktf 0.20 runs ``terraform apply|destroy`` in a pseudo-terminal of its own (node-pty: a new session),
so a terminal's Ctrl-C never reaches Terraform. It reaches cdktf, whose handler aborts: it types Ctrl-C into
that pseudo-terminal and exits at once without waiting, and closing the pseudo-terminal hangs Terraform up
(SIGHUP) while it is still stopping. The state is not written, the S3 lock file stays, and resources whose
creation was in flight exist without being in state.

This tool starts the command in a new session, so the terminal's SIGINT reaches only this process (and make,
which waits for its children). On SIGINT, SIGTERM or SIGHUP it sends one SIGINT to every Terraform process under the
command, and to any that starts later: Terraform finishes or cancels what is in flight, writes the state,
releases the lock and exits 1; cdktf exits after it. A second interrupt is forwarded again, which is
Terraform's immediate stop (state and lock are then at risk: the tool says so); if no Terraform runs at that
moment, the command itself is stopped. The tool waits for every Terraform process it saw. After a stopped
``cdktf deploy`` with ``--stack-dir``, it adopts what the stop left outside the state (``tools.adopt``), then
prints one line and ends by the interrupting signal, so make and the shell see an interrupt.

Terraform processes are found by name (``TERRAFORM_BINARY_NAME``, which cdktf itself reads, else
``terraform``) among the command's descendants: ``/proc`` on Linux, ``ps`` elsewhere. Standard library only.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tools import adopt

POLL_SECONDS = 0.1
#: SIGHUP too: a closed terminal or a dropped ssh session must not leave Terraform to die with cdktf.
INTERRUPTS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

#: (pid, parent pid, command name) of every process on the machine.
ProcessTable = list[tuple[int, int, str]]


def _proc_table() -> ProcessTable:
    table = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # gone in the meantime
            continue
        # "<pid> (<comm>) <state> <ppid> ...": comm may hold spaces and parentheses, so split at the last ")"
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        state, ppid = stat[stat.rindex(")") + 2 :].split()[:2]
        if state not in "ZX":  # a zombie has ended already
            table.append((int(entry.name), int(ppid), name))
    return table


def _ps_table() -> ProcessTable:
    listing = subprocess.run(
        ["ps", "-A", "-o", "pid=", "-o", "ppid=", "-o", "stat=", "-o", "comm="],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    table = []
    for line in listing.splitlines():
        pid, ppid, state, name = line.split(None, 3)
        if not state.startswith("Z"):
            table.append((int(pid), int(ppid), os.path.basename(name.strip())))
    return table


def process_table() -> ProcessTable:
    return _proc_table() if Path("/proc/self/stat").exists() else _ps_table()


def terraform_name(environ: dict[str, str] | None = None) -> str:
    """The command name Terraform runs under: cdktf starts ``$TERRAFORM_BINARY_NAME``, else ``terraform``.
    (Linux keeps 15 characters of a command name.)"""
    env = os.environ if environ is None else environ
    return os.path.basename(env.get("TERRAFORM_BINARY_NAME") or "terraform")[:15]


def terraform_under(root: int, table: ProcessTable, name: str) -> list[int]:
    """``root`` and its descendants that are Terraform, outermost only (a Terraform's own children, the
    provider plugins, go with it)."""
    children: dict[int, list[int]] = {}
    names = {}
    for pid, ppid, comm in table:
        children.setdefault(ppid, []).append(pid)
        names[pid] = comm
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        if names.get(pid) == name:
            found.append(pid)
        else:
            todo.extend(children.get(pid, []))
    return sorted(found)


def _alive(pid: int) -> bool:
    """Whether ``pid`` still runs (a zombie, already dead but not yet reaped, does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat[stat.rindex(")") + 2] not in "ZX"


def _say(message: str) -> None:
    try:
        print(f"\n{message}", file=sys.stderr, flush=True)
    except OSError:  # the terminal is gone (SIGHUP): carry on stopping Terraform all the same
        pass


@dataclass
class Outcome:
    """What happened to one supervised command."""

    returncode: int
    interrupts: int = 0  # interrupts received while it ran
    signalled: dict[int, int] = field(default_factory=dict)  # Terraform pid -> SIGINTs sent to it

    @property
    def stopped_terraform(self) -> bool:
        return bool(self.signalled)

    @property
    def hard_stop(self) -> bool:
        return any(count > 1 for count in self.signalled.values())


class Graceful:
    """Receives SIGINT, SIGTERM and SIGHUP for as long as it is entered, and hands them to the Terraform processes of the
    commands it supervises (see the module docstring)."""

    def __init__(
        self, label: str, *, table: Callable[[], ProcessTable] = process_table, name: str | None = None
    ) -> None:
        self.label = label
        self.table = table
        self.name = name or terraform_name()
        self.signals: list[int] = []
        self._previous: dict[int, object] = {}

    def __enter__(self) -> Graceful:
        self._previous = {s: signal.signal(s, self._receive) for s in INTERRUPTS}
        return self

    def __exit__(self, *_exc: object) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)  # type: ignore[arg-type]

    def _receive(self, signum: int, _frame: object) -> None:
        self.signals.append(signum)

    def supervise(self, command: Sequence[str], **popen: object) -> Outcome:
        """Run ``command`` in a new session until it and every Terraform seen under it have ended."""
        first = len(self.signals)
        handled = first
        outcome = Outcome(returncode=0)
        seen: set[int] = set()
        child = subprocess.Popen(list(command), start_new_session=True, **popen)  # type: ignore[call-overload]
        while True:
            running_child = child.poll() is None
            # cdktf may end before a Terraform it started (now reparented): keep waiting for those.
            running = (
                terraform_under(child.pid, self.table(), self.name)
                if running_child
                else [pid for pid in seen if _alive(pid)]
            )
            seen.update(running)
            while handled < len(self.signals):
                handled += 1
                self._act(handled - first, running, running_child, child.pid, outcome)
            if handled > first:  # interrupted: every Terraform gets the first interrupt, also one started later
                for pid in running:
                    if outcome.signalled.get(pid, 0) == 0:
                        self._interrupt(pid, outcome)
            if not running_child and not running:
                break
            time.sleep(POLL_SECONDS)
        outcome.returncode = child.returncode
        outcome.interrupts = len(self.signals) - first
        return outcome

    def _act(self, nth: int, running: list[int], running_child: bool, leader: int, outcome: Outcome) -> None:
        if nth == 1:
            now = (
                "Terraform is stopping gracefully" if running else "Terraform will stop gracefully as soon as it starts"
            )
            _say(
                f"{self.label}: interrupt: {now} (it finishes or cancels what is in flight, writes the state, "
                "releases the lock). Ctrl-C again stops it at once, with the state at risk."
            )
        elif running:
            _say(
                f"{self.label}: second interrupt: Terraform stops at once; what is in flight may be missing from "
                'the state and the lock may stay (docs/deploying.md, "A stale lock").'
            )
            for pid in running:
                self._interrupt(pid, outcome)
        elif running_child:
            _say(f"{self.label}: second interrupt: no Terraform is running; stopping the command.")
            try:
                os.killpg(leader, signal.SIGTERM)
            except ProcessLookupError:
                pass

    @staticmethod
    def _interrupt(pid: int, outcome: Outcome) -> None:
        try:
            os.kill(pid, signal.SIGINT)
        except ProcessLookupError:
            return
        outcome.signalled[pid] = outcome.signalled.get(pid, 0) + 1

    def terraform(self, args: list[str], env: dict[str, str]) -> tuple[int, str]:
        """``terraform <args>``, captured and supervised like the command (the runner ``tools.adopt`` takes)."""
        with tempfile.TemporaryFile("w+") as output:
            done = self.supervise(
                ["terraform", *args],
                stdout=output,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**os.environ, **env},
            )
            output.seek(0)
            return done.returncode, output.read()


def label_of(command: Sequence[str]) -> str:
    """``cdktf deploy dev`` from ``npx --no-install cdktf deploy dev --skip-synth ...``."""
    words = [os.path.basename(w) for w in command if not w.startswith("-")]
    start = next((i for i, w in enumerate(words) if w == "cdktf"), 0)
    return " ".join(words[start : start + 3])


def summary(label: str, outcome: Outcome, adopted: Sequence[str] = (), problems: Sequence[str] = ()) -> str:
    """The one line printed after an interrupt."""
    if not outcome.stopped_terraform:
        return f"{label}: interrupted before Terraform started: nothing was applied, no lock is held."
    if outcome.hard_stop:
        return (
            f"{label}: interrupted twice: Terraform was stopped at once; check the state and the lock before "
            'going on (docs/deploying.md, "A stale lock").'
        )
    line = f"{label}: interrupted: Terraform stopped gracefully (state written, lock released)"
    if adopted:
        line += f"; adopted {', '.join(adopted)}, whose creation the stop cut off"
    if problems:
        line += f"; {'; '.join(problems)}"
    return line + "; run the same command again to continue."


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.graceful", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--stack-dir",
        type=Path,
        help="the stack's directory: after a stopped deploy, adopt what the stop left outside the state there",
    )
    parser.add_argument("command", nargs=argparse.REMAINDER, help="the command, e.g. npx --no-install cdktf deploy dev")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("a command to run is required")
    label = label_of(command)
    with Graceful(label) as graceful:
        outcome = graceful.supervise(command)
        if not graceful.signals:
            return outcome.returncode
        adopted: list[str] = []
        problems: list[str] = []
        if args.stack_dir and " deploy " in f" {label} " and outcome.stopped_terraform and not outcome.hard_stop:
            adopted, problems = adopt.adopt(args.stack_dir, graceful.terraform)
        _say(summary(label, outcome, adopted, problems))
        signum = graceful.signals[0]
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)  # end as interrupted, so make and the shell stop too
    return 128 + signum  # not reached


if __name__ == "__main__":
    raise SystemExit(main())
