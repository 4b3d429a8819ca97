"""The matrix generator: experiment x plugins -> sorted, validated cells -> rendered configs.

Planning is pure and cheap (yacs and jinja2 only; never torch or wandb), so
``--matrix`` over 10,000 cells is instant and everything a user wrote is
checked before the first cell runs (a typo in option 59 must not surface
after 40 hours). Each cell is planned once: its config (its model's shared
base plus the keys the cell sets, ``matrix/planned_config.py``) is hashed and sealed
with its final names (a sweep trial's identity included, through
:func:`plan_one`) and carried on the :class:`Cell` with the facts later stages
need (batch keys and sizes, seed, max epochs). Rendering only writes those
configs, one YACS file per cell, after every cell of the batch was planned.

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

import dataclasses
import gc
import hashlib
import os
from contextlib import contextmanager
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any, Callable, Iterator, NamedTuple, Sequence

from hyperparameter_system.files.atomic import write_text_atomic
from hyperparameter_system.matrix.cell import ACCUM_KEY, BASELINE, BATCH_KEY, EPOCHS_KEY, Cell
from hyperparameter_system.config.command_check import check_command
from hyperparameter_system.config.repeats import SEED_KEY, base_seed, repeat_run_name, seed_problem
from hyperparameter_system.config.shared_cells import NAMING_KEYS, shared_targets, training_fingerprint
from hyperparameter_system.config.spec import ExperimentSpec
from hyperparameter_system.config.yacs_keys import flat_settings
from hyperparameter_system.errors import ConfigError, HpsysError
from hyperparameter_system.matrix.context import CategoryPlan, MatrixContext, ModelPlan, Option
from hyperparameter_system.matrix.naming import safe_name, unique_names
from hyperparameter_system.matrix.option_settings import cell_settings
from hyperparameter_system.matrix.planned_config import PlannedConfig, canonical_json, quoted
from hyperparameter_system.plugin.registry import Registry

__all__ = ["VOLATILE_KEYS", "canonical_json", "plan_cell", "plan_matrix", "plan_one", "render_cells"]

VOLATILE_KEYS = ("OUTPUT_DIR", "WANDB.NAME")
_NOT_TRAINING = frozenset(VOLATILE_KEYS + NAMING_KEYS)  # what names a run, not what it trains with
BASELINE_PREFIX = "base"
BASELINE_LABEL = "default"


def plan_matrix(spec: ExperimentSpec, registry: Registry, *, models: Sequence[str] | None = None,
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
    with _collector_paused():
        return _plan_matrix(spec, registry, models, categories, now, repeats)


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause Python's cycle collector while a matrix is planned.

    Planning makes hundreds of thousands of small objects that all live on
    in the cells; the collector would walk them again at each of its passes
    (a fifth of the planning time of 10,000 cells) to find nothing to free.
    It runs again afterwards, so any cycle a plugin left is still collected.
    The objects made meanwhile are handed straight to its oldest generation
    (``freeze`` then ``unfreeze`` moves them there without looking at them):
    left young, they would all be walked at its next pass after planning (a
    tenth of the time of 10,000 cells). A process that froze objects of its
    own (a fork server) keeps them frozen: then they stay young.
    """
    paused = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if gc.get_freeze_count() == 0:
            gc.freeze()
            gc.unfreeze()
        if paused:
            gc.enable()


def _plan_matrix(spec: ExperimentSpec, registry: Registry, models: Sequence[str] | None,
                 categories: Sequence[str] | None, now: datetime, repeats: int | None) -> list[Cell]:
    ctx = MatrixContext(spec, registry)
    model_plans = ctx.select_models(models)
    category_plans = ctx.select_categories(categories)
    repeats = spec.execution.repeats if repeats is None else repeats
    drafts: list[_Draft] = []
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


