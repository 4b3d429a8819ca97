"""Load a run config from file + command line and check it before anything runs.

A user's mistake (unknown key, wrong type, unknown optimizer name, lr <= 0)
becomes one :class:`ConfigError` line ``path:line: KEY: reason`` and exit code
2, before an output folder exists. Lines are found by composing the YAML, so
the message points at the offending line of the file the user edits.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from hyperparameter_system.config.values import first_problem
from hyperparameter_system.config.yaml_source import load_yaml_with_lines
from hyperparameter_system.errors import ConfigError, HpsysError
from hyperparameter_system.tracking.wandb_run import flatten_config

if TYPE_CHECKING:
    from yacs.config import CfgNode


def load_config(config_file: str | None, opts: Sequence[str]) -> Any:
    """Defaults <- ``config_file`` <- ``KEY VALUE`` pairs, checked, not yet frozen.

    Raises:
        ConfigError: Unknown key, wrong type, odd number of pairs, or a bad value.
    """
    from hyperparameter_system.config.defaults import get_cfg_defaults

    cfg = get_cfg_defaults()
    where = config_file or "<command line>"
    if config_file:
        if not Path(config_file).is_file():
            raise ConfigError(config_file, 0, "", "config file not found")
        try:
            cfg.merge_from_file(config_file)
        except (KeyError, ValueError, AssertionError) as exc:
            raise _yacs_error(config_file, exc) from None
        except Exception as exc:  # YAML syntax: the parser's first line names the spot
            raise ConfigError(config_file, 0, "", str(exc).splitlines()[0]) from None
    if len(opts) % 2:
        raise ConfigError("<command line>", 0, "", f"KEY VALUE pairs expected, got an odd count: {' '.join(opts)}")
    try:
        cfg.merge_from_list(list(opts))
    except (KeyError, ValueError, AssertionError) as exc:
        raise _yacs_error("<command line>", exc) from None
    check_config(cfg, where, command_line=opts[0::2])
    return cfg


def check_config(cfg: CfgNode, path: str, command_line: Sequence[str] = ()) -> None:
    """Check names and ranges (the rules of ``config/values.py``, which the planner
    runs too); the first problem raises, located where its value came from.

    Args:
        cfg: The merged config.
        path: The config file (or ``<command line>``).
        command_line: Keys set by ``KEY VALUE`` pairs: they won over the file,
            so their errors point at the command line, not at the file's line.
    """

    def error(key: str, reason: str) -> ConfigError:
        if key in command_line:
            return ConfigError("<command line>", 0, key, reason)
        return ConfigError(path, line_of(path, key), key, reason)

    problem = first_problem(flatten_config(cfg))
    if problem is not None:
        raise error(*problem)


def line_of(path: str, dotted_key: str) -> int:
    """1-based line of ``dotted_key`` in the YAML file ``path`` (else of the mapping
    that should hold it), or 0 when ``path`` is no readable YAML file."""
    try:
        _, lines = load_yaml_with_lines(path)
    except HpsysError:  # the command line, or a file that is not YAML: no line to give
        return 0
    return lines.line_of(tuple(dotted_key.split(".")))


def _yacs_error(path: str, exc: Exception) -> ConfigError:
    """Turn yacs's messages into ``path:line: KEY: reason``."""
    text = str(exc.args[0]) if exc.args else str(exc)
    unknown = re.search(r"Non-existent (?:config )?key: (\S+)", text)
    if unknown:
        key = unknown.group(1)
        return ConfigError(path, line_of(path, key), key, "no such config key")
    typed = re.search(r"Type mismatch \((.+?) vs\. (.+?)\) with values \((.*) vs\. (.*)\) for config key: (\S+)", text)
    if typed:
        key = typed.group(5)
        reason = f"expected a value like {typed.group(3)}, got {typed.group(4)!r}"
        return ConfigError(path, line_of(path, key), key, reason)
    return ConfigError(path, 0, "", text)
