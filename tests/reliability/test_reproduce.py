"""The reproduce command of ``--best`` gives the recorded metric exactly and leaves the evidence alone."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest

from hyperparameter_system.store import Store, store_path


def _cli(tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hyperparameter_system.experiment_runner",
                           "--config", str(tmp / "exp.yaml"), *args], cwd=tmp, capture_output=True,
                          text=True, timeout=300)


def _hashes(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.slow
def test_best_reproduce_command_gives_the_same_metric_in_a_fresh_folder(tmp_path: Path) -> None:
    (tmp_path / "exp.yaml").write_text("""
experiment:
  name: repro
  overrides: {DATASETS.NAME: digits, INPUT.SIZE: 8, SOLVER.MAX_EPOCHS: 1}
wandb: {mode: offline}
execution: {parallel: 1, devices: cpu}
models: [{name: small_cnn}]
""")
    assert _cli(tmp_path, "--all").returncode == 0
    with Store.open(store_path(tmp_path / "output", "repro")) as store:
        (result,) = store.cell_results()
    recorded = Path(result.latest.output_dir)
    before = _hashes(recorded)
    best = _cli(tmp_path, "--best")
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
    reproduced = __import__("json").loads((fresh / "result.json").read_text())
    assert reproduced["best_metric"] == result.latest.best_metric  # exactly, not approximately
    assert _hashes(recorded) == before  # the recorded attempt is untouched