def plan_cell(spec: ExperimentSpec, registry: Registry, model: str, category: str, option: Any, *, now: datetime,
              run_name: str | None = None) -> Cell:
    """One cell outside the matrix: ``option`` is validated by its category.

    Args:
        run_name: Use this (sanitised) run name instead of the template's.
    """
    name = None if run_name is None else safe_name(run_name)
    return plan_one(MatrixContext(spec, registry), model, category, option, now=now,
                    identity=None if name is None else (lambda cell: dataclasses.replace(cell, run_name=name)))


def plan_one(ctx: MatrixContext, model: str, category: str, option: Any, *, now: datetime,
             identity: Callable[[Cell], Cell] | None = None) -> Cell:
    """One cell outside the matrix (a sweep trial), planned once with its final identity.

    Args:
        ctx: The experiment's context (a sweep trial's, with its point's overrides).
        identity: Gives the drafted cell its final identity (a trial's id, run
            name, group, tags) before its config is sealed, so the rendered
            file names the cell as the store does.
    """
    draft = _draft(ctx, ctx.model_plan(model), *ctx.single_option(category, option), now)
    if identity is not None:
        draft = dict(vars(identity(Cell(**draft))))
    return _finish(ctx, [draft])[0]


_Draft = dict[str, Any]  # a cell's fields before its name is made unique and its config sealed


def _draft(ctx: MatrixContext, plan: ModelPlan, cat: CategoryPlan | None, option: Option | None, now: datetime,
           repeat: int = 0) -> _Draft:
    """A cell's fields with its config, id and names; :func:`_finish` makes the names unique, seals the
    config and builds the :class:`Cell` (once)."""
    category = BASELINE if cat is None else cat.name
    ident = _identify(ctx, plan, cat, option, repeat)
    prefix = BASELINE_PREFIX if cat is None else cat.prefix
    label = BASELINE_LABEL if cat is None else option.label
    entry = plan.entry
    return dict(
        cell_id=ident.cell_id, experiment=ctx.spec.name, model=entry.name, category=category,
        option=None if cat is None else option.value, option_label=label,
        run_name=repeat_run_name(ctx.run_name(plan, category, prefix, label, now), repeat),
        project=plan.project, group=category, tags=ctx.tags(entry.name, category), config_path="",
        overrides=tuple(ident.overrides), command=entry.command, metric_patterns=tuple(entry.metric_patterns),
        cwd=entry.cwd, env=entry.env, wandb_logging=entry.wandb, repeat=repeat, seed=ident.seed,
        fingerprint=ident.fingerprint, config=ident.config, **_batch_fields(plan, ident))


_OWN_BATCH_KEYS = ((BATCH_KEY, ""), (ACCUM_KEY, ""))  # hpsys's own keys, always usable


def _batch_fields(plan: ModelPlan, ident: _Identity) -> dict[str, Any]:
    """What an out-of-memory retry halves: the keys in the child's config and this cell's values.

    A model with its own schema needs both keys passed through key_map as
    they are; halving the batch without the accumulation would change the
    effective batch, so then there is no halving, and the note says why.
    Without one, the config is hpsys's: its settings over the base answer.
    """
    if plan.script is None:
        keys, notes = _OWN_BATCH_KEYS, []
        values = [plan.config.get(ident.settings, key) for key, _ in keys]
    else:
        keys = [plan.script.plain_target(key) for key in (BATCH_KEY, ACCUM_KEY)]
        notes = [why for _, why in keys if why]
        values = [ident.config.value(key) for key, _ in keys] if not notes else []
    notes += [f"{key} is {value!r}, not a whole number" for (key, _), value in zip(keys, values)
              if not isinstance(value, int) or isinstance(value, bool)]
    if notes:
        return {"batch_note": f"model {plan.entry.name}: {'; '.join(notes)}; no batch halving (map "
                              f"{BATCH_KEY} and {ACCUM_KEY} in key_map to keep the effective batch)"}
    return {"batch_key": keys[0][0], "accum_key": keys[1][0], "batch_size": values[0], "grad_accum": values[1]}


