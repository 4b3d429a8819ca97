"""A real matrix with ``--repeats 2``: the summary's statistics come from the store's repeats.

small_cnn on digits at 8x8, one epoch: the baseline, one optimizer and an
image size equal to the experiment's (a shared cell), two repeats each. The
expected numbers are computed here from the store's attempts, independently
of the report code.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from hyperparameter_system.store import Store, store_path

EXPERIMENT = "repeats_digits"

pytestmark = pytest.mark.slow  # trains four real cells


def _experiment(root: Path) -> Path:
    """One model, one epoch at 8x8; ``image_size: [8]`` equals INPUT.SIZE, so it shares the baseline."""
    overrides = {"DATASETS.NAME": "digits", "DATASETS.MAX_TRAIN_SAMPLES": 300, "INPUT.SIZE": 8,
                 "SOLVER.MAX_EPOCHS": 1, "DATALOADER.BATCH_SIZE": 32, "DEVICE": "cpu"}
    spec = {
        "experiment": {"name": EXPERIMENT, "metric": {"name": "val/acc", "goal": "maximize"},
                       "output_dir": str(root / "out"), "temp_config_dir": str(root / "temp_configs"),
                       "overrides": overrides},
        "wandb": {"mode": "disabled"},  # the summary reads the store, never a W&B run
        "execution": {"parallel": 2, "devices": "cpu", "retries": 0},
        "models": [{"name": "small_cnn"}],
        "categories": {"optimizer": {"options": [{"name": "AdamW", "lr": 0.003}]},
                       "image_size": {"options": [8]}},
    }
    path = root / "exp.yaml"
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    return path


def _cli(config: Path, *flags: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hyperparameter_system.experiment_runner",
                           "--config", str(config), *flags],
                          capture_output=True, text=True, timeout=timeout, cwd=config.parent)


@pytest.fixture(scope="module")
def repeated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """The config and, per option label, the store's cells and their newest attempts."""
    root = tmp_path_factory.mktemp("repeats")
    config = _experiment(root)
    done = _cli(config, "--all", "--repeats", "2", timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    truth: dict[str, list] = {}
    with Store.open(store_path(root / "out", EXPERIMENT)) as store:
        for row in store.cell_results():
            truth.setdefault(row.cell.option_label, []).append(row)
    return config, truth


def test_json_rows_are_the_mean_and_spread_of_the_stored_repeats(repeated):
    config, truth = repeated
    done = _cli(config, "--summary", "--format", "json")
    assert done.returncode == 0, done.stderr
    cells = {c["option_label"]: c for c in json.loads(done.stdout)["models"][0]["cells"]}
    assert set(cells) == set(truth) and all(len(rows) == 2 for rows in truth.values())
    by_id = {r.cell.cell_id: r for rows in truth.values() for r in rows}
    trained = {r.cell.cell_id: by_id[r.cell.same_as] if r.cell.same_as else r for r in by_id.values()}
    base = [r.latest.best_metric for r in truth["default"]]
    for label, cell in cells.items():
        rows = sorted(truth[label], key=lambda r: r.cell.repeat)
        values = [trained[r.cell.cell_id].latest.best_metric for r in rows]
        assert cell["n"] == 2
        assert cell["metric_mean"] == pytest.approx(statistics.fmean(values))
        assert cell["metric_std"] == pytest.approx(statistics.stdev(values))
        assert [r["seed"] for r in cell["repeats"]] == [r.cell.seed for r in rows]
        assert len({r.cell.seed for r in rows}) == 2
        if label != "default":
            assert cell["delta_vs_baseline"] == pytest.approx(statistics.fmean(values) - statistics.fmean(base))
            assert cell["ci95"] is not None and isinstance(cell["significant"], bool)
    shared = cells["8"]
    baseline_rows = sorted(truth["default"], key=lambda r: r.cell.repeat)
    assert shared["same_as"] == baseline_rows[0].cell.cell_id and shared["compute_s"] == 0.0
    assert shared["saved_by_shared_cells_s"] == pytest.approx(
        sum(r.latest.duration_s for r in baseline_rows))


def test_table_shows_the_shared_cell_and_no_one_run_warning(repeated):
    config, _ = repeated
    text = _cli(config, "--summary").stdout
    assert "= baseline" in next(line for line in text.splitlines() if "image_size" in line)
    assert "no confidence can be given" not in text
    assert "saved by shared cells" in text
