"""The jinja2 template of the HTML report (a string: an editable install and a wheel find it alike).

Layout rules that keep it readable from 3 cells to 300 trials at 1400 px:
tables sit in boxes that scroll on their own (never the page), long text wraps
anywhere, images shrink to the column, and a sweep's trials get their own
section instead of swelling the matrix table.
"""

TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>hpsys report: {{ s.experiment }}</title>
<style>
*, *::before, *::after { box-sizing: border-box; }
body { font-family: system-ui, sans-serif; margin: 2em auto; padding: 0 1.5em; max-width: 1300px;
       color: #222; overflow-wrap: break-word; }
code { overflow-wrap: anywhere; }
.table-box { max-width: 100%; overflow: auto; margin: 0.5em 0 1em; }
.table-box.tall { max-height: 32em; }
table { border-collapse: collapse; }
th { position: sticky; top: 0; background: #f0f0f0; }
th, td { border: 1px solid #ccc; padding: 3px 8px; font-size: 0.9em; vertical-align: top; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.label { min-width: 12em; max-width: 28em; }
tr.best-model { font-weight: bold; background: #eef8ee; }
.mark { color: #0a7d28; }
.status-failed, .status-oom, .status-timeout, .status-nonfinite { color: #b00020; }
.status-running, .status-pending, .status-interrupted { color: #666; font-style: italic; }
pre { background: #f5f5f5; padding: 0.6em; white-space: pre-wrap; overflow-wrap: anywhere; }
img.plot { display: block; max-width: 100%; height: auto; margin: 0.5em 0 1em; }
section.sweep { border-left: 3px solid #9ab; padding-left: 1em; margin: 1.5em 0; }
.note { color: #555; font-size: 0.9em; }
</style>
</head>
<body>
<h1>{{ s.experiment }}</h1>
<p>Metric <code>{{ s.metric }}</code> ({{ s.goal }}). Cells: {{ counts }}.
Generated {{ generated }} from <code>{{ s.store_path }}</code>.</p>
<p id="compute">Compute spent: <b>{{ compute.spent }}</b> ({{ "%.1f"|format(s.compute_s) }} cell-seconds).
{% if s.saved_s %}Saved by early stopping: <b>{{ compute.saved }}</b>
({{ "%.1f"|format(s.saved_s) }} cell-seconds: epochs not run up to SOLVER.MAX_EPOCHS,
times the measured seconds per epoch).{% endif %}
{% if s.shared_saved_s %}Saved by shared cells: <b>{{ compute.shared }}</b>
(the trainings of cells identical to another were not run again).{% endif %}</p>
<p class="note" id="test-notice">{{ notice }}</p>
{% for m in models %}
<section class="model" id="model-{{ loop.index }}">
<h2>{{ m.name }}</h2>
<p>W&amp;B project <code>{{ m.project }}</code>. Cells: {{ m.counts }}.</p>
{% if m.rows %}
<div class="table-box"><table class="cells">
<tr>{% for c in columns %}<th>{{ c }}</th>{% endfor %}<th>W&amp;B run</th></tr>
{% for row in m.rows %}
<tr class="{{ 'best-model' if row.best_model else '' }}" data-cell-id="{{ row.cell_id }}">
{% for column, v in row.cells %}{% if column == "status" %}<td class="status-{{ v }}">{{ v }}</td>
{% elif column in ("category", "option") %}<td class="{{ 'label' if column == 'option' else '' }}">{{ v|breakable }}</td>
{% else %}<td class="num">{{ v }}</td>{% endif %}{% endfor %}
<td>{% if row.wandb.url %}<a href="{{ row.wandb.url }}">{{ row.wandb.path }}</a>{% else %}{{ row.wandb.path or row.wandb.run_dir or "-" }}{% endif %}</td>
</tr>
{% endfor %}
</table></div>
<p class="note">{{ mark }} after an option: its category's winner; bold row: best cell of the model.</p>
{% endif %}
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
<p>{{ m.compute }}.</p>
{% if m.heatmap %}<h3>Delta vs baseline</h3>
<img class="plot heatmap" alt="{{ m.name }} heatmap" src="data:image/png;base64,{{ m.heatmap }}">{% endif %}
{% if m.spread %}<h3>{{ s.metric }} per option (mean and standard deviation over repeats)</h3>
<img class="plot spread" alt="{{ m.name }} metric per option" src="data:image/png;base64,{{ m.spread }}">{% endif %}
{% for curve in m.curves %}<h3>Learning curves: {{ curve.category }}</h3>
<img class="plot curve" alt="{{ m.name }} {{ curve.category }} learning curves" src="data:image/png;base64,{{ curve.png }}">
{% endfor %}
{% for sw in m.sweeps %}
<section class="sweep" id="sweep-{{ sw.sweep_id }}">
<h3>Sweep {{ sw.sweep_id }}: {{ sw.category }}</h3>
<p>Trials: {{ sw.counts }}.{% if sw.best %} Best: trial {{ sw.best.trial }}, {{ s.metric }} = {{ sw.best.metric }}
(delta vs baseline {{ sw.best.delta }}), <span class="label">{{ sw.best.label|breakable }}</span>.{% endif %}</p>
{% if sw.problems %}<div class="table-box tall"><ul class="problems">{% for p in sw.problems %}<li>{{ p }}</li>{% endfor %}</ul></div>{% endif %}
{% if sw.scatter %}<img class="plot scatter" alt="sweep {{ sw.sweep_id }} parameters vs {{ s.metric }}" src="data:image/png;base64,{{ sw.scatter }}">{% endif %}
{% if sw.curves %}<img class="plot curve" alt="sweep {{ sw.sweep_id }} learning curves" src="data:image/png;base64,{{ sw.curves }}">{% endif %}
<div class="table-box tall"><table class="trials">
<tr><th>trial</th><th>status</th><th>{{ s.metric }}</th><th>best epoch</th><th>delta vs baseline</th>
{% for p in sw.params %}<th>{{ p }}</th>{% endfor %}<th>duration</th></tr>
{% for t in sw.trials %}
<tr data-cell-id="{{ t.cell_id }}"><td class="num">{{ t.trial }}</td><td class="status-{{ t.status }}">{{ t.status }}</td>
<td class="num">{{ t.metric }}</td><td class="num">{{ t.epoch }}</td><td class="num">{{ t.delta }}</td>
{% for v in t.params %}<td class="num">{{ v }}</td>{% endfor %}<td class="num">{{ t.duration }}</td></tr>
{% endfor %}
</table></div>
<p class="note">Trials best first; the table scrolls inside its box.</p>
</section>
{% endfor %}
</section>
{% endfor %}
</body>
</html>
"""
