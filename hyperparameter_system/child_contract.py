"""The contract between the runner and one child process (a cell's training run).

Both sides import this module and nothing of each other: the runner sets the
environment variables and reads the result files; the built-in trainer (or a
user's script) reads the variables and writes the files. Keeping names,
statuses and exit codes here means the two can never drift apart.

The environment is the runner's one channel to a child for what differs per
attempt or per run: the attempt folder (``HPS_OUTPUT_DIR``) and the W&B run's
project, name, group and tags (``WANDB_*``, which W&B itself also reads, so a
user's own script gets them unchanged). The rendered config carries the same
planned values for a run started by hand from it; it is a record, and the
runner never passes them a second way (no ``OUTPUT_DIR`` on the command line).
"""

from __future__ import annotations

import json
import math
import os
import sys
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from hyperparameter_system.files.atomic import write_text_atomic
from hyperparameter_system.files import child_files as cf
from hyperparameter_system.files.child_files import ChildFileError, read_child_file
from hyperparameter_system.config.goal import GOALS


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
ENV_METRIC = "HPS_METRIC"  # the experiment's metric name, for children that pick a best
ENV_GOAL = "HPS_GOAL"  # "maximize" | "minimize"



# The built-in trainer: ``python -m hyperparameter_system.train --config-file F [KEY VALUE ...]``.
TRAINER_MODULE = "hyperparameter_system.train"
TRAINER_PREFIX = ("-m", TRAINER_MODULE)  # what follows the interpreter in the trainer's argv


def trainer_argv(config_path: str, settings: Sequence[str] = (), python: str = sys.executable) -> list[str]:
    """The built-in trainer's command for one rendered config, ``settings`` as ``KEY VALUE`` pairs.

    The runner starts it, ``--matrix`` prints it and the report offers it to
    reproduce a cell; all three build it here, with this interpreter.
    """
    return [python, *TRAINER_PREFIX, "--config-file", config_path, *settings]


def metric_env(metric: str, goal: str) -> tuple[tuple[str, str], ...]:
    """The experiment's metric for a child that picks a best itself (the command wrapper)."""
    return ((ENV_METRIC, metric), (ENV_GOAL, goal))


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


# -- reading the child's files back ----------------------------------------------------
# Whatever a child wrote is untrusted input: a user's script, a dying process or a
# full disk may leave any bytes there. These readers are the only way the runner,
# the report and the sweeps look at the files, and they hand out checked, typed data.

MAX_RESULT_BYTES = 1 << 20  # a result.json is a few hundred bytes; more is junk
MAX_METRICS_LINE_BYTES = 1 << 16  # one evaluation's metrics
MAX_METRICS_BYTES = 64 << 20  # a metrics.jsonl: ~100,000 evaluations; more is junk


@dataclass(frozen=True)
class ChildResult:
    """A checked ``result.json``: every known key typed, non-finite numbers as None.

    ``extra`` keeps keys outside :data:`RESULT_KEYS` as the child wrote them (a
    fake child's test markers, a user's own notes).
    """

    status: Status
    metric: str | None = None
    goal: str | None = None
    best_metric: float | None = None
    best_epoch: int | None = None
    final_metrics: Mapping[str, float | None] = field(default_factory=dict)
    epochs_run: int | None = None
    duration_s: float | None = None
    samples_per_s: float | None = None
    peak_memory_mb: float | None = None
    config_path: str | None = None
    wandb_run_dir: str | None = None
    wandb_run_id: str | None = None
    error: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)
    nonfinite: str | None = None  # "best_metric is nan": a metric the child wrote as NaN or infinite

    def to_dict(self) -> dict[str, Any]:
        """The JSON the store keeps: the checked keys, then the extra ones."""
        known = {key: getattr(self, key) for key in RESULT_KEYS}
        known["status"] = self.status.value
        known["final_metrics"] = dict(self.final_metrics)
        return {**self.extra, **known}


