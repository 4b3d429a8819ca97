"""Repeats in the summary: mean, spread, Welch's test, and a winner only beyond noise.

Hand-made records (one per repeat, as the store holds them) pin what a user
reads off the table, Markdown, CSV and JSON; the real-run tests cover the store.
"""

from __future__ import annotations

import csv
import io
import json

import pytest
from scipy import stats as scipy_stats

from cell_records import cell_record
from hyperparameter_system.report import build_summary, render
from hyperparameter_system.report.fmt import UNTESTED
from hyperparameter_system.report.records import AttemptRecord, CellRecord
from hyperparameter_system.report.stats import compare


def _repeats(category: str, label: str, values: list[float], *, model: str = "m",
             status: str = "completed", same_as: str = "") -> list[CellRecord]:
    """One record per repeat of an option, each with one finished attempt.

    ``same_as`` names the label whose repeats this option's repeats share (as the
    store reads them: the target's attempts, the target's cell id).
    """
    return [
        cell_record(cell_id=f"{model}-{category}-{label}-{r}", model=model, category=category,
                    option=label, option_label=label, run_name=f"{label}_r{r}" if r else label,
                    project=model, config_path=f"/cfg/{label}_{r}.yaml", max_epochs=3,
                    repeat=r, seed=42 + r,
                    same_as=f"{model}-{same_as}-{same_as}-{r}" if same_as else "",
                    attempts=(AttemptRecord(attempt=1, status=status, duration_s=10.0 + r,
                                            best_metric=value, best_epoch=3, epochs_run=3),))
        for r, value in enumerate(values)
    ]


def _summary(records: list[CellRecord], goal: str = "maximize"):
    return build_summary(records, experiment="e", metric="val/acc", goal=goal, now=0.0)


def _matrix() -> list[CellRecord]:
    return [*_repeats("baseline", "baseline", [0.80, 0.81, 0.79]),
            *_repeats("optimizer", "adam", [0.90, 0.91, 0.89]),
            *_repeats("optimizer", "sgd", [0.70, 0.72, 0.71]),
            *_repeats("loss_function", "focal", [0.78, 0.83, 0.80])]


def test_welch_interval_and_p_value_match_the_textbook():
    option, base = [0.90, 0.91, 0.89, 0.93], [0.80, 0.85, 0.79]
    result = compare(option, base, "maximize")
    expected = scipy_stats.ttest_ind(option, base, equal_var=False)
    assert result.p_value == pytest.approx(expected.pvalue)
    low, high = result.ci95
    assert (low + high) / 2 == pytest.approx(result.delta)
    assert low > 0 and result.significant is True
    # The same difference in the wrong direction is significant, but no win.
    assert compare(base, option, "maximize").significant is False
    assert compare(base, option, "minimize").significant is True
    # One value on either side: a delta, nothing more.
    assert compare([0.9], base, "maximize").ci95 is None
    assert compare([0.9], base, "maximize").significant is None


def test_repeats_are_one_row_with_mean_std_and_only_a_significant_winner_is_starred():
    summary = _summary(_matrix())
    model = summary.models[0]
    rows = {c.option_label: c for c in model.cells}
    assert len(model.cells) == 4 and all(c.n == 3 for c in model.cells)
    assert rows["adam"].metric == pytest.approx(0.90)
    assert rows["adam"].metric_std == pytest.approx(0.01)
    assert rows["adam"].delta == pytest.approx(0.10)
    assert rows["adam"].significant is True and rows["focal"].significant is False
    assert rows["sgd"].significant is False and rows["baseline"].significant is None
    assert model.status_counts == {"completed": 12}
    table = render(summary, "table", width=200)
    adam_line = next(line for line in table.splitlines() if "adam" in line)
    focal_line = next(line for line in table.splitlines() if "focal" in line)
    assert "adam *" in adam_line and "winner" in adam_line and "0.9000 ± 0.0100" in adam_line
    assert "*" not in focal_line and "within noise" in focal_line
    assert "worse" in next(line for line in table.splitlines() if "sgd" in line)
    assert UNTESTED not in table


def test_one_run_per_cell_says_once_that_no_confidence_can_be_given_and_stars_nothing():
    records = [*_repeats("baseline", "baseline", [0.80]), *_repeats("optimizer", "adam", [0.95]),
               *_repeats("loss_function", "focal", [0.81])]
    summary = _summary(records)
    for fmt in ("table", "md"):
        text = render(summary, fmt)
        assert text.count(UNTESTED.split(";")[0]) == 1
        assert "adam *" not in text and "adam** \\*" not in text and "winner" not in text
    document = json.loads(render(summary, "json"))
    assert {c["significant"] for c in document["models"][0]["cells"]} == {None}


