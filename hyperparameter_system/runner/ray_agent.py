"""The node agent: a Ray actor on a worker node that runs one attempt's child for the driver.

The driver (the runner that holds the store) builds the child's argv and
environment exactly as for a local cell; the agent starts it through the
keeper (``ray_keeper``: the child's group dies with the agent), and answers the
driver's polls with the child's exit and, where the node does not see the
driver's ``output_dir``, the new bytes of ``metrics.jsonl`` and the log, then at
the end a bundle of the attempt folder without its checkpoints (they stay on the
node, in :func:`node_dir`).

Runs on the worker, so it imports only the standard library, ray and the
runner's process helpers; every worker needs hpsys installed (see the README).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import select
import signal
import stat
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hyperparameter_system.child_contract import ENV_OUTPUT_DIR, ENV_TORCH_THREADS, METRICS_FILE
from hyperparameter_system.runner._process import (CHILD_LOG, process_running, process_started, signal_group,
                                                   stop_orphans)

MIRRORED = (METRICS_FILE, CHILD_LOG)  # what streams to the driver while the child runs
CHECKPOINT_SUFFIXES = (".pt", ".pth", ".ckpt", ".safetensors", ".bin")
MAX_CHUNK_BYTES = 4 << 20  # one poll's share of one mirrored file
MAX_BUNDLE_BYTES = 256 << 20  # an attempt folder without checkpoints is a few MB; more stays on the node
KEEPER_SILENT_S = 2.0  # after a KILL, how long a gone child's keeper may stay silent before the agent answers itself


def node_root() -> Path:
    """Where attempts live on a node that does not share the driver's output folder."""
    return Path(tempfile.gettempdir()) / "hpsys-ray"


def node_dir(driver_dir: str) -> Path:
    """The node's folder for a driver's attempt folder: the same path under :func:`node_root`."""
    return node_root() / driver_dir.lstrip("/")


@dataclass(frozen=True)
class NodeJob:
    """One attempt as the driver hands it to a node.

    Attributes:
        files: Driver paths and contents the child reads (its rendered config),
            placed under :func:`node_root` when the node does not share them.
        probe: The driver's attempt.json path and its sha256: present with
            that content on the node means the storage is shared.
        shared: ``auto`` (probe), ``yes`` (must be shared) or ``no`` (always copy).
    """

    argv: tuple[str, ...]
    env: dict[str, str]
    cwd: str
    output_dir: str
    log_path: str
    timeout_s: float
    grace_s: float
    threads: int
    probe: tuple[str, str]
    shared: str = "auto"
    files: dict[str, bytes] = field(default_factory=dict)
    driver_python: str = ""


@dataclass
class NodeAnswer:
    """What one poll tells the driver."""

    exit: int | None = None
    timed_out: bool = False
    lost: bool = False  # the keeper died: the agent stopped the child (what it wrote is not its end)
    node_lost: bool = False  # the keeper stopped the child because this node's raylet died
    chunks: dict[str, bytes] = field(default_factory=dict)
    bundle: bytes | None = None
    note: str = ""  # a line for the attempt's log (a bundle left on the node, why)