@dataclass
class MetricsLog:
    """The readable evaluations of a metrics.jsonl, and what stopped the reading, if anything.

    ``records`` are the lines before the first bad one; ``problem`` names the file,
    the line and the fault. A torn last line (a kill mid-write, or a line still
    being written) is not a problem: it is left for the next read.
    """

    records: list[dict[str, Any]] = field(default_factory=list)
    problem: str | None = None
    end: int = 0  # byte offset after the last whole line read: where a follower reads on
    lines: int = 0  # whole lines read up to ``end``


def read_result(path: str | os.PathLike[str]) -> ChildResult | None:
    """Read and check result.json; None when the child never wrote one.

    Raises:
        ChildFileError: the file exists but is unreadable, not UTF-8 JSON, too
            big, or any key has the wrong type or value.
    """
    target = Path(path)
    raw = read_child_file(target, MAX_RESULT_BYTES + 1)
    if raw is None:
        return None
    if len(raw) > MAX_RESULT_BYTES:
        raise ChildFileError(f"{target}: larger than {MAX_RESULT_BYTES} bytes")
    try:
        data = cf.json_value(raw)
    except ValueError as error:
        raise ChildFileError(f"{target}: {error}") from None
    return check_result(data, str(target))


def check_result(data: Any, source: str) -> ChildResult:
    """A parsed result.json (or the copy a store kept) as a :class:`ChildResult`.

    Raises:
        ChildFileError: naming ``source``, the key and what is wrong with it.
    """
    if not isinstance(data, dict):
        raise ChildFileError(f"{source}: expected a JSON object, got {cf.kind(data)}")
    if "status" not in data:
        raise ChildFileError(f"{source}: status: missing")
    values: dict[str, Any] = {}
    for key, check in _RESULT_CHECKS.items():
        try:
            values[key] = check(data.get(key))
        except ValueError as error:
            raise ChildFileError(f"{source}: {key}: {error}") from None
    extra = {k: v for k, v in data.items() if k not in _RESULT_CHECKS}
    return ChildResult(**values, extra=extra, nonfinite=_nonfinite_metric(data))


def _nonfinite_metric(data: dict[str, Any]) -> str | None:
    """``best_metric is nan``: the first metric a (checked) result holds as NaN or infinite."""
    finals = data.get("final_metrics") or {}
    for key, value in [("best_metric", data.get("best_metric")), *finals.items()]:
        if isinstance(value, float) and not math.isfinite(value):
            return f"{cf.text(key)} is {value}"
    return None


def nonfinite_in(records: list[dict[str, Any]]) -> str | None:
    """``metric val/acc is nan at evaluation 3``: the first metric in metrics lines that is NaN or infinite."""
    for number, record in enumerate(records, start=1):
        for key, value in record.items():
            if key not in METRICS_LINE_KEYS and isinstance(value, float) and not math.isfinite(value):
                return f"metric {key} is {value} at evaluation {record.get('epoch') or number}"
    return None


def read_metrics(path: str | os.PathLike[str], *, start: int = 0, lines: int = 0) -> MetricsLog:
    """Read metrics.jsonl: every well-formed evaluation up to the first bad line.

    A follower passes the ``end`` and ``lines`` of its last read to read only
    what was appended since. The file is read a window at a time, at most
    :data:`MAX_METRICS_BYTES` in all, and a line is rejected as soon as it
    outgrows :data:`MAX_METRICS_LINE_BYTES` (never read whole).
    """
    target = Path(path)
    log = MetricsLog(end=start, lines=lines)
    while log.problem is None:
        if log.end > MAX_METRICS_BYTES:
            log.problem = f"{target}: larger than {MAX_METRICS_BYTES} bytes"
            break
        try:
            data = read_child_file(target, _METRICS_WINDOW, start=log.end)
        except ChildFileError as error:
            log.problem = str(error)
            break
        before = log.end
        if data:
            _read_window(log, target, data, at_end=len(data) < _METRICS_WINDOW)
        if log.end == before:
            break  # the end of the file, or a line not ended yet (torn, or still being written)
    return log


