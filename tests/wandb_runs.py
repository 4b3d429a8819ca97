"""Find the offline W&B runs a test made and read them once W&B has written them whole.

Test helpers around :func:`hyperparameter_system.tracking.offline.read_offline_run`:
the runner never searches for runs (the store records each attempt's run
folder), but a test checks what every run under its output folder logged.
"""

from __future__ import annotations

import time
from pathlib import Path

from hyperparameter_system.tracking.offline import OfflineRun, read_offline_run


def wait_for_offline_run(run_dir: str | Path, timeout_s: float = 30.0) -> OfflineRun:
    """Read a run once W&B's service has written it completely (or ``timeout_s`` passed).

    Returns the last read either way; check ``finished`` when it matters.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        run = read_offline_run(run_dir)
        if run.finished or time.monotonic() >= deadline:
            return run
        time.sleep(0.1)


def find_offline_runs(root: str | Path) -> list[Path]:
    """Return every offline run directory under ``root``, sorted by path.

    Args:
        root: A folder that holds ``wandb/offline-run-*`` folders at any depth.
    """
    base = Path(root)
    if not base.exists():
        return []
    found = {p.parent for p in base.rglob("run-*.wandb") if p.parent.name.startswith("offline-run-")}
    return sorted(found)
