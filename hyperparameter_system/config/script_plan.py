"""Planning a model that brings its own config world: its schema, its keys, its config file.

The built-in categories speak hpsys's keys (``SOLVER.OPTIMIZER``); a user's
training project has its own (``SOLVER.OPTIMIZER_NAME``). For a model with
``schema:``, each cell is first planned as usual in hpsys's schema, and every
key its option *sets* (equal to a default or not) goes through the model's
``key_map`` into the script's schema, where yacs's type rules check it. The
script's config is ``its defaults <- its base_config <- the experiment's
overrides (mapped) <- the model's overrides <- the option (mapped)``; that is
what ``{{ config_path }}`` holds and what the cell id hashes. ``key_map`` may
also route the cell's own W&B settings (project, group, tags, run name) and
output folder into the script's config, for scripts that log to W&B from it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable, Sequence

import jinja2
import yaml
from yacs.config import CfgNode

from hyperparameter_system.config.script_schema import ScriptSchema, load_schema, yacs_decode, yacs_text
from hyperparameter_system.config.spec import ModelEntry
from hyperparameter_system.config.templates import TemplateRenderError, compile_template, render
from hyperparameter_system.config.yacs_keys import check_mapping, set_key
from hyperparameter_system.config.yaml_source import load_yaml_text, load_yaml_with_lines
from hyperparameter_system.errors import ConfigError

__all__ = ["CELL_KEYS", "ScriptPlan", "build_script_plan", "recording_clone"]

# The cell's own settings a key_map may route into the script's config (set by
# hpsys, never by an option); the volatile OUTPUT_DIR and WANDB.NAME come at
# render time, through :meth:`ScriptPlan.render_values`.
CELL_KEYS = ("WANDB.PROJECT", "WANDB.GROUP", "WANDB.TAGS", "WANDB.ENTITY", "WANDB.MODE")

_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
ErrorAt = Callable[..., ConfigError]  # MatrixContext.error(keypath, reason, line=0)


class _Unmapped(Exception):
    """An hpsys key the script lacks and key_map does not name."""


@dataclass
class ScriptPlan:
    """One schema model's script side: its schema, base config and key mapping."""

    entry: ModelEntry
    index: int  # the model's position in ``models:``, for error locations
    schema: ScriptSchema
    base: CfgNode
    base_overrides: tuple[tuple[str, Any], ...]  # script keys the experiment and model overrides set
    key_map: dict[str, Any]
    templates: dict[tuple[str, str], jinja2.Template]

    def unmapped(self, keys: Iterable[str]) -> list[str]:
        """The hpsys keys among ``keys`` that the script's schema lacks and key_map does not name."""
        return [key for key in keys if key not in self.key_map and key not in self.schema.leaves]

    def map_key(self, key: str, value: Any) -> list[tuple[str, Any]]:
        """hpsys ``key = value`` as the script's settings (checked); raises _Unmapped or ValueError."""
        if key not in self.key_map:
            if self.unmapped([key]):
                raise _Unmapped(key)
            return [(key, self.schema.check(key, value))]
        target = self.key_map[key]
        if target is None:
            return []
        if isinstance(target, str):
            return [(target, self._check(target, value))]
        return [(name, self._check(name, self._render(key, name, value))) for name, _ in target]

    def plain_target(self, key: str) -> tuple[str, str]:
        """The script's key that takes hpsys ``key``'s value as it is, or ``("", why there is none)``.

        The OOM retry halves a batch through it: a template or a dropped key
        cannot carry a new value.
        """
        if key not in self.key_map:
            if key in self.schema.leaves:
                return key, ""
            return "", f"its schema {self.schema.source} has no {key} and key_map does not map it"
        target = self.key_map[key]
        if target is None:
            return "", f"key_map drops {key} (null)"
        if isinstance(target, str):
            return target, ""
        return "", f"key_map reshapes {key} through a template"

    def _check(self, name: str, value: Any) -> Any:
        try:
            return self.schema.check(name, value)
        except ValueError as exc:
            raise ValueError(f"{name}: {exc}") from None

    def _render(self, key: str, name: str, value: Any) -> Any:
        """The template's text read as YAML: ``"[{{ value }}, 128]"`` is a list.

        For a text setting the text is taken as it is, so ``on`` / ``off``
        switches stay text (YAML would read them as booleans).
        """
        try:
            text = render(self.templates[(key, name)], {"value": value})
        except TemplateRenderError as exc:
            raise ValueError(f"{name}: for value {value!r}: {exc}") from None
        if isinstance(self.schema.leaves.get(name), str) or not text.strip():
            return text.strip()
        try:
            return load_yaml_text(text, "template")[0]
        except ConfigError as exc:
            raise ValueError(f"{name}: template gave {text!r}, which is not YAML: {exc.reason}") from None

    def cell(self, cfg: CfgNode, changes: Sequence[tuple[str, Any]], error: ErrorAt,
             where: str) -> tuple[CfgNode, list[tuple[str, Any]]]:
        """The script's config of one cell and every script key its overrides and option set.

        Args:
            cfg: The cell's config in hpsys's schema (for the routed W&B keys).
            changes: hpsys keys the option set, with their values.
            where: ``category X, option Y`` for messages.
        """
        script = self.base.clone()
        option: list[tuple[str, Any]] = []
        missing = self.unmapped(key for key, _ in changes)
        if missing:  # every one at once: one run of --matrix tells the whole fix
            raise error(("models", self.index, "key_map") if self.key_map else ("models", self.index),
                        f"model {self.entry.name}: {where} sets {', '.join(missing)}, which its schema "
                        f"{self.schema.source} does not have; {_how_to_map(missing)}")
        for key, value in changes:
            option += self._mapped(key, value, error, where)
        routed = [pair for key in CELL_KEYS if key in self.key_map
                  for pair in self._mapped(key, _lookup(cfg, key), error, where)]
        for key, value in (*routed, *option):
            set_key(script, key, value)
        return script, [*self.base_overrides, *option]

    def dump(self, cfg: CfgNode) -> str:
        """The config as YAML the script's own loader reads back to the same values.

        yacs passes every text value of a file through ``literal_eval``, so
        text like ``'0'`` is written quoted (``"'0'"``) to stay text.
        """
        plain = _plain(cfg, yacs_text if self.schema.kind == "yacs" else (lambda v: v))
        return yaml.dump(plain, Dumper=_DUMPER, default_flow_style=False, sort_keys=False)

    def render_values(self, values: dict[str, Any], error: ErrorAt) -> list[tuple[str, Any]]:
        """Script settings for the render-time keys (run name, output folder) that key_map names."""
        return [pair for key, value in values.items() if key in self.key_map
                for pair in self._mapped(key, value, error, "render")]

    def _mapped(self, key: str, value: Any, error: ErrorAt, where: str) -> list[tuple[str, Any]]:
        keypath = ("models", self.index, "key_map", key)
        try:  # every key here is mapped or the schema's own (``cell`` names the others first)
            return self.map_key(key, value)
        except ValueError as exc:
            raise error(keypath, f"model {self.entry.name}: {where}: {exc}") from None


