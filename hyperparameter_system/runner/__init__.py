"""Running cells: device slots, child processes, retries, resume, progress, ETA.

The public face; submodules are one concept each (``devices``, ``child``,
``process``, ``warm`` and ``fork_server`` (warm starts of the built-in trainer), ``outcome``,
``retry``, ``attempt``, ``scheduler``, ``progress``, ``eta``). Nothing here imports torch or
wandb; only the fork server's own process does.

Typical use::

    with Store.open(store_path(out, name), experiment=name) as store:
        report = Runner(store, Path(out) / name, RunOptions(slots=tuple(make_slots("cpu", 2)))).run(cells)
    sys.exit(report.exit_code)
"""

from __future__ import annotations

from hyperparameter_system.runner.devices import Slot, make_slots, parse_devices, visible_gpus
from hyperparameter_system.runner.eta import eta_seconds, format_eta
from hyperparameter_system.runner.progress import LiveProgress, PlainProgress, make_progress
from hyperparameter_system.runner.retry import RetryPolicy
from hyperparameter_system.runner._lifecycle import Lifecycle
from hyperparameter_system.runner._options import RunOptions, StopRule
from hyperparameter_system.runner.outcome import Outcome
from hyperparameter_system.runner.scheduler import Runner, RunReport

__all__ = [
    "Lifecycle", "LiveProgress", "Outcome", "PlainProgress", "RetryPolicy", "RunOptions", "RunReport", "Runner", "Slot",
    "StopRule", "eta_seconds", "format_eta", "make_progress", "make_slots", "parse_devices",
    "visible_gpus",
]
