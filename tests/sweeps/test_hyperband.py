"""Hyperband acts: scripted learning curves, stopped exactly where a hand calculation says.

Each trial is a real child process (``curve_trial.py`` as a model ``command:``)
writing one metrics.jsonl line per 0.4 s epoch; the local controller polls,
asks the W&B engine after every new report and SIGTERMs the trials it stops.
The expected stops are computed here from the hyperband bands, eta and the
curves alone (W&B's rule: at the latest band b <= epochs reported, a run stops
when its value at b is outside the top 1/eta of all runs' values at b).
"""

from __future__ import annotations

import pytest
import yaml

from sweep_helpers import hpsys, sweep_rows, write_experiment

EPOCHS = 6
ETA = 2
BANDS = [1, 2, 4]  # min_iter 1 * eta^k up to the run length
CURVES = [
    [0.50, 0.60, 0.70, 0.75, 0.78, 0.80],
    [0.40, 0.45, 0.50, 0.52, 0.53, 0.54],
    [0.30, 0.35, 0.40, 0.41, 0.42, 0.43],
    [0.55, 0.58, 0.60, 0.62, 0.63, 0.64],
    [0.52, 0.66, 0.72, 0.79, 0.81, 0.85],
    [0.45, 0.50, 0.52, 0.53, 0.55, 0.56],
]


def stop_epoch(curve: list[float], earlier: list[list[float]]) -> int | None:
    """First report count at which hyperband (strict, maximize) stops ``curve``, given earlier trials."""
    for seen in range(1, len(curve) + 1):
        band = max((b for b in BANDS if b <= seen), default=None)
        if band is None:
            continue
        at_band = sorted(-h[band - 1] for h in [*earlier, curve[:seen]] if len(h) >= band)
        threshold = at_band[int(len(at_band) / ETA)]  # the 1/eta quantile boundary
        if -curve[band - 1] > threshold:
            return seen
    return None


@pytest.mark.slow
def test_hyperband_stops_the_trials_the_hand_calculation_names(workdir):
    sweep = {"method": "grid", "metric": {"name": "val/acc", "goal": "maximize"},
             "parameters": {"curve": list(range(len(CURVES)))}, "parameter_map": {"curve": "SEED"},
             "early_terminate": {"type": "hyperband", "min_iter": 1, "eta": ETA}}
    (workdir / "sweep.yaml").write_text(yaml.safe_dump(sweep))
    write_experiment(workdir, curves=CURVES, epochs=EPOCHS, wandb="disabled")
    done = hpsys("--sweep", "--models", "curves", "--categories", "optimizer", "--sweep-config", "sweep.yaml",
                 "--backend", "local", cwd=workdir)
    assert done.returncode == 0, done.stdout + done.stderr
    rows = sweep_rows(workdir)
    assert [r["params"]["curve"] for r in rows] == list(range(len(CURVES)))  # grid order, one trial each

    expected, stopped = {}, {}
    recorded: list[list[float]] = []
    for row, curve in zip(rows, CURVES):
        assert row["history"] == curve[:len(row["history"])]  # the store holds what the child reported
        expected[row["trial"]] = stop_epoch(curve, recorded)
        recorded.append(row["history"])
        stopped[row["trial"]] = row["status"] == "early_terminated"
    assert {t for t, at in expected.items() if at} == {t for t, s in stopped.items() if s}
    assert 0 < sum(stopped.values()) < len(CURVES)  # the curves make hyperband decide both ways
    for row in rows:
        at = expected[row["trial"]]
        if at is None:
            assert row["status"] == "completed" and row["epochs_run"] == EPOCHS and not row["epochs_saved"]
        else:  # SIGTERM lands within one epoch of the decision; saved = MAX_EPOCHS - epochs run
            assert at <= row["epochs_run"] <= at + 1
            assert row["epochs_saved"] == EPOCHS - row["epochs_run"] > 0
    assert "hyperband stops trial" in done.stdout
