"""Helpers for sweep tests: experiment files whose model is a scripted curve command.

The curve command (``curve_trial.py``) is a real child process the runner
drives like any user's ``command:``; it writes metrics.jsonl one epoch at a
time and honours SIGTERM, which is all hyperband and resume need.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

import yaml

CURVE_SCRIPT = Path(__file__).with_name("curve_trial.py")
REPO = Path(__file__).resolve().parents[2]


def write_experiment(folder: Path, *, sweep: dict[str, Any] | None = None, curves: list[list[float]] | None = None,
                     epochs: int = 3, epoch_s: float = 0.4, name: str = "sweeptest", wandb: str = "offline") -> Path:
    """An experiment file with one command model ``curves`` and an optional optimizer ``sweep:`` block.

    ``wandb="disabled"`` where a test reads no W&B run: each trial's run costs seconds.
    """
    command = ["{{ python }}", str(CURVE_SCRIPT), "--output", "{{ output_dir }}", "--epoch-s", str(epoch_s)]
    if curves is not None:
        (folder / "curves.json").write_text(json.dumps(curves))
        command += ["--curves", str(folder / "curves.json")]
    command.append("{{ overrides }}")
    experiment: dict[str, Any] = {
        "experiment": {"name": name, "output_dir": "./out", "temp_config_dir": "./temp_configs",
                       "overrides": {"SOLVER.MAX_EPOCHS": epochs}},
        "models": [{"name": "curves", "command": command}],
        "categories": {"optimizer": {"options": [{"name": "AdamW", "lr": 0.001}]}},
        "execution": {"parallel": 1, "retries": 0},
        "wandb": {"mode": wandb},
    }
    if sweep is not None:
        experiment["categories"]["optimizer"]["sweep"] = sweep
    path = folder / "experiment_config.yaml"
    path.write_text(yaml.safe_dump(experiment, sort_keys=False))
    return path


def hpsys(*args: str, cwd: Path, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    """Run the real CLI in a subprocess (the way a user does)."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "hyperparameter_system.experiment_runner", *args], cwd=cwd,
                          env=env, capture_output=True, text=True, timeout=timeout)


def sweep_rows(folder: Path, name: str = "sweeptest") -> list[dict[str, Any]]:
    """Every sweep_trials row of the experiment's store, in trial order."""
    import sqlite3

    conn = sqlite3.connect(folder / "out" / name / "results.sqlite")
    conn.row_factory = sqlite3.Row
    try:
        rows = conn.execute("SELECT * FROM sweep_trials ORDER BY sweep_id, trial").fetchall()
    finally:
        conn.close()
    return [{**dict(r), "params": json.loads(r["params"]), "history": json.loads(r["history"] or "[]")}
            for r in rows]


def attempt_rows(folder: Path, columns: str, name: str = "sweeptest") -> list[tuple[Any, ...]] | None:
    """``columns`` of every attempt in order, read without writing; None while the store does not exist."""
    import sqlite3

    try:
        conn = sqlite3.connect(f"{(folder / 'out' / name / 'results.sqlite').as_uri()}?mode=ro", uri=True)
        try:
            return conn.execute(f"SELECT {columns} FROM attempts ORDER BY id").fetchall()
        finally:
            conn.close()
    except sqlite3.Error:  # the store may not exist yet
        return None


def second_trial_running(folder: Path, name: str = "sweeptest") -> tuple[int, Path] | None:
    """(child pid, output folder) of the second trial's attempt once it has written an epoch, read without writing."""
    rows = attempt_rows(folder, "status, child_pid, output_dir", name)
    if rows is None or len(rows) < 2 or rows[0][0] != "completed" or not rows[1][1] or not rows[1][2]:
        return None
    attempt = Path(rows[1][2])
    metrics = attempt / "metrics.jsonl"
    return (int(rows[1][1]), attempt) if metrics.exists() and metrics.read_text().count("\n") >= 1 else None


def wait_value(predicate: Callable[[], Any], what: str, timeout: float = 120.0) -> Any:
    """The first true value ``predicate`` returns, polled until a deadline."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
