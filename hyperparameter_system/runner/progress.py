"""Progress output: a rich Live panel on a terminal, one plain line per event otherwise.

Logs of CI jobs and ``nohup`` runs stay readable (no cursor tricks when stdout is
not a TTY); a person at a terminal sees cells done/total, every running cell with
its epoch and latest metric, and the ETA.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from typing import Any, TextIO

from hyperparameter_system.runner.eta import format_eta


@dataclass(frozen=True)
class RunningView:
    """One running cell as the display shows it."""

    run_name: str
    model: str
    slot: str
    attempt: int
    epoch: int | None
    metric: float | None
    elapsed_s: float


class PlainProgress:
    """One timestamped line per event; the periodic update prints nothing."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdout

    def __enter__(self) -> PlainProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stream.flush()

    def event(self, text: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {text}", file=self.stream, flush=True)

    def update(self, done: int, total: int, running: list[RunningView], eta: float | None,
               metric: str) -> None:
        """Nothing: plain output reports events only."""


class LiveProgress(PlainProgress):
    """A rich Live table redrawn a few times a second; events scroll above it."""

    def __init__(self, stream: TextIO | None = None) -> None:
        super().__init__(stream)
        from rich.console import Console
        from rich.live import Live

        self.console = Console(file=self.stream)
        self.live = Live(console=self.console, refresh_per_second=4, transient=False)

    def __enter__(self) -> LiveProgress:
        self.live.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.live.__exit__(*exc)

    def event(self, text: str) -> None:
        from rich.markup import escape

        self.live.console.print(f"[dim]{time.strftime('%H:%M:%S')}[/dim] {escape(text)}", highlight=False)

    def update(self, done: int, total: int, running: list[RunningView], eta: float | None,
               metric: str) -> None:
        from rich.table import Table

        table = Table(title=f"cells {done}/{total} done, {len(running)} running, ETA {format_eta(eta)}",
                      title_justify="left", expand=False)
        for column in ("slot", "model", "run", "try", "epoch", metric, "elapsed"):
            table.add_column(column)
        for view in running:
            value = "-" if view.metric is None else f"{view.metric:.4g}"
            table.add_row(view.slot, view.model, view.run_name, str(view.attempt),
                          "-" if view.epoch is None else str(view.epoch), value,
                          format_eta(view.elapsed_s))
        self.live.update(table)


def make_progress(stream: TextIO | None = None) -> PlainProgress:
    """Live display on a TTY, plain lines otherwise."""
    target = stream or sys.stdout
    return LiveProgress(target) if target.isatty() else PlainProgress(target)
