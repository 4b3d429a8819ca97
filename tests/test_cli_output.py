"""What a user reads from the CLI: a closed pipe, the progress lines, a sweep's refused value.

Real processes on a tiny user command (a Python script that prints its
metric), so each run takes a few seconds.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
from pathlib import Path

EXPERIMENT = """\
experiment:
  name: out
  metric: {name: acc, goal: maximize}
wandb: {mode: disabled}
execution: {parallel: 1, devices: cpu, retries: 0, timeout: 60}
models:
  - name: own_model
    cwd: proj
    command: ["{{ python }}", "train.py"]
    schema: schema.yaml
    key_map:
      SOLVER.BASE_LR: lr
      SOLVER.OPTIMIZER: null
      SOLVER.WEIGHT_DECAY: null
      SOLVER.BETAS: null
    metric_patterns: {acc: 'acc (\\S+)'}
    wandb: off
categories:
  optimizer:
    options:
      - {name: AdamW, lr: 0.002}
      - {name: AdamW, lr: 0.004}
      - {name: AdamW, lr: 0.008}
    sweep: {}
"""


def _experiment(tmp_path: Path) -> Path:
    (tmp_path / "proj").mkdir()
    (tmp_path / "proj" / "schema.yaml").write_text("lr: 0.001\nepochs: 1\n", encoding="utf-8")
    (tmp_path / "proj" / "train.py").write_text("print('acc 0.5', flush=True)\n", encoding="utf-8")
    path = tmp_path / "experiment.yaml"
    path.write_text(EXPERIMENT, encoding="utf-8")
    return path


def _command(config: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "hyperparameter_system.experiment_runner", "--config", str(config), *args]


def _env() -> dict[str, str]:
    return {**os.environ, "WANDB_MODE": "disabled", "COLUMNS": "200"}


def test_matrix_into_a_closed_pipe_exits_130_like_every_command(tmp_path):
    config = _experiment(tmp_path)
    for action in ("--matrix", "--dry-run"):
        read, write = os.pipe()
        os.close(read)  # the reader already left (`hpsys --matrix | head -1`): the first write fails
        try:
            done = subprocess.run(_command(config, action), cwd=tmp_path, env=_env(), stdout=write,
                                  stderr=subprocess.PIPE, text=True, timeout=120)
        finally:
            os.close(write)
        assert done.returncode == 130, (action, done.stderr)
        assert "Traceback" not in done.stderr, done.stderr


def test_a_summary_whose_reader_leaves_midway_exits_130_even_unbuffered(tmp_path):
    """An unbuffered stdout (PYTHONUNBUFFERED, as CI sets) wrote the page in one call: a reader that
    left after the first bytes got part of it and the command said 0, as if all was written."""
    config = _experiment(tmp_path)
    subprocess.run(_command(config, "--all"), cwd=tmp_path, env=_env(), capture_output=True, timeout=120, check=True)
    read, write = os.pipe()
    fcntl.fcntl(write, fcntl.F_SETPIPE_SZ, 4096)  # a page (50 kB here) past the pipe's buffer
    with subprocess.Popen(_command(config, "--summary", "--format", "html", "--output", "-"), cwd=tmp_path,
                          env={**_env(), "PYTHONUNBUFFERED": "1"}, stdout=write, stderr=subprocess.PIPE,
                          text=True) as proc:
        os.close(write)
        assert os.read(read, 1)  # the page has begun, then the reader leaves (`| head -c1`)
        os.close(read)
        _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr, stderr


def test_plain_progress_lines_name_the_model(tmp_path):
    config = _experiment(tmp_path)
    done = subprocess.run(_command(config, "--all", "--categories", "optimizer", "--parallel", "2"), cwd=tmp_path,
                          env=_env(), capture_output=True, text=True, timeout=300)  # two slots: lines interleave
    assert done.returncode == 0, (done.stdout, done.stderr)
    starts = [line for line in done.stdout.splitlines() if "start " in line]
    assert len(starts) == 4 and all("own_model/" in line for line in starts), done.stdout
    finished = [line for line in done.stdout.splitlines() if "completed own_model/" in line]
    assert len(finished) == 4, done.stdout


def test_a_plugin_sweep_value_refused_by_the_key_map_names_its_line(tmp_path):
    config = _experiment(tmp_path)
    done = subprocess.run(_command(config, "--sweep", "--models", "own_model", "--categories", "optimizer",
                                   "--count", "1"), cwd=tmp_path, env=_env(), capture_output=True, text=True,
                          timeout=120)
    key_map_line = next(n for n, row in enumerate(EXPERIMENT.splitlines(), 1) if "key_map:" in row)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert done.stderr.startswith(f"error: {config}:{key_map_line}: models[0].key_map: category 'optimizer': "
                                  "its sweep_parameters() "), done.stderr
    assert "SOLVER.MOMENTUM" in done.stderr and not (tmp_path / "output").exists()
