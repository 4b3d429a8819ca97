"""The ``models:`` section of the experiment file, checked into :class:`ModelEntry` objects.

A model is a built-in or plugin architecture, or a user's own training command
with its own config world (``cwd``, ``env``, ``schema``, ``base_config``,
``overrides``, ``key_map``, ``wandb``). Here only the structure is checked and
paths are made absolute: ``cwd`` is taken from the experiment file's folder
(and defaults to it), ``schema`` and a schema model's ``base_config`` from
``cwd``. Reading the schema and checking keys against it is the planner's job
(``config.script_schema``), since it may need a subprocess.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hyperparameter_system.config.resources import read_resources
from hyperparameter_system.config.spec import ModelEntry
from hyperparameter_system.config.yacs_keys import check_mapping, default_value
from hyperparameter_system.config.yaml_source import KeyPath

if TYPE_CHECKING:
    from hyperparameter_system.config.experiment import _Reader as Reader

__all__ = ["read_models"]

_MODEL_KEYS = ("name", "enabled", "base_config", "description", "command", "metric_patterns", "cwd", "env",
               "schema", "overrides", "key_map", "wandb", "resources")
_ENV_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# What the runner sets in every child's environment after a model's env: (a model's value would
# be lost or would break the child): the W&B run's identity and mode, the device, the slot's thread
# count, the experiment's plugin folders, and
# every HPS_* variable of the child contract.
RUNNER_ENV = ("WANDB_PROJECT", "WANDB_NAME", "WANDB_RUN_GROUP", "WANDB_RUN_ID", "WANDB_TAGS", "WANDB_MODE",
              "WANDB_DIR", "WANDB_DISABLED", "CUDA_VISIBLE_DEVICES", "OMP_NUM_THREADS", "PYTHONUNBUFFERED",
              "HPSYS_PLUGIN_PATH")
RUNNER_ENV_PREFIX = "HPS_"


def read_models(reader: Reader, value: Any) -> tuple[ModelEntry, ...]:
    """The ``models:`` list: each entry checked, names unique, paths absolute."""
    items = reader.sequence(("models",), value)
    if not items:
        raise reader.index.error(("models",), "at least one model is required")
    models: list[ModelEntry] = []
    first: dict[str, int] = {}
    for i, item in enumerate(items):
        model = _model(reader, ("models", i), {"name": item} if isinstance(item, str) else item)
        if model.name in first:
            raise reader.index.error(("models", i, "name"),
                                     f"duplicate model name {model.name!r} (first at line {first[model.name]})")
        first[model.name] = model.line
        models.append(model)
    return tuple(models)


def _model(reader: Reader, key: KeyPath, value: Any) -> ModelEntry:
    fields = reader.mapping(key, value, _MODEL_KEYS, required=("name",))
    command = _command(reader, key + ("command",), fields.get("command"))
    own = ("cwd", "env", "schema", "overrides", "key_map")
    if command is None and any(name in fields for name in own):
        name = next(name for name in own if name in fields)
        raise reader.index.error(key + (name,), "only a model with its own command: has this setting")
    cwd = _cwd(reader, key + ("cwd",), fields.get("cwd")) if command is not None else ""
    schema = _schema(reader, key + ("schema",), fields.get("schema"), cwd)
    if "key_map" in fields and not schema:  # without a schema there is no config for it to rename into
        raise reader.index.error(key + ("key_map",), "needs schema: the project's full defaults, FILE.py:NAME "
                                 "or a YAML file (key_map renames keys of the schema's config)")
    base_config = fields.get("base_config")
    if base_config is not None:
        sub = key + ("base_config",)
        base_config = _below(reader, sub, base_config, cwd) if schema else reader.path(sub, base_config)
        if not Path(base_config).is_file():
            what = "config file" if schema else "model profile"
            raise reader.index.error(key + ("base_config",), f"{what} not found: {base_config}")
    return ModelEntry(
        name=reader.text(key + ("name",), fields["name"], required=True),
        enabled=reader.boolean(key + ("enabled",), fields.get("enabled", True)),
        base_config=base_config or "",
        description=reader.text(key + ("description",), fields.get("description", "")),
        command=command,
        metric_patterns=_metric_patterns(reader, key + ("metric_patterns",), fields.get("metric_patterns")),
        cwd=cwd,
        env=_env(reader, key + ("env",), fields.get("env")),
        schema=schema,
        overrides=tuple(check_mapping(reader.mapping(key + ("overrides",), fields.get("overrides"), None),
                                      reader.index, key + ("overrides",), check=lambda _k, v: v).items()),
        key_map=_key_map(reader, key + ("key_map",), fields.get("key_map")),
        wandb=reader.choice(key + ("wandb",), _wandb_choice(fields.get("wandb", "runner")),
                            ("runner", "script", "off")),
        resources=read_resources(reader, key + ("resources",), fields["resources"]) if "resources" in fields else (),
        line=reader.index.line_of(key),
    )


def _cwd(reader: Reader, key: KeyPath, value: Any) -> str:
    """The folder a user command starts in; default the experiment file's folder."""
    folder = reader.path(key, value) if value is not None else str(reader.base_dir)
    if not Path(folder).is_dir():
        raise reader.index.error(key, f"folder not found: {folder}")
    return folder


