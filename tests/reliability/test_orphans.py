"""After a kill -9 of the runner nothing is wasted: orphans stop together, finished work counts."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import time
from pathlib import Path

from fakes import make_cell, runner_argv, save_cells
from fault_setup import wait_for
from procs import processes_of

from hyperparameter_system.store import Store, store_path

GRACE_S = 3.0




def test_orphans_of_a_killed_runner_are_stopped_within_one_grace_period(tmp_path: Path) -> None:
    cells = [make_cell(tmp_path, f"c{i}", {"epochs": 1, "sleep": 120, "ignore_term": True}) for i in range(3)]
    save_cells(cells, tmp_path / "cells.json")
    root = tmp_path / "out" / "exp"
    argv = runner_argv(tmp_path / "cells.json", root, "--parallel", "3", "--grace", str(GRACE_S))
    first = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for(lambda: len(processes_of(root)) >= 3, "three children", 60)
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=30)
    orphans = set(processes_of(root))
    started = time.monotonic()
    resume = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_for(lambda: not orphans & set(processes_of(root)), "the orphans to end", 30)
        took = time.monotonic() - started
        # One grace period for all three (one after another would be 3 x GRACE_S), plus start-up.
        assert took < 2 * GRACE_S, took
    finally:
        resume.send_signal(signal.SIGINT)
        output = resume.communicate(timeout=60)[0]
    assert "left by a dead runner: stopped" in output, output


def test_a_finished_orphan_counts_and_leftover_temp_files_go(tmp_path: Path) -> None:
    # The command prints its metric, kills its runner (pid from a file) and ends: a finished orphan.
    runner_pid = tmp_path / "runner.pid"
    script = ("import os, pathlib, signal, time\n"
              f"pid = pathlib.Path({str(runner_pid)!r}); deadline = time.monotonic() + 60\n"
              "while not pid.exists() and time.monotonic() < deadline: time.sleep(0.05)\n"
              "print('acc: 0.8', flush=True)\n"
              "if os.environ['HPS_ATTEMPT'] == '1': os.kill(int(pid.read_text()), signal.SIGKILL)")
    cell = dataclasses.replace(make_cell(tmp_path, "own"), command=("{{ python }}", "-c", script),
                               metric_patterns=(("acc", r"acc: ([0-9.]+)"),))
    save_cells([cell], tmp_path / "cells.json")
    root = tmp_path / "out" / "exp"
    argv = runner_argv(tmp_path / "cells.json", root)
    killed = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    runner_pid.write_text(str(killed.pid))
    assert killed.wait(timeout=60) == -signal.SIGKILL
    wait_for(lambda: not processes_of(root), "the orphaned command to end", 30)
    leftovers = [Path(cell.config_path).parent / ".own.yaml.k2j4x9_a", root / "x" / ".result.json.abcdefgh"]
    for path in leftovers:  # what a kill between mkstemp and os.replace leaves
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()
        os.utime(path, (time.time() - 600, time.time() - 600))
    resume = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert resume.returncode == 0, resume.stdout + resume.stderr
    with Store.open(store_path(tmp_path / "out", "exp")) as store:
        (attempt,) = store.attempts(cell.cell_id)  # not run again
    assert attempt.status == "completed" and attempt.best_metric == 0.8
    assert not [p for p in leftovers if p.exists()]
    assert "removed 2 temporary file(s)" in resume.stdout