class NodeAgent:
    """One attempt's child on this node (a threaded Ray actor: a stop never waits for a poll)."""

    def __init__(self) -> None:
        self.keeper: subprocess.Popen[bytes] | None = None
        self.spare = _spawn_keeper()  # started ahead: its interpreter's start is not the next cell's
        self.job: NodeJob | None = None
        self.dir: Path | None = None
        self.offsets = {name: 0 for name in MIRRORED}
        self.answer: dict[str, Any] | None = None
        self.child_pid = 0  # the child's pid and process group, once its keeper said it
        self.killed_at: float | None = None  # when the driver's KILL came
        self.pending = b""  # the keeper's output after its last whole line
        self.node = ""  # this agent's node's name, asked once
        self.raylet = raylet()  # the keeper stops the child when this process is gone

    def ready(self) -> bool:
        """Answers once the agent runs on a node (the pool prefers agents Ray has placed)."""
        return True

    def start(self, job: NodeJob) -> dict[str, Any]:
        """Start the child; returns the node's name, whether storage is shared and the attempt's folder here."""
        import ray

        self.job, self.answer, self.offsets = job, None, {name: 0 for name in MIRRORED}
        self.child_pid, self.pending, self.killed_at = 0, b"", None
        shared = job.shared != "no" and _probe_matches(*job.probe)  # the driver's folder is visible here
        if job.shared == "yes" and not shared:
            raise RuntimeError(f"{job.output_dir} is not visible on this node (execution.shared_storage: yes); "
                               "use shared_storage: auto or no to copy results back")
        self.dir = Path(job.output_dir) if shared else node_dir(job.output_dir)
        moves = {} if shared else {job.output_dir: str(self.dir), **{p: str(node_dir(p)) for p in job.files}}
        if not shared:
            for path, content in job.files.items():
                node_dir(path).parent.mkdir(parents=True, exist_ok=True)
                node_dir(path).write_bytes(content)
        gpus = ray.get_runtime_context().get_accelerator_ids().get("GPU", [])
        env = {k: _moved(v, moves) for k, v in job.env.items()}
        env.update({"CUDA_VISIBLE_DEVICES": ",".join(gpus), ENV_TORCH_THREADS: str(job.threads),
                    "OMP_NUM_THREADS": str(job.threads)})
        argv = [_moved(a, moves) for a in job.argv]
        if argv and argv[0] == job.driver_python:
            argv[0] = sys.executable  # this node's interpreter of the same environment
        spec = {"argv": argv, "env": env, "cwd": job.cwd, "log_path": str(self.dir / CHILD_LOG),
                "output_dir": env.get(ENV_OUTPUT_DIR, str(self.dir)), "timeout_s": job.timeout_s,
                "grace_s": job.grace_s, "raylet": self.raylet}
        self.dir.mkdir(parents=True, exist_ok=True)
        self.keeper, self.spare = self.spare or _spawn_keeper(), None
        assert self.keeper.stdin is not None
        self.keeper.stdin.write(json.dumps(spec).encode() + b"\n")
        self.node = self.node or node_name()
        return {"node": self.node, "shared": shared, "dir": str(self.dir)}

    def poll(self, wait_s: float) -> NodeAnswer:
        """Wait up to ``wait_s`` for the child to end; new mirrored bytes, and the bundle at the end."""
        assert self.keeper is not None and self.keeper.stdout is not None and self.job is not None
        deadline = time.monotonic() + wait_s
        while self.answer is None and time.monotonic() < deadline:
            ready, _, _ = select.select([self.keeper.stdout], [], [], max(0.0, deadline - time.monotonic()))
            if ready:
                self._read_keeper(self.keeper.stdout.fileno())
            elif self._killed_without_keeper():
                self.answer = {"exit": -9, "timed_out": False}
        answer = NodeAnswer()
        shared = self.dir == Path(self.job.output_dir)
        if not shared:
            answer.chunks = self._new_bytes()
        if self.answer is not None:
            answer.exit, answer.timed_out = int(self.answer["exit"]), bool(self.answer["timed_out"])
            answer.lost, answer.node_lost = bool(self.answer.get("lost")), bool(self.answer.get("node_lost"))
            self.spare = self.spare or _spawn_keeper()  # for this agent's next cell
            if not shared:
                answer.bundle, answer.note = bundle(self.dir or Path("/nonexistent"), self.node)
        return answer

    def _read_keeper(self, fd: int) -> None:
        """Every whole line the keeper wrote (its child's pid, then its end: both may come at once)."""
        chunk = os.read(fd, 1 << 16)
        if not chunk:  # the keeper died without a word: nothing ties the child to us any more
            assert self.job is not None and self.dir is not None
            stop_orphans([str(self.dir)], self.job.grace_s)  # before the runner may start a retry
            self.answer = self.answer or {"exit": -9, "timed_out": False, "lost": True}
            return
        *lines, self.pending = (self.pending + chunk).split(b"\n")
        for line in lines:
            try:
                message = json.loads(line)
            except ValueError:
                continue
            if isinstance(message, dict) and isinstance(message.get("pid"), int):
                self.child_pid = message["pid"]
            elif isinstance(message, dict) and "exit" in message:
                self.answer = message

    def _killed_without_keeper(self) -> bool:
        """The child's group is gone a while after our own KILL, and its keeper (stopped, stuck) never
        said so: its end is known all the same."""
        return self.killed_at is not None and time.monotonic() - self.killed_at > KEEPER_SILENT_S \
            and self.child_pid > 0 and not process_running(self.child_pid)  # a zombie its keeper cannot reap

    def _new_bytes(self) -> dict[str, bytes]:
        """What the child appended to the mirrored files: regular files only (a FIFO would block,
        a link could name anything on the node)."""
        chunks = {}
        for name in MIRRORED:
            data = _read_regular(self.dir / name, self.offsets[name], MAX_CHUNK_BYTES)  # type: ignore[operator]
            if data:
                self.offsets[name] += len(data)
                chunks[name] = data
        return chunks

    def signal(self, command: str) -> None:
        """``TERM`` (the child's group gets SIGTERM) or ``KILL``, relayed through the keeper; a KILL
        also reaches the child's group directly (a keeper that is stopped or stuck relays nothing)."""
        if self.keeper is not None and self.keeper.stdin is not None and command in ("TERM", "KILL"):
            try:
                self.keeper.stdin.write(command.encode() + b"\n")
            except (BrokenPipeError, ValueError):
                pass
        if command == "KILL" and self.child_pid > 0:
            signal_group(self.child_pid, signal.SIGKILL)
            self.killed_at = self.killed_at or time.monotonic()


