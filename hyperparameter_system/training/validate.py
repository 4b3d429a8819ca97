"""Load a run config from file + command line and check it before anything runs.

A user's mistake (unknown key, wrong type, unknown optimizer name, lr <= 0)
becomes one :class:`ConfigError` line ``path:line: KEY: reason`` and exit code
2, before an output folder exists. Lines are found by composing the YAML, so
the message points at the offending line of the file the user edits.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Sequence

from hyperparameter_system.config.yaml_source import load_yaml_with_lines
from hyperparameter_system.errors import ConfigError, HpsysError
from hyperparameter_system.training.data import DATASET_NAMES
from hyperparameter_system.training.device import AMP_DTYPES
from hyperparameter_system.training.losses import LOSS_NAMES
from hyperparameter_system.training.optim import OPTIMIZER_NAMES, SCHEDULER_NAMES, WARMUP_METHODS
from hyperparameter_system.wandb_integration import MODES

# (key, allowed values) checked by name; the modules that use them own the lists.
_CHOICES: dict[str, tuple[str, ...]] = {
    "SOLVER.OPTIMIZER": OPTIMIZER_NAMES,
    "SOLVER.SCHEDULER": SCHEDULER_NAMES,
    "SOLVER.WARMUP_METHOD": WARMUP_METHODS,
    "SOLVER.AMP_DTYPE": AMP_DTYPES,
    "LOSS.NAME": LOSS_NAMES,
    "DATASETS.NAME": DATASET_NAMES,
    "METRIC.NAME": ("val/acc", "val/f1", "val/loss"),
    "METRIC.GOAL": ("maximize", "minimize"),
    "WANDB.MODE": MODES,
}
# (key, smallest allowed value, whether the bound itself is allowed).
_MINIMA: tuple[tuple[str, float, bool], ...] = (
    ("SOLVER.BASE_LR", 0.0, False),
    ("SOLVER.MAX_EPOCHS", 1, True),
    ("SOLVER.GRAD_ACCUM", 1, True),
    ("SOLVER.WEIGHT_DECAY", 0.0, True),
    ("SOLVER.GRAD_CLIP", 0.0, True),
    ("SOLVER.WARMUP_ITERS", 0, True),
    ("DATALOADER.BATCH_SIZE", 1, True),
    ("DATALOADER.NUM_WORKERS", 0, True),
    ("INPUT.SIZE", 1, True),
    ("EVAL_PERIOD", 1, True),
    ("LOG_PERIOD", 1, True),
    ("EARLY_STOPPING.PATIENCE", 1, True),
    ("CHECKPOINT.N_SAVED", 1, True),
)


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


def check_config(cfg: Any, path: str, command_line: Sequence[str] = ()) -> None:
    """Check names and ranges; the first problem raises, located where its value came from.

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

    for key, allowed in _CHOICES.items():
        value = _get(cfg, key)
        if value not in allowed:
            raise error(key, f"must be one of {', '.join(allowed)}, got {value!r}")
    for key, low, inclusive in _MINIMA:
        value = _get(cfg, key)
        if value < low or (value == low and not inclusive):
            rule = ">=" if inclusive else ">"
            raise error(key, f"must be {rule} {low}, got {value!r}")
    fraction = cfg.DATASETS.VAL_FRACTION
    if not 0.0 < fraction < 1.0:
        raise error("DATASETS.VAL_FRACTION", f"must be between 0 and 1, got {fraction}")
    if len(cfg.INPUT.PIXEL_MEAN) != 3 or len(cfg.INPUT.PIXEL_STD) != 3:
        raise error("INPUT.PIXEL_MEAN", "PIXEL_MEAN and PIXEL_STD need 3 values each")


def line_of(path: str, dotted_key: str) -> int:
    """1-based line of ``dotted_key`` in the YAML file ``path`` (else of the mapping
    that should hold it), or 0 when ``path`` is no readable YAML file."""
    try:
        _, lines = load_yaml_with_lines(path)
    except HpsysError:  # the command line, or a file that is not YAML: no line to give
        return 0
    return lines.line_of(tuple(dotted_key.split(".")))


def _get(cfg: Any, dotted_key: str) -> Any:
    node = cfg
    for part in dotted_key.split("."):
        node = node[part]
    return node


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
