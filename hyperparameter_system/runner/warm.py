"""The runner's side of the fork server: start it on first use, ask it for children, learn how they ended.

One server per runner (see ``fork_server`` for what it preloads and how a
child is made). A fresh run begins it as soon as its plan is checked, so its
seconds of imports overlap the runner's own set-up; otherwise it begins when
the first built-in cell launches. Either way the first launch waits until it
is ready. The runner still owns each child as it owns a cold one: it signals
the child's process group directly and judges it by its files; the server
only forks and reports exit codes. When the server cannot start, or dies, the
runner says so in one line and every later cell starts cold; cells already
running train on, and are judged by their result.json once their process is
gone.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from hyperparameter_system import child_contract as cc
from hyperparameter_system.runner._process import process_running

ENV_WARM_START = "HPSYS_WARM_START"  # "0" or "off": every built-in cell starts cold
SERVER_LOG = "fork-server.log"  # in the run's output folder: the server's own stderr
# The server's imports: seconds on an idle machine, over a minute on two cores at a load of 8. The
# runner renews its claims' leases while it waits.
READY_TIMEOUT_S = 180.0
REPLY_TIMEOUT_S = 20.0  # a launch waits for the server's current import (timm: seconds, more under load)
# The server reports a child's end from its SIGCHLD handler, at once even mid-import: one that
# has not within this is stopped or stuck.
EXIT_REPORT_TIMEOUT_S = 10.0
ENV_EXIT_REPORT = "HPSYS_EXIT_REPORT_S"  # seconds instead of EXIT_REPORT_TIMEOUT_S (a test that stops the server)
# Variables read once at interpreter or library start-up: a forked child would silently ignore a
# new value, so a cell whose environment changes one starts cold. The runner's own per-slot
# values are applied in the child (PYTHONUNBUFFERED by its streams, OMP_NUM_THREADS by
# torch.set_num_threads).
STARTUP_PREFIXES = ("PYTHON", "LD_", "MALLOC_", "GOMP_", "KMP_", "OPENBLAS_", "MKL_")
APPLIED_IN_CHILD = frozenset({"PYTHONUNBUFFERED"})
# What the server imports while idle when its runner does not say (a sweep): every heavy
# library a built-in model family may need. A matrix run names what its plan needs instead.
IDLE_IMPORTS = ("torchvision", "timm")
ENV_ROOM = "HPSYS_ENV_ROOM"  # padding in the server's environment: room for a child's launch environment
ENV_ROOM_BYTES = 64 * 1024


def warm_start_enabled(env: Mapping[str, str] | None = None) -> bool:
    """Whether the built-in trainer starts warm (the default) or every cell cold."""
    value = (os.environ if env is None else env).get(ENV_WARM_START, "").strip().lower()
    return value not in ("0", "off", "false", "no")


def startup_change(env: Mapping[str, str], base: Mapping[str, str] | None = None) -> str | None:
    """The first start-up variable whose value in ``env`` differs from the runner's own (``base``)."""
    base = os.environ if base is None else base
    for key in sorted(set(env) | set(base)):
        if key.startswith(STARTUP_PREFIXES) and key not in APPLIED_IN_CHILD and env.get(key) != base.get(key):
            return key
    return None