def _how_to_map(keys: Sequence[str]) -> str:
    """The fix for hpsys keys a script's schema lacks, for every one of them."""
    mapped = ", ".join(f"{key}: SCRIPT.KEY" for key in keys)
    dropped = ", ".join(f"{key}: null" for key in keys)
    return f"map {'it' if len(keys) == 1 else 'each'} (key_map: {{{mapped}}}) or drop it (key_map: {{{dropped}}})"


def build_script_plan(entry: ModelEntry, index: int, spec_overrides: Sequence[tuple[str, Any]],
                      error: ErrorAt) -> ScriptPlan:
    """Read the schema, check key_map, merge base_config and the overrides; errors are located."""
    try:
        schema = load_schema(entry.schema, entry.cwd)
    except ValueError as exc:
        raise error(("models", index, "schema"), str(exc)) from None
    plan = ScriptPlan(entry=entry, index=index, schema=schema, base=schema.defaults.clone(),
                      base_overrides=(), key_map=dict(entry.key_map), templates=_templates(entry, index, error))
    _check_targets(plan, error)
    if entry.base_config:  # read as the script's own merge reads it (yacs decodes text)
        data, lines = load_yaml_with_lines(entry.base_config)
        decode = yacs_decode if schema.kind == "yacs" else (lambda v: v)
        for key, value in check_mapping(data, lines, check=lambda k, v: schema.check(k, decode(v))).items():
            set_key(plan.base, key, value)
    pairs: list[tuple[str, Any]] = []
    for key, value in spec_overrides:
        try:
            pairs += plan.map_key(key, value)
        except _Unmapped:
            missing = plan.unmapped(k for k, _ in spec_overrides)
            raise error(("experiment", "overrides", key),
                        f"model {entry.name}'s schema {schema.source} has no {', '.join(missing)}; "
                        f"{_how_to_map(missing)}") from None
        except ValueError as exc:
            raise error(("models", index, "key_map", key), f"model {entry.name}: {exc}") from None
    for key, value in entry.overrides:
        try:
            pairs.append((key, schema.check(key, value)))
        except ValueError as exc:
            raise error(("models", index, "overrides", key), str(exc)) from None
    for key, value in pairs:
        set_key(plan.base, key, value)
    plan.base_overrides = tuple(pairs)
    return plan


