"""The HTML report: one self-contained file (styles inline, plots base64 PNG).

It has to open from an e-mail attachment or a laptop with no network, so it
links nothing: no CDN, no external image. The jinja2 template lives in this
module as a string (an editable install and a wheel find it the same way) and
is autoescaped, since option labels and error texts come from users' files.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from hyperparameter_system.report import fmt, plots
from hyperparameter_system.report.links import reproduce_command, wandb_reference
from hyperparameter_system.report.records import ExperimentSummary, ModelSummary

TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>hpsys report: {{ s.experiment }}</title>
<style>
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1em; }
th, td { border: 1px solid #ccc; padding: 3px 8px; font-size: 0.9em; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.best-model { font-weight: bold; background: #eef8ee; }
.mark { color: #0a7d28; }
.status-failed, .status-oom, .status-timeout, .status-nonfinite { color: #b00020; }
.status-running, .status-pending { color: #666; font-style: italic; }
pre { background: #f5f5f5; padding: 0.6em; overflow-x: auto; }
img { max-width: 100%; }
</style>
</head>
<body>
<h1>{{ s.experiment }}</h1>
<p>Metric <code>{{ s.metric }}</code> ({{ s.goal }}). Cells: {{ counts }}.
Generated {{ generated }} from <code>{{ s.store_path }}</code>.</p>
<p id="compute">Compute spent: <b>{{ compute.spent }}</b> ({{ "%.1f"|format(s.compute_s) }} cell-seconds).
Saved by early stopping: <b>{{ compute.saved }}</b>
({{ "%.1f"|format(s.saved_s) }} cell-seconds: epochs not run up to SOLVER.MAX_EPOCHS,
times the measured seconds per epoch).</p>
{% for m in models %}
<section class="model" id="model-{{ loop.index }}">
<h2>{{ m.name }}</h2>
<p>W&amp;B project <code>{{ m.project }}</code>. Cells: {{ m.counts }}.</p>
<table class="cells">
<tr>{% for c in columns %}<th>{{ c }}</th>{% endfor %}<th>W&amp;B run</th></tr>
{% for row in m.rows %}
<tr class="{{ 'best-model' if row.best_model else '' }}" data-cell-id="{{ row.cell_id }}">
<td>{{ row.cells[0] }}</td>
<td>{{ row.label }}{% if row.best_category %} <span class="mark">&#9733;</span>{% endif %}</td>
<td class="status-{{ row.cells[2] }}">{{ row.cells[2] }}</td>
{% for v in row.cells[3:] %}<td class="num">{{ v }}</td>{% endfor %}
<td>{% if row.wandb.url %}<a href="{{ row.wandb.url }}">{{ row.wandb.path }}</a>{% else %}{{ row.wandb.path or row.wandb.run_dir or "-" }}{% endif %}</td>
</tr>
{% endfor %}
</table>
<p>&#9733; best option of its category; bold row: best cell of the model.</p>
{% if m.problems %}<ul class="problems">{% for p in m.problems %}<li>{{ p }}</li>{% endfor %}</ul>{% endif %}
{% if m.best %}
<div class="best">
<h3>Best cell: {{ m.best.category }} / {{ m.best.label }}</h3>
<p>{{ s.metric }} = {{ m.best.metric }} (delta vs baseline {{ m.best.delta }}), best epoch {{ m.best.epoch }}.</p>
<p>Config: <code class="config-path">{{ m.best.config_path }}</code></p>
<p>Reproduce (writes a fresh <code>repro-&lt;time&gt;</code> folder beside the attempts):</p>
<pre class="command">{{ m.best.command }}</pre>
{% if m.best.wandb.path or m.best.wandb.run_dir %}<p>W&amp;B run:
{% if m.best.wandb.url %}<a href="{{ m.best.wandb.url }}">{{ m.best.wandb.url }}</a>{% else %}
<code>{{ m.best.wandb.path or "" }}</code> (offline, <code>{{ m.best.wandb.run_dir or "" }}</code>; upload with <code>wandb sync</code>){% endif %}</p>{% endif %}
</div>
{% else %}<p>No cell of this model has finished yet.</p>{% endif %}
<p>Compute: spent {{ m.compute_spent }}, saved by early stopping {{ m.compute_saved }}.</p>
{% if m.heatmap %}<h3>Delta vs baseline</h3>
<img class="plot heatmap" alt="{{ m.name }} heatmap" src="data:image/png;base64,{{ m.heatmap }}">{% endif %}
{% for curve in m.curves %}<h3>Learning curves: {{ curve.category }}</h3>
<img class="plot curve" alt="{{ m.name }} {{ curve.category }} learning curves" src="data:image/png;base64,{{ curve.png }}">
{% endfor %}
</section>
{% endfor %}
</body>
</html>
"""


def _model_context(model: ModelSummary, s: ExperimentSummary) -> dict[str, Any]:
    """Everything the template shows for one model, pre-formatted."""
    rows = [{
        "cell_id": c.cell_id,
        "cells": fmt.cell_row(c),
        "label": c.option_label,
        "best_category": c.is_best_in_category,
        "best_model": c.is_best_of_model,
        "wandb": wandb_reference(c.record, s.wandb_entity),
    } for c in model.cells]
    best = None
    if model.best is not None:
        b = model.best
        best = {"category": b.category, "label": b.option_label, "metric": fmt.metric(b.metric),
                "delta": fmt.delta(b.delta), "epoch": fmt.epoch(b.best_epoch),
                "config_path": b.record.config_path, "command": reproduce_command(b.record),
                "wandb": wandb_reference(b.record, s.wandb_entity)}
    curves = []
    for category in model.categories:
        png = plots.learning_curves(model, category, s.metric)
        if png:
            curves.append({"category": category, "png": png})
    return {
        "name": model.model, "project": model.project, "counts": fmt.counts(model.status_counts),
        "rows": rows, "best": best, "problems": fmt.problems(model), "heatmap": plots.heatmap(model, s.metric, s.goal),
        "curves": curves,
        "compute_spent": fmt.duration(sum(c.compute_s for c in model.cells)),
        "compute_saved": fmt.duration(sum(c.saved_s for c in model.cells)),
    }


def render_html(summary: ExperimentSummary) -> str:
    """Render the whole report as one HTML string."""
    import jinja2

    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined,
                             trim_blocks=True, lstrip_blocks=True)
    generated = datetime.fromtimestamp(summary.generated_at, timezone.utc)
    return env.from_string(TEMPLATE).render(
        s=summary,
        counts=fmt.counts(summary.status_counts),
        generated=generated.strftime("%Y-%m-%d %H:%M UTC"),
        compute={"spent": fmt.duration(summary.compute_s), "saved": fmt.duration(summary.saved_s)},
        columns=fmt.COLUMNS,
        models=[_model_context(m, summary) for m in summary.models],
    )
