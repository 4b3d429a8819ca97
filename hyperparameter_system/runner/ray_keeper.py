"""The keeper: one attempt's child on a Ray node, tied to the life of the agent that started it.

Ray ends a dead driver's actors with SIGKILL, which a child in its own process
group never hears of. The keeper stands between the node agent and the child:
the agent starts it with a pipe on its stdin and writes the job as one JSON
line; the keeper starts the child in a new session (its pid is its process
group, as on the runner's own machine) and stops that group (SIGTERM, the
grace, SIGKILL) when the pipe closes (the agent died), when the timeout passes,
or when the agent writes ``TERM`` or ``KILL``. It prints ``{"pid": N}`` once the
child runs and ``{"exit": CODE, "timed_out": BOOL}`` when the child and its
whole group are gone. Run as ``python -m hyperparameter_system.runner.ray_keeper``.
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

from hyperparameter_system.runner._process import group_alive, signal_group, stop_orphans

POLL_S = 0.1


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

    @classmethod
    def from_line(cls, line: str) -> _Job:
        data: dict[str, Any] = json.loads(line)
        return cls(argv=[str(a) for a in data["argv"]], env={str(k): str(v) for k, v in data["env"].items()},
                   cwd=str(data["cwd"]), log_path=str(data["log_path"]), output_dir=str(data["output_dir"]),
                   timeout_s=float(data["timeout_s"]), grace_s=float(data["grace_s"]))


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


def _commands(stdin: IO[str]) -> list[str] | None:
    """Lines the agent wrote since the last call; None once the pipe closed (the agent is gone)."""
    ready, _, _ = select.select([stdin], [], [], POLL_S)
    if not ready:
        return []
    line = stdin.readline()
    return None if line == "" else [line.strip()]


def keep(job: _Job, stdin: IO[str]) -> tuple[int, bool]:
    """Run the child until it ends; returns its exit code (negative: killed by that signal) and
    whether the timeout stopped it."""
    os.makedirs(job.output_dir, exist_ok=True)
    with open(job.log_path, "ab") as log:
        group = _Group(job, log)
    _say({"pid": group.proc.pid})
    started, timed_out, orphaned = time.monotonic(), False, False
    while group.proc.poll() is None:
        commands = [] if orphaned else _commands(stdin)
        if orphaned:
            time.sleep(POLL_S)
        if commands is None:  # the agent died (its driver is gone): nobody will follow this child
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
    code = group.proc.returncode
    if group_alive(group.proc.pid):  # what the child left in its group
        signal_group(group.proc.pid, signal.SIGKILL)
    stop_orphans([job.output_dir], job.grace_s)  # and what left the group (W&B's service)
    return code, timed_out


def main() -> int:
    line = sys.stdin.readline()
    if not line.strip():  # a spare keeper whose agent ended before it had a job
        return 0
    job = _Job.from_line(line)
    # The agent stops the child through us, not us; a handler (unlike SIG_IGN) is not inherited by the child.
    signal.signal(signal.SIGTERM, lambda _signum, _frame: None)
    code, timed_out = keep(job, sys.stdin)
    _say({"exit": code, "timed_out": timed_out})
    return 0


if __name__ == "__main__":
    sys.exit(main())
