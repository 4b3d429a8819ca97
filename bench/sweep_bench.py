"""Sweep strategies on a real task: how much of the grid's compute each needs.

Digits + small_cnn, search space lr x weight_decay x optimizer (a 3 x 2 x 2
grid). Runs, through the real CLI (each trial a real training child):
the full grid, then random, bayes and bayes+hyperband with half the grid's
trials, and Optuna (TPE + HyperbandPruner) with the same trial budget driving
the same trainer as child processes. Prints epochs used, best val/acc and the
fraction of the grid's epochs each needed to come within 0.5 point of the
grid's best (goal: ours <= 40 %, no worse than Optuna). Takes a few minutes.

    python bench/sweep_bench.py
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
LRS, WDS, OPTS = [0.03, 0.003, 0.0003], [0.0001, 0.01], ["AdamW", "SGD"]
EPOCHS, BUDGET = 4, 6
ENV = {**os.environ, "PYTHONPATH": str(REPO), "WANDB_MODE": "disabled", "HF_HUB_OFFLINE": "1", "WANDB_SILENT": "true"}


def experiment(folder: Path) -> None:
    data = {"experiment": {"name": "bench", "output_dir": "./out", "temp_config_dir": "./tc",
                           "overrides": {"INPUT.SIZE": 8, "SOLVER.MAX_EPOCHS": EPOCHS, "DATALOADER.BATCH_SIZE": 32,
                                         "WANDB.LOG_IMAGES": False, "CHECKPOINT.ENABLE": False}},
            "models": [{"name": "small_cnn"}], "execution": {"parallel": 2, "retries": 0},
            "categories": {"optimizer": {"options": [{"name": "AdamW", "lr": 0.001}]}}}
    (folder / "experiment_config.yaml").write_text(yaml.safe_dump(data))


def sweep(folder: Path, method: str, count: int | None, hyperband: bool) -> list[tuple[int, float]]:
    """Run one sweep; returns (epochs run, best val/acc) per trial in trial order."""
    config = {"method": method, "metric": {"name": "val/acc", "goal": "maximize"},
              "parameters": {"base_lr": LRS, "weight_decay": WDS, "optimizer": OPTS}}
    if hyperband:
        config["early_terminate"] = {"type": "hyperband", "min_iter": 1, "eta": 2}
    path = folder / f"{method}{'_hb' if hyperband else ''}.yaml"
    path.write_text(yaml.safe_dump(config))
    args = [sys.executable, "-m", "hyperparameter_system.experiment_runner", "--sweep", "--models", "small_cnn",
            "--sweep-config", str(path), "--backend", "local", "--parallel", "2"]
    args += ["--count", str(count)] if count else []
    subprocess.run(args, cwd=folder, env=ENV, check=True, stdout=subprocess.DEVNULL)
    conn = sqlite3.connect(folder / "out" / "bench" / "results.sqlite")
    sweep_id = conn.execute("SELECT sweep_id FROM sweeps ORDER BY created DESC LIMIT 1").fetchone()[0]
    rows = conn.execute("SELECT epochs_run, best_metric FROM sweep_trials WHERE sweep_id = ? ORDER BY trial",
                        (sweep_id,)).fetchall()
    conn.close()
    return [(int(e or 0), float(b or 0.0)) for e, b in rows]


def optuna_run(folder: Path, budget: int) -> list[tuple[int, float]]:
    """Optuna TPE + HyperbandPruner driving the same trainer child, pruning between epochs."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    results: list[tuple[int, float]] = []

    def objective(trial: optuna.Trial) -> float:
        lr, wd = trial.suggest_categorical("lr", LRS), trial.suggest_categorical("wd", WDS)
        opt = trial.suggest_categorical("opt", OPTS)
        out = folder / "optuna" / f"t{trial.number}"
        argv = [sys.executable, "-m", "hyperparameter_system.train", "--config-file", str(base_config(folder)),
                "OUTPUT_DIR", str(out), "SOLVER.BASE_LR", repr(lr), "SOLVER.WEIGHT_DECAY", repr(wd),
                "SOLVER.OPTIMIZER", opt]
        proc = subprocess.Popen(argv, env={**ENV, "HPS_TORCH_THREADS": "1"}, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, start_new_session=True)
        seen, values, pruned = 0, [], False
        while proc.poll() is None or seen < len(_metrics(out)):
            lines = _metrics(out)
            for line in lines[seen:]:
                values.append(line["val/acc"])
                trial.report(line["val/acc"], len(values))
                if trial.should_prune() and not pruned:
                    pruned = True
                    os.killpg(proc.pid, signal.SIGTERM)
            seen = len(lines)
            time.sleep(0.2)
        results.append((len(values), max(values) if values else 0.0))
        if pruned:
            raise optuna.TrialPruned()
        return max(values)

    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=0),
                                pruner=optuna.pruners.HyperbandPruner(min_resource=1, max_resource=EPOCHS,
                                                                      reduction_factor=2))
    study.optimize(objective, n_trials=budget)
    return results


def base_config(folder: Path) -> Path:
    """The rendered baseline config of small_cnn (what the sweep's trials start from)."""
    found = sorted((folder / "tc").rglob("*.yaml"))
    return found[0]


def _metrics(out: Path) -> list[dict]:
    try:
        return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines() if line.strip()]
    except (OSError, json.JSONDecodeError):
        return []


def needed(trials: list[tuple[int, float]], target: float, grid_epochs: int) -> str:
    """Fraction of the grid's epochs spent until the best-so-far came within 0.5 point of the grid's best."""
    spent = 0
    for epochs, best in trials:
        spent += epochs
        if best >= target:
            return f"{100 * spent / grid_epochs:5.1f} %"
    return "  never"


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        experiment(folder)
        start = time.monotonic()
        table = {"grid (12)": sweep(folder, "grid", None, False)}
        for name, method, hb in (("random", "random", False), ("bayes", "bayes", False),
                                 ("bayes+hyperband", "bayes", True)):
            table[f"{name} ({BUDGET})"] = sweep(folder, method, BUDGET, hb)
        table[f"optuna tpe+hb ({BUDGET})"] = optuna_run(folder, BUDGET)
        grid_epochs = sum(e for e, _ in table["grid (12)"])
        target = max(b for _, b in table["grid (12)"]) - 0.005
        print(f"digits / small_cnn, {EPOCHS} epochs per trial, target = grid best - 0.5 point = {target:.4f}")
        print(f"{'strategy':<24} {'trials':>6} {'epochs':>6} {'best val/acc':>12} {'epochs to target':>17}")
        for name, trials in table.items():
            print(f"{name:<24} {len(trials):>6} {sum(e for e, _ in trials):>6} "
                  f"{max(b for _, b in trials):>12.4f} {needed(trials, target, grid_epochs):>17}")
        print(f"(fraction of the grid's {grid_epochs} epochs; wall {time.monotonic() - start:.0f} s)")


if __name__ == "__main__":
    main()
