"""Cell time with online W&B that cannot be reached vs offline, measured in one run.

The same tiny digits matrix (small_cnn, INPUT.SIZE 8, 1 epoch, 3 cells) runs
through ``hpsys --all`` with ``WANDB_MODE=offline``, and with ``WANDB_MODE=online``,
an API key and ``WANDB_BASE_URL`` pointing at a loopback port nothing listens on
(what a machine without a network sees), alternating for ``ROUNDS`` rounds so a
change in the machine's load hits both alike. The runner's one reachability check
turns the second kind offline. Prints the median wall time per cell of each and
the ratio. Goal: ratio <= 1.10 (before the check: ~117 s vs ~20 s per cell).
"""

from __future__ import annotations

import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hyperparameter_system.store import Store, store_path  # noqa: E402

ROUNDS = 2
EXPERIMENT = """
experiment:
  name: bench
  overrides: {DATASETS.NAME: digits, INPUT.SIZE: 8, SOLVER.MAX_EPOCHS: 1}
wandb: {mode: online}
execution: {parallel: 1, devices: cpu}
models: [{name: small_cnn}]
categories:
  optimizer:
    options: [{name: AdamW, lr: 0.003}, {name: SGD, lr: 0.05}]
"""


def cell_seconds(folder: Path, env: dict[str, str]) -> tuple[list[float], float]:
    """Run the matrix in ``folder``; wall seconds of each cell and of the whole run."""
    folder.mkdir()
    (folder / "exp.yaml").write_text(EXPERIMENT)
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "hyperparameter_system.experiment_runner", "--config",
                           str(folder / "exp.yaml"), "--all"], cwd=folder, env=env, capture_output=True,
                          text=True, timeout=1800)
    total = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(done.stdout + done.stderr)
    with Store.open(store_path(folder / "output", "bench")) as store:
        return [a.ended_at - a.started_at for a in store.attempts()], total


def main() -> int:
    base = {**os.environ, "HF_HUB_OFFLINE": "1", "WANDB_SILENT": "true"}
    seconds: dict[str, list[float]] = {"offline": [], "unreachable": []}
    with tempfile.TemporaryDirectory() as name, socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
        envs = {"offline": {**base, "WANDB_MODE": "offline"},
                "unreachable": {**base, "WANDB_MODE": "online", "WANDB_API_KEY": "0123456789abcdef" * 2 + "01234567",
                                "WANDB_BASE_URL": f"http://127.0.0.1:{closed.getsockname()[1]}"}}
        for round_ in range(ROUNDS):
            for kind, env in envs.items():
                cells, total = cell_seconds(Path(name) / f"{kind}{round_}", env)
                seconds[kind] += cells
                print(f"round {round_ + 1} {kind:<11}: run {total:6.1f} s, cells "
                      + " ".join(f"{c:.1f}" for c in cells), flush=True)
    offline, unreachable = (statistics.median(seconds[k]) for k in ("offline", "unreachable"))
    ratio = unreachable / offline
    print(f"median per cell: offline {offline:.2f} s, online unreachable {unreachable:.2f} s")
    print(f"ratio (goal <= 1.10): {ratio:.3f}")
    return 0 if ratio <= 1.10 else 1


if __name__ == "__main__":
    sys.exit(main())
