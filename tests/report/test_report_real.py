"""Every output format checked against a store filled by a real matrix run.

The expected values are read independently from the store (``Store`` read
API) and from each attempt's ``result.json``; the report must show exactly
those, through the real CLI in a subprocess.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import shlex
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

from hyperparameter_system.child_contract import RESULT_FILE, read_result
from hyperparameter_system.store import Store

pytestmark = pytest.mark.slow  # the session fixture trains five real cells

MAX_EPOCHS = 3  # SOLVER.MAX_EPOCHS of the session's matrix (tests/report/conftest.py)



def _cli(run, *flags: str, config: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hyperparameter_system.experiment_runner",
                           "--config", str(config or run.config), *flags],
                          capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def truth(real_run) -> dict[str, dict]:
    """Per option label: the store's newest attempt, its result.json and its epochs."""
    out = {}
    with Store.open(real_run.store) as store:
        for row in store.cell_results():
            latest = row.latest
            out[row.cell.option_label] = {
                "cell": row.cell, "attempt": latest, "n": row.n_attempts,
                "result": read_result(Path(latest.output_dir) / RESULT_FILE).to_dict(),
                "epochs": store.epochs(latest.id),
            }
    return out


@pytest.fixture(scope="module")
def report(real_run) -> dict:
    done = _cli(real_run, "--summary", "--format", "json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def _baseline(truth: dict[str, dict]) -> dict:
    return next(t for t in truth.values() if t["cell"].category == "baseline")


def _best_label(truth: dict[str, dict], pick=max) -> str:
    finished = {k: v for k, v in truth.items() if v["attempt"].status == "completed"}
    return pick(finished, key=lambda k: finished[k]["attempt"].best_metric)


def test_the_real_matrix_ran_with_one_nonfinite_cell(real_run, truth):
    assert real_run.max_epochs == MAX_EPOCHS
    assert real_run.returncode == 1, real_run.log  # one cell unsuccessful
    statuses = {label: t["attempt"].status for label, t in truth.items()}
    nonfinite = [label for label, status in statuses.items() if status == "nonfinite"]
    assert len(nonfinite) == 1 and "SGD" in nonfinite[0], statuses
    assert sum(s == "completed" for s in statuses.values()) == 4


def _reproduces(command: str, attempt) -> bool:
    """The recorded argv, its output folder swapped for a fresh one that mktemp makes at run time."""
    argv = " ".join('"$d"' if arg == attempt.output_dir else shlex.quote(arg) for arg in attempt.command)
    return command.startswith("d=$(mktemp -d ") and command.endswith(argv)


def test_json_cells_equal_the_store_and_result_files(report, truth):
    assert report["schema_version"] == 2
    assert report["metric"] == {"name": "val/acc", "goal": "maximize"}
    cells = report["models"][0]["cells"]
    assert {c["option_label"] for c in cells} == set(truth)
    baseline = _baseline(truth)["attempt"].best_metric
    for cell in cells:
        expected = truth[cell["option_label"]]
        attempt, result = expected["attempt"], expected["result"]
        assert cell["status"] == attempt.status == result["status"]
        assert cell["cell_id"] == expected["cell"].cell_id
        assert cell["attempts"] == expected["n"]
        assert cell["epochs_run"] == attempt.epochs_run == result["epochs_run"]
        assert cell["duration_s"] == attempt.duration_s
        assert cell["config_path"] == expected["cell"].config_path
        assert _reproduces(cell["command"], attempt)
        assert cell["max_epochs"] == MAX_EPOCHS
        if attempt.status == "completed":
            assert cell["metric"] == attempt.best_metric == result["best_metric"]
            assert cell["best_epoch"] == attempt.best_epoch == result["best_epoch"]
            assert cell["delta_vs_baseline"] == pytest.approx(cell["metric"] - baseline)
            assert cell["wandb"]["run_id"] == result["wandb_run_id"]
            assert Path(cell["wandb"]["run_dir"]).name.startswith("offline-run-")
            assert cell["wandb"]["url"] is None  # offline: no URL until synced


def test_json_winners_counts_and_compute(report, truth):
    model = report["models"][0]
    by_id = {c["cell_id"]: c for c in model["cells"]}
    assert by_id[model["best_cell_id"]]["option_label"] == _best_label(truth)
    optimizer = {k: v for k, v in truth.items() if v["cell"].category == "optimizer"}
    assert by_id[model["best_by_category"]["optimizer"]]["option_label"] == _best_label(optimizer)
    assert sum(c["is_best_of_model"] for c in model["cells"]) == 1
    statuses = [t["attempt"].status for t in truth.values()]
    assert model["status_counts"] == {s: statuses.count(s) for s in set(statuses)}
    assert report["compute"]["spent_s"] == pytest.approx(
        sum(t["attempt"].duration_s for t in truth.values()))
    stopped = next(t for t in truth.values() if t["cell"].category == "early_stopping")
    assert stopped["attempt"].epochs_run == 2  # min_delta 0.5 cannot be met: stop after 2
    per_epoch = stopped["epochs"][-1].metrics["elapsed_s"] / 2
    assert report["compute"]["saved_by_early_stopping_s"] == pytest.approx((MAX_EPOCHS - 2) * per_epoch)


def test_csv_rows_equal_the_store(real_run, truth):
    done = _cli(real_run, "--summary", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(done.stdout)))
    assert len(rows) == len(truth)
    for row in rows:
        attempt = truth[row["option_label"]]["attempt"]
        assert row["status"] == attempt.status
        assert row["model"] == "small_cnn"
        if attempt.status == "completed":
            assert float(row["metric"]) == attempt.best_metric
            assert int(row["best_epoch"]) == attempt.best_epoch
        assert float(row["duration_s"]) == attempt.duration_s
    assert [r["option_label"] for r in rows if r["is_best_of_model"] == "True"] == [_best_label(truth)]


