"""Cell start-up: how much of a short built-in cell is not training, warm vs cold, measured in one run.

1. Outside training: the runner's duration of a small_cnn digits cell (3 epochs,
   W&B offline) minus its epochs x its steady epoch time (from metrics.jsonl),
   median over the cells of a warm run. Goal <= 2.5 s.
2. Spawn to first training step, p50, warm vs cold (the same cells again with
   HPSYS_WARM_START=0): from the runner's claim of the attempt to the trainer's
   "training ..." log line, written just before the first step. Goal warm <= 1.0 s.
3. The default demo matrix (experiment_config.yaml, W&B offline, warm): its wall
   time against the sum of its cells' pure training time divided by the slots.
   Goal <= 1.5x. Its CPU seconds (user + sys, every process it started) are
   printed beside it: on a shared machine they vary less than the wall time.

Every figure is printed with its ratio to the goal (<= 1.0 meets it).

    python bench/cell_start_bench.py [--cells 6] [--skip-demo] [--demo-cold]
"""

from __future__ import annotations

import argparse
import datetime
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, NamedTuple

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from hyperparameter_system.store import Store, store_path  # noqa: E402

OUTSIDE_GOAL_S, FIRST_STEP_GOAL_S, DEMO_GOAL_RATIO = 2.5, 1.0, 1.5
SLOTS = 2
CELLS_YAML = """
experiment:
  name: start
  overrides: {{DATASETS.NAME: digits, INPUT.SIZE: 16, SOLVER.MAX_EPOCHS: 3, DATALOADER.BATCH_SIZE: 64}}
wandb: {{mode: offline}}
execution: {{parallel: {slots}, devices: cpu, timeout: 600, retries: 0}}
models: [{{name: small_cnn}}]
categories:
  optimizer:
    options: [{options}]
"""


class Demo(NamedTuple):
    """One run of the default matrix."""

    wall: float
    cpu: float  # user + sys of the runner and every process it waited for, children's children included
    training: float  # summed pure training seconds of its cells
    cells: int


def run_cli(folder: Path, warm: bool) -> tuple[float, float]:
    """Run ``--all`` in ``folder``; (wall seconds, CPU seconds of the run's processes)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "WANDB_SILENT": "true", "WANDB_MODE": "offline",
           "HPSYS_WARM_START": "1" if warm else "0"}
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "hyperparameter_system.experiment_runner", "--all"], cwd=folder,
                          env=env, capture_output=True, text=True, timeout=1800)
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"run in {folder} failed ({done.returncode}):\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
    return elapsed, (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)


def cell_figures(output_dir: Path, name: str) -> list[dict[str, float]]:
    """Per completed attempt: runner duration, pure training time, spawn-to-first-step."""
    figures = []
    with Store.open(store_path(output_dir, name)) as store:
        for attempt in store.attempts():
            if attempt.status != "completed" or attempt.duration_s is None:
                continue
            elapsed = [float(e.metrics["elapsed_s"]) for e in store.epochs(attempt.id)]
            steps = [b - a for a, b in zip(elapsed, elapsed[1:])]
            steady = statistics.median(steps) if steps else elapsed[0]
            training = steady * len(elapsed)
            figures.append({"duration": attempt.duration_s, "training": training,
                            "outside": attempt.duration_s - training,
                            "first_step": first_step_at(Path(attempt.output_dir or "")) - (attempt.started_at or 0)})
    return figures


def first_step_at(output_dir: Path) -> float:
    """Wall time of the trainer's "training <model> on <device>" line: the first step follows at once."""
    for line in (output_dir / "log.txt").read_text(encoding="utf-8").splitlines():
        if " INFO training " in line:
            stamp = datetime.datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f")
            return stamp.timestamp()
    raise SystemExit(f"{output_dir / 'log.txt'}: no 'training' line")


def cells_run(tmp: Path, n: int, warm: bool) -> list[dict[str, float]]:
    folder = tmp / ("warm" if warm else "cold")
    folder.mkdir()
    options = ", ".join(f"{{name: SGD, lr: {0.01 * (i + 1):.2f}}}" for i in range(n - 1))
    (folder / "experiment_config.yaml").write_text(CELLS_YAML.format(slots=SLOTS, options=options))
    run_cli(folder, warm)
    return cell_figures(folder / "output", "start")


def demo_run(tmp: Path, warm: bool = True) -> Demo:
    """The default matrix, run once."""
    folder = tmp / ("demo" if warm else "demo-cold")
    folder.mkdir()
    shutil.copy(REPO / "experiment_config.yaml", folder / "experiment_config.yaml")
    wall, cpu = run_cli(folder, warm=warm)
    figures = cell_figures(folder / "output", "digits_default")
    return Demo(wall, cpu, sum(f["training"] for f in figures), len(figures))


def p50(figures: list[dict[str, Any]], key: str) -> float:
    return statistics.median(f[key] for f in figures)


def report(load: float, warm: list[dict[str, float]], cold: list[dict[str, float]],
           demo: Demo | None, demo_cold: Demo | None) -> None:
    """Print each figure with its ratio to the goal."""
    outside_warm, outside_cold = p50(warm, "outside"), p50(cold, "outside")
    first_warm, first_cold = p50(warm, "first_step"), p50(cold, "first_step")
    print(f"load average at start: {load:.2f} ({os.cpu_count()} cores)")
    print(f"outside training per cell, p50: warm {outside_warm:.2f} s, cold {outside_cold:.2f} s "
          f"(goal <= {OUTSIDE_GOAL_S} s): ratio {outside_warm / OUTSIDE_GOAL_S:.2f}")
    print(f"spawn to first training step, p50: warm {first_warm:.2f} s, cold {first_cold:.2f} s "
          f"(warm/cold {first_warm / first_cold:.2f}; goal warm <= {FIRST_STEP_GOAL_S} s): "
          f"ratio {first_warm / FIRST_STEP_GOAL_S:.2f}")
    if demo is not None:
        wall, cpu, training, cells = demo
        ideal = training / SLOTS
        print(f"default demo ({cells} cells, {SLOTS} slots): wall {wall:.1f} s, CPU {cpu:.1f} s, "
              f"pure training / slots {ideal:.1f} s: "
              f"{wall / ideal:.2f}x (goal <= {DEMO_GOAL_RATIO}x): ratio {wall / ideal / DEMO_GOAL_RATIO:.2f}")
    if demo_cold is not None:
        wall, cpu, training, _ = demo_cold
        print(f"default demo cold: wall {wall:.1f} s, CPU {cpu:.1f} s, pure training / slots {training / SLOTS:.1f} s: "
              f"{wall / (training / SLOTS):.2f}x")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cells", type=int, default=6, help="cells per warm / cold run")
    parser.add_argument("--skip-demo", action="store_true", help="leave out the default demo matrix")
    parser.add_argument("--demo-cold", action="store_true", help="also run the demo cold (the figure before)")
    args = parser.parse_args()
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        warm, cold = cells_run(tmp, args.cells, True), cells_run(tmp, args.cells, False)
        demo = None if args.skip_demo else demo_run(tmp)
        demo_cold = demo_run(tmp, warm=False) if args.demo_cold else None
    report(load, warm, cold, demo, demo_cold)
    return 0


if __name__ == "__main__":
    sys.exit(main())
