"""A real two-node Ray cluster on this machine, on loopback only, for the Ray tests and the Ray bench.

Inside a private network namespace (``unshare -n``, then ``ip link set lo up``)
the only interface is loopback, so Ray binds to 127.0.0.1 and nothing can reach
any other address. A holder process keeps the namespace; every command of the
cluster (``ray start``, the driver, ``ray stop``) joins it with ``nsenter``.
The head is node ``head`` with resource ``head_node``, the second node is
``worker`` with ``worker_node``: a cell can be pinned to either.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Sequence

PORT = 6390
ADDRESS = f"127.0.0.1:{PORT}"
_START_S = 240.0  # a loaded machine starts a node in 15-60 s


def unavailable() -> str | None:
    """Why a loopback cluster cannot run here (None: it can)."""
    for tool in ("unshare", "nsenter", "ip"):
        if shutil.which(tool) is None:
            return f"{tool} not found"
    try:
        import ray  # noqa: F401
    except ImportError:
        return "ray is not installed"
    probe = subprocess.run(["unshare", "-n", "true"], capture_output=True, text=True, timeout=30)
    if probe.returncode != 0:
        return f"private network namespaces are not allowed here (unshare -n: {probe.stderr.strip()[:120]})"
    return None


class LoopbackCluster:
    """Start with :meth:`start`, run commands inside with :meth:`popen` / :meth:`run`, end with :meth:`stop`."""

    def __init__(self, cpus_per_node: int = 2, extra_env: dict[str, str] | None = None) -> None:
        self.cpus = cpus_per_node
        self.temp = Path(tempfile.mkdtemp(prefix="hpray-"))  # short: Ray's socket paths have a length limit
        self.holder: subprocess.Popen[bytes] | None = None
        # The nodes' processes (and so the agents and children) inherit this environment from `ray start`.
        self.env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "RAY_ADDRESS": ADDRESS, **(extra_env or {}),
                    "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}

    @property
    def netns(self) -> str:
        assert self.holder is not None
        return f"/proc/{self.holder.pid}/ns/net"

    def inside(self, argv: Sequence[str]) -> list[str]:
        """``argv`` run inside the cluster's network namespace."""
        return ["nsenter", f"--net={self.netns}", *argv]

    def popen(self, argv: Sequence[str], **kwargs: Any) -> subprocess.Popen[Any]:
        kwargs.setdefault("env", self.env)
        return subprocess.Popen(self.inside(argv), **kwargs)

    def run(self, argv: Sequence[str], timeout: float = _START_S, **kwargs: Any) -> subprocess.CompletedProcess[str]:
        kwargs.setdefault("env", self.env)
        return subprocess.run(self.inside(argv), capture_output=True, text=True, timeout=timeout, **kwargs)

    def start(self, workers: int = 1) -> None:
        """The head, then ``workers`` (0 or 1) second node."""
        self.holder = subprocess.Popen(["unshare", "-n", "sleep", "7200"], start_new_session=True)
        self._must(["ip", "link", "set", "lo", "up"])
        self._must(["ray", "start", "--head", f"--port={PORT}", "--include-dashboard=false",
                    f"--temp-dir={self.temp}", "--node-name=head", '--resources={"head_node": 1}',
                    *self._node_flags()])
        if workers:
            self.add_worker()

    def add_worker(self) -> None:
        """The second node (again, after a test killed it)."""
        self._must(["ray", "start", f"--address={ADDRESS}", "--node-name=worker",
                    '--resources={"worker_node": 1}', *self._node_flags()])

    def _node_flags(self) -> list[str]:
        return ["--node-ip-address=127.0.0.1", f"--num-cpus={self.cpus}", "--object-store-memory=80000000",
                "--disable-usage-stats"]

    def _must(self, argv: Sequence[str]) -> None:
        try:
            done = self.run(argv)
        except subprocess.TimeoutExpired:
            self.stop()
            raise
        if done.returncode != 0:
            self.stop()
            raise RuntimeError(f"{' '.join(argv[:3])} failed: {(done.stderr or done.stdout)[-800:]}")

    def raylet_pid(self, node_name: str) -> int | None:
        """The raylet of node ``node_name`` (killing it kills the node)."""
        for pid, cmdline in self._processes():
            args = cmdline.split("\0")
            if args[0].endswith("/raylet") and f"--node-name={node_name}" in args:
                return pid
        return None

    def kill_node(self, node_name: str) -> int:
        """The node dies: its raylet and every process under it (workers, agents, their children), SIGKILL.

        Returns how many processes were killed (0: no such node).
        """
        raylet = self.raylet_pid(node_name)
        if raylet is None:
            return 0
        parents = {}
        for pid, _cmd in self._processes():
            try:
                parents[pid] = int((Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
        doomed, grew = {raylet}, True
        while grew:
            more = {pid for pid, parent in parents.items() if parent in doomed} - doomed
            doomed |= more
            grew = bool(more)
        for pid in doomed:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        return len(doomed)

    def _processes(self) -> list[tuple[int, str]]:
        """Every process in the cluster's namespace (but the holder): pid and command line."""
        mine = os.readlink(self.netns)
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or self.holder is None or int(entry.name) == self.holder.pid:
                continue
            try:
                if os.readlink(entry / "ns" / "net") == mine:
                    found.append((int(entry.name), (entry / "cmdline").read_bytes().decode(errors="replace")))
            except OSError:
                continue
        return found

    def stop(self) -> None:
        """Kill everything in the namespace, then the holder (the namespace goes with it)."""
        if self.holder is None:
            return
        for _ in range(3):
            procs = self._processes()
            if not procs:
                break
            for pid, _cmd in procs:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            time.sleep(0.5)
        self.holder.kill()
        self.holder.wait(timeout=30)
        self.holder = None
        shutil.rmtree(self.temp, ignore_errors=True)
