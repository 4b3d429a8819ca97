"""One real tiny matrix per test session, run through the real CLI, for the report tests.

small_cnn on digits at 8x8, three epochs, five cells on two CPU slots: the
baseline, two sensible optimizers, one absurd learning rate (ends nonfinite)
and an early-stopping option strict enough to stop after two epochs, so the
store holds a winner, a loser, a failure and compute saved by early stopping.
While it runs, the fixture reads the store in-process until it catches a
running cell: the "summary during a run" snapshot.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from hyperparameter_system.store import store_path

EXPERIMENT = "report_digits"
MAX_EPOCHS = 3


@dataclass(frozen=True)
class RealRun:
    """What the session's real run left behind."""

    config: Path
    output_dir: Path
    store: Path
    returncode: int
    snapshot: dict | None  # summary JSON taken while cells were running
    log: str
    max_epochs: int = MAX_EPOCHS

    def variant(self, *, metric: str, goal: str) -> Path:
        """Another experiment file over the same store, judging another metric."""
        return write_experiment(self.config.parent, metric=metric, goal=goal,
                                name=f"exp_{metric.replace('/', '_')}_{goal}.yaml")


def write_experiment(root: Path, *, metric: str = "val/acc", goal: str = "maximize",
                     name: str = "exp.yaml") -> Path:
    """The experiment file of the session's matrix (a variant may judge another metric)."""
    path = root / name
    path.write_text(textwrap.dedent(f"""
        experiment:
          name: {EXPERIMENT}
          metric: {{name: {metric}, goal: {goal}}}
          output_dir: {root / 'out'}
          temp_config_dir: {root / 'temp_configs'}
          overrides:
            DATASETS.NAME: digits
            DATASETS.MAX_TRAIN_SAMPLES: 400
            INPUT.SIZE: 8
            SOLVER.MAX_EPOCHS: {MAX_EPOCHS}
            DATALOADER.BATCH_SIZE: 32
            DEVICE: cpu
        wandb:
          mode: offline
        execution:
          parallel: 2
          devices: cpu
          retries: 0
        models:
          - name: small_cnn
            description: the tiny CNN
        categories:
          optimizer:
            description: which optimizer
            options:
              - {{name: AdamW, lr: 0.003}}
              - {{name: Adam, lr: 0.0003}}
              - {{name: SGD, lr: 1000000.0}}
          early_stopping:
            description: stop when the metric stalls
            options:
              - {{patience: 1, min_delta: 0.5}}
    """))
    return path


def _snapshot_while_running(proc: subprocess.Popen, output_dir: Path) -> dict | None:
    """Poll the store until a cell is running (or the run ends)."""
    from hyperparameter_system.report import load_summary
    from hyperparameter_system.report.export import summary_to_dict
    from hyperparameter_system.report.gather import NoResultsError

    while proc.poll() is None:
        try:
            summary = load_summary(str(output_dir), EXPERIMENT, metric="val/acc", goal="maximize")
        except NoResultsError:
            summary = None
        if summary is not None and "running" in summary.status_counts:
            return summary_to_dict(summary)
        time.sleep(0.2)
    return None


@pytest.fixture(scope="session")
def real_run(tmp_path_factory: pytest.TempPathFactory) -> RealRun:
    """Run the matrix once for the whole session (about half a minute on two cores)."""
    root = tmp_path_factory.mktemp("report_real")
    config = write_experiment(root)
    log = root / "runner.log"
    with open(log, "w", encoding="utf-8") as handle:
        proc = subprocess.Popen(
            [sys.executable, "-m", "hyperparameter_system.experiment_runner", "--config", str(config),
             "--all"], stdout=handle, stderr=subprocess.STDOUT, cwd=root)
        snapshot = _snapshot_while_running(proc, root / "out")
        returncode = proc.wait(timeout=600)
    return RealRun(config=config, output_dir=root / "out", store=store_path(root / "out", EXPERIMENT),
                   returncode=returncode, snapshot=snapshot, log=log.read_text(encoding="utf-8"))
