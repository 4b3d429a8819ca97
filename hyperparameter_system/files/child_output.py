"""Reading what a child printed: metrics by ``metric_patterns``, the line that says what went wrong.

Both sides use it: the command wrapper (``user_command``) parses a user's
script's output as lines appear, and the runner reads a log when no result file
says more (a built-in trainer that died before writing one). One reading, so the
summary's error column says the same thing whoever ended the run.
"""

from __future__ import annotations

import re
import signal
from typing import Iterable, Sequence

# Lines that frame an error rather than say what it was.
_NOISE = re.compile(
    r"^(Traceback \(most recent call last\):"
    r"|During handling of the above exception, another exception occurred:"
    r"|The above exception was the direct cause of the following exception:"
    r"|Current thread 0x|Thread 0x|Extension modules:"
    r"|wandb:)")
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
WANDB_PREFIX = "wandb:"  # W&B's own lines (its end-of-run summary repeats the metrics: "wandb: val_acc 0.34")
LINE_CHARS = 300  # an error line is cut here


def clean_line(line: str) -> str:
    """What a terminal would show of one line: the last ``\\r`` frame, no colour codes."""
    return _ANSI.sub("", line.rsplit("\r", 1)[-1]).rstrip()


def last_meaningful_line(lines: Iterable[str]) -> str | None:
    """The line that says what went wrong: the exception line, not the traceback around it.

    Skips blank lines, indented lines (traceback frames, source, ``^^^`` markers),
    the ``Traceback (most recent call last):`` header, chained-exception banners,
    faulthandler's thread dumps and W&B's own chatter; falls back to the last
    non-blank line when everything is indented. W&B's lines are never the
    answer (``wandb: Tracking run with wandb version ...`` says nothing about
    why a run ended): a log of nothing else gives None, and the caller says
    how the process ended instead.
    """
    last_any = None
    for raw in reversed(list(lines)):
        line = clean_line(raw)
        if not line.strip() or line.lstrip().startswith(WANDB_PREFIX):
            continue
        last_any = last_any or line.strip()
        if line[0].isspace() or _NOISE.match(line):
            continue
        return line.strip()[:LINE_CHARS]
    return last_any[:LINE_CHARS] if last_any else None


def last_output_line(lines: Sequence[str]) -> str:
    """The last non-blank line as printed (for "no metric matched ..."), or ``(no output)``."""
    for raw in reversed(lines):
        line = clean_line(raw).strip()
        if line:
            return line[:LINE_CHARS]
    return "(no output)"


def signal_death(exit_code: int | None) -> str | None:
    """``killed by signal SIGSEGV`` for a negative exit code (Popen's signal death), else None."""
    if exit_code is None or exit_code >= 0:
        return None
    try:
        name = signal.Signals(-exit_code).name
    except ValueError:
        name = f"signal {-exit_code}"
    return f"killed by signal {name}"


class PatternParser:
    """``metric_patterns`` over output lines; the i-th match of each pattern is evaluation i.

    An evaluation is complete once every pattern matched for it, or when a
    pattern matches again before the others did (a script that prints some
    metrics only now and then), or when the output ends (:meth:`flush`).
    """

    def __init__(self, patterns: Sequence[tuple[str, str]]) -> None:
        self.patterns = [(name, re.compile(regex)) for name, regex in patterns]
        self.evaluations = 0
        self.not_a_number: str | None = None  # the first match that was no number, said for "no metric matched"
        self._pending: dict[str, float] = {}

    def feed(self, line: str) -> list[dict[str, float]]:
        """Take one line; returns the evaluations it completed (``epoch`` first, then metrics).

        Lines W&B itself prints are skipped: its run summary repeats the last
        values and would count as one more evaluation under a loose pattern.
        """
        if clean_line(line).lstrip().startswith(WANDB_PREFIX):
            return []
        done = []
        for name, regex in self.patterns:
            for match in regex.finditer(line):
                value = _to_float(match)
                if value is None:
                    self.not_a_number = self.not_a_number or (
                        f"metric_patterns {name} matched {clean_line(_matched(match))[:80]!r}, not a number")
                    continue
                if name in self._pending:
                    done += self.flush()
                self._pending[name] = value
                if len(self._pending) == len(self.patterns):
                    done += self.flush()
        return done

    def flush(self) -> list[dict[str, float]]:
        """Close the evaluation in progress, if any metric of it was seen."""
        if not self._pending:
            return []
        self.evaluations += 1
        record = {"epoch": self.evaluations, **self._pending}
        self._pending = {}
        return [record]


def parse_metric_lines(lines: Iterable[str], patterns: Sequence[tuple[str, str]]) -> list[dict[str, float]]:
    """Every evaluation in a finished output, as :class:`PatternParser` sees them line by line."""
    parser = PatternParser(patterns)
    records = [record for line in lines for record in parser.feed(line)]
    return records + parser.flush()


def _matched(match: re.Match[str]) -> str:
    """The text a pattern takes as the value: its first group, or the whole match without one."""
    return (match.group(1) if match.re.groups else match.group(0)) or ""


def _to_float(match: re.Match[str]) -> float | None:
    """A pattern's first group as a float (``nan`` and ``inf`` included); None when it is no number."""
    try:
        return float(_matched(match))
    except (TypeError, ValueError, OverflowError):
        return None
