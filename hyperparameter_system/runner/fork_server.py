"""The fork server: the built-in trainer's imports paid once per runner, one forked child per cell.

A cold child spends seconds importing torch, torchvision, timm, ignite,
scikit-learn and wandb before its first step. This process imports them once
(``python -m hyperparameter_system.runner.fork_server``), then reads launch
requests from its stdin, one JSON line each, and forks one child per request.
Replies go to its stdout, one JSON line each: ``{"pid": N}`` (or
``{"pid": null, "reason": ...}``: start that cell cold) and, when a child ends,
``{"exited": N, "code": C}`` with C as a ``Popen.returncode`` (negative: killed
by that signal).

Nothing here starts a thread, touches CUDA, runs a tensor op or opens a W&B
run: a forked child must be free to start its own thread pools, CUDA context
and ``wandb-core`` under its own slot's settings. The runner starts this
process with ``OPENBLAS_NUM_THREADS=1`` (OpenBLAS starts its pool at import).

A child is as a cold one would be: its own session and process group (pid =
pgid), stdin from /dev/null, stdout and stderr appended to its log, the launch
environment in ``os.environ`` and in ``/proc/<pid>/environ`` (so the next
runner finds it by ``HPS_OUTPUT_DIR`` as an orphan), its cwd, and the trainer's
exit code. It does not depend on this process: when the server dies, its
children train on.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import importlib
import io
import json
import os
import select
import signal
import sys
import time
import traceback
from typing import Any, Iterator

from hyperparameter_system.runner.warm import ENV_ROOM

# The modules every built-in cell imports: the server is ready once these are in, so that no
# child imports one of them itself. A child forked before them would import them on its own,
# twice over for the first two cells, while the server imports them too: three interpreters on a
# CPU the slots share. Besides the trainer's own modules (which pull in the config check and the
# plugin loader) that is torch._dynamo (every optimizer's constructor imports it), and wandb with
# what wandb.init imports on first use (the git helpers, PIL and its PNG writer for the sample
# images; not its launch package: see ``skip_unstaged_launch_inputs``). Then, while it waits for
# requests, the server imports what only some models need (its arguments: the runner names what
# its plan's model families import, ``ModelSpec.imports``), one module per idle moment: a run of
# small cells does not wait for timm, and every later child has it already.
PRELOAD = ("torch", "torch._dynamo", "ignite.engine", "sklearn.datasets", "sklearn.model_selection",
           "hyperparameter_system.train", "hyperparameter_system.training.run",
           "hyperparameter_system.training.validate", "hyperparameter_system.plugin.loading",
           "wandb", "wandb.sdk.lib.gitlib", "PIL.Image", "PIL.PngImagePlugin")
_ENV_START_FIELD = 47  # env_start in /proc/<pid>/stat, counted from the field after the command name


def preload() -> None:
    """Import what every cell needs; read the digits arrays, the package list and the plugins once (no threads)."""
    for name in PRELOAD:
        importlib.import_module(name)
    from hyperparameter_system.tracking.wandb_run import freeze_package_list, skip_unstaged_launch_inputs
    from hyperparameter_system.training.data import digits_arrays

    digits_arrays()
    freeze_package_list()
    skip_unstaged_launch_inputs()
    preload_plugins()


def preload_plugins() -> None:
    """Load the checkout's plugin registry, as a child's trainer will, before any child is forked.

    Loading it scans the entry points of every installed distribution: a fifth of
    a second of CPU per cell. A child whose experiment adds no plugin folders of
    its own finds this registry in the loader's cache; any other child loads its
    own, as a cold one does. A plugin that fails here fails in that child too,
    which reports it in its own log: the server carries on without the registry.
    """
    from hyperparameter_system.plugin.loading import load_plugins

    try:
        load_plugins()
    except Exception:  # noqa: BLE001 - the child meets the same error and reports it
        traceback.print_exc()


def environ_room() -> int:
    """Bytes of this process's original environment block: the most a child can show in /proc."""
    start, end = _environ_span()
    return end - start


def _environ_span() -> tuple[int, int]:
    with open("/proc/self/stat", "rb") as handle:
        fields = handle.read().rsplit(b")", 1)[-1].split()
    return int(fields[_ENV_START_FIELD]), int(fields[_ENV_START_FIELD + 1])


def environ_block(env: dict[str, str]) -> bytes:
    """The environment as the kernel shows it: ``KEY=VALUE\\0`` each."""
    return b"".join(os.fsencode(k) + b"=" + os.fsencode(v) + b"\0" for k, v in env.items())


def serve(reply_fd: int, later: list[str]) -> int:
    """Fork a child per request until the runner closes our stdin; reap and report each child.

    ``later`` is imported one module per idle moment. A child's end is reported from
    the SIGCHLD handler, so the runner learns of it at once even while this process
    is busy with such an import (seconds for timm), not after it.
    """
    room = environ_room()
    pending = b""
    signal.signal(signal.SIGCHLD, lambda _signum, _frame: _reap(reply_fd))
    while True:
        ready, _, _ = select.select([0], [], [], 0.05)
        _reap(reply_fd)
        if not ready:
            if later:
                _import_when_idle(later.pop(0))
            continue
        chunk = os.read(0, 1 << 16)
        if not chunk:
            return 0  # the runner is gone or done; our children live on without us
        pending += chunk
        while b"\n" in pending:
            line, pending = pending.split(b"\n", 1)
            with _exits_held():
                _reply(reply_fd, _spawn(json.loads(line), room, reply_fd))


