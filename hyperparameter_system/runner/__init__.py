"""Running cells: device slots, child processes, retries, resume, progress, ETA.

The public face: code outside the runner imports from here only. The private
submodules are one concept each: ``_devices`` (slots), ``_child`` (a child's argv,
environment and folder), ``_process`` (process groups), ``warm`` and ``fork_server``
(warm starts of the built-in trainer), ``_outcome`` (an ended attempt read into its record),
``_attempt`` (one attempt's store rows), ``_lifecycle`` (claim, launch, follow, lease,
timeout, stop, settle: the one path of every attempt, matrix cell, local sweep trial
or W&B-agent trial), ``_options``, ``_retry``, ``_scheduler`` (slots, retries,
signals), ``_progress`` and ``_eta``. Nothing here imports torch or wandb; only the
fork server's own process does.

Typical use::

    with Store.open(store_path(out, name), experiment=name) as store:
        report = Runner(store, Path(out) / name, RunOptions(slots=tuple(make_slots("cpu", 2)))).run(cells)
    sys.exit(report.exit_code)
"""

from __future__ import annotations

from hyperparameter_system.runner._attempt import record_outcome
from hyperparameter_system.runner._child import CHILD_LOG, attempt_dir, build_argv, child_spec
from hyperparameter_system.runner._devices import Slot, make_slots, parse_devices, visible_gpus
from hyperparameter_system.runner._eta import eta_seconds, format_eta, planning_store, store_eta_line
from hyperparameter_system.runner._lifecycle import Lifecycle
from hyperparameter_system.runner._options import RayOptions, RunOptions, StopRule
from hyperparameter_system.runner._outcome import read_outcome
from hyperparameter_system.runner._process import group_alive, signal_group
from hyperparameter_system.runner._progress import LiveProgress, PlainProgress, make_progress, pipe_console, silence
from hyperparameter_system.runner._retry import RetryPolicy
from hyperparameter_system.runner._scheduler import EXIT_INTERRUPTED, Runner, RunReport

__all__ = [
    "CHILD_LOG", "EXIT_INTERRUPTED", "Lifecycle", "LiveProgress", "PlainProgress", "RayOptions", "RetryPolicy",
    "RunOptions", "RunReport", "Runner", "Slot", "StopRule", "attempt_dir", "build_argv", "child_spec",
    "eta_seconds", "format_eta", "group_alive", "make_progress", "make_slots", "parse_devices", "pipe_console",
    "planning_store", "read_outcome", "record_outcome", "signal_group", "silence", "store_eta_line",
    "visible_gpus",
]
