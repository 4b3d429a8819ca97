"""The matrix generator: experiment x plugins -> sorted, validated cells -> rendered configs.

Planning is pure and cheap (yacs and jinja2 only; never torch or wandb), so
``--matrix`` over 10,000 cells is instant and everything a user wrote is
checked before the first cell runs (a typo in option 59 must not surface
after 40 hours). Rendering writes one YACS file per cell, only after every
cell of the batch was built without error.

A cell's config is ``defaults <- model profile <- experiment overrides <-
category option``, then the experiment's metric and the W&B fields. Its id is
a hash of model, category, canonical option and that config *without* the
volatile fields (the run name's timestamp, WANDB.NAME, OUTPUT_DIR), so a rerun
a minute later maps onto the same cells and resumes.

With ``repeats: N`` every (model, category, option) is planned N times
(``config/repeats.py``: repeat 0 is today's cell, repeat r trains with seed +
r). Cells of one model with the same training config share one training
(``config/shared_cells.py``): the later ones get ``same_as``.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from pathlib import Path
from typing import Any, NamedTuple, Sequence

from yacs.config import CfgNode

from hyperparameter_system.atomic import write_text_atomic
from hyperparameter_system.cell import ACCUM_KEY, BASELINE, BATCH_KEY, Cell
from hyperparameter_system.config.command_check import check_command
from hyperparameter_system.config.repeats import SEED_KEY, base_seed, config_value, repeat_run_name, seed_problem
from hyperparameter_system.config.shared_cells import shared_targets, training_fingerprint
from hyperparameter_system.config.yacs_keys import set_key
from hyperparameter_system.errors import ConfigError, HpsysError
from hyperparameter_system.matrix_context import MatrixContext, ModelPlan, Option, canonical_json
from hyperparameter_system.naming import safe_name, unique_names

__all__ = ["VOLATILE_KEYS", "canonical_json", "cell_config", "plan_cell", "plan_matrix", "render_cells"]

VOLATILE_KEYS = ("OUTPUT_DIR", "WANDB.NAME")
BASELINE_PREFIX = "base"
BASELINE_LABEL = "default"


def plan_matrix(spec: Any, registry: Any, *, models: Sequence[str] | None = None,
                categories: Sequence[str] | None = None, now: datetime,
                repeats: int | None = None) -> list[Cell]:
    """Every cell of the selected matrix, validated and in a stable order.

    Args:
        spec: The :class:`ExperimentSpec`.
        registry: The loaded plugins (:func:`plugins.load_plugins_for`).
        models: Only these models of the experiment (None: every enabled one).
        categories: Only these categories (None: every enabled one); the
            baseline cell of each model is always kept.
        now: Timestamp of the run names (the runner passes its store's creation time).
        repeats: Trainings per option (None: ``execution.repeats``).

    Returns:
        Cells sorted by model, then repeat, then category (baseline first), then
        option order: every option's first training comes before any second one.

    Raises:
        ConfigError: an unknown model or category, or an invalid option (``path:line``);
            repeats of a model whose seed cannot reach its script.
        UnknownNameError: a ``--models`` / ``--categories`` name not in the experiment.
    """
    ctx = MatrixContext(spec, registry)
    model_plans = ctx.select_models(models)
    category_plans = ctx.select_categories(categories)
    repeats = spec.execution.repeats if repeats is None else repeats
    drafts: list[dict[str, Any]] = []
    for plan in model_plans:
        _check_seed(ctx, plan, repeats)
        for repeat in range(repeats):
            if spec.include_baseline:
                drafts.append(_draft(ctx, plan, None, None, now, repeat))
            for cat in category_plans:
                for option in cat.options:
                    drafts.append(_draft(ctx, plan, cat, option, now, repeat))
    return _finish(ctx, drafts, share=True)


def _check_seed(ctx: MatrixContext, plan: ModelPlan, repeats: int) -> None:
    """Repeats of a model whose seed never reaches its script would all train alike: refused."""
    script = plan.script
    problem = seed_problem(script) if repeats > 1 else None
    if problem is None or script is None:
        return
    keypath = ("models", script.index) + (("key_map", SEED_KEY) if SEED_KEY in script.key_map else ())
    raise ctx.error(keypath, f"model {plan.entry.name}: {problem}, so its {repeats} repeats would all train "
                             f"alike; map {SEED_KEY} to the script's seed setting (key_map: {{{SEED_KEY}: "
                             "SCRIPT.KEY}) or run it with repeats 1", plan.entry.line)


def plan_cell(spec: Any, registry: Any, model: str, category: str, option: Any, *, now: datetime,
              run_name: str | None = None) -> Cell:
    """One cell outside the matrix (a sweep trial): ``option`` is validated by its category.

    Args:
        run_name: Use this (sanitised) run name instead of the template's.
    """
    ctx = MatrixContext(spec, registry)
    draft = _draft(ctx, ctx.model_plan(model), *ctx.single_option(category, option), now)
    if run_name is not None:
        draft["run_name"] = safe_name(run_name)
    return _finish(ctx, [draft])[0]


def _draft(ctx: MatrixContext, plan: ModelPlan, cat: Any, option: Any, now: datetime,
           repeat: int = 0) -> dict[str, Any]:
    """Config, id and names of one cell (names are made unique in :func:`_finish`)."""
    category = BASELINE if cat is None else cat.name
    value = None if cat is None else option.value
    ident = _identify(ctx, plan, cat, option, repeat)
    prefix = BASELINE_PREFIX if cat is None else cat.prefix
    label = BASELINE_LABEL if cat is None else option.label
    run_name = repeat_run_name(ctx.run_name(plan, category, prefix, label, now), repeat)
    return {"plan": plan, "category": category, "option": value, "label": label, "cell_id": ident.cell_id,
            "run_name": run_name, "overrides": tuple(ident.overrides), "batch": _batch_fields(plan, ident.cfg),
            "repeat": repeat, "seed": ident.seed, "fingerprint": ident.fingerprint}


def _batch_fields(plan: ModelPlan, cfg: CfgNode) -> dict[str, Any]:
    """What an out-of-memory retry halves: the keys in the child's config and this cell's values.

    A model with its own schema needs both keys passed through key_map as
    they are; halving the batch without the accumulation would change the
    effective batch, so then there is no halving, and the note says why.
    """
    keys = [(BATCH_KEY, ""), (ACCUM_KEY, "")] if plan.script is None else \
        [plan.script.plain_target(key) for key in (BATCH_KEY, ACCUM_KEY)]
    notes = [why for _, why in keys if why]
    values = [config_value(cfg, key) for key, _ in keys] if not notes else []
    notes += [f"{key} is {value!r}, not a whole number" for (key, _), value in zip(keys, values)
              if not isinstance(value, int) or isinstance(value, bool)]
    if notes:
        return {"batch_note": f"model {plan.entry.name}: {'; '.join(notes)}; no batch halving (map "
                              f"{BATCH_KEY} and {ACCUM_KEY} in key_map to keep the effective batch)"}
    return {"batch_key": keys[0][0], "accum_key": keys[1][0], "batch_size": values[0], "grad_accum": values[1]}


class _Identity(NamedTuple):
    """What :func:`_identify` works out for one cell, computed once and carried."""

    cfg: CfgNode
    overrides: list[tuple[str, Any]]
    cell_id: str
    seed: int | None
    fingerprint: str  # the training config's hash (shared cells)


def _identify(ctx: MatrixContext, plan: ModelPlan, cat: Any, option: Option | None,
              repeat: int = 0) -> _Identity:
    """A cell's config, what its overrides and option set, its id (the hash leaves out volatile
    keys), its seed and its training fingerprint.

    For a model with its own ``schema:`` the config and the settings are the
    script's, in its keys: that is what the script reads. Repeat r >= 1 sets
    the seed (through key_map for a script) and hashes ``r`` into the id.
    """
    cfg, changes = ctx.cell_config(plan, cat, option)
    seed = base_seed(int(cfg.SEED), plan.script)
    if repeat and seed is not None:
        seed += repeat
        set_key(cfg, SEED_KEY, seed)
        changes = [*changes, (SEED_KEY, seed)]
    overrides = [*ctx.spec.overrides, *changes]
    if plan.script is not None:
        where = "the baseline" if cat is None else f"category {cat.name}, option {option.label}"
        cfg, overrides = plan.script.cell(cfg, changes, ctx.error, where)
    stable = ctx.flat(cfg)
    for key in VOLATILE_KEYS:
        stable.pop(key, None)
    value = None if cat is None or option is None else option.value
    category = BASELINE if cat is None else cat.name
    hashed = [plan.entry.name, category, value, stable] + ([repeat] if repeat else [])
    digest = hashlib.sha256(canonical_json(hashed).encode()).hexdigest()
    if plan.reference is None:
        plan.reference = stable
    fingerprint = training_fingerprint(plan.entry.name, stable, plan.reference, plan.script, canonical_json)
    return _Identity(cfg, overrides, digest, seed, fingerprint)


def _finish(ctx: MatrixContext, drafts: list[dict[str, Any]], share: bool = False) -> list[Cell]:
    """Make run names unique per W&B project (in matrix order) and build the cells.

    Args:
        share: Point cells with the same training config to the first of them (``same_as``).
    """
    by_project: dict[str, list[int]] = {}
    for i, draft in enumerate(drafts):
        by_project.setdefault(draft["plan"].project, []).append(i)
    for indices in by_project.values():
        for i, name in zip(indices, unique_names(drafts[i]["run_name"] for i in indices)):
            drafts[i]["run_name"] = name
    seen: dict[str, int] = {}
    cells = []
    same_as = shared_targets([d["fingerprint"] for d in drafts], [d["cell_id"] for d in drafts]) \
        if share else [""] * len(drafts)
    for i, draft in enumerate(drafts):
        plan = draft["plan"]
        if draft["cell_id"] in seen:  # two options that end up as the same config
            first = drafts[seen[draft["cell_id"]]]
            raise ConfigError(ctx.spec.source_path, 0, f"categories.{draft['category']}",
                              f"options {first['label']!r} and {draft['label']!r} give {plan.entry.name} "
                              "the same config; remove one")
        seen[draft["cell_id"]] = i
        cells.append(Cell(
            cell_id=draft["cell_id"], experiment=ctx.spec.name, model=plan.entry.name,
            category=draft["category"], option=draft["option"], option_label=draft["label"],
            run_name=draft["run_name"], project=plan.project, group=draft["category"],
            tags=tuple(safe_name(t, 64) for t in (plan.entry.name, draft["category"], ctx.spec.name)),
            config_path=str(ctx.config_dir / plan.folder / f"{draft['run_name']}.yaml"),
            overrides=draft["overrides"], command=plan.entry.command,
            metric_patterns=tuple(plan.entry.metric_patterns), cwd=plan.entry.cwd, env=plan.entry.env,
            wandb_logging=plan.entry.wandb, repeat=draft["repeat"], seed=draft["seed"], same_as=same_as[i],
            **draft["batch"]))
    _check_commands(ctx, cells)
    return cells


def _check_commands(ctx: MatrixContext, cells: Sequence[Cell]) -> None:
    """Each user command's argv and env rendered with the cell's variables; its program checked."""
    indices = {m.name: i for i, m in enumerate(ctx.spec.models)}
    checked: set[tuple[str, str]] = set()
    for cell in cells:
        if cell.command is not None:
            check_command(cell, indices[cell.model], ctx.error, checked)


def cell_config(spec: Any, registry: Any, cell: Cell) -> CfgNode:
    """The full, frozen config of one planned cell (what :func:`render_cells` writes).

    Raises:
        HpsysError: the experiment changed since the cell was planned (its id differs).
    """
    ctx = MatrixContext(spec, registry)
    return _cell_config(ctx, cell)


def _cell_config(ctx: MatrixContext, cell: Cell) -> CfgNode:
    plan = ctx.model_plan(cell.model)
    ident = _identify(ctx, plan, *ctx.single_option(cell.category, cell.option), cell.repeat)
    cfg = ident.cfg
    if ident.cell_id != cell.cell_id:
        raise HpsysError(f"cell {cell.run_name} ({cell.cell_id[:12]}) no longer matches the experiment "
                         "file; plan the matrix again")
    output_dir = Path(ctx.spec.output_dir) / safe_name(ctx.spec.name) / cell.project / cell.run_name
    volatile = {"WANDB.NAME": cell.run_name, "OUTPUT_DIR": str(output_dir)}
    pairs = volatile.items() if plan.script is None else plan.script.render_values(volatile, ctx.error)
    for key, value in pairs:
        set_key(cfg, key, value)
    cfg.freeze()
    return cfg


def render_cells(cells: Sequence[Cell], spec: Any, registry: Any) -> list[Path]:
    """Write each cell's config to ``cell.config_path``; nothing is written unless all build.

    Returns:
        The written paths, in the order of ``cells``.
    """
    ctx = MatrixContext(spec, registry)
    root = ctx.config_dir.resolve()
    texts = []
    for cell in cells:
        path = Path(cell.config_path).resolve()
        if root not in path.parents:
            raise HpsysError(f"config path {cell.config_path} is outside {root}")
        script = ctx.model_plan(cell.model).script
        text = (ctx.dump if script is None else script.dump)(_cell_config(ctx, cell))
        texts.append((path, _header(cell) + text))
    for path, text in texts:
        write_text_atomic(path, text, durable=False)  # rebuilt by every run
    return [path for path, _ in texts]


def _header(cell: Cell) -> str:
    """Comment lines naming the cell; values are JSON-quoted so no name can break the YAML."""
    rows = [("experiment", cell.experiment), ("model", cell.model), ("category", cell.category),
            ("option", cell.option), ("label", cell.option_label), ("run name", cell.run_name),
            ("cell id", cell.cell_id)]
    lines = ["# hpsys cell config (generated; edits are overwritten on the next plan)"]
    lines += [f"# {name}: {canonical_json(value)}" for name, value in rows]
    return "\n".join(lines) + "\n"
