"""HTML report edge cases on hand-made records: hostile text, nothing finished, online runs."""

from __future__ import annotations

from cell_records import cell_record
from hyperparameter_system.report import build_summary, render
from hyperparameter_system.report.records import AttemptRecord, CellRecord


def _record(label: str, status: str, *, error: str = "", run_dir: str = "") -> CellRecord:
    attempt = AttemptRecord(attempt=1, status=status, duration_s=5.0, error_tail=error,
                            best_metric=0.5 if status == "completed" else None, best_epoch=1,
                            epochs_run=1, wandb_run_id="abc123" if run_dir else "",
                            wandb_run_dir=run_dir)
    return cell_record(cell_id=label, model="m", category="optimizer", option=label,
                       option_label=label, run_name=label, project="m_proj",
                       config_path=f"/cfg/{label}.yaml", attempts=(attempt,))


def test_error_text_from_a_user_script_is_escaped():
    hostile = "<script>alert(1)</script>"
    summary = build_summary([_record("x", "failed", error=hostile)], experiment="e",
                            metric="val/acc", goal="maximize")
    text = render(summary, "html")
    assert hostile not in text and "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "No cell of this model has finished yet." in text and "<img" not in text


def test_online_run_links_to_wandb_when_the_entity_is_known():
    run_dir = "/out/wandb/run-20261123_120000-abc123"
    summary = build_summary([_record("x", "completed", run_dir=run_dir)], experiment="e",
                            metric="val/acc", goal="maximize", wandb_entity="team")
    text = render(summary, "html")
    assert '<a href="https://wandb.ai/team/m_proj/runs/abc123">' in text
    offline = build_summary([_record("x", "completed", run_dir="/o/wandb/offline-run-1-abc123")],
                            experiment="e", metric="val/acc", goal="maximize", wandb_entity="team")
    assert "https://wandb.ai" not in render(offline, "html")


def _trial(sweep_id: str, trial: int, value: float, epochs: int = 1) -> CellRecord:
    from hyperparameter_system.report.records import EpochPoint, SweepTrial

    history = tuple(EpochPoint(epoch=e + 1, metrics={"val/acc": value}) for e in range(epochs))
    attempt = AttemptRecord(attempt=1, status="completed", duration_s=5.0, best_metric=value, best_epoch=epochs,
                            epochs_run=epochs, history=history)
    label = f"learning_rate0.000{trial}_{sweep_id}-t{trial:03d}"
    return cell_record(cell_id=f"{sweep_id}-{trial}", model="m", category="sweep", option={"lr": trial},
                       option_label=label, run_name=label, project="m_proj", config_path=f"/cfg/{label}.yaml",
                       attempts=(attempt,), sweep=SweepTrial(sweep_id, trial, {"lr": trial * 1e-4,
                                                                               "opt": {"name": "SGD"}}))


def test_trials_are_grouped_per_sweep_id_best_first_and_kept_out_of_the_matrix_table():
    cells = [_record("x", "completed"), _trial("aaa", 1, 0.6), _trial("aaa", 2, 0.8), _trial("bbb", 1, 0.7)]
    text = render(build_summary(cells, experiment="e", metric="val/acc", goal="maximize"), "html")
    matrix = text.split('<table class="cells">')[1].split("</table>")[0]
    assert matrix.count("<tr class=") == 1 and "learning_rate" not in matrix
    first = text.split('id="sweep-aaa"')[1].split("</section>")[0]
    assert "<th>lr</th>" in first and "<th>opt.name</th>" in first  # nested parameters by dotted name
    assert first.index('data-cell-id="aaa-2"') < first.index('data-cell-id="aaa-1"')  # best first
    assert 'id="sweep-bbb"' in text and "option 1" not in text


def test_labels_wrap_whole_and_one_epoch_gets_one_whole_tick():
    from hyperparameter_system.report import plots

    label = "learning_rate0.000123_weight_decay0.0001_sw0e807-t038"
    wrapped = plots.wrap(label, 16)
    assert wrapped.replace("\n", "") == label and max(len(line) for line in wrapped.split("\n")) <= 16
    fig, ax = plots.pyplot().subplots()
    plots._epoch_axis(ax, [1])
    assert list(ax.get_xticks()) == [1]
    plots.pyplot().close(fig)
