"""HTML report edge cases on hand-made records: hostile text, nothing finished, online runs."""

from __future__ import annotations

from hyperparameter_system.report import build_summary, render
from hyperparameter_system.report.records import AttemptRecord, CellRecord


def _record(label: str, status: str, *, error: str = "", run_dir: str = "") -> CellRecord:
    attempt = AttemptRecord(attempt=1, status=status, duration_s=5.0, error=error,
                            best_metric=0.5 if status == "completed" else None, best_epoch=1,
                            epochs_run=1, wandb_run_id="abc123" if run_dir else "",
                            wandb_run_dir=run_dir)
    return CellRecord(cell_id=label, model="m", category="optimizer", option=label,
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
