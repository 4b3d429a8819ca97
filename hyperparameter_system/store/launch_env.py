"""The environment an attempt was launched with, as far as it decides the numbers.

A command that reproduces an attempt needs more than its argv: the CPU thread
count (``HPS_TORCH_THREADS`` / ``OMP_NUM_THREADS`` change float summation
order), the visible GPUs, the plugin folders, the model's own ``env:`` and the
folder the child started in; and the W&B run's project, name, group and tags, so a
reproduction of a user's command (whose W&B identity comes only from the
environment) lands beside the original run, under a new run id. The runner records exactly that subset here at
launch, in a table of its own beside ``attempts``; a variable whose name looks
like a secret is never recorded.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Iterable, Mapping

from hyperparameter_system import child_contract as cc

if TYPE_CHECKING:
    from hyperparameter_system.store.core import Store

SCHEMA = """CREATE TABLE IF NOT EXISTS launch_env (
    attempt_id INTEGER PRIMARY KEY REFERENCES attempts(id), env TEXT NOT NULL, cwd TEXT NOT NULL)"""
# Set by the runner for every child, or by a user for determinism: all change results but the
# W&B run's identity (never its run id: a reproduction is a new run).
NUMBERS_VARS = (cc.ENV_TORCH_THREADS, "OMP_NUM_THREADS", "MKL_NUM_THREADS", "CUDA_VISIBLE_DEVICES",
                "HPSYS_PLUGIN_PATH", "PYTHONHASHSEED", "CUBLAS_WORKSPACE_CONFIG", "WANDB_MODE",
                "WANDB_DISABLED", "WANDB_PROJECT", "WANDB_NAME", "WANDB_RUN_GROUP", "WANDB_TAGS")
_SECRET = re.compile(r"KEY|TOKEN|SECRET|PASSW|CREDENTIAL|AUTH", re.IGNORECASE)


def numbers_env(env: Mapping[str, str], also: Iterable[str] = ()) -> dict[str, str]:
    """The part of a child's environment a reproduction needs (``also``: the model's own names)."""
    names = [*NUMBERS_VARS, *also]
    return {name: env[name] for name in names if name in env and not _SECRET.search(name)}


def record_launch(store: Store, attempt_id: int, env: Mapping[str, str], cwd: str) -> None:
    """Keep an attempt's launch environment (see :func:`numbers_env`) and start folder."""
    store.create_tables(SCHEMA)
    with store.transaction() as tx:
        tx.execute("INSERT OR REPLACE INTO launch_env (attempt_id, env, cwd) VALUES (?, ?, ?)",
                   (attempt_id, json.dumps(dict(env), sort_keys=True), cwd))


def read_launches(store: Store) -> dict[int, tuple[dict[str, str], str]]:
    """attempt id -> (environment, start folder); empty for a store from before this table."""
    if not store.query("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'launch_env'"):
        return {}
    launches = {}
    for row in store.query("SELECT attempt_id, env, cwd FROM launch_env"):
        try:
            env = json.loads(row["env"])
        except (TypeError, ValueError):
            continue
        if isinstance(env, dict):
            launches[int(row["attempt_id"])] = ({str(k): str(v) for k, v in env.items()}, str(row["cwd"] or ""))
    return launches
