"""``--summary`` and ``--best``: read the results store and say what won.

Reads only the experiment file (for the store's place, the metric and its
goal) and the store; it never needs the runner alive, so it works in a second
terminal during a run and after a crash. ``--output`` is written atomically
(``-`` is stdout), in the format its extension names unless ``--format`` says.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import sys

from hyperparameter_system.config.experiment import DEFAULT_CONFIG, load_experiment
from hyperparameter_system.errors import HpsysError
from hyperparameter_system.report import (
    find_best,
    load_summary,
    render,
    render_best,
    render_best_json,
    write_text_atomic,
)


# What an --output file's extension asks for when --format is not given.
_BY_EXTENSION = {".csv": "csv", ".json": "json", ".md": "md", ".markdown": "md",
                 ".html": "html", ".htm": "html", ".txt": "table"}
STDOUT = "-"


def main(args: argparse.Namespace) -> int:
    """Print (or write to ``--output``) the summary or the best cell; 0 on success."""
    output = None if args.output in (None, STDOUT) else args.output
    fmt = _format(args.format, output, best=args.best)
    spec = load_experiment(args.config)
    models = [args.model] if args.model else args.models
    summary = load_summary(spec.output_dir, spec.name, metric=spec.metric, goal=spec.goal,
                           hint=_run_hint(args.config), wandb_entity=spec.wandb.entity,
                           models=models, categories=args.categories,
                           models_flag="--model" if args.model else "--models")
    if args.best and fmt == "json":
        text = render_best_json(summary)
    elif args.best:
        text = render_best(summary, find_best(summary, args.model))
    else:
        to_terminal = output is None and fmt == "table" and sys.stdout.isatty()
        width = shutil.get_terminal_size((120, 24)).columns if to_terminal else None
        text = render(summary, fmt, color=to_terminal, width=width)
    if output is None:
        write_stdout(text)
        return 0
    try:
        write_text_atomic(output, text)
    except OSError as error:  # a folder, a missing parent we may not create, a full disk
        raise HpsysError(f"--output: cannot write {output}: {error.strerror or error}") from None
    print(f"wrote {output}", file=sys.stderr)
    return 0


def write_stdout(text: str) -> None:
    """All of ``text`` to standard output, or BrokenPipeError (exit 130) when its reader left.

    An unbuffered stdout (``PYTHONUNBUFFERED``) makes one write call of the whole
    text; a pipe whose reader leaves midway takes part of it, and the rest was
    dropped without a word (exit 0). The bytes go out in a loop instead, where
    the next write after a short one meets the closed pipe.
    """
    sys.stdout.flush()
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # a stream without a descriptor (captured output)
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    data = memoryview(text.encode(sys.stdout.encoding or "utf-8", errors="replace"))
    while data:
        data = data[os.write(fd, data):]


def _format(asked: str | None, output: str | None, *, best: bool) -> str:
    """The output format: ``--format``, else the extension of ``--output``, else a table.

    Raises:
        HpsysError: when ``--format`` and the extension disagree (which one was
            meant cannot be guessed), or ``--best`` is asked for a table-only format.
    """
    implied = _BY_EXTENSION.get(os.path.splitext(output)[1].lower()) if output else None
    if asked and implied and asked != implied:
        raise HpsysError(f"--format {asked} conflicts with --output {output} (a {implied} "
                         f"file name); drop one or make them agree")
    fmt = asked or implied or "table"
    if best and fmt not in ("table", "json"):
        raise HpsysError(f"--best prints text or json, not {fmt}")
    return fmt


def _run_hint(config: str) -> str:
    """The command that fills the store, as the user would type it."""
    extra = "" if config == DEFAULT_CONFIG else f" --config {shlex.quote(config)}"
    return f"`hpsys --all{extra}`"
