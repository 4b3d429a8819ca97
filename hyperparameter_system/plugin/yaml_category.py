"""Categories written as YAML only: a name, a prefix and options of YACS settings.

A practitioner who wants to compare, say, augmentation settings should not
have to write Python. ``categories/augmentation.yaml``::

    name: augmentation
    prefix: aug
    description: train-time augmentation strength
    label: "flip{{ INPUT.HFLIP_PROB }}_rot{{ INPUT.ROTATION_DEG }}"   # optional jinja2
    options:
      - {INPUT.HFLIP_PROB: 0.0, INPUT.ROTATION_DEG: 0.0}
      - {INPUT.HFLIP_PROB: 0.5, INPUT.ROTATION_DEG: 10}

Each option maps YACS keys to values. Which keys exist depends on the model
the option is applied to: hpsys's schema for a model on the built-in trainer,
the script's own schema for a model with ``schema:`` (so a category may set
``SOLVER.MARGIN``, a key only that project has). Loading therefore checks only
the shape; the planner checks every key against each model's schema, at the
line the key is written (``matrix.context``). A value of a key hpsys knows is
still normalised here (``0`` -> ``0.0`` for a float key), so cell ids do not
depend on how a number was written. The file's ``options`` are the
category's defaults: the category joins the matrix with them even when the
experiment file does not mention it; an experiment entry of the same name
with ``options`` replaces them, ``{enabled: true}`` keeps them and
``{enabled: false}`` turns the category off.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from hyperparameter_system.category import BaseCategory
from hyperparameter_system.config.templates import TemplateRenderError, compile_template, render
from hyperparameter_system.config.yacs_keys import check_override, is_setting, set_key
from hyperparameter_system.config.yaml_source import load_yaml_with_lines
from hyperparameter_system.matrix.naming import format_number

if TYPE_CHECKING:
    from yacs.config import CfgNode

__all__ = ["YamlCategory", "load_yaml_category"]

_KEYS = ("name", "prefix", "description", "label", "options")


class _Dotted(dict):
    """Lets a label template write ``{{ INPUT.HFLIP_PROB }}`` for the key ``INPUT.HFLIP_PROB``."""

    def __getattr__(self, item: str) -> Any:
        try:
            return self[item]
        except KeyError:
            raise AttributeError(item) from None


def _nest(option: Mapping[str, Any]) -> dict[str, Any]:
    tree: dict[str, Any] = {}
    for key, value in option.items():
        node = tree
        *parents, leaf = key.split(".")
        for part in parents:
            node = node.setdefault(part, _Dotted())
        node[leaf] = value
    return {k: (_Dotted(v) if isinstance(v, dict) else v) for k, v in tree.items()}


class YamlCategory(BaseCategory):
    """A category whose options are plain ``YACS.KEY: value`` mappings."""

    def __init__(self, name: str, prefix: str, description: str = "", label_template: str = "") -> None:
        self.name = name
        self.prefix = prefix
        self.description = description
        # Sandboxed like the experiment file's own templates: both are user text.
        self._template = compile_template(label_template) if label_template else None
        self.default_options: tuple[Any, ...] = ()  # canonical; :func:`load_yaml_category` fills them
        self.source = ""  # the category file, and the line of each default option (for messages)
        self.option_lines: tuple[int, ...] = ()
        self.key_lines: tuple[dict[str, int], ...] = ()  # per default option: key -> its line

    def validate(self, option: Any) -> dict[str, Any]:
        """The option with sorted keys; values of hpsys's keys in the type yacs expects.

        A key hpsys lacks, or a value its schema refuses, is kept as written:
        the planner checks it against each model's schema (a script's own key
        is valid there).
        """
        if not isinstance(option, Mapping) or not option:
            raise ValueError(f"expected a mapping of YACS keys to values, got {option!r}")
        for key in option:
            if not isinstance(key, str) or not key:
                raise ValueError(f"a YACS key must be text like SOLVER.BASE_LR, got {key!r}")
        return {key: _normalised(key, option[key]) for key in sorted(option)}

    def apply(self, cfg: CfgNode, option: Any) -> None:
        """Set the option's keys that hpsys's schema has; the planner routes a script's own keys."""
        for key, value in option.items():
            if is_setting(key):
                set_key(cfg, key, value)

    def label(self, option: Any) -> str:
        """The label template rendered with the option's keys (ValueError when one is missing)."""
        if self._template is not None:
            try:
                return render(self._template, _nest(option))
            except TemplateRenderError as exc:
                raise ValueError(f"label template cannot be rendered for this option: {exc}") from None
        return "_".join(f"{key.rsplit('.', 1)[-1].lower()}{_short(value)}" for key, value in option.items())

    def sweep_parameters(self) -> dict[str, Any]:
        """Each key seen in the default options, over the values the options give it."""
        values: dict[str, list[Any]] = {}
        for option in self.default_options:
            for key, value in option.items():
                if value not in values.setdefault(key, []):
                    values[key].append(value)
        return {key: {"values": vals} for key, vals in sorted(values.items())}


def _normalised(key: str, value: Any) -> Any:
    try:
        return check_override(key, value)
    except ValueError:
        return value  # checked at plan time, per model


def _short(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return "-".join(format_number(v) for v in value)
    return format_number(value) if not isinstance(value, str) else value


def load_yaml_category(path: str | Path) -> YamlCategory:
    """Read one YAML category file; mistakes are ConfigErrors at ``path:line``."""
    data, index = load_yaml_with_lines(path)
    if not isinstance(data, dict):
        raise index.error((), "a category file must be a mapping with name, prefix and options")
    for key in data:
        if key not in _KEYS:
            raise index.error((key,), f"unknown key (known: {', '.join(_KEYS)})")
    for key in ("name", "prefix"):
        if not isinstance(data.get(key), str) or not data[key]:
            raise index.error((key,), "required text key missing or empty")
    options = data.get("options") or []
    if not isinstance(options, list):
        raise index.error(("options",), "expected a list of YACS key -> value mappings")
    try:
        category = YamlCategory(data["name"], data["prefix"], str(data.get("description", "")),
                                str(data.get("label", "")))
    except TemplateRenderError as exc:
        raise index.error(("label",), str(exc)) from None
    defaults = []
    for i, option in enumerate(options):
        try:  # the label too, so a template naming a key the option lacks fails here, at this line
            defaults.append(category.validate(option))
            category.label(defaults[-1])
        except ValueError as exc:
            raise index.error(("options", i), str(exc)) from None
    category.default_options = tuple(defaults)
    category.source = str(path)
    category.option_lines = tuple(index.line_of(("options", i)) for i in range(len(defaults)))
    category.key_lines = tuple({key: index.line_of(("options", i, key)) for key in option}
                               for i, option in enumerate(defaults))
    return category

