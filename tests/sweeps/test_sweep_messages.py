"""What a sweep tells its user: trial names, why a trial stopped, how to resume, the table, the ETA.

Real CLI processes over the scripted curve command (``curve_trial.py``), with
W&B off (its lines in a log are checked on a log of them).
"""

from __future__ import annotations

import os
import pty
import re
import select
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from hyperparameter_system.runner import read_outcome
from sweep_helpers import REPO, hpsys, second_trial_running, sweep_rows, wait_value, write_experiment

SWEEP = ["--sweep", "--models", "curves", "--categories", "optimizer", "--backend", "local"]
GRID = {"method": "grid", "parameters": {"SOLVER.BASE_LR": [0.001, 0.01]}}


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO), "COLUMNS": "200"}


def _experiment(workdir: Path, **kwargs: Any) -> Path:
    """The curve experiment without W&B (a run per trial costs seconds; the reason check reads W&B lines itself)."""
    return write_experiment(workdir, wandb="disabled", **kwargs)


def _query(workdir: Path, sql: str) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(f"{(workdir / 'out' / 'sweeptest' / 'results.sqlite').as_uri()}?mode=ro", uri=True)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def test_a_killed_yacs_sweep_names_trials_by_value_says_how_to_resume_and_why_a_trial_stopped(workdir):
    _experiment(workdir, epochs=2, epoch_s=0.3, sweep=GRID)
    argv = [sys.executable, "-m", "hyperparameter_system.experiment_runner", *SWEEP]
    proc = subprocess.Popen(argv, cwd=workdir, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        child, _ = wait_value(lambda: second_trial_running(workdir), "trial 1 done and trial 2 running")
        os.killpg(child, signal.SIGSTOP)  # the orphan waits for the resume, which stops it
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    sweep_id = sweep_rows(workdir)[0]["sweep_id"]

    shown = hpsys("--summary", cwd=workdir)
    assert shown.returncode == 0, shown.stderr
    assert f"`hpsys --sweep --sweep-id {sweep_id}` resumes the sweep" in shown.stdout, shown.stdout
    assert "next run of the matrix" not in shown.stdout
    assert "sweep trials are never repeated" in shown.stdout and "--repeats) to 2" not in shown.stdout, \
        "a sweep's summary must not suggest repeats, which a sweep never runs"

    done = subprocess.run([*argv, "--sweep-id", sweep_id], cwd=workdir, env=_env(), capture_output=True,
                          text=True, timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr
    assert [r["status"] for r in sweep_rows(workdir)] == ["completed", "stopped", "completed"]
    names = [name for (name,) in _query(workdir, "SELECT run_name FROM cells ORDER BY run_name")]
    assert len(names) == 3 and all(n.startswith("sweep_SOLVER.BASE_LR0.0") for n in names), names
    (error,) = _query(workdir, "SELECT error_tail FROM attempts WHERE status = 'stopped'")[0]
    assert error.splitlines()[0] == "stopped by SIGTERM", error
    legend = [line for line in done.stdout.splitlines() if line.startswith("* ")]
    assert legend == ["* = a trial this command ran (the others ran before)"], done.stdout


def test_a_stopped_or_failed_child_is_never_explained_by_a_wandb_line(tmp_path):
    log = tmp_path / "stdout.log"
    log.write_text("wandb: Tracking run with wandb version 0.31.0\nwandb: W&B syncing is set to `offline`\n")
    stopped = read_outcome(tmp_path, log, 5, metric="val/acc", goal="maximize")
    assert stopped.status.value == "stopped" and stopped.error_tail.splitlines()[0] == "stopped by SIGTERM"
    log.write_text("ValueError: boom\nwandb: Tracking run with wandb version 0.31.0\n")
    failed = read_outcome(tmp_path, log, 1, metric="val/acc", goal="maximize")
    assert failed.error_tail.splitlines()[0] == "ValueError: boom"


def test_the_live_eta_of_a_sweep_counts_the_trials_still_to_come(workdir):
    _experiment(workdir, epochs=2, epoch_s=0.6, sweep={"method": "grid", "parameters": {
        "SOLVER.BASE_LR": [0.001, 0.003, 0.01]}})
    text = _on_a_terminal([sys.executable, "-m", "hyperparameter_system.experiment_runner", *SWEEP, "--count", "3"],
                          workdir)
    titles = re.findall(r"cells (\d+)/(\d+) done, (\d+) running, ETA (\S+)", text)
    assert titles and {total for _, total, _, _ in titles} == {"3"}, text[-2000:]
    # Once trial 1 has a duration, the ETA of a run with trials still to start is never 0s nor unknown.
    waiting = [eta for done, _, running, eta in titles if done == "1" and running == "1"]
    assert waiting and not {"0s", "?"} & set(waiting), waiting


def _on_a_terminal(argv: list[str], cwd: Path, timeout: float = 180.0) -> str:
    """Run ``argv`` with a pseudo-terminal as stdout (the live display) and return all it printed."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(argv, cwd=cwd, env=_env(), stdout=slave,
                            stderr=slave, stdin=subprocess.DEVNULL)
    os.close(slave)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.5)
            if ready:
                try:
                    data = os.read(master, 65536)
                except OSError:  # the child side closed
                    break
                if not data:
                    break
                chunks.append(data)
            elif proc.poll() is not None:
                break
        else:
            raise AssertionError(f"{argv} still running after {timeout:.0f}s")
    finally:
        try:
            proc.wait(timeout=30)  # its output ended: it is exiting
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        os.close(master)
    assert proc.returncode == 0, b"".join(chunks).decode(errors="replace")[-3000:]
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", b"".join(chunks).decode(errors="replace"))