class _Identity(NamedTuple):
    """What :func:`_identify` works out for one cell, computed once and carried."""

    config: PlannedConfig
    settings: dict[str, Any]  # what the cell sets over its model's base (hpsys's keys)
    overrides: list[tuple[str, Any]]
    cell_id: str
    seed: int | None
    fingerprint: str  # the training config's hash (shared cells)


def _identify(ctx: MatrixContext, plan: ModelPlan, cat: CategoryPlan | None, option: Option | None,
              repeat: int = 0) -> _Identity:
    """A cell's config, what its overrides and option set, its id (the hash leaves out volatile
    keys), its seed and its training fingerprint.

    For a model with its own ``schema:`` the config and the settings are the
    script's, in its keys: that is what the script reads. Repeat r >= 1 sets
    the seed (through key_map for a script) and hashes ``r`` into the id.
    """
    settings, fragments, changes = cell_settings(ctx, plan, cat, option)
    base = plan.config
    seed = base_seed(int(base.get(settings, SEED_KEY)), plan.script)
    if repeat and seed is not None:
        seed += repeat
        settings[SEED_KEY] = seed
        changes = [*changes, (SEED_KEY, seed)]
    overrides = [*ctx.spec.overrides, *changes]
    if plan.script is None:
        config = PlannedConfig(plan.base, MatrixContext.dump, settings.items(), base)
        if repeat and seed is not None:
            fragments[SEED_KEY] = base.fragments({SEED_KEY: seed})[SEED_KEY]
        stable = base.hash_text(fragments, VOLATILE_KEYS)
        if base.reference is None:
            base.reference = settings
        keys = (settings.keys() | base.reference.keys()).difference(_NOT_TRAINING)  # the fingerprint drops them
        known, reference = base.flat, base.reference  # base.get inlined: 10,000 cells x a few keys
        fingerprint = training_fingerprint(
            plan.entry.name, {k: settings[k] if k in settings else known.get(k) for k in keys},
            {k: reference[k] if k in reference else known.get(k) for k in keys}, None,
            partial(base.encode, known=fragments))
    else:
        where = "the baseline" if cat is None else f"category {cat.name}, option {option.label}"
        cfg, overrides = plan.script.cell(PlannedConfig(plan.base, MatrixContext.dump, settings.items()).draft(),
                                          changes, ctx.error, where)
        config = PlannedConfig(cfg, plan.script.dump)
        flat = {k: v for k, v in flat_settings(cfg).items() if k not in VOLATILE_KEYS}
        stable = canonical_json(flat)
        if base.reference is None:
            base.reference = flat
        fingerprint = training_fingerprint(plan.entry.name, flat, base.reference, plan.script, canonical_json)
    option_text = "null" if cat is None or option is None else option.text
    category = BASELINE if cat is None else cat.name
    hashed = [quoted(plan.entry.name), quoted(category), option_text, stable] + \
        ([canonical_json(repeat)] if repeat else [])
    digest = hashlib.sha256(f"[{','.join(hashed)}]".encode()).hexdigest()
    return _Identity(config, settings, overrides, digest, seed, fingerprint)


def _finish(ctx: MatrixContext, drafts: list[_Draft], share: bool = False) -> list[Cell]:
    """Make run names unique per W&B project (in matrix order), seal each cell's config, build the cells.

    Args:
        share: Point cells with the same training config to the first of them (``same_as``).
    """
    names = [d["run_name"] for d in drafts]
    by_project: dict[str, list[int]] = {}
    for i, draft in enumerate(drafts):
        by_project.setdefault(draft["project"], []).append(i)
    for indices in by_project.values():
        for i, name in zip(indices, unique_names(names[i] for i in indices)):
            names[i] = name
    seen: dict[str, _Draft] = {}
    for draft in drafts:
        if draft["cell_id"] in seen:  # two options that end up as the same config
            raise ConfigError(ctx.spec.source_path, 0, f"categories.{draft['category']}",
                              f"options {seen[draft['cell_id']]['option_label']!r} and {draft['option_label']!r} "
                              f"give {draft['model']} the same config; remove one")
        seen[draft["cell_id"]] = draft
    same_as = shared_targets([d["fingerprint"] for d in drafts], [d["cell_id"] for d in drafts]) \
        if share else [""] * len(drafts)
    cells = [_seal(ctx, draft, names[i], same_as[i]) for i, draft in enumerate(drafts)]
    _check_commands(ctx, cells)
    return cells


