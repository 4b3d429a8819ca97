"""Fixtures of the trainer tests (defined in train_helpers, shared with tests/test_wandb_*.py)."""

from __future__ import annotations

from train_helpers import train_run  # noqa: F401
