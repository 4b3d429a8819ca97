"""Experiments for the Ray tests: fake children (a user's own command) and the built-in trainer,
driven through the real CLI inside the cluster's network namespace."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

import yaml

from loopback_cluster import ADDRESS, LoopbackCluster

REPO = Path(__file__).resolve().parents[2]
FAKE_CHILD = REPO / "tests" / "runner" / "fake_child.py"


def fake_model(tmp: Path, name: str, resources: dict[str, float] | None = None, **fake: Any) -> dict[str, Any]:
    """A model whose command is the fake child with behaviour ``fake`` (epochs, sleep, marker_dir, ...)."""
    behaviour = tmp / f"{name}.json"
    behaviour.write_text(json.dumps({"FAKE": {"epochs": 2, **fake}}))
    model: dict[str, Any] = {"name": name, "command": ["{{ python }}", str(FAKE_CHILD), str(behaviour),
                                                       "OUTPUT_DIR", "{{ output_dir }}"]}
    if resources:
        model["resources"] = resources
    return model


def write_experiment(tmp: Path, models: list[dict[str, Any]], *, name: str = "rx", options: int = 1,
                     execution: dict[str, Any] | None = None, wandb: str = "disabled",
                     overrides: dict[str, Any] | None = None) -> Path:
    """An experiment of ``models`` x (baseline + ``options`` optimizer options) on the Ray backend."""
    choices = [{"name": "SGD", "lr": 0.1}, {"name": "SGD", "lr": 0.01}, {"name": "AdamW", "lr": 0.002}]
    experiment = {
        "experiment": {"name": name, "output_dir": str(tmp / "out"), "temp_config_dir": str(tmp / "configs"),
                       **({"overrides": overrides} if overrides else {})},
        "wandb": {"mode": wandb},
        "execution": {"backend": "ray", "retries": 0, **(execution or {})},
        "models": models,
        "categories": {"optimizer": {"options": choices[:options]}} if options else {},
    }
    path = tmp / f"{name}.yaml"
    path.write_text(yaml.safe_dump(experiment, sort_keys=False))
    return path


def hpsys_argv(config: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "hyperparameter_system.experiment_runner", "--config", str(config),
            "--ray-address", ADDRESS, *args]


def hpsys(cluster: LoopbackCluster, config: Path, *args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    """The real CLI, run as the cluster's driver."""
    return cluster.run(hpsys_argv(config, *args), timeout=timeout, cwd=config.parent)


def summary(cluster: LoopbackCluster, config: Path) -> dict[str, Any]:
    done = hpsys(cluster, config, "--summary", "--format", "json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def cells_by_model(report: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    return {model["model"]: model["cells"] for model in report["models"]}


def attempts(tmp: Path, name: str = "rx", columns: str = "cell_id, status, node, output_dir") -> list[tuple[Any, ...]]:
    """Attempt rows in order, read without writing (empty while the store cannot be read)."""
    return query(tmp, f"SELECT {columns} FROM attempts ORDER BY id", name)


def query(tmp: Path, sql: str, name: str = "rx") -> list[tuple[Any, ...]]:
    """Rows of a read-only query on the experiment's store (empty while it cannot be read)."""
    db = tmp / "out" / name / "results.sqlite"
    try:
        conn = sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True, timeout=5)
        try:
            return conn.execute(sql).fetchall()
        finally:
            conn.close()
    except sqlite3.Error:
        return []


def wait_for(condition: Callable[[], Any], what: str, timeout: float = 120.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.25)
