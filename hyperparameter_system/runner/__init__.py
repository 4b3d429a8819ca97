"""Running cells: device slots, child processes, retries, resume, progress, ETA.

The public face: code outside the runner imports from here only. The private
submodules are one concept each: ``_devices`` (slots), ``_child`` (a child's argv,
environment and folder), ``_process`` (process groups), ``warm`` and ``fork_server``
(warm starts of the built-in trainer), ``_outcome`` (an ended attempt read into its record),
``_attempt`` (one attempt's store rows), ``_lifecycle`` (claim, launch, follow, lease,
timeout, stop, settle: the one path of every attempt, matrix cell, local sweep trial
or W&B-agent trial), ``_options``, ``_retry``, ``_scheduler`` (slots, retries,
signals), ``_progress`` and ``_eta``; for ``backend: ray``, ``ray_connect`` (joining a
cluster, its slots), ``cluster`` (the driver's side of a child on a node), ``ray_agent``
(the Ray actor on a node) and ``ray_keeper`` (the process there that ties a child's
group to its agent). Nothing here imports torch or wandb; only the fork server's own
process does.

Typical use::

    with Store.open(store_path(out, name), experiment=name) as store:
        report = Runner(store, Path(out) / name, RunOptions(slots=tuple(make_slots("cpu", 2)))).run(cells)
    sys.exit(report.exit_code)
"""

from __future__ import annotations

import importlib
from typing import Any

_WHERE = {
    "CHILD_LOG": "hyperparameter_system.runner._child",
    "EXIT_INTERRUPTED": "hyperparameter_system.runner._scheduler",
    "ForkServer": "hyperparameter_system.runner.warm",
    "Lifecycle": "hyperparameter_system.runner._lifecycle",
    "LiveProgress": "hyperparameter_system.runner._progress",
    "PlainProgress": "hyperparameter_system.runner._progress",
    "RayOptions": "hyperparameter_system.runner._options",
    "RetryPolicy": "hyperparameter_system.runner._retry",
    "RunOptions": "hyperparameter_system.runner._options",
    "RunReport": "hyperparameter_system.runner._scheduler",
    "Runner": "hyperparameter_system.runner._scheduler",
    "Slot": "hyperparameter_system.runner._devices",
    "StopRule": "hyperparameter_system.runner._options",
    "attempt_dir": "hyperparameter_system.runner._child",
    "build_argv": "hyperparameter_system.runner._child",
    "child_spec": "hyperparameter_system.runner._child",
    "eta_seconds": "hyperparameter_system.runner._eta",
    "format_eta": "hyperparameter_system.runner._eta",
    "group_alive": "hyperparameter_system.runner._process",
    "make_progress": "hyperparameter_system.runner._progress",
    "make_slots": "hyperparameter_system.runner._devices",
    "parse_devices": "hyperparameter_system.runner._devices",
    "pipe_console": "hyperparameter_system.runner._progress",
    "planning_store": "hyperparameter_system.runner._eta",
    "read_outcome": "hyperparameter_system.runner._outcome",
    "record_outcome": "hyperparameter_system.runner._attempt",
    "signal_group": "hyperparameter_system.runner._process",
    "silence": "hyperparameter_system.runner._progress",
    "store_eta_line": "hyperparameter_system.runner._eta",
    "visible_gpus": "hyperparameter_system.runner._devices",
}


def __getattr__(name: str) -> Any:
    """Each name is imported from its submodule on first use, so a light submodule (the Ray
    node's keeper imports ``_process``) does not pay for the whole runner."""
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_WHERE[name]), name)
    globals()[name] = value
    return value


__all__ = [
    "CHILD_LOG", "EXIT_INTERRUPTED", "ForkServer", "Lifecycle", "LiveProgress", "PlainProgress", "RayOptions",
    "RetryPolicy", "RunOptions", "RunReport", "Runner", "Slot", "StopRule", "attempt_dir", "build_argv", "child_spec",
    "eta_seconds", "format_eta", "group_alive", "make_progress", "make_slots", "parse_devices", "pipe_console",
    "planning_store", "read_outcome", "record_outcome", "signal_group", "silence", "store_eta_line",
    "visible_gpus",
]
