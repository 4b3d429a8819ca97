"""A local sweep trains real cells: small_cnn on digits, W&B offline runs read back."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from sweep_helpers import hpsys, sweep_rows


@pytest.mark.slow
def test_local_grid_sweep_trains_real_trials_that_carry_the_sweep_id(workdir: Path):
    from wandb_runs import find_offline_runs, wait_for_offline_run

    experiment = {
        "experiment": {"name": "realsweep", "output_dir": "./out", "temp_config_dir": "./temp_configs",
                       "overrides": {"INPUT.SIZE": 8, "SOLVER.MAX_EPOCHS": 1, "DATASETS.NAME": "digits"}},
        "models": [{"name": "small_cnn"}],
        "categories": {"optimizer": {"options": [{"name": "AdamW", "lr": 0.001}],
                                     "sweep": {"method": "grid",
                                               "parameters": {"name": ["AdamW"], "lr": [0.003, 0.01]}}}},
        "execution": {"parallel": 2, "retries": 0},
        "wandb": {"mode": "offline"},
    }
    (workdir / "experiment_config.yaml").write_text(yaml.safe_dump(experiment, sort_keys=False))

    done = hpsys("--sweep", "--models", "small_cnn", "--categories", "optimizer", cwd=workdir)

    assert done.returncode == 0, done.stderr
    rows = sweep_rows(workdir, "realsweep")
    assert [r["status"] for r in rows] == ["completed", "completed"]
    sweep_id = rows[0]["sweep_id"]
    runs = [wait_for_offline_run(p) for p in find_offline_runs(workdir / "out")]
    assert len(runs) == 2 and all(run.finished for run in runs)
    assert {run.config["sweep_id"] for run in runs} == {sweep_id}
    assert sorted(run.config["SOLVER.BASE_LR"] for run in runs) == [0.003, 0.01]
    assert all(run.summary["val/acc"] > 0.3 for run in runs)
