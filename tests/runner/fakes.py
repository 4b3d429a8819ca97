"""Helpers shared by the runner and reliability tests: fake cells and a runner driver.

``make_cell`` builds a real Cell whose command is ``fake_child.py`` (a real
subprocess honouring the child contract). Run as a script, this module is a
runner process on its own (``python fakes.py CELLS.json ROOT [options]``), so
tests can kill it with real signals.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from hyperparameter_system.matrix.cell import Cell  # noqa: E402

FAKE_CHILD = str(Path(__file__).with_name("fake_child.py"))
COMMAND = ("{{ python }}", FAKE_CHILD, "{{ config_path }}", "{{ overrides }}", "OUTPUT_DIR", "{{ output_dir }}")


def make_cell(tmp: Path, name: str, fake: dict[str, Any] | None = None, *, batch: int = 64,
              model: str = "fake_model", overrides: tuple[tuple[str, Any], ...] = ()) -> Cell:
    """A cell whose child is fake_child.py with the given FAKE behaviour."""
    config = tmp / "configs" / f"{name}.yaml"
    config.parent.mkdir(parents=True, exist_ok=True)
    body = {"DATALOADER": {"BATCH_SIZE": batch}, "SOLVER": {"GRAD_ACCUM": 1}, "FAKE": fake or {}}
    config.write_text(json.dumps(body))  # JSON is YAML
    return Cell(cell_id=f"cell-{name}", experiment="exp", model=model, category="optimizer",
                option={"name": name}, option_label=name, run_name=f"opt_{name}_2601010000",
                project=model, group="optimizer", tags=("optimizer",), config_path=str(config),
                overrides=overrides, command=COMMAND, metric_patterns=(), batch_key="DATALOADER.BATCH_SIZE",
                accum_key="SOLVER.GRAD_ACCUM", batch_size=batch)


def save_cells(cells: list[Cell], path: Path) -> None:
    path.write_text(json.dumps([dataclasses.asdict(c) for c in cells]))


def load_cells(path: Path) -> list[Cell]:
    cells = []
    for raw in json.loads(path.read_text()):
        raw["tags"] = tuple(raw["tags"])
        raw["command"] = tuple(raw["command"]) if raw["command"] else None
        raw["overrides"] = tuple(tuple(kv) for kv in raw["overrides"])
        raw["metric_patterns"] = tuple(tuple(kv) for kv in raw["metric_patterns"])
        cells.append(Cell(**raw))
    return cells


def runner_argv(cells_json: Path, root: Path, *extra: str) -> list[str]:
    return [sys.executable, __file__, str(cells_json), str(root), *extra]


def main() -> int:
    from hyperparameter_system.runner import RetryPolicy, RunOptions, Runner, make_slots
    from hyperparameter_system.store import Store, store_path

    parser = argparse.ArgumentParser()
    parser.add_argument("cells")
    parser.add_argument("root")
    parser.add_argument("--parallel", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=0.0)
    parser.add_argument("--grace", type=float, default=2.0)
    parser.add_argument("--retries", type=int, default=1)
    parser.add_argument("--rerun", default=None)
    args = parser.parse_args()
    root = Path(args.root)
    options = RunOptions(slots=tuple(make_slots("cpu", args.parallel)), timeout_s=args.timeout,
                         policy=RetryPolicy(retries=args.retries, backoff_s=0.1), rerun=args.rerun,
                         grace_s=args.grace, wandb_mode="disabled")
    with Store.open(store_path(root.parent, root.name), experiment=root.name) as store:
        return Runner(store, root, options).run(load_cells(Path(args.cells))).exit_code


if __name__ == "__main__":
    sys.exit(main())
