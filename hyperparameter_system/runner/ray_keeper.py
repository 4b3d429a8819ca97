"""The keeper: one attempt's child on a Ray node, tied to the life of the agent that started it.

Ray ends a dead driver's actors with SIGKILL, which a child in its own process
group never hears of. The keeper stands between the node agent and the child:
the agent starts it with a pipe on its stdin and writes the job as one JSON
line; the keeper starts the child in a new session (its pid is its process
group, as on the runner's own machine) and stops that group (SIGTERM, the
grace, SIGKILL) when the pipe closes (the agent died), when its node's raylet
is gone (the node left the cluster), when the timeout passes, or when the agent
writes ``TERM`` or ``KILL``. It leaves the agent's process tree as it starts:
a Ray worker whose raylet died SIGKILLs its own children on its way out, and a
keeper killed so could not stop the child. It prints ``{"pid": N}`` once the
child runs and ``{"exit": CODE, "timed_out": BOOL, "node_lost": BOOL}`` when the
child and its whole group are gone (``node_lost``: stopped because the raylet
died). Run as ``python -m hyperparameter_system.runner.ray_keeper``.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import IO, Any

from hyperparameter_system.runner._process import group_alive, process_started, signal_group, stop_orphans

WAKE_S = 0.5  # the longest the keeper waits without news: how late it sees the timeout, the grace, a lost raylet
POLL_S = 0.1  # the wait where the child's exit cannot be waited on (no pidfd): how late it sees the exit


@dataclass
class _Job:
    """What the agent hands over: the child's command, where it logs, how long it may run."""

    argv: list[str]
    env: dict[str, str]
    cwd: str
    log_path: str
    output_dir: str
    timeout_s: float
    grace_s: float
    raylet: tuple[int, str] | None = None  # the node's raylet: pid and start time (process_started)

    @classmethod
    def from_line(cls, line: str) -> _Job:
        data: dict[str, Any] = json.loads(line)
        raylet = data.get("raylet")
        return cls(argv=[str(a) for a in data["argv"]], env={str(k): str(v) for k, v in data["env"].items()},
                   cwd=str(data["cwd"]), log_path=str(data["log_path"]), output_dir=str(data["output_dir"]),
                   timeout_s=float(data["timeout_s"]), grace_s=float(data["grace_s"]),
                   raylet=(int(raylet[0]), str(raylet[1])) if raylet else None)

    def node_lost(self) -> bool:
        """The node's raylet is gone (or its pid is another process now): no agent will follow the child."""
        return self.raylet is not None and process_started(self.raylet[0]) != self.raylet[1]


class _Group:
    """The child's process group and the bookkeeping of stopping it."""

    def __init__(self, job: _Job, log: IO[bytes]) -> None:
        self.proc = subprocess.Popen(job.argv, env=job.env, cwd=job.cwd or None, stdin=subprocess.DEVNULL,
                                     stdout=log, stderr=subprocess.STDOUT, start_new_session=True, close_fds=True)
        self.grace_s = job.grace_s
        self.term_at: float | None = None

    def term(self) -> None:
        if self.term_at is None:
            self.term_at = time.monotonic()
            signal_group(self.proc.pid, signal.SIGTERM)
            signal_group(self.proc.pid, signal.SIGCONT)  # a frozen group handles SIGTERM only once it runs

    def kill(self) -> None:
        self.term_at = self.term_at or time.monotonic()
        signal_group(self.proc.pid, signal.SIGKILL)

    def past_grace(self) -> bool:
        return self.term_at is not None and time.monotonic() - self.term_at >= self.grace_s


def _say(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def _commands(stdin: IO[str] | None, exited: int | None) -> list[str] | None:
    """Lines the agent wrote, waiting until one comes, the child ends (``exited``: its pidfd) or
    :data:`WAKE_S` passes; None once the pipe closed (the agent is gone). ``stdin`` None: not read."""
    waits = [fd for fd in (stdin, exited) if fd is not None]
    ready, _, _ = select.select(waits, [], [], WAKE_S if exited is not None else POLL_S)
    if stdin is None or stdin not in ready:
        return []
    line = stdin.readline()
    return None if line == "" else [line.strip()]


def _exit_fd(pid: int) -> int | None:
    """A pidfd that turns readable when the child ends (Linux 5.3+); None where there is none."""
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):
        return None


def keep(job: _Job, stdin: IO[str]) -> tuple[int, bool, bool]:
    """Run the child until it ends; returns its exit code (negative: killed by that signal),
    whether the timeout stopped it and whether the node's raylet died (so it was stopped)."""
    os.makedirs(job.output_dir, exist_ok=True)
    with open(job.log_path, "ab") as log:
        group = _Group(job, log)
    _say({"pid": group.proc.pid})
    started, timed_out, orphaned, node_lost = time.monotonic(), False, False, False
    exited = _exit_fd(group.proc.pid)
    while group.proc.poll() is None:
        commands = _commands(None if orphaned else stdin, exited)
        if commands is None or (not orphaned and job.node_lost()):  # nobody will follow this child any more
            node_lost = node_lost or commands is not None
            orphaned = True
            group.term()
        elif "KILL" in commands:
            group.kill()
        elif "TERM" in commands:
            group.term()
        if job.timeout_s > 0 and not timed_out and time.monotonic() - started > job.timeout_s:
            timed_out = True
            group.term()
        if group.past_grace():
            group.kill()
    if exited is not None:
        os.close(exited)
    code = group.proc.returncode
    if group_alive(group.proc.pid):  # what the child left in its group
        signal_group(group.proc.pid, signal.SIGKILL)
    stop_orphans([job.output_dir], job.grace_s)  # and what left the group (W&B's service)
    return code, timed_out, node_lost


def _detach() -> None:
    """Leave the agent's process tree (the parent ends at once; the pipes stay with this process)."""
    if os.fork() > 0:
        os._exit(0)


def main() -> int:
    _detach()
    line = sys.stdin.readline()
    if not line.strip():  # a spare keeper whose agent ended before it had a job
        return 0
    job = _Job.from_line(line)
    # The agent stops the child through us, not us; a handler (unlike SIG_IGN) is not inherited by the child.
    signal.signal(signal.SIGTERM, lambda _signum, _frame: None)
    code, timed_out, node_lost = keep(job, sys.stdin)
    _say({"exit": code, "timed_out": timed_out, "node_lost": node_lost})
    return 0


if __name__ == "__main__":
    sys.exit(main())
