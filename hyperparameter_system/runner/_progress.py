"""Progress output: a rich Live panel on a terminal, one plain line per event otherwise.

Logs of CI jobs and ``nohup`` runs stay readable (no cursor tricks when stdout is
not a TTY); a person at a terminal sees cells done/total, every running cell with
its epoch and latest metric, and the ETA.

A reader that goes away (``hpsys --all | head -2``) is not a crash: the first
write into the closed pipe marks the progress ``closed`` and points the stream's
file descriptor at /dev/null (so no later print, nor Python's flush at exit,
raises); the scheduler sees ``closed`` and stops like on Ctrl-C.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from typing import Any, Callable, TextIO

from hyperparameter_system.runner._eta import format_eta


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
        self.closed = False  # the reader of the stream went away

    def __enter__(self) -> PlainProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self._write(self.stream.flush)

    def event(self, text: str) -> None:
        self._write(lambda: print(f"[{time.strftime('%H:%M:%S')}] {text}", file=self.stream, flush=True))

    def _write(self, call: Callable[[], object]) -> None:
        """Run one write; a closed pipe silences the stream instead of raising."""
        if self.closed:
            return
        try:
            call()
        except BrokenPipeError:
            self.closed = True
            silence(self.stream)

    def update(self, done: int, total: int, running: list[RunningView], eta: float | None,
               metric: str) -> None:
        """Nothing: plain output reports events only."""


class LiveProgress(PlainProgress):
    """A rich Live table redrawn a few times a second; events scroll above it."""

    def __init__(self, stream: TextIO | None = None) -> None:
        super().__init__(stream)
        from rich.live import Live

        self.console = pipe_console(file=self.stream)
        self.live = Live(console=self.console, refresh_per_second=4, transient=False)

    def __enter__(self) -> LiveProgress:
        self.live.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._write(lambda: self.live.__exit__(*exc))

    def event(self, text: str) -> None:
        from rich.markup import escape

        self._write(lambda: self.live.console.print(f"[dim]{time.strftime('%H:%M:%S')}[/dim] {escape(text)}",
                                                    highlight=False))

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
        self._write(lambda: self.live.update(table))


def silence(stream: TextIO) -> None:
    """Point ``stream``'s descriptor at /dev/null: what is still buffered, or printed later, goes nowhere."""
    try:
        fd = stream.fileno()
    except (OSError, ValueError):  # not backed by a descriptor (a StringIO)
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, fd)
    finally:
        os.close(devnull)


def pipe_console(**kwargs: Any) -> Any:
    """A rich Console whose closed stdout raises BrokenPipeError (the CLI maps it to exit 130).

    rich's own answer to a closed pipe is ``SystemExit(1)``, which would make
    ``hpsys --matrix | head -1`` fail where every other command reports 130.
    """
    from rich.console import Console

    class _PipeConsole(Console):
        def on_broken_pipe(self) -> None:
            self.quiet = True
            raise BrokenPipeError("stdout closed")

    return _PipeConsole(**kwargs)


def make_progress(stream: TextIO | None = None) -> PlainProgress:
    """Live display on a TTY, plain lines otherwise."""
    target = stream or sys.stdout
    return LiveProgress(target) if target.isatty() else PlainProgress(target)
