"""Where a cell's run lives and how to run it again: W&B references and commands.

A reader of the summary wants two things from a winning cell: the W&B run to
look at and a command to paste to reproduce it. The command is the exact argv
the runner recorded for the attempt, pointed at a fresh folder and run in the
attempt's launch environment; when none was recorded (a store filled by
hand, an attempt that never started) it falls back to the built-in trainer on
the cell's rendered config.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

from hyperparameter_system import child_contract as cc
from hyperparameter_system.report.records import AttemptRecord, CellRecord
from hyperparameter_system.user_command import MODULE as USER_COMMAND

WANDB_APP = "https://wandb.ai"
REPRO_PREFIX = "repro-"  # reproductions go to <run folder>/repro-<time>-XXXX


def reproduce_argv(record: CellRecord, attempt: AttemptRecord | None = None) -> list[str]:
    """The argv that reproduces ``attempt`` (default: the newest) of ``record``."""
    attempt = attempt or record.latest
    if attempt is not None and attempt.command:
        return list(attempt.command)
    return cc.trainer_argv(record.cell.config_path)


def reproduce_command(record: CellRecord, attempt: AttemptRecord | None = None) -> str:
    """A POSIX shell line, ready to paste, that runs ``attempt`` (default: the newest) again.

    It never writes into the recorded attempt's folder: ``mktemp`` makes a fresh
    ``repro-<time>-XXXX`` folder beside the attempt folders when the line runs,
    and every occurrence of the attempt's folder in the argv is replaced by it.
    It carries the launch environment that decides the numbers (threads, GPUs,
    plugin folders, the model's own ``env:``) and the start folder, so on the same
    machine it reproduces the recorded metric exactly.
    """
    attempt = attempt or record.latest
    argv = reproduce_argv(record, attempt)
    if attempt is None or not attempt.output_dir:
        return shlex.join(argv)
    out = attempt.output_dir
    fresh = shlex.quote(str(Path(out).parent / REPRO_PREFIX))
    steps = [f'd=$(mktemp -d {fresh}"$(date +%Y%m%d-%H%M%S)"-XXXX)']
    if attempt.cwd:
        steps.append(f"cd {shlex.quote(attempt.cwd)}")
    env = [f"{name}={_with_fresh_dir(value, out)}" for name, value in attempt.env]
    env += [f'{name}="$d"' for name in (cc.ENV_OUTPUT_DIR, "WANDB_DIR")]
    steps.append(" ".join(["env", *env, *(_with_fresh_dir(arg, out) for arg in argv)]))
    return " && ".join(steps)


def _with_fresh_dir(value: str, out: str) -> str:
    """``value`` quoted for the shell, with the attempt folder ``out`` replaced by ``"$d"``."""
    pieces = value.split(out)
    quoted = []
    for i, piece in enumerate(pieces):
        if piece:
            quoted.append(shlex.quote(piece))
        if i < len(pieces) - 1:
            quoted.append('"$d"')
    return "".join(quoted) or "''"


def runs_user_command(attempt: AttemptRecord) -> bool:
    """True when the attempt ran a user's own command (through its wrapper), not the built-in trainer."""
    argv = list(attempt.command)
    head = argv[:argv.index("--")] if "--" in argv else argv
    return any(head[i] == "-m" and head[i + 1] == USER_COMMAND for i in range(len(head) - 1))


def is_online_run_dir(run_dir: str) -> bool:
    """W&B names synced run dirs ``run-<time>-<id>`` and offline ones ``offline-run-...``."""
    return bool(run_dir) and Path(run_dir).name.startswith("run-")


def wandb_reference(record: CellRecord, entity: str = "") -> dict[str, Any]:
    """W&B run id, run dir, ``[entity/]project/run_id`` path, and URL when online.

    Only a run that was made has a reference: the attempt records the run's
    directory when its W&B run started (the runner hands every child a run id,
    so an id alone proves nothing: W&B off, a script not logging, an init that
    failed). The id is the one the run reported, else the one handed out. The
    URL needs the entity and a run that was logged online; an offline run
    (also one that fell back to offline) has none until ``wandb sync`` uploads it.
    """
    attempt = record.latest
    run_dir = attempt.wandb_run_dir if attempt else ""
    reported = (attempt.result or {}).get("wandb_run_id") if attempt else None
    run_id = (reported if isinstance(reported, str) and reported else
              attempt.wandb_run_id if attempt else "")
    if not run_dir or not run_id:
        return {"run_id": None, "run_dir": run_dir or None, "path": None, "url": None}
    path = "/".join(p for p in (entity, record.cell.project, run_id) if p)
    url = None
    if entity and is_online_run_dir(run_dir):
        url = f"{WANDB_APP}/{entity}/{record.cell.project}/runs/{run_id}"
    return {"run_id": run_id, "run_dir": run_dir or None, "path": path, "url": url}
