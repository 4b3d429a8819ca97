"""``--matrix`` / ``--dry-run`` end to end, in fresh processes, on real experiment files."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

EXPERIMENT = """\
experiment:
  name: cli_exp
  overrides: {SOLVER.MAX_EPOCHS: 1}
models:
  - name: small_cnn
categories:
  optimizer:
    options:
      - {name: AdamW, lr: 0.001, weight_decay: 0.001}
      - {name: SGD, lr: {lr}}
  image_size:
    options: [16, 24]
"""


def _experiment(tmp_path: Path, lr: str = "0.05") -> Path:
    path = tmp_path / "experiment_config.yaml"
    path.write_text(EXPERIMENT.replace("{lr}", lr), encoding="utf-8")
    return path


def _run(code: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "WANDB_API_KEY": "canary-secret-77", "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120, check=False)


def test_matrix_prints_cells_and_imports_neither_torch_nor_wandb(tmp_path):
    path = _experiment(tmp_path)
    out = _run(f"""
        import sys
        from hyperparameter_system.experiment_runner import main
        rc = main(["--config", {str(path)!r}, "--matrix"])
        print("HEAVY", sorted(m for m in ("torch", "wandb", "timm", "torchvision") if m in sys.modules), rc)
        """, tmp_path)
    assert "HEAVY [] 0" in out.stdout, out.stderr
    assert "opt_AdamW_lr0.001_wd0.001_" in out.stdout and "img_24_" in out.stdout
    assert "5 cells (1 model)" in out.stdout
    assert not (tmp_path / "temp_configs").exists()  # --matrix renders nothing


def test_dry_run_renders_configs_and_prints_child_commands(tmp_path):
    path = _experiment(tmp_path)
    out = subprocess.run([sys.executable, "-m", "hyperparameter_system.experiment_runner", "--config", str(path),
                          "--dry-run", "--categories", "optimizer"], cwd=tmp_path, capture_output=True, text=True,
                         env={**os.environ, "WANDB_API_KEY": "canary-secret-77"}, timeout=120, check=False)
    assert out.returncode == 0, out.stderr
    commands = [line for line in out.stdout.splitlines() if "hyperparameter_system.train" in line]
    assert len(commands) == 3
    rendered = sorted((tmp_path / "temp_configs" / "cli_exp" / "small_cnn").glob("*.yaml"))
    assert [p.name.rsplit("_", 1)[0] for p in rendered] == ["base_default", "opt_AdamW_lr0.001_wd0.001",
                                                           "opt_SGD_lr0.05_wd0.0001_m0.9"]
    assert all(f"--config-file {p}" in out.stdout for p in rendered)
    assert not any("canary-secret-77" in p.read_text() for p in rendered)


def test_bad_option_is_one_line_and_exit_2(tmp_path):
    path = _experiment(tmp_path, lr="-0.1")
    out = subprocess.run([sys.executable, "-m", "hyperparameter_system.experiment_runner", "--config", str(path),
                          "--dry-run"], cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False)
    assert out.returncode == 2
    assert out.stderr.strip() == (f"error: {path}:10: categories.optimizer.options[1]: "
                                  "lr must be > 0, but got lr=-0.1")
    assert not (tmp_path / "temp_configs").exists()


def test_matrix_and_dry_run_show_an_eta_once_the_store_has_history(tmp_path):
    from datetime import datetime

    from hyperparameter_system.config.experiment import load_experiment
    from hyperparameter_system.hyperparameter_configs import plan_matrix
    from hyperparameter_system.plugin.loading import load_plugins_for
    from hyperparameter_system.store import Store, store_path

    path = _experiment(tmp_path)
    before = subprocess.run([sys.executable, "-m", "hyperparameter_system.experiment_runner", "--config", str(path),
                             "--matrix"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    # image_size 16 is small_cnn's own size: that cell shares the baseline's training and never runs
    assert "5 cells (1 model): 4 train, 1 shared" in before.stdout and "4 to run; ETA unknown" in before.stdout
    spec = load_experiment(str(path))
    cells = plan_matrix(spec, load_plugins_for(spec), now=datetime(2026, 11, 23, 12, 0))
    with Store.open(store_path(spec.output_dir, spec.name), experiment=spec.name) as store:
        store.register_cells(cells[:2])
        for cell in cells[:2]:  # two finished cells of 40 s each: 3 left at parallel 1 -> 2 minutes
            attempt = store.claim(cell.cell_id, session="s", output_dir_for=lambda n: str(tmp_path / "o"))
            store.finish_attempt(attempt.id, "completed", duration_s=40.0)
    for flag in ("--matrix", "--dry-run"):
        after = subprocess.run([sys.executable, "-m", "hyperparameter_system.experiment_runner", "--config",
                                str(path), flag, "--parallel", "1"], cwd=tmp_path, capture_output=True, text=True,
                               timeout=120)
        assert "3 to run; ETA 2m00s at parallel 1" in after.stdout, after.stdout + after.stderr
