"""Nothing a cell started outlives it: not even W&B's ``wandb-core``, which leaves the child's group."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fakes import make_cell, runner_argv, save_cells
from procs import processes_of, wait_none_left

GRACE_S = 10.0  # the runner's default grace period


def _groups(pids: list[int]) -> set[int]:
    groups = set()
    for pid in pids:
        try:
            groups.add(os.getpgid(pid))
        except ProcessLookupError:
            continue
    return groups


def test_a_helper_in_its_own_session_ends_with_its_cell(tmp_path: Path) -> None:
    """A command that leaves a helper behind in a new session (as a daemon would) and ends."""
    script = ("import subprocess, sys\n"
              "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(300)'], start_new_session=True)\n"
              "print('started a helper', flush=True)")
    cell = dataclasses.replace(make_cell(tmp_path, "daemon"), command=("{{ python }}", "-c", script))
    save_cells([cell], tmp_path / "cells.json")
    root = tmp_path / "out" / "exp"
    done = subprocess.run(runner_argv(tmp_path / "cells.json", root, "--grace", "2"), capture_output=True,
                          text=True, timeout=60)
    assert "started a helper" in (next(root.rglob("stdout.log"))).read_text(), done.stdout
    lingered = wait_none_left(root, timeout_s=2.0)
    print(f"the helper outlived the runner by {lingered:.2f} s")
    assert lingered < 1.0  # stopped before the runner recorded the cell


@pytest.mark.slow
def test_stopping_a_cell_ends_wandb_core_too(tmp_path: Path) -> None:
    (tmp_path / "exp.yaml").write_text("""
experiment:
  name: procs
  overrides: {DATASETS.NAME: digits, INPUT.SIZE: 8, SOLVER.MAX_EPOCHS: 200}
wandb: {mode: offline}
execution: {parallel: 1, devices: cpu}
models: [{name: small_cnn}]
""")
    root = tmp_path / "output"
    runner = subprocess.Popen([sys.executable, "-m", "hyperparameter_system.experiment_runner", "--config",
                               str(tmp_path / "exp.yaml"), "--all"], cwd=tmp_path,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              env={**os.environ, "WANDB_MODE": "offline"})
    deadline = time.monotonic() + 180
    while len(_groups(processes_of(root))) < 2:  # the trainer's group and wandb-core's own
        assert time.monotonic() < deadline and runner.poll() is None, "W&B never started its helper"
        time.sleep(0.2)
    runner.send_signal(signal.SIGINT)
    output = runner.communicate(timeout=60)[0]
    assert runner.returncode == 130, output
    lingered = wait_none_left(root, timeout_s=GRACE_S)
    print(f"processes of the cell outlived the runner by {lingered:.2f} s")
    assert lingered < GRACE_S
