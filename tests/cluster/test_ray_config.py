"""The Ray backend's settings and a cluster that cannot be reached: one line, exit 2, nothing written.

No cluster is needed: the address tried is on loopback, where nothing listens.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

EXPERIMENT = """experiment: {{name: rc, output_dir: ./out, temp_config_dir: ./configs}}
wandb: {{mode: disabled}}
execution:
{execution}
models:
  - name: small_cnn
{model}
"""


def _hpsys(tmp: Path, *args: str, execution: str = "  backend: ray", model: str = "") -> subprocess.CompletedProcess[str]:
    (tmp / "exp.yaml").write_text(EXPERIMENT.format(execution=execution, model=model))
    return subprocess.run([sys.executable, "-m", "hyperparameter_system.experiment_runner", "--config", "exp.yaml",
                           *args], cwd=tmp, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("execution, model, where, says", [
    ("  backend: rayy", "", "exp.yaml:4: execution.backend", "did you mean 'ray'"),
    ("  resources_per_cell: {GPU: 0}", "", "exp.yaml:4: execution.resources_per_cell.GPU", "must be > 0"),
    ("  resources_per_cell: {CPU: -2}", "", "exp.yaml:4: execution.resources_per_cell.CPU", "must be > 0, got -2"),
    ("  resources_per_cell: {GPU: 1.5}", "", "execution.resources_per_cell.GPU", "whole GPUs"),
    ("  shared_storage: maybe", "", "exp.yaml:4: execution.shared_storage", "auto, yes, no"),
    ("  backend: local", "    resources: {CPU: many}", "exp.yaml:7: models[0].resources.CPU", "expected a number"),
])
def test_a_bad_ray_setting_names_its_line_and_key(tmp_path: Path, execution: str, model: str, where: str,
                                                  says: str) -> None:
    done = _hpsys(tmp_path, "--matrix", execution=execution, model=model)
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert where in done.stderr and says in done.stderr, done.stderr


def test_an_unreachable_cluster_is_one_line_before_anything_is_written(tmp_path: Path) -> None:
    done = _hpsys(tmp_path, "--all", "--ray-address", "127.0.0.1:9")
    assert done.returncode == 2, done.stdout + done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert errors == [errors[0]] and "cannot join the Ray cluster at '127.0.0.1:9'" in errors[0], done.stderr
    assert not (tmp_path / "out").exists() and not (tmp_path / "configs").exists()


def test_wandb_backend_is_for_sweeps_only(tmp_path: Path) -> None:
    done = _hpsys(tmp_path, "--all", "--backend", "wandb")
    assert done.returncode == 2 and "use it with --sweep" in done.stderr, done.stderr
