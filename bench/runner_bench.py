"""Runner overhead and parallel speed-up, measured in one run.

1. Per-cell overhead: N cells whose child is ``python -c pass`` run through the
   runner (store claims, env, log files, result reading) vs the same argv
   launched directly one after another. Goal: < 0.3 s per cell.
2. Speed-up: N cells whose child sleeps S seconds on K parallel slots vs one
   slot. Goal: >= 0.9 K.
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hyperparameter_system.matrix.cell import Cell  # noqa: E402
from hyperparameter_system.runner import PlainProgress, RetryPolicy, RunOptions, Runner, make_slots  # noqa: E402
from hyperparameter_system.store import Store, store_path  # noqa: E402

N_OVERHEAD, N_SLEEP, SLEEP_S, K = 20, 8, 1.0, 4


def cells(tmp: Path, n: int, code: str, tag: str) -> list[Cell]:
    base = Cell(cell_id="", experiment="bench", model="m", category="c", option=None, option_label="",
                run_name="", project="m", group="c", tags=(), config_path=str(tmp / "none.yaml"),
                command=("{{ python }}", "-c", code))
    return [dataclasses.replace(base, cell_id=f"{tag}{i}", run_name=f"{tag}_{i}") for i in range(n)]


def run(tmp: Path, batch: list[Cell], parallel: int) -> float:
    root = tmp / f"out{time.monotonic_ns()}"
    options = RunOptions(slots=tuple(make_slots("cpu", parallel)), policy=RetryPolicy(retries=0),
                         wandb_mode="disabled", poll_s=0.02)
    with open("/dev/null", "w") as sink, Store.open(store_path(root, "bench")) as store:
        started = time.perf_counter()
        report = Runner(store, root / "bench", options, PlainProgress(sink)).run(batch)
        elapsed = time.perf_counter() - started
    assert report.exit_code == 0, report
    return elapsed


def direct(n: int) -> float:
    started = time.perf_counter()
    for _ in range(n):
        subprocess.run([sys.executable, "-c", "pass"], check=True)
    return time.perf_counter() - started


def main() -> int:
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        base = direct(N_OVERHEAD)
        through = run(tmp, cells(tmp, N_OVERHEAD, "pass", "p"), 1)
        overhead = (through - base) / N_OVERHEAD
        serial = run(tmp, cells(tmp, N_SLEEP, f"import time; time.sleep({SLEEP_S})", "s"), 1)
        parallel = run(tmp, cells(tmp, N_SLEEP, f"import time; time.sleep({SLEEP_S})", "k"), K)
    speedup = serial / parallel
    print(f"overhead per cell: {overhead:.3f} s (runner {through:.2f} s vs direct {base:.2f} s for "
          f"{N_OVERHEAD} cells; goal < 0.3 s) {'OK' if overhead < 0.3 else 'MISSED'}")
    print(f"speed-up with {K} slots: {speedup:.2f}x = {speedup / K:.2f} K (serial {serial:.2f} s, "
          f"parallel {parallel:.2f} s; goal >= 0.9 K) {'OK' if speedup >= 0.9 * K else 'MISSED'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
