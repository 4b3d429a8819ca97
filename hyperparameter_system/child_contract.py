"""The contract between the runner and one child process (a cell's training run).

Both sides import this module and nothing of each other: the runner sets the
environment variables and reads the result files; the built-in trainer (or a
user's script) reads the variables and writes the files. Keeping names,
statuses and exit codes here means the two can never drift apart.
"""

from __future__ import annotations

import json
import os
from enum import Enum
from pathlib import Path
from typing import Any, Mapping

from hyperparameter_system.atomic import write_text_atomic


class Status(str, Enum):
    """Every state a cell attempt can be in; the string is what the store keeps."""

    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    TIMEOUT = "timeout"
    OOM = "oom"
    NONFINITE = "nonfinite"
    EARLY_TERMINATED = "early_terminated"
    STOPPED = "stopped"

    @property
    def finished_ok(self) -> bool:
        """A status a resume must not run again."""
        return self in (Status.COMPLETED, Status.EARLY_TERMINATED)


# Exit codes of ``python -m hyperparameter_system.train`` (documented in the README).
EXIT_OK = 0
EXIT_FAILED = 1  # an unexpected exception: a bug or broken data
EXIT_CONFIG = 2  # a user error in the config or command line (one line on stderr)
EXIT_NONFINITE = 3  # the loss became NaN or infinite
EXIT_OOM = 4  # the device ran out of memory
EXIT_STOPPED = 5  # SIGTERM: stopped cleanly at an iteration boundary

STATUS_BY_EXIT_CODE: dict[int, Status] = {
    EXIT_OK: Status.COMPLETED,
    EXIT_FAILED: Status.FAILED,
    EXIT_CONFIG: Status.FAILED,
    EXIT_NONFINITE: Status.NONFINITE,
    EXIT_OOM: Status.OOM,
    EXIT_STOPPED: Status.STOPPED,
}

# Files the child writes into its output dir.
METRICS_FILE = "metrics.jsonl"  # one JSON object per evaluation, appended
RESULT_FILE = "result.json"  # written once at the end, atomically
LOG_FILE = "log.txt"

# Environment variables the runner sets for every child (besides WANDB_*).
ENV_CELL_ID = "HPS_CELL_ID"
ENV_ATTEMPT = "HPS_ATTEMPT"  # 1-based attempt number
ENV_OUTPUT_DIR = "HPS_OUTPUT_DIR"  # where result.json / metrics.jsonl go
ENV_EXPERIMENT = "HPS_EXPERIMENT"
ENV_TORCH_THREADS = "HPS_TORCH_THREADS"  # CPU threads this slot may use
ENV_SWEEP_ID = "HPS_SWEEP_ID"  # set for sweep trials only

# Keys of one metrics.jsonl line besides the metric names themselves
# (metric names are flat keys such as "val/acc", "val/loss", "train/loss").
METRICS_LINE_KEYS = ("epoch", "step", "lr", "elapsed_s")


def write_json_atomic(path: str | os.PathLike[str], payload: Mapping[str, Any]) -> None:
    """Write JSON so that a reader sees the old file or the whole new one, never half."""
    write_text_atomic(path, json.dumps(payload, indent=2, sort_keys=True, default=_json_default))


def append_jsonl(path: str | os.PathLike[str], record: Mapping[str, Any]) -> None:
    """Append one JSON line and fsync it, so a kill right after loses nothing."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps(record, sort_keys=True, default=_json_default) + "\n"
    with open(target, "a", encoding="utf-8") as handle:
        handle.write(line)
        handle.flush()
        os.fsync(handle.fileno())


def read_metrics(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Read metrics.jsonl, skipping a torn last line left by a kill mid-write."""
    records: list[dict[str, Any]] = []
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        return records
    for raw in text.splitlines():
        try:
            records.append(json.loads(raw))
        except json.JSONDecodeError:
            continue
    return records


def read_result(path: str | os.PathLike[str]) -> dict[str, Any] | None:
    """Read result.json, or None when the child never wrote one."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def _json_default(value: Any) -> Any:
    """Serialise numpy / torch scalars and paths that json refuses."""
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, (Path, Enum)):
        return str(value.value if isinstance(value, Enum) else value)
    if isinstance(value, (set, tuple)):
        return list(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")

# Keys of result.json. ``status`` is a Status value; metric values are floats.
RESULT_KEYS = (
    "status",  # Status value
    "metric",  # the experiment metric's name, e.g. "val/acc"
    "goal",  # "maximize" | "minimize"
    "best_metric",  # best value of ``metric`` over evaluations (null if none ran)
    "best_epoch",  # epoch at which best_metric was reached
    "final_metrics",  # the last evaluation's metrics, flat {"val/acc": ..}
    "epochs_run",  # completed epochs
    "duration_s",  # wall time of the run
    "samples_per_s",  # training throughput
    "peak_memory_mb",  # peak device (CUDA) or process (CPU, RSS) memory
    "config_path",  # the rendered config the child read
    "wandb_run_dir",  # W&B run directory, or null
    "wandb_run_id",  # W&B run id, or null
    "error",  # one-line error text for unsuccessful runs, else null
)
