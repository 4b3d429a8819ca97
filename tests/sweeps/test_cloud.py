"""The W&B cloud backend, with a stand-in for the server (``wandb_stand_in.py``).

``wandb.sweep`` and ``wandb.agent`` need a W&B server, which cannot exist
here; everything else is real: the trial children run as processes and the
store records them.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import yaml

from hyperparameter_system.experiment_runner import main
from sweep_helpers import attempt_rows, hpsys, sweep_rows, wait_value, write_experiment
from wandb_stand_in import FakeServer


def test_wandb_backend_sends_the_sweep_to_the_model_project_and_runs_trials_as_children(
        workdir, monkeypatch):
    server = FakeServer(workdir)
    server.install(monkeypatch)
    write_experiment(workdir, epochs=2, epoch_s=0.0)
    (workdir / "s.yaml").write_text(yaml.safe_dump({
        "method": "grid", "metric": {"name": "val/acc", "goal": "maximize"},
        "parameters": {"base_lr": [0.01, 0.001]},
        "early_terminate": {"type": "hyperband", "min_iter": 1, "eta": 3}}))
    code = main(["--sweep", "--models", "curves", "--categories", "optimizer", "--sweep-config", "s.yaml",
                 "--count", "2"])
    assert code == 0
    sent = server.sweeps[0]
    assert sent["project"] == "curves"
    assert sent["config"] == {"method": "grid", "metric": {"name": "val/acc", "goal": "maximize"},
                              "parameters": {"base_lr": {"values": [0.01, 0.001]}},
                              "early_terminate": {"type": "hyperband", "min_iter": 1, "eta": 3, "strict": True}}
    assert server.agents == [{"sweep_id": "srv12345", "project": "curves", "count": 2}]
    rows = sweep_rows(workdir)
    assert [(r["sweep_id"], r["status"]) for r in rows] == [("srv12345", "completed")] * 2
    for i, row in enumerate(rows):
        seen = json.loads(next((workdir / "out").rglob(f"*t{row['trial']:03d}/attempt-1/seen.json")).read_text())
        assert seen["env"]["WANDB_RUN_ID"] == f"run{i}"  # the child's wandb.init joins the sweep's run
        assert seen["env"]["WANDB_SWEEP_ID"] == seen["env"]["HPS_SWEEP_ID"] == "srv12345"
        assert (seen["env"]["HPS_METRIC"], seen["env"]["HPS_GOAL"]) == ("val/acc", "maximize")  # what a wrapper ranks by
        assert seen["overrides"]["SOLVER.BASE_LR"] == row["params"]["base_lr"]


def test_wandb_backend_without_a_login_is_a_one_line_error(workdir, capsys, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    write_experiment(workdir)
    assert main(["--sweep", "--models", "curves", "--categories", "optimizer", "--backend", "wandb"]) == 2
    assert "--backend wandb needs W&B online" in capsys.readouterr().err


LEASE_S = 1.5  # a W&B-agent trial held for several leases


def _trial_attempt(folder: Path) -> tuple[int, float, str] | None:
    """(child pid, started_at, status) of the first attempt once its child wrote an epoch, read without writing."""
    rows = attempt_rows(folder, "child_pid, started_at, status, output_dir")
    row = rows[0] if rows else None
    if not row or not row[0] or not row[3] or not (Path(row[3]) / "metrics.jsonl").exists():
        return None
    return int(row[0]), float(row[1]), str(row[2])


def _running(pid: int) -> bool:
    """True while the process exists and is not a zombie."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0] != "Z"
    except OSError:
        return False


def _meanwhile(folder: Path, release: Path, seen: dict[str, Any]) -> None:
    """While the trial runs past two leases: a summary, then a runner of other cells on the same store."""
    try:
        pid, started_at, _ = wait_value(lambda: _trial_attempt(folder), "the trial's first epoch")
        wait_value(lambda: time.time() > started_at + 2 * LEASE_S, "two leases to pass", timeout=30)
        seen["summary"] = hpsys("--summary", cwd=folder)
        seen["runner"] = hpsys("--models", "quick", "--categories", "optimizer", cwd=folder)
        seen["alive"] = _running(pid)
        seen["status"] = (_trial_attempt(folder) or (0, 0.0, "gone"))[2]
    except BaseException as error:  # noqa: BLE001 - reported by the test, after the trial is released
        seen["error"] = error
    finally:
        release.touch()


def test_an_agent_trial_longer_than_its_lease_is_neither_interrupted_nor_stopped_by_another_runner(
        workdir, monkeypatch):
    server = FakeServer(workdir)
    server.install(monkeypatch)
    monkeypatch.setenv("HPSYS_LEASE_S", str(LEASE_S))  # children of this test inherit it too
    release = workdir / "release"
    path = write_experiment(workdir, epochs=2, epoch_s=0.0)
    experiment = yaml.safe_load(path.read_text())
    curves = experiment["models"][0]
    quick = {**curves, "name": "quick", "command": list(curves["command"])}
    curves["command"][-1:-1] = ["--hold", str(release)]
    experiment["models"].append(quick)
    path.write_text(yaml.safe_dump(experiment, sort_keys=False))
    (workdir / "s.yaml").write_text(yaml.safe_dump({
        "method": "grid", "metric": {"name": "val/acc", "goal": "maximize"}, "parameters": {"base_lr": [0.01]}}))
    seen: dict[str, Any] = {}
    other = threading.Thread(target=_meanwhile, args=(workdir, release, seen), daemon=True)
    other.start()
    try:
        code = main(["--sweep", "--models", "curves", "--categories", "optimizer", "--sweep-config", "s.yaml",
                     "--count", "1"])
    finally:
        release.touch()
        other.join(timeout=240)
    assert "error" not in seen, seen.get("error")
    assert seen["summary"].returncode == 0, seen["summary"].stderr
    assert "running" in seen["summary"].stdout and "interrupted" not in seen["summary"].stdout
    assert seen["runner"].returncode == 0, seen["runner"].stdout + seen["runner"].stderr
    assert "dead runner" not in seen["runner"].stdout
    assert seen["alive"] and seen["status"] == "running"
    assert code == 0
    assert [r["status"] for r in sweep_rows(workdir)] == ["completed"]


def test_a_lease_that_is_not_a_positive_number_is_a_one_line_error_before_anything_is_written(
        workdir, capsys, monkeypatch):
    monkeypatch.setenv("HPSYS_LEASE_S", "-1")
    write_experiment(workdir)
    for argv in (["--all"], ["--sweep", "--models", "curves", "--categories", "optimizer", "--count", "1"]):
        assert main(argv) == 2
        assert capsys.readouterr().err.strip().endswith("HPSYS_LEASE_S: must be a number of seconds > 0, got '-1'")
        assert not (workdir / "out").exists()
    monkeypatch.setenv("HPSYS_LEASE_S", "1e300")  # a lease that never runs out: a dead remote runner's cells never resume
    assert main(["--all"]) == 2
    assert capsys.readouterr().err.strip().endswith("HPSYS_LEASE_S: at most 86400 seconds (a day), got '1e300'")
    assert not (workdir / "out").exists()
