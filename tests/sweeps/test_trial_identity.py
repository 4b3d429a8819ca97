"""A cell is planned once with its final identity: the rendered config names it as the store does.

A user reproduces a cell with ``train --config <rendered yaml>``, so the file's
header and W&B fields must be the cell's own: for a sweep trial its trial id,
the sweep's group and the sweep's tag, not the matrix cell it was drafted from.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from sweep_helpers import hpsys, sweep_rows, write_experiment


def _header(path: Path) -> dict[str, Any]:
    """The ``# name: json`` header lines of a rendered config."""
    rows = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("# ") and ": " in line and not line.startswith("# hpsys"):
            name, value = line[2:].split(": ", 1)
            rows[name] = json.loads(value)
    return rows


def _store_cells(folder: Path, name: str) -> list[dict[str, Any]]:
    conn = sqlite3.connect(f"{(folder / 'out' / name / 'results.sqlite').as_uri()}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute("SELECT * FROM cells ORDER BY run_name")]
    finally:
        conn.close()


def test_matrix_cells_render_the_id_and_max_epochs_the_store_keeps(tmp_path: Path):
    from hyperparameter_system.config.experiment import load_experiment
    from hyperparameter_system.hyperparameter_configs import plan_matrix, render_cells
    from hyperparameter_system.plugin.loading import load_plugins_for
    from hyperparameter_system.store import Store

    spec = load_experiment(str(write_experiment(tmp_path, epochs=4)))
    registry = load_plugins_for(spec)
    cells = plan_matrix(spec, registry, now=datetime(2026, 11, 23, 12, 0))
    paths = render_cells(cells, spec, registry)
    store = Store.open(tmp_path / "out" / spec.name, created_at=datetime(2026, 11, 23, 12, 0))
    try:
        store.register_cells(cells)
        rows = {row.cell.run_name: row.cell for row in store.cells()}
    finally:
        store.close()
    assert len(paths) == len(cells) == 2
    for path, cell in zip(paths, cells):
        assert _header(path)["cell id"] == rows[cell.run_name].cell_id == cell.cell_id
        assert rows[cell.run_name].max_epochs == cell.max_epochs == 4


def test_a_trial_of_yacs_keys_renders_its_store_id_and_the_sweeps_group_and_tag(tmp_path: Path):
    write_experiment(tmp_path, epochs=1, epoch_s=0.0, wandb="disabled")
    (tmp_path / "s.yaml").write_text(yaml.safe_dump({
        "method": "grid", "metric": {"name": "val/acc", "goal": "maximize"},
        "parameters": {"SOLVER.BASE_LR": {"values": [0.02]}}}))

    done = hpsys("--sweep", "--models", "curves", "--sweep-config", "s.yaml", "--count", "1",
                 "--backend", "local", cwd=tmp_path)

    assert done.returncode == 0, done.stdout + done.stderr
    [trial] = sweep_rows(tmp_path)
    [cell] = [c for c in _store_cells(tmp_path, "sweeptest") if c["cell_id"] == trial["cell_id"]]
    path = Path(tmp_path / cell["config_path"])
    assert _header(path)["cell id"] == cell["cell_id"]
    assert _header(path)["run name"] == cell["run_name"]
    config = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert config["WANDB"]["GROUP"] == cell["group"] == "sweep"
    assert f"sweep-{trial['sweep_id']}" in config["WANDB"]["TAGS"]
    assert config["SOLVER"]["BASE_LR"] == 0.02 and cell["max_epochs"] == 1