_METRICS_WINDOW = 16 * MAX_METRICS_LINE_BYTES  # how much of metrics.jsonl one read takes


def _read_window(log: MetricsLog, target: Path, data: bytes, *, at_end: bool) -> None:
    """The whole lines of ``data`` (read at ``log.end``) into ``log``; a bad one sets its problem."""
    base, position = log.end, 0
    while position < len(data):
        newline = data.find(b"\n", position, position + MAX_METRICS_LINE_BYTES + 1)
        number = log.lines + 1
        if newline < 0:
            if len(data) - position > MAX_METRICS_LINE_BYTES:
                log.problem = f"{target}: line {number}: longer than {MAX_METRICS_LINE_BYTES} bytes"
            elif at_end:
                _take_last_line(log, data[position:], base + len(data))
            return
        raw = data[position:newline]
        if raw.strip():
            try:
                log.records.append(check_metrics_line(raw))
            except ValueError as error:
                log.problem = f"{target}: line {number}: {error}"
                return
        position = newline + 1
        log.end, log.lines = base + position, number


def _take_last_line(log: MetricsLog, raw: bytes, end: int) -> None:
    """A last line without its newline counts once it parses (a partial object never does)."""
    try:
        record = check_metrics_line(raw) if raw.strip() else None
    except ValueError:
        return
    if record is not None:
        log.records.append(record)
        log.end = end  # its newline, when it comes, ends the same line


def check_metrics_line(raw: bytes) -> dict[str, Any]:
    """One metrics.jsonl line as a flat record of numbers (epoch and step whole numbers).

    Raises:
        ValueError: saying what is wrong with the line.
    """
    if len(raw) > MAX_METRICS_LINE_BYTES:
        raise ValueError(f"{len(raw)} bytes, longer than {MAX_METRICS_LINE_BYTES}")
    record = cf.json_value(raw)
    if not isinstance(record, dict):
        raise ValueError(f"expected a JSON object, got {cf.kind(record)}")
    clean: dict[str, Any] = {}
    for key, value in record.items():
        if key in ("epoch", "step"):
            try:
                value = cf.count(value)
            except ValueError as error:
                raise ValueError(f"{key}: {error}") from None
        elif value is not None and not cf.is_number(value):
            raise ValueError(f"{cf.text(key)}: expected a number, got {cf.kind(value)}")
        clean[cf.text(key)] = value
    return clean


def _status(value: Any) -> Status:
    final = [s.value for s in Status if s not in (Status.PENDING, Status.RUNNING)]
    if value not in final:
        raise ValueError(f"expected one of {', '.join(final)}, got {cf.kind(value)}")
    return Status(value)


def _goal(value: Any) -> str:
    if value not in GOALS:
        raise ValueError(f"expected maximize or minimize, got {cf.kind(value)}")
    return str(value)


_RESULT_CHECKS: dict[str, Callable[[Any], Any]] = {
    "status": _status,
    "metric": cf.optional(cf.text),
    "goal": cf.optional(_goal),
    "best_metric": cf.optional(cf.number),
    "best_epoch": cf.count,
    "final_metrics": lambda value: {} if value is None else cf.metrics_map(value),
    "epochs_run": cf.count,
    "duration_s": cf.optional(cf.number),
    "samples_per_s": cf.optional(cf.number),
    "peak_memory_mb": cf.optional(cf.number),
    "config_path": cf.optional(cf.text),
    "wandb_run_dir": cf.optional(cf.text),
    "wandb_run_id": cf.optional(cf.text),
    "error": cf.optional(cf.text),
}
assert tuple(sorted(_RESULT_CHECKS)) == tuple(sorted(RESULT_KEYS)), "checks drifted from RESULT_KEYS"