def test_table_and_markdown_show_every_cell_and_the_winner(real_run, truth):
    best = _best_label(truth)
    for fmt in ("table", "md"):
        text = _cli(real_run, "--summary", "--format", fmt).stdout
        for label, t in truth.items():
            assert label in text
            if t["attempt"].status == "completed":
                assert f"{t['attempt'].best_metric:.4f}" in text
        assert f"best: {truth[best]['cell'].category} / {best} " in text
        assert f"{best} *" not in text  # one run per cell: no winner can be called
        assert "no confidence can be given" in text
        assert "nonfinite 1" in text and "completed 4" in text
        failed = next(t for t in truth.values() if t["attempt"].status == "nonfinite")
        assert f"{failed['cell'].option_label}: nonfinite: {failed['result']['error']}" in text


class _Images(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.images: list[dict[str, str]] = []
        self.pre: list[str] = []
        self._in_pre = False

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            self.images.append(dict(attrs))
        self._in_pre = tag == "pre"

    def handle_data(self, data):
        if self._in_pre:
            self.pre.append(data)

    def handle_endtag(self, tag):
        self._in_pre = False if tag == "pre" else self._in_pre


def test_html_report_is_self_contained_with_png_plots(real_run, truth, tmp_path):
    target = tmp_path / "reports" / "report.html"
    done = _cli(real_run, "--summary", "--format", "html", "--output", str(target))
    assert done.returncode == 0 and done.stdout == ""
    assert [p.name for p in target.parent.iterdir()] == ["report.html"]  # no temp file left
    text = target.read_text(encoding="utf-8")
    parser = _Images()
    parser.feed(text)
    sources = [img["src"] for img in parser.images]
    assert len(sources) == 1 + 2  # heatmap + curves of the two categories
    assert all(src.startswith("data:image/png;base64,") for src in sources)
    assert base64.b64decode(sources[0].split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    best = truth[_best_label(truth)]
    assert best["cell"].config_path in text
    (command,) = parser.pre
    assert _reproduces(command, best["attempt"])
    assert best["result"]["wandb_run_id"] in text
    assert "Saved by early stopping" in text and "http" not in text.split("<body>")[1]


def test_best_prints_the_rendered_config_and_command(real_run, truth):
    done = _cli(real_run, "--best", "--model", "small_cnn")
    assert done.returncode == 0, done.stderr
    best = truth[_best_label(truth)]
    assert Path(best["cell"].config_path).read_text(encoding="utf-8").strip() in done.stdout
    assert _reproduces(done.stdout.rstrip().splitlines()[-1], best["attempt"])
    assert f"option:    {best['cell'].option_label}" in done.stdout


def test_best_of_an_unknown_model_is_one_line_exit_2(real_run):
    done = _cli(real_run, "--best", "--model", "resnet9000")
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and "known: small_cnn" in done.stderr


def test_minimized_metric_is_judged_from_the_epoch_history(real_run, truth):
    config = real_run.variant(metric="val/loss", goal="minimize")
    report = json.loads(_cli(real_run, "--summary", "--format", "json", config=config).stdout)
    lowest = {label: min(e.metrics["val/loss"] for e in t["epochs"])
              for label, t in truth.items() if t["attempt"].status == "completed"}
    cells = {c["option_label"]: c for c in report["models"][0]["cells"]}
    for label, value in lowest.items():
        assert cells[label]["metric"] == value
    best = [label for label, c in cells.items() if c["is_best_of_model"]]
    assert best == [min(lowest, key=lowest.get)]


def test_snapshot_taken_during_the_run_showed_live_cells(real_run, truth):
    snapshot = real_run.snapshot
    assert snapshot is not None, "the run ended before a running cell was seen"
    cells = snapshot["models"][0]["cells"]
    running = [c for c in cells if c["status"] == "running"]
    assert running and all(not c["is_best_of_model"] for c in running)
    assert len(cells) < len(truth) or any(c["status"] == "pending" for c in cells)
    for cell in running:  # the same cells finished later
        assert truth[cell["option_label"]]["attempt"].status in ("completed", "nonfinite")
