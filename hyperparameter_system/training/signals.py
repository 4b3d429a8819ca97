"""SIGTERM (and Ctrl-C) as a clean stop at the next iteration boundary.

The runner stops a cell with SIGTERM; the child finishes the iteration it is
in, writes result.json with status ``stopped`` and exits with EXIT_STOPPED.
The signal handler only sets a flag: all real work happens on the training
thread, between iterations, where the state is consistent.
"""

from __future__ import annotations

import signal
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ignite.engine import Engine

# ignite (and torch under it) is imported only in ``attach``: ``install`` runs
# first thing in the child, before those seconds of imports, so that a SIGTERM
# during start-up already ends as ``stopped`` rather than killing the process.


class StopRequest:
    """A flag set by SIGTERM / SIGINT and checked by the trainer after each iteration."""

    SIGNALS = (signal.SIGTERM, signal.SIGINT)

    def __init__(self) -> None:
        self.signal_name: str | None = None
        self._previous: dict[int, Any] = {}

    @property
    def requested(self) -> bool:
        """Whether a stop signal has arrived."""
        return self.signal_name is not None

    def install(self) -> None:
        """Route the stop signals here (main thread only)."""
        for sig in self.SIGNALS:
            self._previous[sig] = signal.signal(sig, self._handle)

    def restore(self) -> None:
        """Give the signals back to whoever had them."""
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()

    def _handle(self, signum: int, _frame: Any) -> None:
        self.signal_name = signal.Signals(signum).name

    def attach(self, trainer: Engine) -> None:
        """Terminate the trainer after the iteration in which the signal arrived.

        ``skip_completed`` avoids COMPLETED handlers: a stopped run should
        exit promptly, not start more work.
        """
        from ignite.engine import Events

        def check(engine: Engine) -> None:
            if self.requested:
                engine.terminate(skip_completed=True)

        trainer.add_event_handler(Events.ITERATION_COMPLETED, check)
