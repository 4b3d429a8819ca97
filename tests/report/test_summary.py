"""Ranking rules of the summary, on hand-made records (no store needed).

These pin the edge cases a real run rarely produces on demand: a minimized
metric, ties, a failed baseline, a running cell that looks better than every
finished one, and a cell run for another metric than the one asked about.
"""

from __future__ import annotations

from cell_records import cell_record
from hyperparameter_system.report import build_summary, find_best
from hyperparameter_system.report.records import AttemptRecord, CellRecord, EpochPoint


def _cell(category: str, label: str, status: str = "completed", value: float | None = None,
          *, epochs: int = 3, history: tuple[EpochPoint, ...] = (), metric_name: str = "",
          model: str = "m", max_epochs: int | None = 3, duration: float = 10.0) -> CellRecord:
    attempts = ()
    if status != "pending":
        attempts = (AttemptRecord(attempt=1, status=status, started_at=100.0,
                                  duration_s=None if status == "running" else duration,
                                  best_metric=value, best_epoch=epochs, epochs_run=epochs,
                                  metric=metric_name, history=history),)
    return cell_record(cell_id=f"{model}-{category}-{label}", model=model, category=category,
                       option=label, option_label=label, run_name=label, project=model,
                       config_path=f"/cfg/{label}.yaml", attempts=attempts, max_epochs=max_epochs)


def _summary(cells, goal="maximize", metric="val/acc"):
    return build_summary(cells, experiment="e", metric=metric, goal=goal, now=200.0)


def test_maximize_marks_best_option_per_category_and_best_cell():
    summary = _summary([
        _cell("baseline", "baseline", value=0.80),
        _cell("optimizer", "adam", value=0.90),
        _cell("optimizer", "sgd", value=0.70),
        _cell("loss_function", "focal", value=0.85),
    ])
    model = summary.models[0]
    assert model.best.option_label == "adam"
    assert {k: v.option_label for k, v in model.best_by_category.items()} == {
        "optimizer": "adam", "loss_function": "focal"}
    deltas = {c.option_label: round(c.delta, 6) for c in model.cells}
    assert deltas == {"baseline": 0.0, "adam": 0.1, "sgd": -0.1, "focal": 0.05}
    assert model.cells[0].category == "baseline"


def test_minimize_picks_the_lowest_value():
    summary = _summary([
        _cell("baseline", "baseline", value=0.50),
        _cell("optimizer", "adam", value=0.30),
        _cell("optimizer", "sgd", value=0.70),
    ], goal="minimize", metric="val/loss")
    assert summary.models[0].best.option_label == "adam"
    assert find_best(summary).option_label == "adam"


def test_running_and_failed_cells_never_win_but_show_their_values():
    running = _cell("optimizer", "fast", status="running", value=None,
                    history=(EpochPoint(1, {"val/acc": 0.99}),))
    summary = _summary([
        _cell("baseline", "baseline", value=0.80),
        running,
        _cell("optimizer", "broken", status="failed", value=0.95),
        _cell("optimizer", "ok", value=0.85),
    ])
    model = summary.models[0]
    by_label = {c.option_label: c for c in model.cells}
    assert by_label["fast"].metric == 0.99 and by_label["fast"].status == "running"
    assert by_label["fast"].duration_s == 100.0  # now - started_at
    assert model.best.option_label == "ok"
    assert model.status_counts == {"completed": 2, "failed": 1, "running": 1}


def test_unfinished_baseline_gives_no_deltas():
    summary = _summary([
        _cell("baseline", "baseline", status="failed", value=0.5),
        _cell("optimizer", "adam", value=0.9),
    ])
    assert [c.delta for c in summary.models[0].cells] == [None, None]
    assert summary.models[0].best.option_label == "adam"


def test_ties_go_to_the_first_cell_in_table_order():
    summary = _summary([_cell("optimizer", "b", value=0.9), _cell("optimizer", "a", value=0.9)])
    assert summary.models[0].best.option_label == "a"


def test_metric_other_than_the_recorded_one_is_read_from_history():
    history = (EpochPoint(1, {"val/acc": 0.7, "val/loss": 0.9}),
               EpochPoint(2, {"val/acc": 0.8, "val/loss": 0.4}),
               EpochPoint(3, {"val/acc": 0.9, "val/loss": 0.6}))
    summary = _summary([_cell("optimizer", "adam", value=0.9, metric_name="val/acc",
                              history=history)], goal="minimize", metric="val/loss")
    cell = summary.models[0].cells[0]
    assert (cell.metric, cell.best_epoch) == (0.4, 2)


def test_compute_saved_uses_seconds_per_epoch_of_the_child_clock():
    history = (EpochPoint(1, {"val/acc": 0.8, "elapsed_s": 4.0}),
               EpochPoint(2, {"val/acc": 0.8, "elapsed_s": 8.0}))
    stopped_early = _cell("early_stopping", "p1", value=0.8, epochs=2, max_epochs=5,
                          history=history, duration=20.0)
    full = _cell("baseline", "baseline", value=0.8, epochs=5, max_epochs=5, duration=30.0)
    summary = _summary([full, stopped_early])
    assert summary.saved_s == 3 * 4.0  # 3 epochs not run x 4 s each
    assert summary.compute_s == 50.0


def test_pending_cells_count_and_models_stay_separate():
    summary = _summary([_cell("baseline", "baseline", status="pending"),
                        _cell("baseline", "baseline", value=0.5, model="other")])
    assert [m.model for m in summary.models] == ["m", "other"]
    assert summary.status_counts == {"completed": 1, "pending": 1}
    assert summary.models[0].best is None