def _import_when_idle(name: str) -> None:
    """Import one module a plugin named; one that fails is the child's to report, in its own log."""
    with _collector_paused():
        try:
            importlib.import_module(name)
        except (Exception, SystemExit):  # noqa: BLE001 - the child that needs it meets the same error
            traceback.print_exc()


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """No cyclic collection while importing: imports make objects by the hundred thousand, few of them
    garbage, and the collector's passes over them cost an eighth of the server's import time. What was
    imported then goes out of the collector's sight for good (``gc.freeze``), as it does before each fork."""
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        gc.enable()


@contextlib.contextmanager
def _exits_held() -> Iterator[None]:
    """Hold SIGCHLD from the fork until its pid is replied: a child's exit is never reported before its pid."""
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGCHLD})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGCHLD})


def _reply(reply_fd: int, message: dict[str, Any]) -> None:
    os.write(reply_fd, json.dumps(message).encode() + b"\n")


def _reap(reply_fd: int) -> None:
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        _reply(reply_fd, {"exited": pid, "code": os.waitstatus_to_exitcode(status)})


def _spawn(request: dict[str, Any], room: int, reply_fd: int) -> dict[str, Any]:
    """Fork one child for ``request``; the reply for the runner."""
    env = {str(k): str(v) for k, v in request["env"].items()}
    if len(environ_block(env)) > room:
        return {"pid": None, "reason": f"its environment is over {room} bytes"}
    sys.stdout.flush()
    sys.stderr.flush()
    # What is imported is the child's for good: out of the collector's sight, a child's collections
    # neither walk the server's ~430k objects nor copy the pages they sit on.
    gc.freeze()
    pid = os.fork()
    if pid:
        return {"pid": pid}
    code = 1
    try:
        os.close(reply_fd)
        code = _child(request, env)
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
    except BaseException:  # a bug in the child: its log says what, the server is untouched
        traceback.print_exc()
    finally:
        _leave(code)
    return {}  # never reached: the child leaves through os._exit


def _leave(code: int) -> None:
    """End the child as an interpreter exit would, without the server's own exit hooks.

    os._exit skips atexit, which is right for what the server registered (its
    temporary folders are shared by every child); W&B's service is told to shut
    down here, as its atexit hook does in a cold child, rather than linger until
    it notices its parent is gone.
    """
    wandb = sys.modules.get("wandb")
    try:
        if wandb is not None:
            wandb.teardown(code)
    except Exception:  # W&B never fails a cell; the exit code still goes out
        traceback.print_exc()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # a full disk or a closed log
            pass
    os._exit(code)


def _child(request: dict[str, Any], env: dict[str, str]) -> int:
    """In the forked child: become the cell's process, then run the trainer's main."""
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # the trainer waits for its own children
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGCHLD})
    os.setsid()
    _redirect(str(request["log"]))
    _replace_environ(env)
    if request.get("cwd"):
        os.chdir(str(request["cwd"]))
    from hyperparameter_system import train

    args = [str(a) for a in request["args"]]
    sys.argv = [train.__file__, *args]
    return int(train.main(args))


def _redirect(log_path: str) -> None:
    """stdin from /dev/null, stdout and stderr appended to the log, unbuffered as in a cold child."""
    null = os.open(os.devnull, os.O_RDONLY)
    log = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    os.dup2(null, 0)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(null)
    os.close(log)
    sys.stdin = open(0, closefd=False)
    sys.stdout = io.TextIOWrapper(open(1, "wb", buffering=0, closefd=False), write_through=True)
    sys.stderr = io.TextIOWrapper(open(2, "wb", buffering=0, closefd=False), write_through=True,
                                  errors="backslashreplace")


def _replace_environ(env: dict[str, str]) -> None:
    """The launch environment, wholesale, in Python, in libc and in /proc/<pid>/environ.

    The kernel shows a process's environment from the block it was started with;
    once nothing points into that block any more (libc's copy is cleared first),
    the launch environment is written over it, so tools that read /proc (the
    next runner's orphan search, ``ps e``) see what a cold child would show.
    """
    os.environ.clear()
    ctypes.CDLL(None).clearenv()
    os.environ.update(env)
    start, end = _environ_span()
    block = environ_block(env)
    ctypes.memmove(start, block + b"\0" * (end - start - len(block)), end - start)


def main() -> int:
    """Preload, then serve; replies go to the stdout we were started with, stray prints to stderr."""
    reply_fd = os.dup(1)
    os.dup2(2, 1)
    os.environ.pop(ENV_ROOM, None)
    started = time.monotonic()
    with _collector_paused():
        preload()
    threads = len(os.listdir("/proc/self/task"))
    print(f"fork server {os.getpid()}: ready in {time.monotonic() - started:.1f}s with {threads} thread(s)",
          file=sys.stderr, flush=True)
    _reply(reply_fd, {"ready": os.getpid(), "threads": threads})
    try:
        return serve(reply_fd, sys.argv[1:])
    except BrokenPipeError:
        return 0  # the runner left


if __name__ == "__main__":
    sys.exit(main())
