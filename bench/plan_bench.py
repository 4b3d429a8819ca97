"""Benchmark: plan and render a 10,000-cell matrix; the goals are planning in under 1 s, rendering in under 5 s.

Builds an in-memory experiment (100 timm models x 99 optimizer options + one
baseline each = 10,000 cells), times ``plan_matrix`` and ``render_cells`` (into
a temporary folder) in this one run, and prints both times and their ratios
to the goals (below 1.0 meets one), with the CPU time of each beside it (on a
shared, loaded machine the wall time also counts other processes' turns).
Planning builds each cell's settings once; rendering only writes them.

    python bench/plan_bench.py
"""

from __future__ import annotations

import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hyperparameter_system.config.spec import CategoryEntry, ExperimentSpec, ModelEntry  # noqa: E402
from hyperparameter_system.hyperparameter_configs import plan_matrix, render_cells  # noqa: E402
from hyperparameter_system.plugin.loading import load_plugins  # noqa: E402

PLAN_GOAL_S = 1.0
RENDER_GOAL_S = 5.0
MODELS = 100
OPTIONS = 99


def build_spec(root: Path) -> ExperimentSpec:
    registry = load_plugins()
    models = tuple(ModelEntry(name=n) for n in registry.model_names() if n != "small_cnn")[:MODELS]
    options = tuple({"name": "AdamW", "lr": 1e-5 * (i + 1), "weight_decay": 0.01} for i in range(OPTIONS))
    return ExperimentSpec(source_path=str(root / "bench.yaml"), name="bench", output_dir=str(root / "out"),
                          temp_config_dir=str(root / "temp_configs"), models=models,
                          categories=(CategoryEntry(name="optimizer", options=options),))


def main() -> int:
    registry = load_plugins()
    with tempfile.TemporaryDirectory() as tmp:
        spec = build_spec(Path(tmp))
        start, cpu = time.perf_counter(), time.process_time()
        cells = plan_matrix(spec, registry, now=datetime(2026, 1, 1))
        plan_s, plan_cpu = time.perf_counter() - start, time.process_time() - cpu
        start, cpu = time.perf_counter(), time.process_time()
        render_cells(cells, spec)
        render_s, render_cpu = time.perf_counter() - start, time.process_time() - cpu
    print(f"cells: {len(cells)}")
    print(f"plan_matrix:  {plan_s:.2f} s, CPU {plan_cpu:.2f} s  "
          f"(ratio to the {PLAN_GOAL_S:.0f} s goal: {plan_s / PLAN_GOAL_S:.2f})")
    print(f"render_cells: {render_s:.2f} s, CPU {render_cpu:.2f} s  (ratio to the {RENDER_GOAL_S:.0f} s goal: "
          f"{render_s / RENDER_GOAL_S:.2f}; {1000 * render_s / len(cells):.2f} ms per config)")
    return 0 if len(cells) == MODELS * (OPTIONS + 1) else 1


if __name__ == "__main__":
    sys.exit(main())
