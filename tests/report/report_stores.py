"""A results store with a repeated matrix and five sweeps of 60 trials, filled through the store's own API.

Why not real runs: 300 real trials take most of an hour on two cores, and the
report's layout at that size is what is under test, not the training. The rows
go through ``Store`` and ``SweepState`` exactly as the runner and the local
sweep controller write them (claim, epochs, finish; reserve and update trial),
so the report reads them the way it reads a real store.
"""

from __future__ import annotations

import math
import random
import subprocess
import sys
import textwrap
from pathlib import Path

from hyperparameter_system.matrix.cell import Cell
from hyperparameter_system.store import Store, store_path
from hyperparameter_system.sweeps.state import SweepRecord, SweepState

EXPERIMENT = "wide"
REPEATS = 3  # per matrix option, so the report has a spread to draw
SWEEPS = 5
TRIALS = 60
# Long labels like real ones: the report must neither cut nor overlap them.
MATRIX = {
    "optimizer": ["AdamW_lr0.001_wd0.0001_betas0.9_0.999", "SGD_lr0.1_wd0.0005_m0.9_nesterov",
                  "Adam_lr0.0003_wd0"],
    "lr_scheduler": ["cosine_warmup5_min1e-06", "step_gamma0.1_milestones30_60_90"],
    "batch_size": ["bs16", "bs32", "bs64", "bs128"],
}


# A runner's stand-in: claims a cell, records two evaluations and waits to be killed.
RUNNER_STANDIN = textwrap.dedent("""
    import sys, time
    from hyperparameter_system.store import Store
    store = Store.open(sys.argv[1])
    attempt = store.claim(sys.argv[2], session="standin")
    store.add_epochs(attempt.id, [{"epoch": 1, "val/acc": 0.61, "elapsed_s": 1.0},
                                  {"epoch": 2, "val/acc": 0.74, "elapsed_s": 2.0}])
    print("claimed", flush=True)
    time.sleep(120)
""")


def start_standin(db: Path, cell_id: str) -> subprocess.Popen:
    """A real second process holding ``cell_id`` as a running attempt (returns once it does)."""
    standin = subprocess.Popen([sys.executable, "-c", RUNNER_STANDIN, str(db), cell_id],
                               stdout=subprocess.PIPE, text=True)
    assert standin.stdout.readline().strip() == "claimed"
    return standin


def write_experiment(root: Path, name: str = EXPERIMENT, file: str = "wide.yaml") -> Path:
    """The experiment file ``--summary`` reads for a store of experiment ``name``."""
    path = root / file
    path.write_text(textwrap.dedent(f"""
        experiment:
          name: {name}
          output_dir: {root / 'out'}
        models:
          - name: small_cnn
        categories:
          optimizer:
            options: [{{name: AdamW, lr: 0.001}}]
    """))
    return path


def _cell(category: str, label: str, option: object, repeat: int = 0) -> Cell:
    suffix = f"_r{repeat}" if repeat else ""
    return Cell(cell_id=f"{category}-{label}{suffix}", experiment=EXPERIMENT, model="small_cnn", category=category,
                option=option, option_label=label, run_name=f"{category}_{label}{suffix}", project="small_cnn",
                group=category, tags=(), config_path=f"/nonexistent/{label}{suffix}.yaml", repeat=repeat,
                seed=repeat)


def _curve(rng: random.Random, quality: float, epochs: int) -> list[float]:
    """A plausible rising accuracy curve ending near ``quality``."""
    return [round(quality * (1 - math.exp(-(e + 1) / 1.5)) + rng.uniform(-0.01, 0.01), 4)
            for e in range(epochs)]


def _record(store: Store, cell_id: str, curve: list[float], status: str = "completed") -> int:
    attempt = store.claim(cell_id, session="filled")
    assert attempt is not None
    store.add_epochs(attempt.id, [{"epoch": e + 1, "val/acc": v, "elapsed_s": 0.5 * (e + 1)}
                                  for e, v in enumerate(curve)])
    best = max(range(len(curve)), key=curve.__getitem__) if curve else None
    store.finish_attempt(attempt.id, status, metric="val/acc", epochs_run=len(curve),
                         best_metric=curve[best] if best is not None else None,
                         best_epoch=best + 1 if best is not None else None)
    return attempt.id


def fill_wide_store(root: Path, seed: int = 7) -> Path:
    """Baseline + 9 matrix options, 3 repeats each, + 5 sweeps x 60 trials (1-5 epochs, a few failed).

    Returns the experiment file.
    """
    rng = random.Random(seed)
    config = write_experiment(root)
    with Store.open(store_path(root / "out", EXPERIMENT), experiment=EXPERIMENT) as store:
        options = [("baseline", "default", None)] + [
            (category, label, {"label": label}) for category, labels in MATRIX.items() for label in labels]
        for category, label, option in options:
            quality = rng.uniform(0.6, 0.9)
            for repeat in range(REPEATS):
                cell = _cell(category, label, option, repeat)
                store.register_cells([cell])
                _record(store, cell.cell_id, _curve(rng, quality + rng.uniform(-0.03, 0.03), 3))
        state = SweepState(store)
        for s in range(SWEEPS):
            sweep_id = f"sw{s}{rng.randrange(16 ** 4):04x}"
            state.create(SweepRecord(sweep_id=sweep_id, experiment=EXPERIMENT, model="small_cnn",
                                     category="sweep", backend="local", method="random", config={}, spec={},
                                     created=1.0e9 + s))
            for t in range(TRIALS):
                params = {"learning_rate": 10 ** rng.uniform(-5, -1), "weight_decay": 10 ** rng.uniform(-6, -2),
                          "optimizer": {"name": rng.choice(["AdamW", "SGD", "RMSprop"])}}
                trial = state.reserve_trial(sweep_id, params)
                label = f"learning_rate{params['learning_rate']:.6f}_weight_decay{params['weight_decay']:.6f}"
                cell = _cell("sweep", f"{label}_{sweep_id}-t{trial:03d}", params)
                store.register_cells([cell])
                failed = t % 29 == 5
                curve = _curve(rng, 0.95 - 0.08 * abs(math.log10(params["learning_rate"]) + 3), rng.randint(1, 5))
                attempt_id = _record(store, cell.cell_id, [] if failed else curve,
                                     "failed" if failed else "completed")
                state.update_trial(sweep_id, trial, cell_id=cell.cell_id)
    return config
