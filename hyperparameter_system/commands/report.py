"""``--summary`` and ``--best``: read the results store and say what won.

Reads only the experiment file (for the store's place, the metric and its
goal) and the store; it never needs the runner alive, so it works in a second
terminal during a run and after a crash. ``--output`` is written atomically.
"""

from __future__ import annotations

import argparse
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
    write_text_atomic,
)


def main(args: argparse.Namespace) -> int:
    """Print (or write to ``--output``) the summary or the best cell; 0 on success."""
    spec = load_experiment(args.config)
    summary = load_summary(spec.output_dir, spec.name, metric=spec.metric, goal=spec.goal,
                           hint=_run_hint(args.config), wandb_entity=spec.wandb.entity,
                           models=args.models, categories=args.categories)
    if args.best:
        text = render_best(summary, find_best(summary, args.model))
    else:
        to_terminal = not args.output and args.format == "table" and sys.stdout.isatty()
        width = shutil.get_terminal_size((120, 24)).columns if to_terminal else None
        text = render(summary, args.format, color=to_terminal, width=width)
    if args.output:
        try:
            write_text_atomic(args.output, text)
        except OSError as error:  # a folder, a missing parent we may not create, a full disk
            raise HpsysError(f"--output: cannot write {args.output}: "
                             f"{error.strerror or error}") from None
        print(f"wrote {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(text)
        sys.stdout.flush()
    return 0


def _run_hint(config: str) -> str:
    """The command that fills the store, as the user would type it."""
    extra = "" if config == DEFAULT_CONFIG else f" --config {shlex.quote(config)}"
    return f"`hpsys --all{extra}`"
