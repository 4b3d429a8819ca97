"""``--sweep-id`` after ``kill -9`` of the sweep process: numbering continues, no grid point repeats.

The killed sweep leaves its running trial's child as an orphan; the resumed
sweep stops it, records that trial as interrupted (``stopped``), offers its
grid point again under the next number and never reruns a finished point.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from sweep_helpers import REPO, sweep_rows, write_experiment

POINTS = [0.001, 0.003, 0.01, 0.03]


def _sweep_id(workdir) -> str:
    rows = sweep_rows(workdir)
    return rows[0]["sweep_id"] if rows else ""


@pytest.mark.slow
def test_resume_after_kill_9_continues_numbering_and_never_repeats_a_finished_point(workdir):
    write_experiment(workdir, epochs=4, epoch_s=0.3,
                     sweep={"method": "grid", "parameters": {"SOLVER.BASE_LR": POINTS}})
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    base = [sys.executable, "-m", "hyperparameter_system.experiment_runner", "--sweep", "--models", "curves",
            "--categories", "optimizer", "--backend", "local"]
    proc = subprocess.Popen(base, cwd=workdir, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # kill once trial 1 finished and trial 2 is running
        try:
            rows = sweep_rows(workdir)
        except Exception:  # noqa: BLE001 - the store may not exist yet
            rows = []
        if len(rows) >= 2 and rows[0]["status"] == "completed" and rows[1]["history"]:
            break
        time.sleep(0.1)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    before = sweep_rows(workdir)
    assert [r["status"] for r in before] == ["completed", "running"]

    done = subprocess.run([*base, "--sweep-id", _sweep_id(workdir)], cwd=workdir, env=env, capture_output=True,
                          text=True, timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr
    rows = sweep_rows(workdir)
    assert [r["trial"] for r in rows] == [1, 2, 3, 4, 5]  # numbering continued after the crash
    assert rows[1]["status"] == "stopped"  # the interrupted trial, settled on resume
    finished = [r["params"]["SOLVER.BASE_LR"] for r in rows if r["status"] == "completed"]
    assert sorted(finished) == POINTS  # every point exactly once: none repeated, the interrupted one rerun
    assert rows[0]["params"]["SOLVER.BASE_LR"] not in [r["params"]["SOLVER.BASE_LR"] for r in rows[2:]]
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert str(workdir) not in ps  # the orphaned child was stopped, nothing lingers
