"""Shared cells: an option whose training config equals another cell's trains once and shows that result.

Through the real CLI in subprocesses, a user's command that records every
training it does (``fixtures/seed_child.py``), and the real store and report
reader: the option equal to the default (``CrossEntropyLoss``) is the
baseline's training.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from hyperparameter_system.config.experiment import load_experiment
from hyperparameter_system.hyperparameter_configs import plan_matrix
from hyperparameter_system.plugin.loading import load_plugins_for
from hyperparameter_system.report.gather import read_cells
from hyperparameter_system.store import Store, store_path
from reliability.fault_setup import cli
from seed_setup import seed_experiment, trainings



def _experiment(tmp: Path) -> Path:
    return seed_experiment(tmp, categories="""
        loss_function:
          options: [CrossEntropyLoss, {name: LabelSmoothingLoss, smoothing: 0.1}]""")


def _trainings(tmp: Path) -> dict[str, int]:
    """How many trainings each cell's child finished, from the child's side."""
    return {cell_id: len(lines) for cell_id, lines in trainings(tmp).items()}


def test_an_option_equal_to_the_default_trains_once_and_shows_the_baselines_result(tmp_path: Path) -> None:
    config = _experiment(tmp_path)
    plan = cli(config, "--matrix")
    assert plan.returncode == 0, plan.stderr
    assert "= baseline" in plan.stdout and "3 cells (1 model): 2 train, 1 shared" in plan.stdout

    done = cli(config, "--all")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "3 cell(s) selected (2 train, 1 shared)" in done.stdout
    with Store.open(store_path(tmp_path / "out", "seeds")) as store:
        cells = {r.cell.option_label: r.cell for r in store.cells()}
        assert store.attempts(cells["CrossEntropyLoss"].cell_id) == []  # never launched
        records = {r.cell.option_label: r for r in read_cells(store)}
    baseline, same = cells["default"], cells["CrossEntropyLoss"]
    assert same.same_as == baseline.cell_id and baseline.same_as == "" == cells["LabelSmoothingLoss_s0.1"].same_as
    assert _trainings(tmp_path) == {baseline.cell_id: 1, cells["LabelSmoothingLoss_s0.1"].cell_id: 1}
    shown = records["CrossEntropyLoss"]
    assert shown.cell.same_as == baseline.cell_id and shown.attempts == records["default"].attempts
    assert shown.latest is not None and shown.latest.status == "completed" and shown.latest.best_metric == 0.542

    again = cli(config, "--all", "--rerun", "all")
    assert again.returncode == 0, again.stdout + again.stderr
    assert _trainings(tmp_path) == {baseline.cell_id: 2, cells["LabelSmoothingLoss_s0.1"].cell_id: 2}
    resumed = cli(config, "--all")
    assert resumed.returncode == 0 and "; 1 shared" in resumed.stdout
    assert _trainings(tmp_path) == {baseline.cell_id: 2, cells["LabelSmoothingLoss_s0.1"].cell_id: 2}


def test_with_repeats_a_shared_cell_points_to_the_baseline_of_its_own_seed(tmp_path: Path) -> None:
    spec = load_experiment(_experiment(tmp_path))
    cells = plan_matrix(spec, load_plugins_for(spec), now=datetime(2026, 11, 30), repeats=2)
    baselines = {c.seed: c.cell_id for c in cells if c.is_baseline}
    shared = [(c.seed, c.same_as) for c in cells if c.same_as]
    assert shared == [(42, baselines[42]), (43, baselines[43])]
