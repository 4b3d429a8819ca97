"""Every value is checked before launch: the trainer's own rules at plan time, located.

A value the child would refuse fails ``--all`` (and ``--matrix``) with one line
``file:line: key: reason`` and exit 2, before the store or any config is
written; a sweep's listed values are checked before its first trial; and a
child that exits 2 (it refused its config) is never retried. Real CLI
processes throughout; only the last test starts children (tiny scripts).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from hyperparameter_system.store import Store, store_path

AUGMENTATION = """\
name: augmentation
prefix: aug
label: "flip{{ INPUT.HFLIP_PROB }}"
options:
  - {INPUT.HFLIP_PROB: 0.0}
  - {INPUT.HFLIP_PROB: %s}
"""


def _cli(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hyperparameter_system.experiment_runner", "--config",
                           str(folder / "exp.yaml"), *args], cwd=folder, capture_output=True, text=True,
                          timeout=180, env={**os.environ, "WANDB_MODE": "disabled"}, check=False)


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def _line(path: Path, needle: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if needle in line)


def _refused(folder: Path, name: str, *args: str) -> str:
    """Run the CLI; assert exit 2, one line, nothing written; return the line."""
    done = _cli(folder, *args)
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr, done.stderr
    assert not store_path(folder / "output", name).exists()
    assert not (folder / "temp_configs" / name).exists()
    return done.stderr.strip().removeprefix("error: ")


@pytest.mark.parametrize("epochs", [0, -3])
def test_zero_or_negative_epochs_in_the_overrides(tmp_path, epochs):
    config = _write(tmp_path / "exp.yaml", f"""
        experiment:
          name: epochs
          overrides:
            SOLVER:
              MAX_EPOCHS: {epochs}
        models: [small_cnn]
        """)
    line = _refused(tmp_path, "epochs", "--all")
    assert line == (f"{config}:{_line(config, 'MAX_EPOCHS')}: experiment.overrides.SOLVER.MAX_EPOCHS: "
                    f"must be >= 1, got {epochs}")


def test_a_metric_the_trainer_never_produces(tmp_path):
    config = _write(tmp_path / "exp.yaml", """
        experiment:
          name: metric
          metric: val/accuracy
        models: [small_cnn]
        """)
    line = _refused(tmp_path, "metric", "--dry-run")
    assert line.startswith(f"{config}:{_line(config, 'val/accuracy')}: experiment.metric: METRIC.NAME: ")
    assert "'val/accuracy'" in line and "val/acc, val/f1, val/loss" in line


def test_a_command_models_metric_must_be_one_of_its_patterns(tmp_path):
    config = _write(tmp_path / "exp.yaml", """
        experiment: {name: patterns, metric: mAP}
        models:
          - name: mine
            command: ["{{ python }}", "train.py"]
            metric_patterns: {rank1: 'Rank-1: ([0-9.]+)'}
        """)
    line = _refused(tmp_path, "patterns", "--all")
    assert line.startswith(f"{config}:2: experiment.metric: model mine (line 4) reads its metrics with "
                           "metric_patterns (rank1), which has no 'mAP'")


def test_a_yaml_option_out_of_range_in_the_experiment_file(tmp_path):
    _write(tmp_path / "categories" / "augmentation.yaml", AUGMENTATION % "0.5")
    config = _write(tmp_path / "exp.yaml", """
        experiment: {name: flip}
        models: [small_cnn]
        categories:
          augmentation:
            options:
              - {INPUT.HFLIP_PROB: 0.5}
              - {INPUT.HFLIP_PROB: 5.0}
        """)
    line = _refused(tmp_path, "flip", "--matrix")
    assert line == (f"{config}:{_line(config, '5.0')}: categories.augmentation.options[1]: small_cnn: "
                    "INPUT.HFLIP_PROB: must be in [0.0, 1.0], got 5.0")


def test_a_yaml_option_out_of_range_in_the_category_file(tmp_path):
    category = _write(tmp_path / "categories" / "augmentation.yaml", AUGMENTATION % "5.0")
    _write(tmp_path / "exp.yaml", """
        experiment: {name: flipfile}
        models: [small_cnn]
        categories:
          augmentation: {enabled: true}
        """)
    line = _refused(tmp_path, "flipfile", "--all")
    assert line == (f"{category}:6: options[1]: small_cnn: INPUT.HFLIP_PROB: must be in [0.0, 1.0], got 5.0")


def test_sweep_values_are_checked_before_the_first_trial(tmp_path):
    config = _write(tmp_path / "exp.yaml", """
        experiment: {name: sweepvals}
        models: [small_cnn]
        categories:
          optimizer:
            options: [{name: SGD, lr: 0.1}]
            sweep:
              method: grid
              parameters:
                name: {values: [adam, sgd]}
                lr: {values: [0.1]}
        """)
    line = _refused(tmp_path, "sweepvals", "--sweep", "--categories", "optimizer")
    assert line.startswith(f"{config}:{_line(config, 'adam')}: categories.optimizer.sweep.parameters.name."
                           "values[0]: 'adam' is refused: ")
    assert "AdamW" in line  # the category's own reason names the valid ones


def test_a_child_that_exits_2_is_never_retried(tmp_path):
    """A crash (exit 1) is retried; a refused config (exit 2) is final at once."""
    _write(tmp_path / "exp.yaml", """
        experiment: {name: noretry}
        execution: {retries: 1, parallel: 2, devices: cpu}
        models:
          - name: refuses
            command: ["{{ python }}", "-c", "import sys; print('bad key'); sys.exit(2)"]
          - name: crashes
            command: ["{{ python }}", "-c", "import sys; sys.exit(1)"]
        """)
    done = _cli(tmp_path, "--all")
    assert done.returncode == 1, done.stdout + done.stderr
    with Store.open(store_path(tmp_path / "output", "noretry")) as store:
        attempts = {r.cell.model: r.n_attempts for r in store.cell_results()}
    assert attempts == {"refuses": 1, "crashes": 2}
