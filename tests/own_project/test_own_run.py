"""A user's own training projects, run for real by the CLI from another folder.

Each test runs one shipped example (examples/own_*_project.yaml) against its
fixture project with the six built-in categories, then reads back what the
*script* saw (its own printed config, its own W&B run) and checks every value
the run name claims.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from hyperparameter_system.store import Store, store_path
from wandb_runs import find_offline_runs, wait_for_offline_run

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"


def _experiment(tmp: Path, name: str, project: str) -> Path:
    """The shipped example, pointed at the fixture by absolute path, writing under tmp."""
    text = (ROOT / "examples" / name).read_text().replace(f"../tests/fixtures/{project}", str(FIXTURES / project))
    path = tmp / "experiments" / "exp.yaml"
    path.parent.mkdir(parents=True)
    path.write_text(text)
    return path


def _run(config: Path, *args: str, wandb_mode: str = "offline") -> subprocess.CompletedProcess[str]:
    """The CLI from another folder; ``WANDB_MODE`` wins over the file's ``wandb.mode``, so it is set here."""
    elsewhere = config.parent.parent / "elsewhere"
    elsewhere.mkdir(exist_ok=True)
    env = {**os.environ, "WANDB_MODE": wandb_mode}
    return subprocess.run([sys.executable, "-m", "hyperparameter_system.experiment_runner", "--config",
                           str(config), *args], cwd=elsewhere, capture_output=True, text=True, timeout=600,
                          env=env)


def _printed_config(log: str) -> dict[str, Any]:
    """The config the script printed after ``Running with config:`` (yacs's own text form)."""
    lines = log.split("Running with config:\n", 1)[1].splitlines()
    block = []
    for line in lines:
        if " reid_baseline " in line:
            break
        block.append(line)
    flat: dict[str, Any] = {}

    def walk(node: dict[str, Any], prefix: str) -> None:
        for key, value in node.items():
            walk(value, f"{prefix}{key}.") if isinstance(value, dict) else flat.__setitem__(prefix + key, value)

    walk(yaml.load("\n".join(block), Loader=yaml.BaseLoader), "")  # every value as the text printed
    return flat


# What each option's run name claims, in the script's keys and printed form.
REID_CLAIMS = {
    "base_default": {"SOLVER.OPTIMIZER_NAME": "Adam", "SOLVER.WEIGHT_DECAY": "0.0005",
                     "INPUT.SIZE_TRAIN": ["16", "16"], "SOLVER.LR_SCHEDULER": "WarmupMultiStepLR"},
    "opt_SGD_lr0.05_wd0.0001_m0.9": {"SOLVER.OPTIMIZER_NAME": "SGD", "SOLVER.BASE_LR": "0.05",
                                     "SOLVER.WEIGHT_DECAY": "0.0001", "SOLVER.MOMENTUM": "0.9"},
    "sched_CosineAnnealingLR_tmax2": {"SOLVER.LR_SCHEDULER": "CosineAnnealingLR", "SOLVER.COSINE_T_MAX": "2"},
    "img_12": {"INPUT.SIZE_TRAIN": ["12", "12"], "INPUT.SIZE_TEST": ["12", "12"]},
    "bs_32": {"SOLVER.IMS_PER_BATCH": "32"},
    "loss_LabelSmoothingLoss_s0.2": {"MODEL.IF_LABELSMOOTH": "on", "MODEL.LABELSMOOTH_EPSILON": "0.2"},
    "es_p1_d0.01": {"SOLVER.EARLY_STOP_PATIENCE": "1", "SOLVER.EARLY_STOP_DELTA": "0.01"},
}


@pytest.mark.slow
def test_yacs_project_runs_every_category_and_its_own_printed_config_matches_each_run_name(
        tmp_path: Path) -> None:
    config = _experiment(tmp_path, "own_yacs_project.yaml", "reid_strong")
    config.write_text(config.read_text().replace("wandb: {mode: offline}", "wandb: {mode: disabled}"))
    done = _run(config, "--all", wandb_mode="disabled")  # W&B is not read back: no run, no wandb import
    assert done.returncode == 0, done.stdout + done.stderr
    with Store.open(store_path(tmp_path / "experiments" / "output", "own_yacs_project")) as store:
        results = store.cell_results()
    assert {r.latest.status for r in results} == {"completed"} and len(results) == len(REID_CLAIMS)
    for result in results:
        run = result.cell.run_name.rsplit("_", 1)[0]
        printed = _printed_config((Path(result.best.output_dir) / "log.txt").read_text())
        claims = {"MODEL.DEVICE": "cpu", "SOLVER.MAX_EPOCHS": "2", **REID_CLAIMS[run]}
        assert {k: printed[k] for k in claims} == claims, run
        assert result.best.metric == "mAP" and 0 < result.best.best_metric <= 100
    summary = _run(config, "--summary")
    assert summary.returncode == 0 and "reid_tiny" in summary.stdout, summary.stderr


@pytest.mark.slow
def test_yaml_project_run_by_its_shell_script_logs_its_own_wandb_run_into_the_cells_project(
        tmp_path: Path) -> None:
    config = _experiment(tmp_path, "own_yaml_project.yaml", "b3_project")
    canary = "canary-7f3a9c"  # an env value: the child's environment only, never a file
    config.write_text(config.read_text().replace('      PYTHON: "{{ python }}"',
                                                 f'      PYTHON: "{{{{ python }}}}"\n      B3_TOKEN: {canary}'))
    done = _run(config, "--all")
    assert done.returncode == 0, done.stdout + done.stderr
    with Store.open(store_path(tmp_path / "experiments" / "output", "own_yaml_project")) as store:
        results = store.cell_results()
        epochs = {r.cell.run_name: [e.epoch for e in store.epochs(r.best.id)] for r in results}
    assert {r.latest.status for r in results} == {"completed"} and len(results) == 7
    # One evaluation per epoch the script printed; W&B's own summary lines are not epochs.
    assert {tuple(found) for found in epochs.values()} == {(1, 2)}, epochs
    claims = {"opt": {"optimizer_name": "sgd", "lr": 0.05, "weight_decay": 0.0001, "momentum": 0.9},
              "sched": {"scheduler": "step", "scheduler_params": {"T_max": 10, "eta_min": 0.0, "step_size": 1,
                                                                  "gamma": 0.5}},
              "img": {"image_size": 12}, "bs": {"batch_size": 64},
              "loss": {"criterion": "label_smoothing", "label_smoothing": 0.1},
              "es": {"patience": 1, "min_delta": 0.01}, "base": {"optimizer_name": "adamw", "lr": 0.001}}
    for result in results:
        cell, out = result.cell, Path(result.best.output_dir)
        log = (out / "stdout.log").read_text()
        seen = json.loads(log.split("config: ", 1)[1].splitlines()[0])  # what the script loaded
        expected = {"epochs": 2, "seed": 0, **claims[cell.run_name.split("_", 1)[0]]}
        assert {k: seen[k] for k in expected} == expected, cell.run_name
        runs = find_offline_runs(out)
        assert len(runs) == 1, cell.run_name  # the script's own run; hpsys made none beside it
        run = wait_for_offline_run(runs[0], timeout_s=60)
        assert (run.project, run.name, run.group) == (cell.project, cell.run_name, cell.category)
        assert [h["epoch"] for h in run.history if "val_acc" in h][:1] == [1]
    written = [p for p in tmp_path.rglob("*") if p.is_file() and p.name != "exp.yaml"]
    assert [p for p in written if canary.encode() in p.read_bytes()] == []
