"""The reproduce command of ``--best`` gives the recorded metric exactly and leaves the evidence alone.

The recorded cell is the session's ``one_cell_run`` (fault_setup.py): small_cnn's
baseline on digits, its W&B run written offline into the attempt folder.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
from fault_setup import ONE_CELL_EXPERIMENT, OneCellRun

from hyperparameter_system.store import Store, store_path


def _cli(tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hyperparameter_system.experiment_runner",
                           "--config", str(tmp / "exp.yaml"), *args], cwd=tmp, capture_output=True,
                          text=True, timeout=300)


def _hashes(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.slow
def test_best_reproduce_command_gives_the_same_metric_in_a_fresh_folder(one_cell_run: OneCellRun,
                                                                        tmp_path: Path) -> None:
    root = one_cell_run.root
    assert one_cell_run.done.returncode == 0, one_cell_run.done.stdout + one_cell_run.done.stderr
    with Store.open(store_path(root / "output", ONE_CELL_EXPERIMENT)) as store:
        (result,) = store.cell_results()
    recorded = Path(result.latest.output_dir)
    before = _hashes(recorded)
    best = _cli(root, "--best")
    assert best.returncode == 0, best.stderr
    lines = best.stdout.splitlines()
    command = lines[lines.index(next(x for x in lines if x.startswith("# reproduce with"))) + 1]
    assert "HPS_TORCH_THREADS=" in command and "API_KEY" not in command
    # the W&B identity travels (a user's command has no other), never the run id: a new run
    assert "WANDB_PROJECT=small_cnn" in command and "WANDB_RUN_GROUP=baseline" in command
    assert "WANDB_RUN_ID" not in command
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    again = subprocess.run(["bash", "-c", command], cwd=elsewhere, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stdout + again.stderr
    (fresh,) = recorded.parent.glob("repro-*")
    reproduced = json.loads((fresh / "result.json").read_text())
    assert reproduced["best_metric"] == result.latest.best_metric  # exactly, not approximately
    assert _hashes(recorded) == before  # the recorded attempt is untouched
