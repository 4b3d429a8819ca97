"""Where a cell's run lives and how to run it again: W&B references and commands.

A reader of the summary wants two things from a winning cell: the W&B run to
look at and a command to paste to reproduce it. The command is the exact argv
the runner recorded for the attempt; when none was recorded (a store filled by
hand, an attempt that never started) it falls back to the built-in trainer on
the cell's rendered config.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

from hyperparameter_system.report.records import AttemptRecord, CellRecord

WANDB_APP = "https://wandb.ai"


def reproduce_argv(record: CellRecord, attempt: AttemptRecord | None = None) -> list[str]:
    """The argv that reproduces ``attempt`` (default: the newest) of ``record``."""
    attempt = attempt or record.latest
    if attempt is not None and attempt.command:
        return list(attempt.command)
    return ["python", "-m", "hyperparameter_system.train", "--config-file", record.config_path]


def reproduce_command(record: CellRecord, attempt: AttemptRecord | None = None) -> str:
    """:func:`reproduce_argv` quoted for a POSIX shell, ready to paste."""
    return shlex.join(reproduce_argv(record, attempt))


def is_online_run_dir(run_dir: str) -> bool:
    """W&B names synced run dirs ``run-<time>-<id>`` and offline ones ``offline-run-...``."""
    return bool(run_dir) and Path(run_dir).name.startswith("run-")


def wandb_reference(record: CellRecord, entity: str = "") -> dict[str, Any]:
    """W&B run id, run dir, ``[entity/]project/run_id`` path, and URL when online.

    The URL needs the entity and a run that was logged online; an offline run
    has none until ``wandb sync`` uploads it, so the report shows its directory.
    """
    attempt = record.latest
    run_id = attempt.wandb_run_id if attempt else ""
    run_dir = attempt.wandb_run_dir if attempt else ""
    if not run_id:
        return {"run_id": None, "run_dir": run_dir or None, "path": None, "url": None}
    path = "/".join(p for p in (entity, record.project, run_id) if p)
    url = None
    if entity and is_online_run_dir(run_dir):
        url = f"{WANDB_APP}/{entity}/{record.project}/runs/{run_id}"
    return {"run_id": run_id, "run_dir": run_dir or None, "path": path, "url": url}