def _templates(entry: ModelEntry, index: int, error: ErrorAt) -> dict[tuple[str, str], jinja2.Template]:
    compiled = {}
    for key, target in entry.key_map:
        for name, text in target if isinstance(target, tuple) else ():
            try:
                compiled[(key, name)] = compile_template(text)
            except TemplateRenderError as exc:  # pragma: no cover - checked at load
                raise error(("models", index, "key_map", key, name), str(exc)) from None
    return compiled


def _check_targets(plan: ScriptPlan, error: ErrorAt) -> None:
    """Every key a key_map names must be a setting of the script's schema."""
    for key, target in plan.key_map.items():
        names = [target] if isinstance(target, str) else [n for n, _ in target or ()]
        for name in names:
            if name not in plan.schema.leaves:
                sub = ("models", plan.index, "key_map", key) + ((name,) if isinstance(target, tuple) else ())
                try:
                    plan.schema.check(name, None)
                except ValueError as exc:
                    raise error(sub, str(exc)) from None


def _plain(node: Any, leaf: Callable[[Any], Any]) -> Any:
    if isinstance(node, dict):
        return {k: _plain(v, leaf) for k, v in node.items()}
    return list(node) if isinstance(node, tuple) else leaf(node)


def _lookup(cfg: CfgNode, key: str) -> Any:
    node: Any = cfg
    for part in key.split("."):
        node = node[part]
    return list(node) if isinstance(node, (list, tuple)) else node


class _Recorder(CfgNode):
    """A CfgNode that notes every key set on it: an option's keys, equal to the default or not."""

    def __setitem__(self, key: str, value: Any) -> None:
        self.__dict__["_hps_record"].add(self.__dict__["_hps_prefix"] + str(key))
        super().__setitem__(key, value)


def recording_clone(node: CfgNode, record: set[str], prefix: str = "") -> CfgNode:
    """A copy of ``node`` that adds to ``record`` the dotted key of every assignment."""
    out = _Recorder.__new__(_Recorder)
    dict.__init__(out)
    out.__dict__.update(node.__dict__)
    out.__dict__["_hps_record"] = record
    out.__dict__["_hps_prefix"] = prefix
    for key, value in node.items():
        dict.__setitem__(out, key, recording_clone(value, record, f"{prefix}{key}.")
                         if isinstance(value, CfgNode) else list(value) if isinstance(value, list) else value)
    return out
