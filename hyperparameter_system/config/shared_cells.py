"""Shared cells: cells of one model whose training config is identical train once.

An option equal to the default (``SGD`` with momentum 0.9 when the profile
already says so) renders to the baseline's training; training it again costs
a cell and adds nothing. The planner fingerprints each cell's config without
what only names the run (output folder, run name, W&B group and tags: the
cell id's volatile keys plus these), from the config it built, never from a
rendered file. The first cell of a fingerprint in plan order (the baseline
first) trains; the others point to it through ``same_as``.

The fingerprint is taken of what differs from a reference config of the same
model (its first cell's): equal configs differ from it alike, and a few keys
hash in a fraction of the time of the whole config (10,000 cells plan in
seconds).
"""

from __future__ import annotations

import hashlib
from typing import AbstractSet, Any, Callable, Mapping, Sequence

from hyperparameter_system.config.script_plan import ScriptPlan

__all__ = ["NAMING_KEYS", "shared_targets", "training_fingerprint"]

# hpsys keys that name a run rather than shape its training (besides the id's volatile keys).
NAMING_KEYS = ("WANDB.GROUP", "WANDB.TAGS")


def training_fingerprint(model: str, stable: Mapping[str, Any], reference: Mapping[str, Any],
                         script: ScriptPlan | None, encode: Callable[[Any], str]) -> str:
    """A hash of what the model trains with: ``stable`` (flat config, volatile keys gone) minus naming keys.

    Args:
        model: The model's name (two models never share a cell).
        stable: The cell's flat config without the volatile keys.
        reference: A flat config of the same model (the same keys); only the
            values that differ from it are hashed.
        script: The model's script side; its key_map may route the naming
            keys into the script's own settings, which are left out too.
        encode: The planner's single text form of a value (``canonical_json``).
    """
    dropped: AbstractSet[str] = _NAMING
    if script is not None:
        dropped = set()
        for key in NAMING_KEYS:
            target = script.key_map.get(key)
            dropped |= {target} if isinstance(target, str) else {name for name, _ in target or ()}
    # Equal and of one type: 1, 1.0 and True are different settings (inline: 10,000 cells x every key).
    differs = {k: v for k, v in stable.items()
               if k not in dropped and (type(ref := reference.get(k, _NONE)) is not type(v) or ref != v)}
    return hashlib.sha256(encode([model, differs]).encode()).hexdigest()


_NONE = object()  # a key the reference lacks
_NAMING = frozenset(NAMING_KEYS)


def shared_targets(fingerprints: Sequence[str], cell_ids: Sequence[str]) -> list[str]:
    """Per cell, the id of the first cell with its fingerprint ("" for that first one itself)."""
    first: dict[str, str] = {}
    targets = []
    for fingerprint, cell_id in zip(fingerprints, cell_ids):
        target = first.setdefault(fingerprint, cell_id)
        targets.append("" if target == cell_id else target)
    return targets
