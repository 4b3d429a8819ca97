"""Shared set-up of the store and environment fault tests: an experiment over fake
children run through the real CLI, a small tmpfs to fill up or make read-only, and
one real digits cell trained once per session for the tests that only read it."""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

FAKE_CHILD = Path(__file__).resolve().parents[1] / "runner" / "fake_child.py"
ONE_CELL_EXPERIMENT = "onecell"


def write_experiment(tmp: Path, *, out: Path | None = None, configs: Path | None = None,
                     parallel: int = 2, **fake: Any) -> Path:
    """An experiment of one fake model with three optimizer options (four cells with the baseline).

    No option equals the defaults (AdamW, lr 0.001): such a cell would share the baseline's training.
    """
    behaviour = tmp / "fake.json"
    behaviour.write_text(json.dumps({"FAKE": {"epochs": 2, **fake}}))  # JSON is YAML
    command = ["{{ python }}", str(FAKE_CHILD), str(behaviour), "OUTPUT_DIR", "{{ output_dir }}"]
    path = tmp / "exp.yaml"
    path.write_text(f"""
experiment:
  name: st
  output_dir: {out or tmp / 'out'}
  temp_config_dir: {configs or tmp / 'configs'}
wandb: {{mode: disabled}}
execution: {{parallel: {parallel}, devices: cpu, retries: 1}}
models:
  - name: fake_model
    command: {json.dumps(command)}
categories:
  optimizer:
    options: [{{name: SGD, lr: 0.1}}, {{name: SGD, lr: 0.01}}, {{name: AdamW, lr: 0.002}}]
""")
    return path


def cli_argv(config: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "hyperparameter_system.experiment_runner", "--config", str(config), *args]


def cli(config: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cli_argv(config, *args), capture_output=True, text=True, timeout=timeout,
                          cwd=config.parent)


def summary(config: Path) -> dict[str, Any]:
    done = cli(config, "--summary", "--format", "json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def completed_attempts(db: Path) -> int:
    """How many attempts a store records completed, read without writing (0 while it cannot be read)."""
    try:
        conn = sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True, timeout=5)
        try:
            return conn.execute("SELECT COUNT(*) FROM attempts WHERE status = 'completed'").fetchone()[0]
        finally:
            conn.close()
    except sqlite3.Error:
        return 0


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.1)


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A 2 MiB tmpfs, unmounted afterwards; skipped where mounting is impossible (not root)."""
    mount_point = tmp_path / "tmpfs"
    mount_point.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount_point)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {done.stderr.strip() or done.returncode}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], capture_output=True)


def fill(folder: Path, leave_bytes: int = 0) -> Path:
    """Fill the file system of ``folder`` until at most ``leave_bytes`` are free."""
    filler = folder / "filler.bin"
    with open(filler, "wb") as handle:
        chunk = b"\0" * 65536
        try:
            while True:
                stat = os.statvfs(folder)
                free = stat.f_bavail * stat.f_frsize
                if free <= leave_bytes:
                    break
                handle.write(chunk[: max(4096, min(len(chunk), free - leave_bytes))])
                handle.flush()
        except OSError:
            pass
    return filler


@dataclass(frozen=True)
class OneCellRun:
    """The folder of the experiment file, and the CLI's ``--all`` as it ended."""

    root: Path
    done: subprocess.CompletedProcess[str]


@pytest.fixture(scope="session")
def one_cell_run(tmp_path_factory: pytest.TempPathFactory) -> OneCellRun:
    """small_cnn's baseline on digits (8 px, one epoch) through the real CLI, W&B online but unreachable.

    The W&B server is a loopback port nothing listens on (a bound, never-listening
    socket), so the connection is refused here as it would be without a network.
    """
    root = tmp_path_factory.mktemp("one_cell")
    (root / "exp.yaml").write_text(f"""
experiment:
  name: {ONE_CELL_EXPERIMENT}
  overrides: {{DATASETS.NAME: digits, INPUT.SIZE: 8, SOLVER.MAX_EPOCHS: 1}}
wandb: {{mode: online}}
execution: {{parallel: 1, devices: cpu}}
models: [{{name: small_cnn}}]
""")
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
        env = {**os.environ, "WANDB_MODE": "online", "WANDB_API_KEY": "0123456789abcdef" * 2 + "01234567",
               "WANDB_BASE_URL": f"http://127.0.0.1:{closed.getsockname()[1]}"}
        done = subprocess.run([sys.executable, "-m", "hyperparameter_system.experiment_runner",
                               "--config", str(root / "exp.yaml"), "--all"],
                              cwd=root, env=env, capture_output=True, text=True, timeout=240)
    return OneCellRun(root=root, done=done)
