"""Helpers for trainer tests: tiny real runs on digits, in-process or as a child (fixture: train_run)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable

import pytest

from hyperparameter_system import child_contract as cc

REPO = Path(__file__).resolve().parents[2]

# Small and fast: 12 px digits, two epochs, big batches.
FAST = {
    "INPUT.SIZE": 12,
    "SOLVER.MAX_EPOCHS": 2,
    "DATALOADER.BATCH_SIZE": 128,
    "CHECKPOINT.ENABLE": False,
    "WANDB.LOG_IMAGES": False,
}


def as_opts(overrides: dict[str, Any]) -> list[str]:
    """``{"SOLVER.BASE_LR": 0.1}`` -> ``["SOLVER.BASE_LR", "0.1"]`` (yacs literal syntax)."""
    opts: list[str] = []
    for key, value in overrides.items():
        opts += [key, repr(value) if isinstance(value, (list, str)) else str(value)]
    return opts


class RunOutput:
    """What one run left behind in its output folder."""

    def __init__(self, out: Path, code: int, stderr: str = "") -> None:
        self.out, self.code, self.stderr = out, code, stderr

    @property
    def result(self) -> dict[str, Any]:
        return json.loads((self.out / cc.RESULT_FILE).read_text())

    @property
    def metrics(self) -> list[dict[str, Any]]:
        return cc.read_metrics(self.out / cc.METRICS_FILE).records

    @property
    def log(self) -> str:
        return (self.out / cc.LOG_FILE).read_text()


@pytest.fixture
def train_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., RunOutput]:
    """Run ``hyperparameter_system.train.main`` in this process on tiny digits.

    W&B is disabled unless the test passes ``wandb=True`` (then it runs offline).
    """
    from hyperparameter_system.train import main

    counter = iter(range(1000))

    def run(overrides: dict[str, Any] | None = None, *, wandb: bool = False, name: str = "") -> RunOutput:
        out = Path((overrides or {}).get("OUTPUT_DIR") or tmp_path / (name or f"run{next(counter)}"))
        monkeypatch.setenv("WANDB_MODE", "offline" if wandb else "disabled")
        monkeypatch.delenv(cc.ENV_OUTPUT_DIR, raising=False)
        code = main(as_opts({**FAST, "OUTPUT_DIR": str(out), **(overrides or {})}))
        return RunOutput(out, code)

    return run


def child_env(**extra: str) -> dict[str, str]:
    """The environment of a child trainer: offline, quiet, one CPU thread."""
    env = {**os.environ, "WANDB_MODE": "disabled", cc.ENV_TORCH_THREADS: "1", "PYTHONUNBUFFERED": "1"}
    env.update(extra)
    return env


def start_child(overrides: dict[str, Any], out: Path, **env: str) -> subprocess.Popen:
    """``python -m hyperparameter_system.train`` as the runner starts it."""
    cmd = [sys.executable, "-m", "hyperparameter_system.train", *as_opts({**FAST, "OUTPUT_DIR": str(out), **overrides})]
    return subprocess.Popen(cmd, cwd=REPO, env=child_env(**env), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
