"""W&B opened beside training, not before it.

Opening a W&B run starts its service process and waits on it: about a second
on an idle machine and many more on a loaded one, which for a short cell is
as long as its training. :class:`BackgroundWandb` opens the run on a thread
while training starts; what the trainer logs meanwhile is kept, in order, and
written once the run is open. The run draws on no random state the training
uses, so the metrics are those of a sequential start.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Callable

from hyperparameter_system.tracking.wandb_run import WandbRun

log = logging.getLogger("hyperparameter_system.train")


class BackgroundWandb:
    """A :class:`WandbRun` that opens on a thread; the trainer's loggers call it as they would the run.

    Args:
        run: The run to open.
    """

    def __init__(self, run: WandbRun) -> None:
        self.run = run
        self._when_open: Callable[[], None] | None = None
        self._pending: list[Callable[[], None]] | None = []  # None once the run is open (or failed to)
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._open, name="wandb-open", daemon=True)

    def start(self, when_open: Callable[[], None] | None = None) -> None:
        """Begin opening the run; returns at once. ``when_open`` runs on the thread once it is open."""
        self._when_open = when_open
        self._thread.start()

    def wait(self) -> None:
        """Until the run is open and everything logged so far is written (or W&B gave up)."""
        if self._thread.is_alive():
            self._thread.join()

    @property
    def info(self) -> tuple[str | None, str | None]:
        """``(run_dir, run_id)`` for result.json; waits for the run to be open first."""
        self.wait()
        return self.run.info

    def log_train(self, iteration: int, values: dict[str, float]) -> None:
        self._call(lambda: self.run.log_train(iteration, values))

    def log_evaluation(self, record: dict[str, Any]) -> None:
        self._call(lambda: self.run.log_evaluation(record))

    def finish(self, summary: dict[str, Any], exit_code: int) -> None:
        """Close the run once it is open and its pending logs are written."""
        self.wait()
        self.run.finish(summary, exit_code)

    def _call(self, write: Callable[[], None]) -> None:
        with self._lock:
            if self._pending is not None:
                self._pending.append(write)
                return
        write()

    def _open(self) -> None:
        self.run.start()
        if self.run.active and self._when_open is not None:
            try:
                self._when_open()
            except Exception as exc:  # W&B must never fail the run
                log.warning("W&B sample images failed: %s: %s", type(exc).__name__, exc)
        with self._lock:
            pending, self._pending = self._pending or [], None
            for write in pending:
                write()
