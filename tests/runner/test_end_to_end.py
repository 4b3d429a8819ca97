"""The run command end to end: real CLI, real plugins and matrix, real children.

One test drives a third-party-style script (tests/fixtures/reid_like) through a
model's ``command:`` + ``metric_patterns:``; one trains the built-in trainer on a
tiny digits matrix with W&B offline and an API-key canary in the environment.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from hyperparameter_system.store import Store, store_path

REID = Path(__file__).resolve().parents[1] / "fixtures" / "reid_like"


def _cli(tmp: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hyperparameter_system.experiment_runner",
                           "--config", str(tmp / "exp.yaml"), *args], cwd=tmp, capture_output=True,
                          text=True, timeout=300, env=env)


def test_no_selection_is_a_one_line_user_error(tmp_path: Path) -> None:
    (tmp_path / "exp.yaml").write_text("experiment: {name: x}\nmodels: [{name: small_cnn}]\n")
    done = _cli(tmp_path)
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "--all" in done.stderr
    assert not (tmp_path / "output").exists()


@pytest.mark.slow
def test_user_command_with_metric_patterns_runs_unmodified_script(tmp_path: Path) -> None:
    command = ["{{ python }}", str(REID / "tools" / "train.py"), f"--config_file={REID / 'configs' / 'softmax.yml'}",
               "{{ overrides }}", "OUTPUT_DIR", "{{ output_dir }}"]
    (tmp_path / "exp.yaml").write_text(f"""
experiment: {{name: reid, metric: {{name: mAP, goal: maximize}}, overrides: {{SOLVER.MAX_EPOCHS: 2}}}}
wandb: {{mode: disabled}}
execution: {{parallel: 2, devices: cpu}}
models:
  - name: reid_linear
    command: {command!r}
    metric_patterns: {{mAP: 'mAP: ([0-9.]+)%', rank1: 'Rank-1\\s*:([0-9.]+)%'}}
categories:
  optimizer:
    options: [{{name: SGD, lr: 0.5}}, {{name: SGD, lr: 0.05}}]
""")
    first = _cli(tmp_path, "--all")
    assert first.returncode == 0, first.stdout + first.stderr
    with Store.open(store_path(tmp_path / "output", "reid")) as store:
        results = {r.cell.option_label: r for r in store.cell_results()}
        assert {r.latest.status for r in results.values()} == {"completed"}
        fast, slow = results["SGD_lr0.5_wd0.0001_m0.9"].best, results["SGD_lr0.05_wd0.0001_m0.9"].best
        assert fast.metric == "mAP" and fast.best_metric > slow.best_metric  # the config reached the script
        history = store.epochs(fast.id)
        assert [e.epoch for e in history] == [1, 2] and set(history[0].metrics) == {"epoch", "mAP", "rank1"}
        assert "SOLVER.BASE_LR" in fast.command and "0.5" in fast.command
        assert "mAP:" in (Path(fast.output_dir) / "log.txt").read_text()  # the script's own log
        attempts = len(store.attempts())
    again = _cli(tmp_path, "--all")
    assert again.returncode == 0 and again.stdout.count("skip") == 3
    with Store.open(store_path(tmp_path / "output", "reid")) as store:
        assert len(store.attempts()) == attempts  # resume: same run names, nothing re-run


@pytest.mark.slow
def test_builtin_trainer_tiny_digits_matrix_with_wandb_offline_and_no_leaked_key(tmp_path: Path) -> None:
    canary = "canary-91e0aa77d3"
    (tmp_path / "exp.yaml").write_text("""
experiment:
  name: tiny
  overrides: {DATASETS.NAME: digits, DATASETS.MAX_TRAIN_SAMPLES: 256, INPUT.SIZE: 8, SOLVER.MAX_EPOCHS: 2}
wandb: {mode: offline}
execution: {parallel: 2, devices: cpu, timeout: 240}
models: [{name: small_cnn}]
categories:
  optimizer:
    options: [{name: AdamW, lr: 0.003}]
""")
    env = {**os.environ, "WANDB_API_KEY": canary, "WANDB_MODE": "offline"}
    done = _cli(tmp_path, "--all", env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    with Store.open(store_path(tmp_path / "output", "tiny")) as store:
        results = store.cell_results()
        assert len(results) == 2 and {r.latest.status for r in results} == {"completed"}
        for result in results:
            assert 0.0 < result.best.best_metric <= 1.0 and len(store.epochs(result.best.id)) == 2
            assert list(Path(result.best.output_dir).glob("wandb/offline-run-*/run-*.wandb"))
            # the package list, read once by the fork server, is still each forked run's requirements.txt
            requirements = next(Path(result.best.output_dir).glob("wandb/offline-run-*/files/requirements.txt"))
            assert "torch==" in requirements.read_text() and "wandb==" in requirements.read_text()
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert [p for p in files if canary.encode() in p.read_bytes()] == []


@pytest.mark.slow
def test_model_plugin_next_to_the_experiment_file_trains_in_the_child(tmp_path: Path) -> None:
    """A user's own models/*.py is found by the child too, wherever the child starts."""
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "tiny_mlp.py").write_text('''
from hyperparameter_system.hookspecs import hookimpl
from hyperparameter_system.model_spec import ModelSpec


def build(name, num_classes, cfg):
    import torch.nn as nn

    side = cfg.INPUT.SIZE
    return nn.Sequential(nn.Flatten(), nn.Linear(3 * side * side, 32), nn.ReLU(), nn.Linear(32, num_classes))


@hookimpl
def register_models(register):
    register(ModelSpec(family="tiny_mlp", names=lambda: {"tiny_mlp"}, build=build, description="a user's MLP"))
''')
    (tmp_path / "exp.yaml").write_text("""
experiment: {name: own, overrides: {INPUT.SIZE: 8, SOLVER.MAX_EPOCHS: 1}}
models: [{name: tiny_mlp}]
wandb: {mode: disabled}
""")
    done = _cli(tmp_path, "--all")
    assert done.returncode == 0, done.stdout + done.stderr
    with Store.open(store_path(tmp_path / "output", "own")) as store:
        (result,) = store.cell_results()
    assert result.latest.status == "completed" and result.latest.best_metric > 0.3
