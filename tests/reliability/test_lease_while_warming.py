"""A runner busy starting its fork server keeps its claim: a second runner on the same
store, with a lease shorter than that start, never takes the cell for abandoned.

Real parts: two CLI runners, the built-in trainer on digits, the fork server, SQLite.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from fault_setup import wait_for

LEASE_S = 1.0  # far shorter than the fork server's start is made to take here


def _experiment(tmp: Path) -> Path:
    path = tmp / "exp.yaml"
    path.write_text("""
experiment:
  name: lease
  output_dir: ./out
  temp_config_dir: ./configs
  include_baseline: false
  overrides: {DATASETS.NAME: digits, DATASETS.MAX_TRAIN_SAMPLES: 256, INPUT.SIZE: 8, SOLVER.MAX_EPOCHS: 1}
wandb: {mode: disabled}
execution: {parallel: 1, devices: cpu}
models: [{name: small_cnn}]
categories:
  optimizer: {options: [{name: SGD, lr: 0.05}, {name: Adam, lr: 0.003}]}
""")
    return path


def _attempts(tmp: Path) -> list[tuple[str, str]]:
    db = tmp / "out" / "lease" / "results.sqlite"
    if not db.exists():
        return []
    try:
        conn = sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True, timeout=10)
        try:
            return conn.execute("SELECT cell_id, status FROM attempts ORDER BY id").fetchall()
        finally:
            conn.close()
    except sqlite3.OperationalError:  # the store is being created
        return []


def _fork_server_of(runner_pid: int) -> int | None:
    for entry in Path("/proc").iterdir():
        try:
            cmdline = (entry / "cmdline").read_bytes()
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if ppid == runner_pid and b"hyperparameter_system.runner.fork_server" in cmdline:
            return int(entry.name)
    return None


def test_a_second_runner_never_takes_a_cell_whose_runner_is_starting_its_fork_server(tmp_path: Path) -> None:
    """The first runner claims a cell, then waits for its fork server, held stopped here past
    many leases; a second runner started meanwhile must leave that cell alone."""
    config = _experiment(tmp_path)
    env = {**os.environ, "HPSYS_LEASE_S": str(LEASE_S)}
    argv = [sys.executable, "-m", "hyperparameter_system.experiment_runner", "--config", str(config), "--all"]
    first = subprocess.Popen(argv, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    server = None
    try:
        wait_for(lambda: _fork_server_of(first.pid) is not None, "the first runner's fork server", 120)
        server = _fork_server_of(first.pid)
        os.kill(server, signal.SIGSTOP)
        wait_for(lambda: any(status == "running" for _, status in _attempts(tmp_path)), "the first claim", 60)
        claimed = time.monotonic()
        wait_for(lambda: time.monotonic() - claimed > 3 * LEASE_S, "three leases to pass", 30)
        second = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
        os.kill(server, signal.SIGCONT)
        out_first, _ = first.communicate(timeout=300)
    finally:
        if server is not None:
            with contextlib.suppress(ProcessLookupError):  # gone with its runner
                os.kill(server, signal.SIGCONT)
        first.kill()
    assert "dead runner" not in second.stdout + second.stderr, second.stdout
    assert first.returncode == 0 and second.returncode == 0, out_first + second.stdout + second.stderr
    attempts = _attempts(tmp_path)
    assert sorted(status for _, status in attempts) == ["completed", "completed"], attempts  # each cell trained once
