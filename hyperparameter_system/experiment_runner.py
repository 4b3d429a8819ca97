"""The hpsys command line: plan, run, summarise and sweep an experiment matrix.

Thin by design: it parses arguments, picks one command module and turns user
errors into one line and exit code 2. Each command module is imported only
when chosen, so ``--matrix`` never pays for torch or wandb.

Usage:
    python -m hyperparameter_system.experiment_runner --matrix
    python -m hyperparameter_system.experiment_runner --all
    python -m hyperparameter_system.experiment_runner --summary
    python -m hyperparameter_system.experiment_runner --sweep --models M --categories C
"""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import sys
from typing import Sequence

if __package__ in (None, ""):  # run as a script, or imported as one by run_experiments.py
    # This file's folder must leave sys.path (the package's own ``sweeps`` would
    # shadow the third-party engine); the checkout root takes its place.
    _HERE = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [os.path.dirname(_HERE)] + [p for p in sys.path if os.path.abspath(p or ".") != _HERE]

from hyperparameter_system.config.dotenv import apply_dotenv
from hyperparameter_system.config.experiment import DEFAULT_CONFIG
from hyperparameter_system.errors import HpsysError

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130  # Ctrl-C, or a closed stdout


def _at_least(minimum: float, kind: type = int):
    """An argparse type that refuses values below ``minimum`` (argparse exits 2)."""

    def parse(text: str) -> float:
        value = kind(text)
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be >= {minimum}, got {text}")
        return value

    parse.__name__ = kind.__name__  # argparse names the type in its messages
    return parse


def build_parser() -> argparse.ArgumentParser:
    """All flags of every command; the action flags choose the command module."""
    parser = argparse.ArgumentParser(
        prog="hpsys",
        description="Plan, run, summarise and sweep a hyperparameter experiment matrix.",
    )
    parser.add_argument("--config", default=DEFAULT_CONFIG,
                        help="experiment file (default: ./experiment_config.yaml)")
    select = parser.add_argument_group("selection")
    select.add_argument("--all", action="store_true", help="every enabled model and category")
    select.add_argument("--models", nargs="+", metavar="M", help="only these models")
    select.add_argument("--categories", nargs="+", metavar="C", help="only these categories")

    action = parser.add_argument_group("what to do (default: run the selected cells)")
    action.add_argument("--matrix", action="store_true", help="print the planned cells; run nothing")
    action.add_argument("--dry-run", action="store_true",
                        help="render the configs and print each child command; run nothing")
    action.add_argument("--summary", action="store_true", help="leaderboard per model and category")
    action.add_argument("--best", action="store_true", help="the best cell, its config and command")
    action.add_argument("--sweep", action="store_true", help="run one category of one model as a sweep")
    action.add_argument("--sync", action="store_true",
                        help="upload the experiment's offline W&B runs with `wandb sync` (--dry-run: list them)")
    action.add_argument("--rebuild-store", action="store_true",
                        help="rebuild a lost or damaged results store from the attempt folders on disk")

    run = parser.add_argument_group("running")
    run.add_argument("--parallel", type=_at_least(1), metavar="N", help="cells at once (default: execution.parallel)")
    run.add_argument("--devices", metavar="LIST", help="0,1,... | cpu | auto (default: execution.devices)")
    run.add_argument("--rerun", choices=["failed", "all"], help="run again cells that failed, or all cells")
    run.add_argument("--timeout", type=_at_least(0, float), metavar="S", help="per-cell timeout in seconds")
    run.add_argument("--repeats", type=_at_least(1), metavar="N",
                     help="train every cell N times, seeds SEED..SEED+N-1 (default: execution.repeats)")
    run.add_argument("--backend", choices=["auto", "local", "ray", "wandb"], default="auto",
                     help="where cells run: this machine (local), a Ray cluster (ray; default: execution.backend);"
                          " for --sweep also the controller: a W&B server (wandb) or local (auto: W&B when online)")
    run.add_argument("--ray-address", metavar="ADDR",
                     help="the Ray cluster to join with --backend ray (default: $RAY_ADDRESS, else auto)")

    report = parser.add_argument_group("reporting")
    report.add_argument("--format", choices=["table", "csv", "json", "md", "html"],
                        help="default: from --output's extension (.csv .json .md .html), else table")
    report.add_argument("--output", metavar="PATH", help="write the summary here instead of stdout ('-': stdout)")
    report.add_argument("--model", metavar="M", help="with --summary or --best: only this model")

    sweep = parser.add_argument_group("sweeps")
    sweep.add_argument("--method", choices=["grid", "random", "bayes"], help="sweep search method")
    sweep.add_argument("--count", type=_at_least(1), metavar="N", help="number of new trials")
    sweep.add_argument("--sweep-id", metavar="ID", help="continue (or join) this sweep")
    sweep.add_argument("--sweep-config", metavar="FILE", help="a W&B-format sweep YAML file")
    return parser


# Which module serves which action flag; each exposes ``main(args) -> int``.
_COMMANDS = (
    ("sync", "hyperparameter_system.commands.sync"),  # before dry_run: --sync --dry-run lists runs
    ("matrix", "hyperparameter_system.commands.plan"),
    ("dry_run", "hyperparameter_system.commands.plan"),
    ("summary", "hyperparameter_system.commands.report"),
    ("best", "hyperparameter_system.commands.report"),
    ("sweep", "hyperparameter_system.commands.sweep"),
    ("rebuild_store", "hyperparameter_system.commands.rebuild"),
)
_DEFAULT_COMMAND = "hyperparameter_system.commands.run"


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``hpsys``; returns the process exit code."""
    args = build_parser().parse_args(argv)
    chosen = [flag for flag, _ in _COMMANDS if getattr(args, flag)]
    if args.sync and args.dry_run:  # with --sync, --dry-run lists the runs instead of uploading them
        chosen.remove("dry_run")
    if len(chosen) > 1:  # one action per call: silently doing only the first hid the other
        flags = " and ".join("--" + flag.replace("_", "-") for flag in chosen)
        print(f"error: {flags} cannot be combined: choose one action per command", file=sys.stderr)
        return EXIT_USER_ERROR
    if args.sweep and args.repeats:  # ignoring it silently would suggest the trials were repeated
        print("error: --repeats does not apply to --sweep: each sweep trial trains once", file=sys.stderr)
        return EXIT_USER_ERROR
    module_name = next((mod for flag, mod in _COMMANDS if getattr(args, flag)), _DEFAULT_COMMAND)
    # SIGTERM is a Ctrl-C until the runner installs its own handlers (and again after): the
    # command unwinds, closing what it started (the fork server), instead of dying mid-step.
    previous = signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        # W&B settings kept in a .env beside the experiment file; the real environment wins.
        apply_dotenv(args.config)
        command = importlib.import_module(module_name)
        return int(command.main(args))
    except HpsysError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM outside the runner's loop: what finished is kept
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # stdout's reader left (`hpsys --summary | head -1`): not a crash
        from hyperparameter_system.runner import silence

        silence(sys.stdout)
        return EXIT_INTERRUPTED
    finally:
        signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
