"""The built-in trainer: one cell's training run in its own process.

Usage::

    python -m hyperparameter_system.train --config-file CONFIG.yaml [KEY VALUE ...]

``KEY VALUE`` pairs override the config (yacs ``merge_from_list``), e.g.
``SOLVER.BASE_LR 0.01 OUTPUT_DIR /tmp/run``. ``HPS_OUTPUT_DIR`` in the
environment wins over both: it is how the runner names the attempt's folder
(its one channel, see ``child_contract``); ``HPS_TORCH_THREADS`` sets torch's
CPU threads.

Writes into OUTPUT_DIR: ``metrics.jsonl`` (one line per evaluation),
``result.json`` (atomically, at the end, whatever the ending), ``log.txt``,
``checkpoints/`` and, with W&B offline, ``wandb/offline-run-*``.

Exit codes (``child_contract``):

    0  completed (also when early stopping ended the run)
    1  failed: an unexpected exception or pretrained weights that cannot be
       loaded; result.json holds the error
    2  a user error in the config or command line: one line
       ``path:line: KEY: reason`` on stderr, nothing written
    3  nonfinite: the loss became NaN or infinite
    4  oom: CUDA ran out of memory (the message names the batch size)
    5  stopped: SIGTERM or Ctrl-C; the current iteration finished and
       result.json says ``stopped``
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from hyperparameter_system import child_contract as cc
from hyperparameter_system.errors import HpsysError

if TYPE_CHECKING:
    from hyperparameter_system.training.signals import StopRequest


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """``--config-file F`` and the trailing ``KEY VALUE`` overrides."""
    parser = argparse.ArgumentParser(prog="python -m hyperparameter_system.train", description=__doc__.split("\n")[0])
    parser.add_argument("--config-file", "--config_file", dest="config_file", default="", help="a YACS config (YAML)")
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="KEY VALUE pairs that override the config")
    return parser.parse_args(argv)


def setup_logging(output_dir: Path) -> None:
    """Log to OUTPUT_DIR/log.txt and to stderr (the runner keeps both)."""
    logger = logging.getLogger("hyperparameter_system")
    logger.setLevel(logging.INFO)
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(message)s")
    console = logging.StreamHandler(sys.stderr)
    console.addFilter(lambda record: not getattr(record, "file_only", False))  # the config dump stays in log.txt
    for handler in (logging.FileHandler(output_dir / cc.LOG_FILE, encoding="utf-8"), console):
        handler.setFormatter(fmt)
        logger.addHandler(handler)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one training; returns the exit code (see the module docstring)."""
    from hyperparameter_system.training.signals import StopRequest

    args = parse_args(argv)
    stop = StopRequest()
    stop.install()  # before the slow imports: a SIGTERM during start-up still ends cleanly
    try:
        return _main(args, stop)
    finally:
        stop.restore()


def _main(args: argparse.Namespace, stop: StopRequest) -> int:
    """Load and check the config, prepare (exit 2 on user errors), then train."""
    try:
        from hyperparameter_system.training.validate import load_config

        cfg = load_config(args.config_file or None, args.opts)
        if os.environ.get(cc.ENV_OUTPUT_DIR):
            cfg.OUTPUT_DIR = os.environ[cc.ENV_OUTPUT_DIR]
        cfg.freeze()
        _set_threads()
        from hyperparameter_system.training.run import execute, prepare

        config_path = str(Path(args.config_file).resolve()) if args.config_file else ""
        prep = prepare(cfg, config_path)
    except HpsysError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return cc.EXIT_CONFIG
    output_dir = Path(cfg.OUTPUT_DIR)
    output_dir.mkdir(parents=True, exist_ok=True)
    setup_logging(output_dir)
    logging.getLogger("hyperparameter_system.train").info(
        "config %s\n%s", config_path or "(defaults)", cfg.dump(), extra={"file_only": True}
    )
    return execute(prep, stop)


def _set_threads() -> None:
    """Honour HPS_TORCH_THREADS so parallel cells on one CPU do not oversubscribe it."""
    threads = os.environ.get(cc.ENV_TORCH_THREADS, "").strip()
    if not threads:
        return
    if not threads.isdigit() or int(threads) < 1:
        raise HpsysError(f"{cc.ENV_TORCH_THREADS}: must be a positive integer, got {threads!r}")
    import torch

    torch.set_num_threads(int(threads))


if __name__ == "__main__":
    sys.exit(main())
