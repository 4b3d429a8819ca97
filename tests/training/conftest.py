"""Fixtures of the trainer tests (defined in train_helpers, shared with tests/test_wandb_*.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from train_helpers import train_run  # noqa: F401


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Image folder indexes go to a folder of the test session, never the user's cache."""
    folder = tmp_path_factory.getbasetemp() / "hpsys-cache"
    monkeypatch.setenv("HPSYS_CACHE_DIR", str(folder))
    return folder