def test_minimized_metric_wins_downwards():
    records = [*_repeats("baseline", "baseline", [0.50, 0.52, 0.51]),
               *_repeats("optimizer", "adam", [0.30, 0.31, 0.29])]
    rows = {c.option_label: c for c in _summary(records, goal="minimize").models[0].cells}
    assert rows["adam"].significant is True and rows["adam"].ci95[1] < 0


def test_markdown_bolds_the_best_cell_and_keeps_the_winner_mark_outside_the_bold():
    text = render(_summary(_matrix()), "md")
    adam = next(line for line in text.splitlines() if "adam" in line)
    assert "**adam** \\*" in adam
    assert "***" not in text and " ***" not in adam


def test_json_schema_2_and_csv_carry_n_mean_std_interval_and_significance():
    summary = _summary(_matrix())
    document = json.loads(render(summary, "json"))
    assert document["schema_version"] == 2
    model = document["models"][0]
    adam = next(c for c in model["cells"] if c["option_label"] == "adam")
    assert adam["n"] == 3 and adam["metric_mean"] == pytest.approx(0.90)
    assert adam["metric_std"] == pytest.approx(0.01) and adam["significant"] is True
    assert adam["ci95"][0] > 0 and adam["same_as"] is None
    assert [(r["repeat"], r["seed"]) for r in adam["repeats"]] == [(0, 42), (1, 43), (2, 44)]
    assert [r["cell_id"] for r in adam["repeats"]] == [f"m-optimizer-adam-{r}" for r in range(3)]
    assert model["saved_by_shared_cells_s"] == 0.0
    rows = list(csv.DictReader(io.StringIO(render(summary, "csv"))))
    assert len(rows) == 4
    focal = next(r for r in rows if r["option_label"] == "focal")
    assert focal["n"] == "3" and focal["significant"] == "False" and float(focal["ci95_low"]) < 0


def test_a_shared_cell_shows_its_target_and_the_compute_it_saved():
    base = [0.80, 0.81, 0.79]
    records = [*_repeats("baseline", "baseline", base),
               *_repeats("optimizer", "default_sgd", base, same_as="baseline"),
               *_repeats("optimizer", "adam", [0.90, 0.91, 0.89])]
    summary = _summary(records)
    rows = {c.option_label: c for c in summary.models[0].cells}
    shared = rows["default_sgd"]
    assert shared.same_as == "baseline" and shared.delta == 0.0 and shared.significant is False
    assert shared.compute_s == 0.0 and shared.shared_saved_s == 10.0 + 11.0 + 12.0
    assert summary.compute_s == 2 * 33.0  # the baseline and adam, never the shared one
    line = next(l for l in render(summary, "table", width=200).splitlines() if "default_sgd" in l)
    assert "= baseline" in line
    assert "saved by shared cells 33.0s" in render(summary, "md")
    document = json.loads(render(summary, "json"))
    cell = next(c for c in document["models"][0]["cells"] if c["option_label"] == "default_sgd")
    assert cell["same_as"] == "m-baseline-baseline-0"
    assert document["models"][0]["saved_by_shared_cells_s"] == 33.0
    assert document["compute"]["saved_by_shared_cells_s"] == 33.0


def test_every_row_without_a_test_reads_untested_whatever_its_rank():
    # One run per cell, two models: CrossEntropyLoss shares the baseline's training in both;
    # in "a" it is its category's best, in "b" focal is. Both rows must read alike.
    records = []
    for model, focal in (("a", 0.79), ("b", 0.85)):
        records += [*_repeats("baseline", "baseline", [0.80], model=model),
                    *_repeats("batch_size", "32", [0.82], model=model),
                    *_repeats("batch_size", "128_lrscaled", [0.78], model=model),
                    *_repeats("loss_function", "CrossEntropyLoss", [0.80], model=model, same_as="baseline"),
                    *_repeats("loss_function", "focal", [focal], model=model)]
    table = render(_summary(records), "table", width=200)
    rows = [line for line in table.splitlines() if any(k in line for k in ("│ batch_size", "│ loss_"))]
    assert len(rows) == 8
    for line in rows:
        assert line.count("untested") == 1, line
    shared = [line for line in rows if "CrossEntropyLoss" in line]
    assert all("= baseline, untested" in line for line in shared)
    base = [line for line in table.splitlines() if "│ baseline" in line]
    assert len(base) == 2 and not any("untested" in line for line in base)