def _spawn_keeper() -> subprocess.Popen[bytes]:
    """A keeper waiting for its job on stdin (in its own session: Ray's end of the agent does not reach it);
    unbuffered both ways, so a line written is a line sent."""
    return subprocess.Popen([sys.executable, "-m", "hyperparameter_system.runner.ray_keeper"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0,
                            start_new_session=True, close_fds=True)


def raylet() -> tuple[int, str] | None:
    """This node's raylet as Ray names it to its workers (``RAY_RAYLET_PID``), with its start time;
    None where Ray does not say."""
    try:
        pid = int(os.environ["RAY_RAYLET_PID"])
    except (KeyError, ValueError):
        return None
    started = process_started(pid)
    return (pid, started) if started else None


def node_name() -> str:
    """This node's name in the cluster (``ray start --node-name``, by default its address)."""
    import ray

    here = ray.get_runtime_context().get_node_id()
    alive = [node for node in ray.nodes() if node.get("Alive")]
    names = [str(node.get("NodeName") or node.get("NodeManagerAddress") or "") for node in alive]
    for node, name in zip(alive, names):
        if node.get("NodeID") == here:  # two nodes on one host share an address: the id tells them apart
            return f"{name}/{here[:8]}" if not name or names.count(name) > 1 else name
    return here[:12]


def stop_node_orphans(driver_dirs: list[str], grace_s: float) -> list[str]:
    """On this node: stop every process still working for these attempts (their own folder or its
    copy under :func:`node_root`); returns the driver folders that had one."""
    both = {d: d for d in driver_dirs} | {str(node_dir(d)): d for d in driver_dirs}
    return sorted({both[d] for d in stop_orphans(list(both), grace_s)})


def bundle(folder: Path, node: str) -> tuple[bytes | None, str]:
    """The attempt folder's regular files as a gzip tar, smallest first, without checkpoints and
    what would take it past :data:`MAX_BUNDLE_BYTES`; and a line naming what stays on the node."""
    files = []
    for path in folder.rglob("*"):
        try:
            info = path.lstat()
        except OSError:
            continue
        if stat.S_ISREG(info.st_mode):  # no links, FIFOs or devices
            files.append((info.st_size, path))
    buffer, total, left = io.BytesIO(), 0, []
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for size, path in sorted(files, key=lambda f: (f[0], str(f[1]))):  # the contract's small files first
            if path.suffix in CHECKPOINT_SUFFIXES or total + size > MAX_BUNDLE_BYTES:
                left.append(path.name)
                continue
            total += size
            tar.add(path, arcname=str(path.relative_to(folder)), recursive=False)
    note = f"hpsys: left on node {node} in {folder} (checkpoints, or past {MAX_BUNDLE_BYTES >> 20} MiB): " \
           f"{', '.join(left[:5])}" if left else ""
    return buffer.getvalue(), note


def _read_regular(path: Path, offset: int, limit: int) -> bytes:
    """Up to ``limit`` bytes of ``path`` from ``offset``; nothing unless it is a regular file (not followed)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return b""
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return b""
        return os.pread(fd, limit, offset)
    except OSError:
        return b""
    finally:
        os.close(fd)


def _moved(text: str, moves: dict[str, str]) -> str:
    for old, new in moves.items():
        text = text.replace(old, new)
    return text


def file_sha256(path: Path) -> str:
    """The sha256 of a file's bytes (hex); "" when it cannot be read."""
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return ""


def _probe_matches(path: str, sha256: str) -> bool:
    """True when this node sees the driver's probe file with the content the driver wrote."""
    return bool(sha256) and file_sha256(Path(path)) == sha256
