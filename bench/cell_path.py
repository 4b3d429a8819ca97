"""Measure the path of one cell through hpsys: experiment file -> plan -> run -> summary row.

Writes a one-cell experiment (small_cnn, its baseline only: INPUT.SIZE 8,
SOLVER.MAX_EPOCHS 1, W&B disabled, warm start off so no fork server runs) into
a temporary folder and runs ``--matrix``, ``--all`` and ``--summary`` on it,
in this process, under a ``sys.setprofile`` / ``threading.setprofile`` tracer.
The training child is a separate process and is not traced: what is counted
is the runner's side. It prints:

(a) modules: the distinct ``hyperparameter_system`` modules one of whose
    functions was called (a module body run by an import does not count:
    importing is not a step of the cell's path);
(b) edges: the distinct (caller module -> callee module) pairs of those calls,
    between two different ``hyperparameter_system`` modules, where the caller
    is the nearest ``hyperparameter_system`` function up the stack (frames of
    other packages in between, e.g. pluggy or importlib, are looked through;
    a call whose nearest such frame is a module body, or with none, as the
    first call of a thread, has no caller and adds no edge).

    python bench/cell_path.py [--code DIR] [--list]

``--code`` points at another checkout of the package (e.g. an older commit).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import threading
from pathlib import Path
from types import FrameType
from typing import Any

PACKAGE = "hyperparameter_system"
EXPERIMENT = """\
experiment:
  name: cell_path
  metric: {name: val/acc, goal: maximize}
  output_dir: ./output
  temp_config_dir: ./temp_configs
  overrides: {DATASETS.NAME: digits, INPUT.SIZE: 8, SOLVER.MAX_EPOCHS: 1, DATALOADER.BATCH_SIZE: 64, DEVICE: cpu}
wandb: {mode: disabled}
execution: {parallel: 1, devices: cpu, retries: 0}
models:
  - name: small_cnn
"""


class CallGraph:
    """The package's modules called and the module-to-module call edges (see the module docstring)."""

    def __init__(self) -> None:
        self.modules: set[str] = set()
        self.edges: set[tuple[str, str]] = set()

    def __call__(self, frame: FrameType, event: str, arg: Any) -> None:
        if event != "call":
            return
        callee = _module(frame)
        if callee is None or frame.f_code.co_name == "<module>":
            return
        self.modules.add(callee)
        caller = frame.f_back
        while caller is not None and _module(caller) is None:
            caller = caller.f_back
        if caller is not None and caller.f_code.co_name != "<module>" and _module(caller) != callee:
            self.edges.add((_module(caller), callee))


def _module(frame: FrameType) -> str | None:
    name = frame.f_globals.get("__name__", "")
    return name if name == PACKAGE or name.startswith(PACKAGE + ".") else None


def run(argv: list[str], graph: CallGraph, log: Path) -> int:
    """``experiment_runner.main(argv)`` traced, its output appended to ``log``."""
    from hyperparameter_system.experiment_runner import main

    with open(log, "a") as out, contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        threading.setprofile(graph)
        sys.setprofile(graph)
        try:
            return main(argv)
        finally:
            sys.setprofile(None)
            threading.setprofile(None)  # type: ignore[arg-type]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--code", default=str(Path(__file__).resolve().parents[1]), help="checkout to measure")
    parser.add_argument("--list", action="store_true", help="print the modules and edges too")
    args = parser.parse_args()
    sys.path.insert(0, args.code)
    # the training child imports the same checkout
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [args.code, os.environ.get("PYTHONPATH")]))
    os.environ.update(HPSYS_WARM_START="0", WANDB_MODE="disabled", HF_HUB_OFFLINE="1", WANDB_SILENT="true")
    graph = CallGraph()
    with tempfile.TemporaryDirectory() as tmp:
        config, log = Path(tmp) / "experiment.yaml", Path(tmp) / "log.txt"
        config.write_text(EXPERIMENT)
        os.chdir(tmp)  # a child started with ``-m`` imports from its working folder first: not another checkout's
        codes = [run(["--config", str(config), flag], graph, log) for flag in ("--matrix", "--all", "--summary")]
        if any(codes):
            print(log.read_text()[-3000:], file=sys.stderr)
            print(f"exit codes of --matrix, --all, --summary: {codes}", file=sys.stderr)
            return 1
    import hyperparameter_system

    print(f"code: {Path(hyperparameter_system.__file__).parent.parent}")
    if args.list:
        print("\n".join(sorted(graph.modules)))
        print("\n".join(f"{a} -> {b}" for a, b in sorted(graph.edges)))
    print(f"(a) {PACKAGE} modules called: {len(graph.modules)}")
    print(f"(b) module-to-module call edges: {len(graph.edges)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
