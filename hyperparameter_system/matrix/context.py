"""What the matrix generator needs per experiment: checked models, categories and templates.

:class:`MatrixContext` turns an :class:`ExperimentSpec` plus the plugin
registry into checked building blocks (a base config per model, validated
options per category, compiled name templates) and caches them, so a matrix
of 10,000 cells builds each model's base config once and each cell only the
keys its option sets (``matrix/planned_config.py``, ``matrix/option_settings.py``).
Every problem is a ConfigError at the line the user wrote.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Sequence

import jinja2
import jinja2.meta
from yacs.config import CfgNode

from hyperparameter_system.category import BaseCategory
from hyperparameter_system.matrix.cell import BASELINE
from hyperparameter_system.config.defaults import get_cfg_defaults
from hyperparameter_system.config.templates import TemplateRenderError, compile_template, render
from hyperparameter_system.config.spec import CategoryEntry, ExperimentSpec, ModelEntry
from hyperparameter_system.config.script_plan import ScriptPlan, build_script_plan
from hyperparameter_system.config.yaml_emit import dump_sorted
from hyperparameter_system.config.yacs_keys import check_mapping, check_override, flat_settings, set_key
from hyperparameter_system.config.yaml_source import dotted, load_yaml_with_lines
from hyperparameter_system.errors import ConfigError, UnknownNameError, did_you_mean
from hyperparameter_system.matrix.checks import check_base
from hyperparameter_system.matrix.naming import model_safe, safe_name, unique_names
from hyperparameter_system.matrix.planned_config import BaseConfig, PlanMemo, canonical_json, clone_node
from hyperparameter_system.plugin.registry import Registry

__all__ = ["CategoryPlan", "canonical_json", "MatrixContext", "ModelPlan", "Option"]

_OPTION_NAMES = frozenset({"prefix", "label", "timestamp"})  # what the default run name template uses


@dataclass(frozen=True)
class Option:
    """One validated option: canonical value, its label and where the user wrote it."""

    value: Any
    label: str
    index: int
    line: int
    text: str  # ``value`` as canonical_json writes it (duplicates and the cell id compare this)


@dataclass
class CategoryPlan:
    """A category of this matrix with its prefix, label rule and validated options."""

    name: str
    prefix: str
    category: BaseCategory
    label_template: Any = None
    options: list[Option] = field(default_factory=list)


@dataclass
class ModelPlan:
    """A model of this matrix: its entry, W&B project, config folder and base config.

    ``script`` is the script side of a model with its own ``schema:`` (None otherwise).
    """

    entry: ModelEntry
    project: str
    folder: str
    base: CfgNode
    config: BaseConfig  # ``base`` flattened once, what every cell starts from
    script: ScriptPlan | None = None


class MatrixContext:
    """Checked building blocks of one experiment's matrix (see module docstring)."""

    def __init__(self, spec: ExperimentSpec, registry: Registry) -> None:
        self.spec = spec
        self.registry = registry
        self.config_dir = Path(spec.temp_config_dir) / safe_name(spec.name)
        self.output_root = Path(spec.output_dir) / safe_name(spec.name)  # each cell's output folder is in here
        self._run_template = self._compile(("wandb", "run_name"), spec.wandb.run_name_template)
        self._run_uses = jinja2.meta.find_undeclared_variables(
            self._run_template.environment.parse(spec.wandb.run_name_template))
        self._run_names: dict[tuple[Any, ...], str] = {}
        self._project_template = self._compile(("wandb", "project"), spec.wandb.project_template)
        self._models: dict[str, ModelPlan] = {}
        self._categories: dict[str, CategoryPlan] = {}
        self._tags: dict[tuple[str, str], tuple[str, ...]] = {}
        self._defaults: CfgNode | None = None  # hpsys's schema, built once and cloned per model
        self._memo = PlanMemo()  # what the models' base configs share
        self._resolved_dirs: dict[Path, Path] = {}  # the plugin model folders, each resolved once
        names = sorted(m.name for m in spec.models)
        self._folders = dict(zip(names, unique_names(model_safe(n) for n in names)))

    # ----------------------------------------------------------- locations
    def error(self, keypath: tuple[Any, ...], reason: str, line: int = 0) -> ConfigError:
        """A ConfigError at ``keypath`` of the experiment file (line from ``spec.lines``)."""
        err = self.spec.lines.error(keypath, reason) if self.spec.lines is not None else None
        if err is None:
            return ConfigError(self.spec.source_path, line, dotted(keypath), reason)
        if line:
            err.line = line
        return err

    def _compile(self, keypath: tuple[Any, ...], text: str) -> jinja2.Template:
        try:
            return compile_template(text)
        except TemplateRenderError as exc:
            raise self.error(keypath, str(exc)) from None

    def _render(self, template: jinja2.Template, keypath: tuple[Any, ...], **variables: Any) -> str:
        try:
            return render(template, variables)
        except TemplateRenderError as exc:
            raise self.error(keypath, str(exc)) from None

    # --------------------------------------------------------------- models
    def select_models(self, names: Sequence[str] | None) -> list[ModelPlan]:
        """The chosen models (None: every enabled one), sorted by name."""
        entries = {m.name: m for m in self.spec.models}
        if names is None:
            chosen = [n for n, m in entries.items() if m.enabled]
        else:
            for name in names:
                if name not in entries:
                    raise UnknownNameError(f"Unknown model {name!r}{did_you_mean(name, entries)}; "
                                           f"known: {', '.join(sorted(entries))}")
            chosen = list(dict.fromkeys(names))
        return [self.model_plan(n) for n in sorted(chosen)]

    def model_plan(self, name: str) -> ModelPlan:
        if name not in self._models:
            self._models[name] = self._build_model_plan(name)
        return self._models[name]

    def _build_model_plan(self, name: str) -> ModelPlan:
        index, entry = next(((i, m) for i, m in enumerate(self.spec.models) if m.name == name), (None, None))
        if entry is None:
            known = sorted(m.name for m in self.spec.models)
            raise UnknownNameError(f"Unknown model {name!r}{did_you_mean(name, known)}; known: {', '.join(known)}")
        if entry.command is None and not self.registry.has_model(name):
            try:
                self.registry.model_family(name)
            except UnknownNameError as exc:
                raise self.error(("models", index, "name"), str(exc), entry.line) from None
        if self._defaults is None:
            self._defaults = get_cfg_defaults()
        base = clone_node(self._defaults)
        profile = self._profile_path(entry) if not entry.schema else None  # its base_config is the script's
        profile_keys = self._merge_profile(base, profile) if profile is not None else set()
        if "MODEL.NAME" not in profile_keys:
            base.MODEL.NAME = name
        for key, value in self.spec.overrides:
            try:
                set_key(base, key, check_override(key, value))
            except ValueError as exc:
                raise self.error(("experiment", "overrides", key), str(exc)) from None
        base.METRIC.NAME = self.spec.metric
        base.METRIC.GOAL = self.spec.goal
        variables = {"model": name, "model_safe": model_safe(name), "experiment": self.spec.name}
        project = safe_name(self._render(self._project_template, ("wandb", "project"), **variables),
                            allow_dot=False)
        base.WANDB.PROJECT = project
        base.WANDB.ENTITY = self.spec.wandb.entity
        base.WANDB.MODE = self.spec.wandb.mode
        config = BaseConfig(base, self._memo)
        check_base(self.spec, entry, config.flat, profile)  # the trainer's value rules, located
        script = build_script_plan(entry, index, self.spec.overrides, self.error) if entry.schema else None
        return ModelPlan(entry=entry, project=project, folder=self._folders[name], base=base, script=script,
                         config=config)

    def _profile_path(self, entry: ModelEntry) -> Path | None:
        """``base_config`` of the entry, else ``models/<name>.yaml`` of a plugin folder, else none."""
        if entry.base_config:
            return Path(entry.base_config)
        for folder in self.registry.model_dirs:
            try:  # a model name is user text: it may be too long or point outside the folder
                candidate = (folder / f"{entry.name}.yaml").resolve()
                if folder not in self._resolved_dirs:
                    self._resolved_dirs[folder] = folder.resolve()
                if self._resolved_dirs[folder] in candidate.parents and candidate.is_file():
                    return candidate
            except (OSError, ValueError):
                continue
        return None

    @staticmethod
    def _merge_profile(cfg: CfgNode, path: Path) -> set[str]:
        """Merge a model profile (nested or dotted YACS keys), each key checked at its line."""
        settings = check_mapping(*load_yaml_with_lines(path))
        for key, value in settings.items():
            set_key(cfg, key, value)
        return set(settings)

    # ----------------------------------------------------------- categories
    def select_categories(self, names: Sequence[str] | None) -> list[CategoryPlan]:
        """The chosen categories (None: every enabled one), sorted by name.

        A registered category with ``default_options`` (a YAML-only category,
        or a plugin that declares some) joins even when the experiment file
        does not mention it: dropping a file into ``categories/`` is enough.
        """
        entries = {c.name: c for c in self.spec.categories}
        dropped = {n: c for n, c in self.registry.categories.items()
                   if n not in entries and c.default_options}
        known = sorted(set(entries) | set(dropped))
        if names is None:
            chosen = [n for n in known if n in dropped or entries[n].enabled]
        else:
            for name in names:
                if name in self.registry.categories and name not in known:
                    raise UnknownNameError(f"category {name!r} has no options in {self.spec.source_path}: "
                                           f"add categories.{name}.options there")
                if name not in known and name != BASELINE:
                    raise UnknownNameError(f"Unknown category {name!r}{did_you_mean(name, known)}; "
                                           f"known: {', '.join(known)}")
            chosen = [n for n in dict.fromkeys(names) if n != BASELINE]
        return [self.category_plan(n) for n in sorted(chosen)]

    def category_plan(self, name: str, with_options: bool = True) -> CategoryPlan:
        """The plan of category ``name``, with the experiment's options (or the category's defaults).

        Args:
            with_options: False leaves the options out (nothing of them is
                validated): a sweep trial or a re-rendered cell brings its own.
        """
        key = name if with_options else f"{name}\0adhoc"
        if key in self._categories:
            return self._categories[key]
        entry = next((c for c in self.spec.categories if c.name == name), None)
        try:
            category = self.registry.category(name)
        except UnknownNameError as exc:
            raise self.error(("categories", name), str(exc), entry.line if entry else 0) from None
        plan = CategoryPlan(name=name, prefix=safe_name(entry.prefix) if entry and entry.prefix else category.prefix,
                            category=category)
        if entry is not None and entry.label_template:
            plan.label_template = self._compile(("categories", name, "label"), entry.label_template)
        if with_options:
            self._add_options(plan, entry, category)
        self._categories[key] = plan
        return plan

    def _add_options(self, plan: CategoryPlan, entry: CategoryEntry | None, category: BaseCategory) -> None:
        """The experiment's options, else the category's own (``name: {enabled: true}``)."""
        own = entry is not None and bool(entry.options)
        raw = entry.options if own else category.default_options
        lines = entry.option_lines if own else ()
        if not raw:
            raise self.error(("categories", plan.name), f"options required: category {plan.name!r} has no "
                                                        "options of its own", entry.line if entry else 0)
        first: dict[str, Option] = {}
        for i, value in enumerate(raw):
            option = self.validate_option(plan, value, i, lines[i] if i < len(lines) else 0)
            text = option.text
            if text in first:
                raise self.error(("categories", plan.name, "options", i),
                                 f"same option as options[{first[text].index}] ({text})", option.line)
            first[text] = option
            plan.options.append(option)

    def single_option(self, category: str, value: Any) -> tuple[CategoryPlan | None, Option | None]:
        """The plan and validated option of one cell outside the matrix (None, None: the baseline)."""
        if category == BASELINE:
            return None, None
        plan = self.category_plan(category, with_options=False)
        return plan, self.validate_option(plan, value, 0, 0)

    def validate_option(self, plan: CategoryPlan, value: Any, index: int, line: int) -> Option:
        """Validate one option with its category; errors name ``categories.<cat>.options[i]``."""
        keypath = ("categories", plan.name, "options", index)
        try:
            canonical = plan.category.validate(value)
            if plan.label_template is not None:
                fields = canonical if isinstance(canonical, dict) else {"value": canonical}
                label = self._render(plan.label_template, ("categories", plan.name, "label"),
                                     option=canonical, **fields)
            else:
                label = plan.category.label(canonical)
        except ValueError as exc:
            raise self.error(keypath, str(exc), line) from None
        return Option(value=canonical, label=safe_name(label) if label else "option", index=index, line=line,
                      text=canonical_json(canonical))

    # ---------------------------------------------------------------- cells
    def tags(self, model: str, group: str) -> tuple[str, ...]:
        """A cell's W&B tags: its model, its group and the experiment, each made safe (once per pair)."""
        key = (model, group)
        if key not in self._tags:
            self._tags[key] = tuple(safe_name(t, 64) for t in (model, group, self.spec.name))
        return self._tags[key]

    def run_name(self, plan: ModelPlan, category: str, prefix: str, label: str, now: datetime) -> str:
        """The template's run name, rendered once per distinct value of the variables it uses
        (the default one uses prefix, label and timestamp: one render per option, not per cell)."""
        if self._run_uses <= _OPTION_NAMES:  # the default template: one name per option and time
            key: tuple[Any, ...] = (prefix, label, now)
        else:
            given = {"prefix": prefix, "label": label, "timestamp": now, "model": plan.entry.name,
                     "category": category}
            key = tuple(value for name, value in given.items() if name in self._run_uses)
        if key not in self._run_names:
            text = self._render(self._run_template, ("wandb", "run_name"), prefix=prefix, label=label,
                                timestamp=now.strftime("%y%m%d%H%M"), model=plan.entry.name,
                                model_safe=model_safe(plan.entry.name), category=category,
                                experiment=self.spec.name)
            self._run_names[key] = safe_name(text)
        return self._run_names[key]

    @staticmethod
    def flat(cfg: CfgNode) -> dict[str, Any]:
        return flat_settings(cfg)

    @staticmethod
    def dump(cfg: CfgNode) -> str:
        """YAML that ``yacs`` loads back to the identical config."""
        return dump_sorted(cfg)
