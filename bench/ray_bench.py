"""The Ray backend against the local one, measured in one run on a real loopback cluster.

1. Overhead per cell: the same sequence of short cells (a user's command that
   sleeps 1 s and prints its metric) with one slot, locally and on a one-node
   Ray cluster; (Ray's span - local span) / cells. Goal < 0.5 s per cell.
2. Speed-up from one node to two: cells that sleep, one cell per CPU, on the
   head alone, then with the worker joined. Goal >= 1.8x. Both nodes run on
   this machine, so each offers half its cores (``--cpus-per-node``): two real
   machines do not share theirs, and nodes that each claimed all of them would
   make the two-node run start twice the cells the cores can start at once.

Spans are from the first cell's start to the last cell's end, as the store
recorded them (the driver's own start-up is not the cells'). The cluster runs
in a private network namespace, on loopback only (see loopback_cluster.py).

    python bench/ray_bench.py [--cells 8] [--sleep 4] [--cpus-per-node N]
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
import tempfile
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))

from loopback_cluster import ADDRESS, LoopbackCluster, unavailable  # noqa: E402

OVERHEAD_GOAL_S, SPEEDUP_GOAL = 0.5, 1.8
OPTIONS = [{"name": n, "lr": lr} for n in ("SGD", "AdamW", "Adam") for lr in (0.1, 0.03, 0.01, 0.003, 0.0005, 0.0002)]


def experiment(folder: Path, name: str, cells: int, sleep_s: float, backend: str) -> Path:
    """``cells`` cells (baseline + options) of a command that sleeps, then prints its metric."""
    command = ["{{ python }}", "-c", f"import time; time.sleep({sleep_s}); print('val_acc: 0.5')"]
    data = {
        "experiment": {"name": name, "output_dir": str(folder / "out"), "temp_config_dir": str(folder / "configs")},
        "wandb": {"mode": "disabled"},
        "execution": {"backend": backend, "retries": 0, "devices": "cpu"},
        "models": [{"name": "sleeper", "command": command, "metric_patterns": {"val/acc": "val_acc: ([0-9.]+)"}}],
        "categories": {"optimizer": {"options": OPTIONS[:cells - 1]}},
    }
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def span(folder: Path, name: str, cells: int) -> float:
    """First start to last end of the experiment's completed cells (all of them, or the bench is void);
    prints the mean time per cell from claim to settled."""
    conn = sqlite3.connect(folder / "out" / name / "results.sqlite")
    try:
        rows = conn.execute("SELECT started_at, ended_at FROM attempts WHERE status = 'completed'").fetchall()
    finally:
        conn.close()
    if len(rows) != cells:
        raise SystemExit(f"{name}: {len(rows)} of {cells} cells completed")
    print(f"  {name}: mean {sum(r[1] - r[0] for r in rows) / cells:.2f}s per cell from claim to settled", flush=True)
    return max(r[1] for r in rows) - min(r[0] for r in rows)


def run(cluster: LoopbackCluster, folder: Path, name: str, cells: int, sleep_s: float, backend: str,
        parallel: int | None) -> float:
    config = experiment(folder, name, cells, sleep_s, backend)
    argv = [sys.executable, "-m", "hyperparameter_system.experiment_runner", "--config", str(config), "--all",
            *(["--ray-address", ADDRESS] if backend == "ray" else []), *(["--parallel", str(parallel)] if parallel else [])]
    done = cluster.run(argv, timeout=900, cwd=folder)
    if done.returncode != 0:
        raise SystemExit(f"{name}: exit {done.returncode}\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return span(folder, name, cells)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=8)
    parser.add_argument("--sleep", type=float, default=4.0)
    parser.add_argument("--cpus-per-node", type=int, default=max(1, (os.cpu_count() or 2) // 2),
                        help="CPUs each node offers (default: half this machine's, as two machines of its half)")
    args = parser.parse_args()
    reason = unavailable()
    if reason:
        print(f"skipped: no loopback Ray cluster here: {reason}")
        return 0
    # Two machines do not share their cores: by default each "node" offers half of this one's, so that the
    # two-node run does not ask for twice the CPUs there are (its cells' start-ups would queue for them).
    cluster = LoopbackCluster(cpus_per_node=args.cpus_per_node,
                              extra_env={"PYTHONPATH": str(REPO), "WANDB_SILENT": "true"})
    with tempfile.TemporaryDirectory(prefix="raybench-") as tmp:
        folder = Path(tmp)
        try:
            cluster.start(workers=0)
            local = run(cluster, folder, "local1", args.cells, 1.0, "local", 1)
            ray1 = run(cluster, folder, "ray1", args.cells, 1.0, "ray", 1)
            one_node = run(cluster, folder, "onenode", args.cells, args.sleep, "ray", None)
            cluster.add_worker()
            two_nodes = run(cluster, folder, "twonodes", args.cells, args.sleep, "ray", None)
        finally:
            cluster.stop()
    overhead = (ray1 - local) / args.cells
    speedup = one_node / two_nodes
    print(f"load average {os.getloadavg()[0]:.1f}; {args.cells} cells per run; {args.cpus_per_node} CPU(s) per node "
          f"on {os.cpu_count()} cores")
    print(f"overhead per cell: local {local:.1f}s, ray {ray1:.1f}s for {args.cells} cells of 1 s, one slot: "
          f"{overhead:.2f}s per cell (goal < {OVERHEAD_GOAL_S}s: ratio {overhead / OVERHEAD_GOAL_S:.2f})")
    print(f"one node {one_node:.1f}s, two nodes {two_nodes:.1f}s for {args.cells} cells of {args.sleep:g}s: "
          f"speed-up {speedup:.2f}x (goal >= {SPEEDUP_GOAL}x: ratio {SPEEDUP_GOAL / speedup:.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
