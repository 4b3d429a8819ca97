"""Through the real CLI: a bad experiment file is one stderr line and exit code 2.

Runs ``python -m hyperparameter_system.experiment_runner --matrix`` in a
subprocess from an empty folder, so the test also sees that nothing was
written (no temp_configs/, no output/).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _plan(config: Path | str, cwd: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hyperparameter_system.experiment_runner", "--config", str(config), "--matrix",
         *extra], capture_output=True, text=True, cwd=cwd, timeout=120)


@pytest.mark.parametrize("text, marker, reason", [
    ("experiment:\n  name: demo\n  overrides:\n    SOLVER.BASE_LRR: 0.1\nmodels: [small_cnn]\n", "BASE_LRR",
     "experiment.overrides.SOLVER.BASE_LRR: unknown YACS key 'SOLVER.BASE_LRR'; did you mean SOLVER.BASE_LR?"),
    ("experiment: {name: demo}\nmodels: [small_cnn]\nexecution:\n  parallel: two\n", "parallel",
     "execution.parallel: expected int, got str 'two'"),
    ("experiment:\n  name: demo\n  name: again\nmodels: [small_cnn]\n", "again",
     "experiment.name: duplicate key (first defined at line 2)"),
], ids=["unknown_yacs_key", "wrong_type", "duplicate_key"])
def test_bad_file_exits_2_with_one_line(tmp_path, text, marker, reason):
    config = tmp_path / "experiment.yaml"
    config.write_text(text)
    line = next(n for n, row in enumerate(text.splitlines(), 1) if marker in row)
    result = _plan(config, tmp_path)
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines() == [f"error: {config}:{line}: {reason}"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["experiment.yaml"]


def test_missing_default_file_is_a_user_error(tmp_path):
    result = _plan("experiment_config.yaml", tmp_path)
    assert result.returncode == 2
    assert result.stderr.splitlines() == ["error: experiment_config.yaml: file not found"]
