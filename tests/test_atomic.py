"""Atomic writes: whole files only, readable by colleagues, nothing left behind."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest
import yaml

from hyperparameter_system.files.atomic import write_text_atomic


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_writes_whole_files_that_others_can_read(tmp_path: Path) -> None:
    target = tmp_path / "deep" / "report.html"
    write_text_atomic(target, "old")
    write_text_atomic(target, "new", durable=False)
    assert target.read_text() == "new"
    assert _mode(target) == 0o644
    assert [p.name for p in target.parent.iterdir()] == ["report.html"]  # no temporary file left


def test_a_failed_write_keeps_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "result.json"
    write_text_atomic(target, "complete")
    with pytest.raises(TypeError):
        write_text_atomic(target, 42)  # type: ignore[arg-type]
    assert target.read_text() == "complete"
    assert [p.name for p in tmp_path.iterdir()] == ["result.json"]


def test_rendered_cell_configs_are_readable_by_others(tmp_path: Path) -> None:
    from hyperparameter_system.config.experiment import load_experiment
    from hyperparameter_system.hyperparameter_configs import plan_matrix, render_cells
    from hyperparameter_system.plugin.loading import load_plugins_for

    (tmp_path / "exp.yaml").write_text("experiment: {name: perms}\nmodels: [small_cnn]\n")
    spec = load_experiment(str(tmp_path / "exp.yaml"))
    registry = load_plugins_for(spec)
    paths = render_cells(plan_matrix(spec, registry, now=datetime(2026, 11, 23)), spec, registry)
    assert paths and all(_mode(p) == 0o644 for p in paths)


def test_a_ctrl_c_while_a_big_plan_renders_leaves_only_whole_configs(tmp_path: Path) -> None:
    """An interrupt in the middle of rendering leaves no config half-written under its own name (a write
    in progress is a hidden temporary file, which a later run removes)."""
    options = [{"name": "SGD", "lr": round(1e-4 * (i + 1), 6)} for i in range(600)]
    (tmp_path / "exp.yaml").write_text(yaml.safe_dump({
        "experiment": {"name": "big", "output_dir": str(tmp_path / "out"), "temp_config_dir": str(tmp_path / "c")},
        "wandb": {"mode": "disabled"}, "models": ["small_cnn"], "categories": {"optimizer": {"options": options}}}))
    child = subprocess.Popen([sys.executable, "-m", "hyperparameter_system.experiment_runner", "--config",
                              str(tmp_path / "exp.yaml"), "--dry-run", "--all"], cwd=tmp_path,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    folder, deadline = tmp_path / "c" / "big" / "small_cnn", time.monotonic() + 120
    try:
        while not (folder.is_dir() and len(os.listdir(folder)) > 20):
            assert child.poll() is None and time.monotonic() < deadline, "the configs were never being rendered"
            time.sleep(0.002)
        child.send_signal(signal.SIGINT)
        _out, err = child.communicate(timeout=120)
    finally:
        child.kill()
    assert child.returncode == 130 and err.strip().endswith("interrupted"), err
    endings = {path.read_text().rstrip("\n").rpartition("\n")[2] for path in folder.glob("*.yaml")}  # last lines
    assert len(endings) == 1 and "" not in endings, f"configs not whole: {len(endings)} different endings"


def test_a_folder_at_a_configs_name_is_one_line_naming_that_config(tmp_path: Path) -> None:
    from hyperparameter_system.commands.folders import render_configs
    from hyperparameter_system.config.experiment import load_experiment
    from hyperparameter_system.errors import HpsysError
    from hyperparameter_system.hyperparameter_configs import plan_matrix
    from hyperparameter_system.plugin.loading import load_plugins_for

    (tmp_path / "exp.yaml").write_text(f"experiment: {{name: dirs, temp_config_dir: {tmp_path / 'c'}}}\n"
                                       "models: [small_cnn]\n")
    spec = load_experiment(str(tmp_path / "exp.yaml"))
    registry = load_plugins_for(spec)
    cells = plan_matrix(spec, registry, now=datetime(2026, 11, 23))
    Path(cells[0].config_path).mkdir(parents=True)
    with pytest.raises(HpsysError, match=f"cannot write {cells[0].config_path}: Is a directory$"):
        render_configs(cells, spec, registry)