class ForkServer:
    """A lazily started fork server and the exit codes it reported.

    Args:
        root: The run's output folder (the server's log goes there).
        warn: Where the one line about a server that failed goes (the progress display).
        exit_report_s: How long a child's end may go unreported before the server is taken for stuck.
    """

    def __init__(self, root: Path, warn: Callable[[str], None], exit_report_s: float = EXIT_REPORT_TIMEOUT_S) -> None:
        self.root, self.warn = Path(root), warn
        # What the server imports once ready, while it waits: a runner that knows its plan sets it
        # before the server starts (``ModelSpec.imports``).
        self.idle_imports: tuple[str, ...] = IDLE_IMPORTS
        self.usable = warm_start_enabled()
        self.exit_report_s = exit_report_s
        self.proc: subprocess.Popen[bytes] | None = None
        self.exits: dict[int, int] = {}  # pid -> returncode, as reported
        self._unreported: dict[int, float] = {}  # pid -> when it was first seen ended but unreported
        self._buffer = b""
        self._replies: list[dict[str, Any]] = []
        self._ready = False
        self.while_waiting: Callable[[], None] = lambda: None  # the runner's duties while a reply is awaited
        self.stopping: Callable[[], bool] = lambda: False  # the runner was told to stop: waiting is over

    def begin(self) -> None:
        """Start the server's imports and return at once: the runner sets up the run meanwhile.

        A runner about to train built-in cells calls this once its plan is checked,
        so the server's imports and the store's set-up run side by side.
        """
        if self.usable and self.proc is None:
            self._spawn()

    def start(self) -> bool:
        """Have the server ready, if it is wanted; True when it became ready now.

        The runner calls this before the first built-in cell's clock starts, so the
        server's imports (or what is left of them after :meth:`begin`) are not
        counted in that cell's duration.
        """
        return self.usable and not self._ready and self._start()

    def launch(self, args: Sequence[str], env: Mapping[str, str], cwd: str, log_path: Path) -> int | None:
        """Fork a trainer child; its pid, or None when this cell must start cold."""
        if not self.usable or startup_change(env) or (not self._ready and not self._start()):
            return None
        request = {"args": list(args), "env": dict(env), "cwd": cwd, "log": str(log_path)}
        if not self._send(request):
            return None
        reply = self._wait_reply("pid", REPLY_TIMEOUT_S)
        if reply is None:
            self._fail(f"did not answer a launch within {REPLY_TIMEOUT_S:.0f}s")
            return None
        if reply["pid"] is None:
            return None  # this one cell starts cold (reason: its environment does not fit)
        pid = int(reply["pid"])
        self.exits.pop(pid, None)  # a pid the kernel reused: that code was an earlier child's
        return pid

    def exit_code(self, pid: int) -> int | None:
        """The child's returncode once it ended; None while it runs.

        After the server died, a child it forked is nobody's to wait for: it has
        ended once its process is gone (or a zombie), and its result.json says how
        (the code returned then is EXIT_FAILED, which a result file overrules).
        """
        self._pump()
        if pid in self.exits:
            return self.exits[pid]
        if self.usable and not process_running(pid):
            # Ended, and a live server reaps and reports at once: one that does not is stopped
            # or stuck, and every cell it forked would wait for it forever.
            since = self._unreported.setdefault(pid, time.monotonic())
            if time.monotonic() - since < self.exit_report_s:
                return None
            self._fail(f"did not report a child's exit within {self.exit_report_s:.0f}s")
        if self.usable or process_running(pid):
            return None
        return cc.EXIT_FAILED

    def close(self) -> None:
        """Stop the server (its children are not its to stop: the runner stops those itself)."""
        if self.proc is None:
            return
        proc, self.proc, self.usable = self.proc, None, False
        for stream in (proc.stdin, proc.stdout):
            if stream is not None:
                stream.close()
        # Its work is done, but it may be seconds into an idle import (timm) that it would
        # finish before it reads the closed stdin: stop it rather than wait that out.
        proc.kill()
        proc.wait()

    def _start(self) -> bool:
        """Begin the server if not begun, then wait for its ready line."""
        if self.proc is None and not self._spawn():
            return False
        if self._wait_reply("ready", READY_TIMEOUT_S) is None:
            if not self.stopping():  # a stop cut the wait short: the server is not at fault
                self._fail(f"was not ready within {READY_TIMEOUT_S:.0f}s")
            return False
        self._ready = True
        return True

    def _spawn(self) -> bool:
        """Start the server process (its imports take seconds); False when it cannot start."""
        env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", ENV_ROOM: "x" * ENV_ROOM_BYTES}
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / SERVER_LOG, "ab") as log:
            try:
                self.proc = subprocess.Popen(
                    [sys.executable, "-m", "hyperparameter_system.runner.fork_server", *self.idle_imports], env=env,
                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, start_new_session=True)
            except OSError as error:
                self.usable = False
                self.warn(f"warm start unavailable ({error.strerror or error}); cells start cold")
                return False
        assert self.proc.stdout is not None
        os.set_blocking(self.proc.stdout.fileno(), False)
        return True

    def _send(self, message: dict[str, Any]) -> bool:
        assert self.proc is not None and self.proc.stdin is not None
        try:
            self.proc.stdin.write(json.dumps(message).encode() + b"\n")
            self.proc.stdin.flush()
            return True
        except OSError:
            self._fail("its pipe closed")
            return False

    def _wait_reply(self, key: str, timeout_s: float) -> dict[str, Any] | None:
        deadline = time.monotonic() + timeout_s
        while self.usable and self.proc is not None:
            for reply in self._replies:
                if key in reply:
                    self._replies.remove(reply)
                    return reply
            left = deadline - time.monotonic()
            if left <= 0 or self.stopping():
                return None
            select.select([self.proc.stdout], [], [], min(left, 0.5))
            self._pump()
            self.while_waiting()
        return None

    def _pump(self) -> None:
        """Read what the server wrote; EOF means it died."""
        if self.proc is None or not self.usable:
            return
        assert self.proc.stdout is not None
        while True:
            try:
                chunk = os.read(self.proc.stdout.fileno(), 1 << 16)
            except BlockingIOError:
                break
            if not chunk:
                self._fail("ended")
                break
            self._buffer += chunk
        *lines, self._buffer = self._buffer.split(b"\n")
        for line in lines:
            message = _parse(line)
            if "exited" in message:
                self.exits[int(message["exited"])] = int(message["code"])
            elif message:
                self._replies.append(message)

    def _fail(self, what: str) -> None:
        """One line, then cold starts; the children already forked train on."""
        if not self.usable:
            return
        self.usable = False
        proc = self.proc
        code = proc.poll() if proc is not None else None
        if proc is not None and code is None:
            proc.kill()
            code = proc.wait()
        self.warn(f"warning: the fork server {what} (exit code {code}, see {self.root / SERVER_LOG});"
                  " new cells start cold")


def _parse(line: bytes) -> dict[str, Any]:
    """One reply line; anything else (a half line of a dying server) is dropped."""
    try:
        message = json.loads(line)
    except ValueError:
        return {}
    return message if isinstance(message, dict) else {}