def _below(reader: Reader, key: KeyPath, value: Any, folder: str) -> str:
    """An absolute path; a relative one is taken from ``folder`` (a model's cwd)."""
    text = reader.text(key, value, required=True)
    return str((Path(folder) / Path(text).expanduser()).resolve())


def _schema(reader: Reader, key: KeyPath, value: Any, cwd: str) -> str:
    """``FILE.py:NAME`` (a yacs CfgNode in a Python file) or a YAML file, relative to cwd.

    Only the file's existence is checked here; reading it is the planner's job.
    """
    if value is None:
        return ""
    text = reader.text(key, value, required=True)
    file, sep, name = text.rpartition(":") if text.rpartition(":")[0].endswith(".py") else (text, "", "")
    if file.endswith(".py") and not sep:
        raise reader.index.error(key, f"a Python schema is FILE.py:NAME (the CfgNode's name), got {text!r}")
    if sep and not name.isidentifier():
        raise reader.index.error(key, f"{name!r} is not a Python name (FILE.py:NAME)")
    path = _below(reader, key, file, cwd)
    if not Path(path).is_file():
        raise reader.index.error(key, f"schema file not found: {path}")
    return f"{path}:{name}" if sep else path


def _env(reader: Reader, key: KeyPath, value: Any) -> tuple[tuple[str, str], ...]:
    """Variable name -> jinja2 template (numbers read as text)."""
    pairs = []
    for name, text in reader.mapping(key, value, None).items():
        if not _ENV_NAME_RE.fullmatch(name):
            raise reader.index.error(key + (name,), "not an environment variable name")
        if name in RUNNER_ENV or name.startswith(RUNNER_ENV_PREFIX):
            raise reader.index.error(key + (name,), f"the runner sets {name} for every cell ({RUNNER_ENV_PREFIX}*, "
                                     f"{', '.join(RUNNER_ENV)}); W&B's mode is the experiment's wandb.mode, "
                                     "devices and threads are execution.devices and .parallel")
        if isinstance(text, (int, float)) and not isinstance(text, bool):
            text = str(text)
        pairs.append((name, reader.template(key + (name,), text)))
    return tuple(pairs)


def _key_map(reader: Reader, key: KeyPath, value: Any) -> tuple[tuple[str, Any], ...]:
    """hpsys key -> None (drop), a script key, or {script key: template of ``value``}."""
    pairs: list[tuple[str, Any]] = []
    for name, target in reader.mapping(key, value, None).items():
        sub = key + (name,)
        try:
            default_value(name)
        except ValueError as exc:
            raise reader.index.error(sub, f"{exc} (key_map maps hpsys's keys to the script's)") from None
        if isinstance(target, dict):
            templates = reader.mapping(sub, target, None)
            if not templates:
                raise reader.index.error(sub, "expected at least one SCRIPT.KEY: template")
            target = tuple((k, reader.template(sub + (k,), _template_text(v))) for k, v in templates.items())
        elif target is not None:
            target = reader.text(sub, target, required=True)
        pairs.append((name, target))
    return tuple(pairs)


def _template_text(value: Any) -> Any:
    """A plain number or bool in a key_map template is its own YAML text."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value) if isinstance(value, (int, float)) else value


def _command(reader: Reader, key: KeyPath, value: Any) -> tuple[str, ...] | None:
    """A list of argument templates; a string is split like a shell would (no shell runs it)."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = shlex.split(value)
        except ValueError as exc:
            raise reader.index.error(key, f"cannot split command: {exc}") from None
    args = reader.sequence(key, value)
    if not args:
        raise reader.index.error(key, "command must not be empty")
    out = []
    for i, arg in enumerate(args):
        if isinstance(arg, (int, float)) and not isinstance(arg, bool):
            arg = str(arg)
        out.append(reader.template(key + (i,), reader.text(key + (i,), arg, required=True)))
    return tuple(out)


def _metric_patterns(reader: Reader, key: KeyPath, value: Any) -> tuple[tuple[str, str], ...]:
    """Metric name -> regex with exactly one group (the number to read)."""
    patterns = []
    for name, pattern in reader.mapping(key, value, None).items():
        sub = key + (name,)
        pattern = reader.text(sub, pattern, required=True)
        try:
            groups = re.compile(pattern).groups
        except re.error as exc:
            raise reader.index.error(sub, f"invalid regex {pattern!r}: {exc}") from None
        if groups != 1:
            raise reader.index.error(sub, f"regex must have exactly one group (the value), got {groups}")
        patterns.append((name, pattern))
    return tuple(patterns)


def _wandb_choice(value: Any) -> Any:
    """``wandb: off`` as written: YAML 1.1 reads a bare ``off`` (or ``no``) as false."""
    return "off" if value is False else value
