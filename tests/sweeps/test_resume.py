"""``--sweep-id`` after ``kill -9`` of the sweep process: numbering continues, no grid point repeats.

The killed sweep leaves its running trial's child as an orphan. Two cases,
each made certain rather than left to timing:

- the orphan is still running when the resumed sweep starts (it is frozen with
  SIGSTOP before the sweep process is killed): the resume stops it, records
  that trial ``stopped``, offers its grid point again under trial 5;
- the orphan finished on its own first (the test waits for its result.json):
  the finished result counts, so its trial is ``completed`` and there are 4.

Either way every point is finished exactly once and nothing lingers.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest

from sweep_helpers import REPO, second_trial_running, sweep_rows, wait_value, write_experiment

POINTS = [0.001, 0.003, 0.01, 0.03]


@pytest.mark.slow
@pytest.mark.parametrize("orphan", ["running", "finished"])
def test_resume_after_kill_9_continues_numbering_and_never_repeats_a_finished_point(workdir, orphan):
    write_experiment(workdir, epochs=3, epoch_s=0.3, wandb="disabled",
                     sweep={"method": "grid", "parameters": {"SOLVER.BASE_LR": POINTS}})
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    base = [sys.executable, "-m", "hyperparameter_system.experiment_runner", "--sweep", "--models", "curves",
            "--categories", "optimizer", "--backend", "local"]
    proc = subprocess.Popen(base, cwd=workdir, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        child, folder = wait_value(lambda: second_trial_running(workdir), "trial 1 finished and trial 2 running")
        if orphan == "running":
            os.killpg(child, signal.SIGSTOP)  # it cannot finish before the resume: SIGCONT only comes from there
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    before = sweep_rows(workdir)
    assert [r["status"] for r in before] == ["completed", "running"]
    if orphan == "running":
        assert not (folder / "result.json").exists()
    else:
        wait_value(lambda: (folder / "result.json").exists(), "the orphan's result.json")

    done = subprocess.run([*base, "--sweep-id", before[0]["sweep_id"]], cwd=workdir, env=env,
                          capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr
    rows = sweep_rows(workdir)
    if orphan == "running":
        assert [r["trial"] for r in rows] == [1, 2, 3, 4, 5]  # numbering continued after the crash
        assert rows[1]["status"] == "stopped"  # the interrupted trial, settled on resume
        assert json.loads((folder / "result.json").read_text())["status"] == "stopped"  # it heard SIGTERM
    else:
        assert [r["trial"] for r in rows] == [1, 2, 3, 4]  # the finished orphan's result counts
        assert rows[1]["status"] == "completed"
    finished = [r["params"]["SOLVER.BASE_LR"] for r in rows if r["status"] == "completed"]
    assert sorted(finished) == POINTS  # every point exactly once: none repeated, an interrupted one rerun
    assert rows[0]["params"]["SOLVER.BASE_LR"] not in [r["params"]["SOLVER.BASE_LR"] for r in rows[2:]]
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert str(workdir) not in ps  # the orphaned child was stopped, nothing lingers