def _seal(ctx: MatrixContext, draft: _Draft, run_name: str, same_as: str) -> Cell:
    """The cell with its final name, and its config with the fields that follow from it, frozen.

    Those fields are the run name, the output folder (without ``attempt-N``:
    a reproduction with ``train --config`` writes there) and the W&B group and
    tags: a sweep trial's are the sweep's, so its config alone lands in the
    right W&B group. None of them is part of the cell id.
    """
    plan = ctx.model_plan(draft["model"])
    project = draft["project"]
    # project, folder and run name are single safe path components: joined as text, as Path would
    final = {"WANDB.NAME": run_name, "OUTPUT_DIR": f"{ctx.output_root}/{project}/{run_name}",
             "WANDB.GROUP": draft["group"], "WANDB.TAGS": list(draft["tags"])}
    config = draft["config"].sealed(final.items() if plan.script is None else
                                    plan.script.render_values(final, ctx.error))
    epochs = config.value(EPOCHS_KEY)
    draft.update(run_name=run_name, same_as=same_as, config_path=f"{ctx.config_dir}/{plan.folder}/{run_name}.yaml",
                 max_epochs=epochs if type(epochs) is int else None, config=config)
    return Cell.planned(draft)


def _check_commands(ctx: MatrixContext, cells: Sequence[Cell]) -> None:
    """Each user command's argv and env rendered with the cell's variables; its program checked."""
    indices = {m.name: i for i, m in enumerate(ctx.spec.models)}
    checked: set[tuple[str, str]] = set()
    for cell in cells:
        if cell.command is not None:
            check_command(cell, indices[cell.model], ctx.error, checked)


def render_cells(cells: Sequence[Cell], spec: ExperimentSpec, registry: Registry | None = None) -> list[Path]:
    """Write each cell's planned config to ``cell.config_path``; nothing is written unless all can be.

    Rendering only writes what planning built (``Cell.config``); ``registry``
    is accepted for older callers and not needed.

    Returns:
        The written paths, in the order of ``cells``.

    Raises:
        HpsysError: a path outside the experiment's config folder, or a cell
            without a planned config (one read back from the store).
    """
    root = (Path(spec.temp_config_dir) / safe_name(spec.name)).resolve()
    folders: dict[str, Path] = {}  # each folder resolved (and made) once, not each file
    texts = []
    for cell in cells:
        folder, name = os.path.split(cell.config_path)
        if folder not in folders:
            folders[folder] = Path(folder).resolve()
        path = folders[folder] / name
        if os.path.islink(path):  # a link at the file's own place is followed, as resolve() does
            path = path.resolve()
        if root not in path.parents:
            raise HpsysError(f"config path {cell.config_path} is outside {root}")
        if cell.config is None:
            raise HpsysError(f"cell {cell.run_name} ({cell.cell_id[:12]}) has no planned config; plan it again")
        texts.append((path, _header(cell) + cell.config.text()))
    for folder in {path.parent for path, _ in texts}:
        folder.mkdir(parents=True, exist_ok=True)
    for path, text in texts:
        write_text_atomic(path, text, durable=False, make_parent=False)  # rebuilt by every run
    return [path for path, _ in texts]


def _header(cell: Cell) -> str:
    """Comment lines naming the cell; values are JSON-quoted so no name can break the YAML."""
    rows = [("experiment", cell.experiment), ("model", cell.model), ("category", cell.category),
            ("option", cell.option), ("label", cell.option_label), ("run name", cell.run_name),
            ("cell id", cell.cell_id)]
    lines = ["# hpsys cell config (generated; edits are overwritten on the next plan)"]
    lines += [f"# {name}: {canonical_json(value)}" for name, value in rows]
    return "\n".join(lines) + "\n"
