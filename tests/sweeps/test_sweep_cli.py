"""The ``--sweep`` command: file errors as one located line (exit 2), random/bayes trials inside
their distributions, and a grid over a category that reproduces the category's matrix cells."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from hyperparameter_system.config.experiment import DEFAULT_CONFIG
from hyperparameter_system.experiment_runner import main
from hyperparameter_system.sweeps.space import contains, normalize_parameters
from sweep_helpers import hpsys, sweep_rows, write_experiment


@pytest.mark.parametrize("text, line, key, words", [
    ("method: grdi\nparameters: {SOLVER.BASE_LR: [0.1]}\n", 1, "method", "method must be one of"),
    ("parameters:\n  base_lr:\n    min: 0.1\n    max: 0.01\n", 2, "parameters.base_lr", "min must be < max"),
    ("parameters: {base_lr: [0.1]}\nearly_terminate: {type: hyperband, eta: 3}\n", 2, "early_terminate",
     "min_iter, or max_iter together with s"),
    ("parameters: {base_lr: [0.1]}\ncuont: 3\n", 2, "cuont", "did you mean 'count'"),
    ("parameters: {base_lr: [0.1]}\nmetric: {name: val/acc, goal: up}\n", 2, "metric.goal", "maximize or minimize"),
    ("parameters:\n  base_lr: {distribution: log_uniform_values, min: 0.1, max: 1}\nmethod: grid\n", 3,
     "method", "grid search needs enumerable"),
])
def test_sweep_file_errors_are_one_located_line_and_exit_2(workdir, capsys, text, line, key, words):
    write_experiment(workdir)
    (workdir / "bad.yaml").write_text(text)
    code = main(["--sweep", "--models", "curves", "--sweep-config", "bad.yaml", "--backend", "local"])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err.startswith(f"error: bad.yaml:{line}: {key}: ") and words in err and "\n" not in err
    assert not (workdir / "temp_configs").exists()  # nothing half-written


def test_unknown_parameter_name_and_unknown_sweep_id_are_user_errors(workdir, capsys):
    write_experiment(workdir)
    (workdir / "s.yaml").write_text("method: grid\nparameters: {learning_rat: [0.1]}\n")
    assert main(["--sweep", "--models", "curves", "--sweep-config", "s.yaml", "--backend", "local"]) == 2
    assert "parameter 'learning_rat' sets nothing" in capsys.readouterr().err
    assert main(["--sweep", "--sweep-id", "nosuch", "--backend", "local"]) == 2
    assert "unknown sweep id 'nosuch'" in capsys.readouterr().err


SPACE = {
    "SOLVER.BASE_LR": {"distribution": "log_uniform_values", "min": 1e-4, "max": 1e-1},
    "SOLVER.WEIGHT_DECAY": {"distribution": "inv_log_uniform_values", "min": 1e-5, "max": 1e-2},
    "momentum": {"distribution": "uniform", "min": 0.5, "max": 0.99},
    "warmup_iters": {"distribution": "int_uniform", "min": 0, "max": 50},
    "ims_per_batch": {"distribution": "q_uniform", "min": 16, "max": 128, "q": 16},
    "SOLVER.GAMMA": {"distribution": "normal", "mu": 0.5, "sigma": 0.1},
    "SOLVER.ETA_MIN": {"distribution": "log_normal", "mu": -9, "sigma": 1},
    "INPUT": {"parameters": {"ROTATION_DEG": {"min": 0.0, "max": 10.0}}},
}


@pytest.mark.slow
@pytest.mark.parametrize("method", ["random", "bayes"])
def test_random_and_bayes_run_n_trials_inside_their_distributions(workdir, method):
    write_experiment(workdir, epochs=2, epoch_s=0.0, wandb="disabled")
    (workdir / "s.yaml").write_text(yaml.safe_dump({"method": method, "metric": {"name": "val/acc", "goal": "maximize"},
                                                    "parameters": SPACE}))
    done = hpsys("--sweep", "--models", "curves", "--sweep-config", "s.yaml", "--count", "4", "--parallel", "2",
                 "--backend", "local", cwd=workdir)
    assert done.returncode == 0, done.stdout + done.stderr
    rows = sweep_rows(workdir)
    space = normalize_parameters(SPACE)
    assert [r["status"] for r in rows] == ["completed"] * 4
    for row in rows:
        assert all(contains(space[name], value) for name, value in row["params"].items()), row["params"]
        seen = json.loads(next((workdir / "out").rglob(f"*t{row['trial']:03d}/attempt-1/seen.json")).read_text())
        assert seen["overrides"]["SOLVER.BASE_LR"] == pytest.approx(row["params"]["SOLVER.BASE_LR"])
        assert seen["overrides"]["DATALOADER.BATCH_SIZE"] == row["params"]["ims_per_batch"]
        assert seen["overrides"]["INPUT.ROTATION_DEG"] == pytest.approx(row["params"]["INPUT"]["ROTATION_DEG"])
        assert seen["env"]["HPS_SWEEP_ID"] == row["sweep_id"]
    assert len({r["params"]["SOLVER.BASE_LR"] for r in rows}) == 4
    # The closing hint is a whole command: it names the experiment file it came from.
    assert f"continue with: hpsys --config {DEFAULT_CONFIG} --sweep --sweep-id {rows[0]['sweep_id']}" in done.stdout


def test_grid_over_a_category_reproduces_its_matrix_cells(workdir):
    from hyperparameter_system import hyperparameter_configs as matrix
    from hyperparameter_system.config.experiment import load_experiment
    from hyperparameter_system.plugin.loading import load_plugins_for
    from hyperparameter_system.sweeps.engine import suggest, to_sweep_runs
    from hyperparameter_system.sweeps.sources import resolve_sweep
    from hyperparameter_system.sweeps.state import TrialRecord
    from hyperparameter_system.sweeps.trial import TrialPlanner

    names, lrs = ["AdamW", "SGD"], [0.01, 0.003]
    path = write_experiment(workdir, sweep={"method": "grid", "parameters": {"name": names, "lr": lrs}})
    data = yaml.safe_load(path.read_text())
    data["categories"]["optimizer"]["options"] = [{"name": n, "lr": lr} for n in names for lr in lrs]
    path.write_text(yaml.safe_dump(data))
    spec = load_experiment(str(path))
    registry = load_plugins_for(spec)
    cells = [c for c in matrix.plan_matrix(spec, registry, categories=["optimizer"], now=_now())
             if c.category == "optimizer"]
    matrix.render_cells(cells, spec, registry)
    sweep, from_file = resolve_sweep(spec, registry, "optimizer", sweep_file=None, method=None)
    planner = TrialPlanner(spec, registry, "curves", "optimizer", sweep, "gridtest", _now(), from_file)
    trials, done = [], []
    while (point := suggest(sweep.engine_config(), to_sweep_runs(done, "val/acc"), seed="x")) is not None:
        trials.append(planner.trial_cell(point, len(trials) + 1))
        done.append(TrialRecord("gridtest", len(done) + 1, "", None, point, "completed", 1, 0, 0.5, [0.5], 0, 0))
    assert sorted(json.dumps(t.option, sort_keys=True) for t in trials) == \
        sorted(json.dumps(c.option, sort_keys=True) for c in cells)
    by_option = {json.dumps(c.option, sort_keys=True): c for c in cells}
    for trial in trials:
        cell = by_option[json.dumps(trial.option, sort_keys=True)]
        trial_config, cell_config = _config(trial.config_path), _config(cell.config_path)
        # The same training; the trial's W&B tags are the cell's plus its sweep's.
        assert trial_config["WANDB"].pop("TAGS") == [*cell_config["WANDB"].pop("TAGS"), "sweep-gridtest"]
        assert trial_config == cell_config
        assert trial.cell_id != cell.cell_id and trial.run_name.endswith(f"_gridtest-t{trials.index(trial) + 1:03d}")


def _now():
    from datetime import datetime

    return datetime(2026, 11, 23, 12, 0)


def _config(path: str) -> dict:
    data = yaml.safe_load(Path(path).read_text())
    data.pop("OUTPUT_DIR")
    data["WANDB"].pop("NAME")
    return data
