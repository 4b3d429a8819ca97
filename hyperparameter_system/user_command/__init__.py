"""A user's own training command, run by a wrapper that speaks the child contract for it.

``python -m hyperparameter_system.user_command ... -- COMMAND`` (:mod:`.run`) runs
a script that only prints its metrics, writes ``metrics.jsonl`` / ``result.json``
from its output and, with ``wandb: runner``, makes the cell's W&B run
(:mod:`.tracking`). The runner only needs :func:`wrapper_argv`.
"""

from __future__ import annotations

import json
import sys
from typing import Sequence

MODULE = "hyperparameter_system.user_command"

__all__ = ["MODULE", "wrapper_argv"]


def wrapper_argv(argv: Sequence[str], *, patterns: Sequence[tuple[str, str]], wandb_logging: str,
                 config_path: str) -> list[str]:
    """The wrapper's own command line around a user's ``argv`` (``-I``: the user's folder and
    PYTHONPATH, which may shadow any module name, stay out of the wrapper's imports)."""
    return [sys.executable, "-I", "-m", MODULE, "--patterns", json.dumps(dict(patterns)),
            "--wandb", wandb_logging, "--config", config_path, "--", *argv]
