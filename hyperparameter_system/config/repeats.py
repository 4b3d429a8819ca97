"""Repeats: one cell trained N times with consecutive seeds, so a difference can be told from noise.

Repeat 0 is the cell exactly as it is planned without repeats (same id, run
name and config), so ``repeats: 1`` changes nothing and an existing store
resumes. Repeat r >= 1 trains with the model's seed + r: set in hpsys's config
for the built-in trainer and a command without ``schema:``, and sent through
``key_map`` for a model with its own schema. A model whose seed cannot reach
its script would train the same N times, so repeats of it are refused at plan
time.
"""

from __future__ import annotations

from typing import Any

from hyperparameter_system.config.script_plan import ScriptPlan
from hyperparameter_system.matrix.naming import MAX_NAME_LENGTH, safe_name

__all__ = ["SEED_KEY", "base_seed", "config_value", "repeat_run_name", "seed_problem"]

SEED_KEY = "SEED"  # hpsys's seed setting (config/defaults.py)


def repeat_run_name(name: str, repeat: int) -> str:
    """The run name of a repeat: repeat 0 keeps ``name``, repeat r ends in ``_r{r}`` (never cut off)."""
    if not repeat:
        return name
    suffix = f"_r{repeat}"
    return safe_name(name, MAX_NAME_LENGTH - len(suffix)) + suffix


def base_seed(hpsys_seed: int, script: ScriptPlan | None) -> int | None:
    """The seed repeat 0 trains with; None when the model's script has no seed hpsys can name.

    For a model with its own schema that is the script's own seed setting
    (its default, or what its base_config and the overrides made it), so
    repeat r trains with exactly that + r. A seed reshaped by a key_map
    template starts from hpsys's SEED.
    """
    if script is None:
        return hpsys_seed
    target, _ = script.plain_target(SEED_KEY)
    if target:
        value = config_value(script.base, target)
        return value if type(value) is int else None
    return hpsys_seed if script.key_map.get(SEED_KEY) is not None else None


def seed_problem(script: ScriptPlan | None) -> str | None:
    """Why repeats of this model would all train alike (its seed never reaches the script), or None."""
    if script is None:
        return None
    if SEED_KEY in script.key_map and script.key_map[SEED_KEY] is None:
        return f"key_map drops {SEED_KEY} (null)"
    target, why = script.plain_target(SEED_KEY)
    if not target and SEED_KEY not in script.key_map:
        return why
    if base_seed(0, script) is None:
        return f"its seed setting {target} is {config_value(script.base, target)!r}, not a whole number"
    return None


def config_value(node: Any, key: str) -> Any:
    """The value at dotted ``key`` of a (nested) config, None where a level is missing."""
    for part in key.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return node
