"""Child process lifecycle: start in its own process group, stop the whole group.

Each child gets ``start_new_session=True``, so its pid is also its process-group
id: stopping a cell signals the group, which reaches the data-loader workers and
any shell wrapper's grandchildren too. Stopping is SIGTERM (the trainer writes
its result with status ``stopped``), a grace period, then SIGKILL.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path
from typing import IO

from hyperparameter_system import child_contract as cc
from hyperparameter_system.runner.child import ChildSpec


class ChildProcess:
    """A running attempt: the Popen, its log file and the stop bookkeeping."""

    def __init__(self, spec: ChildSpec) -> None:
        spec.output_dir.mkdir(parents=True, exist_ok=True)
        self.spec = spec
        self.started = time.monotonic()
        self._log: IO[bytes] = open(spec.log_path, "ab")
        try:
            self.popen = subprocess.Popen(spec.argv, env=spec.env, cwd=spec.cwd or None, stdin=subprocess.DEVNULL,
                                          stdout=self._log, stderr=subprocess.STDOUT,
                                          start_new_session=True, close_fds=True)
        except OSError:
            self._log.close()
            raise
        self.pid = self.popen.pid
        self.term_sent_at: float | None = None
        self.killed = False

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def poll(self) -> int | None:
        """The exit code once the child ended (negative: killed by that signal)."""
        code = self.popen.poll()
        if code is not None and not self._log.closed:
            self._log.close()
        return code

    def terminate(self) -> None:
        """Ask the whole group to stop (SIGTERM); later :meth:`enforce_grace` kills."""
        if self.term_sent_at is None:
            self.term_sent_at = time.monotonic()
            signal_group(self.pid, signal.SIGTERM)

    def enforce_grace(self, grace_s: float) -> None:
        """SIGKILL the group once the grace after SIGTERM has passed."""
        if self.term_sent_at is not None and not self.killed \
                and time.monotonic() - self.term_sent_at >= grace_s:
            self.killed = True
            signal_group(self.pid, signal.SIGKILL)

    def reap_group(self, wait_s: float = 2.0) -> None:
        """After the leader exited, make sure no grandchild of its group lingers.

        Waits (briefly) until the kernel has dropped the whole group, so that once
        the runner reports a cell ended, nothing of it is left, not even a zombie.
        """
        if not signal_group(self.pid, signal.SIGKILL):
            return
        deadline = time.monotonic() + wait_s
        while group_alive(self.pid) and time.monotonic() < deadline:
            time.sleep(0.01)


def signal_group(pgid: int, signum: int) -> bool:
    """Signal a process group; False when it no longer exists."""
    try:
        os.killpg(pgid, signum)
        return True
    except (ProcessLookupError, PermissionError):
        return False


def group_alive(pgid: int) -> bool:
    """True while any process of the group exists."""
    return signal_group(pgid, 0)


def stop_group(pgid: int, grace_s: float) -> None:
    """SIGTERM, wait up to ``grace_s``, SIGKILL: for orphans this runner did not start."""
    if not signal_group(pgid, signal.SIGTERM):
        return
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        if not _group_has_live_member(pgid):
            return
        time.sleep(0.05)
    signal_group(pgid, signal.SIGKILL)


def _group_has_live_member(pgid: int) -> bool:
    """Like :func:`group_alive` but ignores zombies nobody reaped yet (orphans' parents)."""
    proc = Path("/proc")
    if not proc.is_dir():
        return group_alive(pgid)
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[-1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


def find_orphans(output_dir: str) -> list[int]:
    """Pids of live processes that are children of an attempt writing to ``output_dir``.

    A runner killed with SIGKILL leaves its children running; the resuming runner
    finds them by the ``HPS_OUTPUT_DIR`` in their environment (Linux /proc), so it
    never runs a cell twice at once.
    """
    proc = Path("/proc")
    if not proc.is_dir():
        return []
    needle = f"{cc.ENV_OUTPUT_DIR}={output_dir}".encode()
    found = []
    for entry in proc.iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if needle in (entry / "environ").read_bytes().split(b"\0"):
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def stop_orphans(output_dir: str, grace_s: float) -> int:
    """Stop every process group still working for an abandoned attempt; returns how many."""
    groups = set()
    for pid in find_orphans(output_dir):
        try:
            groups.add(os.getpgid(pid))
        except ProcessLookupError:
            continue
    groups.discard(os.getpgrp())  # never this runner's own group
    for pgid in groups:
        stop_group(pgid, grace_s)
    return len(groups)
