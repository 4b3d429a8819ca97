"""What a category option sets in one model's config: its settings over the base and its YACS changes.

A plugin's ``apply`` runs on the base's reusable scratch copy
(:meth:`BaseConfig.try_option`), or on a fresh copy when it does more than
set existing keys; a YAML category's own keys are checked against the
model's schema. Every problem is a ConfigError at the option's line: the
experiment file's, or a YAML category file's own.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, AbstractSet, Any, Hashable, NamedTuple

from yacs.config import CfgNode

from hyperparameter_system.config.script_plan import recording_clone
from hyperparameter_system.config.yacs_keys import check_override, flat_settings, is_setting
from hyperparameter_system.errors import ConfigError
from hyperparameter_system.matrix.cell import BASELINE
from hyperparameter_system.matrix.checks import check_option_changes, option_source
from hyperparameter_system.matrix.planned_config import clone_node, same_value
from hyperparameter_system.plugin.yaml_category import YamlCategory

if TYPE_CHECKING:
    from hyperparameter_system.matrix.context import CategoryPlan, MatrixContext, ModelPlan, Option

__all__ = ["CellSettings", "cell_settings"]


class CellSettings(NamedTuple):
    """A cell's settings over its model's base config, each also as encoded text, and its option's changes."""

    settings: dict[str, Any]
    fragments: dict[str, str]  # each setting's ``"KEY":value`` text (:meth:`BaseConfig.fragments`)
    changes: list[tuple[str, Any]]


def cell_settings(ctx: MatrixContext, plan: ModelPlan, cat: CategoryPlan | None, option: Option | None
                  ) -> CellSettings:
    """The cell's settings over its model's base config (every key its option set, the W&B group
    and tags; the volatile fields come later), their text and the option's YACS changes.

    For a model with its own schema the changes are every key the option
    set, equal to the default or not: its script must receive them all,
    followed by the script's own keys a YAML category sets directly.
    """
    settings: dict[str, Any] = {}
    fragments: dict[str, str] = {}
    changes: list[tuple[str, Any]] = []
    if cat is not None and option is not None:
        settings, fragments, changes = _option_changes(ctx, plan, cat, option)
    group = BASELINE if cat is None else cat.name
    naming = {"WANDB.GROUP": group, "WANDB.TAGS": list(ctx.tags(plan.entry.name, group))}
    settings.update(naming)
    # the same group and tags in each cell of the model's category: encoded once
    return CellSettings(settings, {**fragments, **plan.config.fragments(naming, (plan.entry.name, group))}, changes)


def _option_changes(ctx: MatrixContext, plan: ModelPlan, cat: CategoryPlan, option: Option) -> CellSettings:
    """The option's settings over the model's base, their text and its YACS changes, checked.

    An option that sets the same values in every config of one shape, over
    bases that hold the same values there, changes the same keys in each: for
    a model without its own schema they are worked out, checked and encoded
    once (the check and a YAML category's keys depend on nothing else).
    """
    settings, assigned, shared = _applied(ctx, plan, cat, option)
    config = plan.config
    key = None
    if shared is not None and plan.script is None:
        key = (shared, plan.entry.command is None, *config.signature(settings))
        known = config.memo.changed.get(key)
        if known is not None:
            return CellSettings(settings, config.fragments(settings, key), [(k, settings[k]) for k in known])
    own = _own_settings(ctx, plan, cat, option)
    if plan.script is None:
        assigned = set()  # only a script receives keys set to their default
    base = config.flat
    changes = [(k, settings[k]) for k in sorted(settings) if settings[k] != base[k] or k in assigned] + own
    problem = check_option_changes(changes) if plan.entry.command is None else None
    if problem is not None:
        raise _option_error(ctx, cat, option, f"{plan.entry.name}: {problem[0]}: {problem[1]}")
    if key is not None:
        config.memo.changed[key] = tuple(k for k, _ in changes)
    return CellSettings(settings, config.fragments(settings, key), changes)


def _applied(ctx: MatrixContext, plan: ModelPlan, cat: CategoryPlan, option: Option
             ) -> tuple[dict[str, Any], AbstractSet[str], Hashable]:
    """What ``apply`` of the option sets over the model's base: ``(settings, assigned keys, shared)``
    (``shared``: what names the same settings in other models, :meth:`BaseConfig.try_option`; else None).

    Tried on the base's reusable scratch copy; a plugin that does more than
    set existing keys is run again on a fresh copy and the whole config compared.
    """
    def apply(cfg: CfgNode) -> None:
        try:
            cat.category.apply(cfg, option.value)
        except ValueError as exc:
            raise ctx.error(("categories", cat.name, "options", option.index),
                            f"{plan.entry.name}: {exc}", option.line) from None

    tried = plan.config.try_option(apply, (cat.name, option.text))
    if tried is not None:
        return tried
    assigned: set[str] = set()
    cfg = clone_node(plan.base) if plan.script is None else recording_clone(plan.base, assigned)
    apply(cfg)
    before, after = plan.config.flat, flat_settings(cfg)
    if after.keys() != before.keys():
        added = sorted(set(after) ^ set(before))
        raise ctx.error(("categories", cat.name), f"category plugin changed the schema: {added}")
    return {k: v for k, v in after.items() if k in assigned or not same_value(v, before[k])}, assigned, None


def _own_settings(ctx: MatrixContext, plan: ModelPlan, cat: CategoryPlan, option: Option) -> list[tuple[str, Any]]:
    """A YAML category's keys checked against this model's schema; the script's own ones, checked.

    Its options name keys of whichever schema the model has: hpsys's for a
    model without ``schema:`` (every key must be hpsys's), the script's for
    one with it (hpsys's keys go through ``apply`` and key_map, any other
    key must be the script's and is set as it is).
    """
    if not isinstance(cat.category, YamlCategory):
        return []
    own: list[tuple[str, Any]] = []
    for key, value in option.value.items():
        if plan.script is not None and is_setting(key):
            continue
        try:
            if plan.script is None:
                check_override(key, value)
            else:
                own.append((key, plan.script.schema.check(key, value)))
        except ValueError as exc:
            whose = "" if plan.script is not None else (" trains with the built-in trainer" if
                                                        plan.entry.command is None else " uses hpsys's keys")
            raise _option_error(ctx, cat, option, f"{exc} (model {plan.entry.name}{whose})", key) from None
    return own


def _option_error(ctx: MatrixContext, cat: CategoryPlan, option: Option, reason: str,
                  key: str | None = None) -> ConfigError:
    """An option's error at its line (or its key's): the experiment file's, or a YAML category file's own."""
    entry = next((c for c in ctx.spec.categories if c.name == cat.name), None)
    own = option_source(cat.category, option.index, key) if cat.options and not (entry and entry.options) \
        else None
    if own is not None:
        return ConfigError(own[0], own[1], f"options[{option.index}]", reason)
    keypath = ("categories", cat.name, "options", option.index) + ((key,) if key is not None else ())
    return ctx.error(keypath, reason, 0 if key is not None and ctx.spec.lines is not None else option.line)
