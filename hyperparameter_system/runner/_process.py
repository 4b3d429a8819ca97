"""Child process lifecycle: start in its own process group, stop the whole group.

Each child gets ``start_new_session=True``, so its pid is also its process-group
id: stopping a cell signals the group, which reaches the data-loader workers and
any shell wrapper's grandchildren too. Stopping is SIGTERM (the trainer writes
its result with status ``stopped``), a grace period, then SIGKILL.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import IO, TYPE_CHECKING, Collection, Iterable, Iterator

from hyperparameter_system import child_contract as cc

CHILD_LOG = "stdout.log"  # the child's stdout + stderr, captured by the runner (here, where a Ray node's agent
# finds it without importing the runner's heavier modules)

if TYPE_CHECKING:  # a Ray node's keeper imports this module: it stays light
    from hyperparameter_system.runner._child import ChildSpec
    from hyperparameter_system.runner.warm import ForkServer


class ChildProcess:
    """A running attempt: its process (a Popen, or a child of the fork server), its log, the stop bookkeeping.

    A built-in trainer cell is forked by ``forks`` when it is usable (a warm start);
    otherwise, and for a model's own command, it is started cold with Popen.
    Either way the runner signals the child's process group itself.
    A Ray node's child (``cluster.RayChild``) offers the same face.
    """

    node = socket.gethostname()  # where the child runs
    timed_out = False  # only a Ray node stops a child at the timeout itself
    lost = False  # only a Ray child can be lost with its node or keeper

    def __init__(self, spec: ChildSpec, forks: ForkServer | None = None) -> None:
        spec.output_dir.mkdir(parents=True, exist_ok=True)
        self.spec = spec
        self.popen: subprocess.Popen[bytes] | None = None
        self._forks = forks
        warm = None
        if forks is not None and spec.trainer_args is not None:
            warm = forks.launch(spec.trainer_args, spec.env, spec.cwd or os.getcwd(), spec.log_path)
        self.pid = warm if warm is not None else self._popen(spec)
        self.warm = warm is not None
        self.started = time.monotonic()  # after the launch: a fork server's own start-up is not the cell's time
        self.term_sent_at: float | None = None
        self.killed = False

    def _popen(self, spec: ChildSpec) -> int:
        self._log: IO[bytes] = open(spec.log_path, "ab")
        try:
            self.popen = subprocess.Popen(spec.argv, env=spec.env, cwd=spec.cwd or None, stdin=subprocess.DEVNULL,
                                          stdout=self._log, stderr=subprocess.STDOUT,
                                          start_new_session=True, close_fds=True)
        except OSError:
            self._log.close()
            raise
        return self.popen.pid

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def poll(self) -> int | None:
        """The exit code once the child ended (negative: killed by that signal)."""
        if self.popen is None:
            assert self._forks is not None
            return self._forks.exit_code(self.pid)
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

    def local_path(self, path: str | None) -> str | None:
        """A path the child wrote, as the runner sees it: the same, on this machine."""
        return path

    def stop_leftovers(self, grace_s: float) -> None:
        """Stop what the ended child started outside its group (``wandb-core``), within ``grace_s``.

        The child's own group is :meth:`reap_group`'s; this finds the rest by
        their environment, so nothing a cell started outlives it by more than the grace.
        """
        found = find_attempt_processes([str(self.spec.output_dir)]).get(str(self.spec.output_dir), {})
        stop_groups(set(found.values()) - {self.pid}, grace_s)


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


def stop_groups(pgids: Iterable[int], grace_s: float) -> None:
    """SIGTERM every group at once, wait up to one ``grace_s`` for all, SIGKILL the rest.

    For processes this runner did not start as children (orphans of a dead runner,
    a cell's helpers that left its group): all of them share one grace period, so
    stopping ten costs no more than stopping one.
    """
    groups = {pgid for pgid in pgids if pgid != os.getpgrp() and signal_group(pgid, signal.SIGTERM)}
    for pgid in groups:  # a frozen group (SIGSTOP, Ctrl-Z) handles SIGTERM only once it runs again
        signal_group(pgid, signal.SIGCONT)
    deadline = time.monotonic() + grace_s
    while groups and time.monotonic() < deadline:
        time.sleep(0.05)
        groups &= _live_groups()
    for pgid in groups:
        signal_group(pgid, signal.SIGKILL)


def _proc_entries() -> Iterator[Path]:
    """``/proc/<pid>`` of every other process (nothing where there is no /proc)."""
    proc = Path("/proc")
    if proc.is_dir():
        yield from (e for e in proc.iterdir() if e.name.isdigit() and int(e.name) != os.getpid())


def _stat_fields(entry: Path) -> list[str] | None:
    """``/proc/<pid>/stat`` after the command name: state, ppid, pgrp, ...; None when gone."""
    try:
        return (entry / "stat").read_text().rsplit(")", 1)[-1].split()
    except OSError:
        return None


def process_running(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie (a child nobody waits for ends as one)."""
    fields = _stat_fields(Path(f"/proc/{pid}"))
    return bool(fields) and fields[0] != "Z"


def process_started(pid: int) -> str | None:
    """When ``pid`` started (clock ticks since boot, from /proc): with the pid it names one process,
    so a pid reused later does not pass for it; None when it is gone or a zombie."""
    fields = _stat_fields(Path(f"/proc/{pid}"))
    return fields[19] if fields and len(fields) > 19 and fields[0] != "Z" else None


def _live_groups() -> set[int]:
    """Process groups with at least one member that is not a zombie (orphans' parents may not reap)."""
    groups = set()
    for entry in _proc_entries():
        fields = _stat_fields(entry)
        if fields and fields[0] != "Z":
            groups.add(int(fields[2]))
    return groups


def find_attempt_processes(output_dirs: Collection[str]) -> dict[str, dict[int, int]]:
    """Live processes working for attempts: output dir -> {pid: process group}.

    A process is tied to an attempt by the ``HPS_OUTPUT_DIR`` in its environment
    (Linux /proc), which every descendant inherits, also one that left the
    child's process group or session (W&B's ``wandb-core`` starts its own).
    """
    wanted = {f"{cc.ENV_OUTPUT_DIR}={d}".encode(): d for d in output_dirs}
    found: dict[str, dict[int, int]] = {}
    for entry in _proc_entries() if wanted else ():
        try:
            environ = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        hit = next((wanted[v] for v in environ if v in wanted), None)
        fields = _stat_fields(entry) if hit else None
        if hit and fields and fields[0] != "Z":
            found.setdefault(hit, {})[int(entry.name)] = int(fields[2])
    return found


def find_orphans(output_dir: str) -> list[int]:
    """Pids of live processes working for the attempt writing to ``output_dir``.

    A runner killed with SIGKILL leaves its children running; the resuming runner
    finds them by their environment, so it never runs a cell twice at once.
    """
    return sorted(find_attempt_processes([output_dir]).get(output_dir, {}))


def stop_orphans(output_dirs: Collection[str], grace_s: float) -> set[str]:
    """Stop every process still working for abandoned attempts, all within one grace period.

    Returns the output dirs that had a live process (their attempts were still
    running, so whatever they wrote so far is not a finished result).
    """
    found = find_attempt_processes(output_dirs)
    stop_groups({pgid for pids in found.values() for pgid in pids.values()}, grace_s)
    return set(found)
