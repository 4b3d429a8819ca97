"""Sweep parameter names -> YACS keys.

Sweep files written for reid-strong-baseline-style projects name parameters
the short way (``base_lr``, ``ims_per_batch``); the trial needs the YACS key.
The table below is the documented default; a sweep file extends or overrides
it with a ``parameter_map:`` (alias ``yacs_keys:``) block, and a full YACS key
(``SOLVER.BASE_LR``) is accepted as a parameter name as it is.

======================  ==========================
sweep parameter         YACS key
======================  ==========================
base_lr, lr             SOLVER.BASE_LR
weight_decay            SOLVER.WEIGHT_DECAY
momentum                SOLVER.MOMENTUM
nesterov                SOLVER.NESTEROV
optimizer               SOLVER.OPTIMIZER
max_epochs, epochs      SOLVER.MAX_EPOCHS
warmup_factor           SOLVER.WARMUP_FACTOR
warmup_iters            SOLVER.WARMUP_ITERS
warmup_method           SOLVER.WARMUP_METHOD
scheduler               SOLVER.SCHEDULER
gamma                   SOLVER.GAMMA
grad_clip               SOLVER.GRAD_CLIP
ims_per_batch,          DATALOADER.BATCH_SIZE
batch_size
image_size, input_size  INPUT.SIZE
dropout                 MODEL.DROPOUT
drop_path               MODEL.DROP_PATH
label_smoothing         LOSS.LABEL_SMOOTHING
loss                    LOSS.NAME
margin                  SOLVER.MARGIN  (a user command's key: reid-strong-baseline)
center_loss_weight      SOLVER.CENTER_LOSS_WEIGHT  (idem)
======================  ==========================

Keys outside hpsys's own schema (``config/defaults.py``) cannot be rendered
into the cell's config; they reach a model's own ``command:`` through its
``{{ overrides }}`` argument and are refused for the built-in trainer.
"""

from __future__ import annotations

import functools
from typing import Any, Mapping

from hyperparameter_system.config.yacs_keys import check_override, leaf_keys

__all__ = ["DEFAULT_PARAMETER_MAP", "in_schema", "is_yacs_key", "resolve_key"]

DEFAULT_PARAMETER_MAP: dict[str, str] = {
    "base_lr": "SOLVER.BASE_LR",
    "lr": "SOLVER.BASE_LR",
    "weight_decay": "SOLVER.WEIGHT_DECAY",
    "momentum": "SOLVER.MOMENTUM",
    "nesterov": "SOLVER.NESTEROV",
    "optimizer": "SOLVER.OPTIMIZER",
    "max_epochs": "SOLVER.MAX_EPOCHS",
    "epochs": "SOLVER.MAX_EPOCHS",
    "warmup_factor": "SOLVER.WARMUP_FACTOR",
    "warmup_iters": "SOLVER.WARMUP_ITERS",
    "warmup_method": "SOLVER.WARMUP_METHOD",
    "scheduler": "SOLVER.SCHEDULER",
    "gamma": "SOLVER.GAMMA",
    "grad_clip": "SOLVER.GRAD_CLIP",
    "ims_per_batch": "DATALOADER.BATCH_SIZE",
    "batch_size": "DATALOADER.BATCH_SIZE",
    "image_size": "INPUT.SIZE",
    "input_size": "INPUT.SIZE",
    "dropout": "MODEL.DROPOUT",
    "drop_path": "MODEL.DROP_PATH",
    "label_smoothing": "LOSS.LABEL_SMOOTHING",
    "loss": "LOSS.NAME",
    "margin": "SOLVER.MARGIN",
    "center_loss_weight": "SOLVER.CENTER_LOSS_WEIGHT",
}


def in_schema(key: str) -> bool:
    """True when ``key`` is a settable key of hpsys's own YACS schema."""
    return key in _leaf_set()


@functools.lru_cache(maxsize=1)
def _leaf_set() -> frozenset[str]:
    return frozenset(leaf_keys())


def is_yacs_key(name: str) -> bool:
    """A name that sets itself: a schema key, or dotted upper case (a user command's ``SOLVER.MARGIN``)."""
    return ("." in name and name == name.upper()) or in_schema(name)


def resolve_key(name: str, extra: Mapping[str, str] | None = None) -> str | None:
    """The YACS key a sweep parameter sets, or None when the name maps to nothing.

    The file's own map wins over the default table; a name that is already a
    dotted upper-case key (``SOLVER.BASE_LR``, or a user command's
    ``SOLVER.MARGIN``) is its own key.
    """
    if extra and name in extra:
        return extra[name]
    if name in DEFAULT_PARAMETER_MAP:
        return DEFAULT_PARAMETER_MAP[name]
    if is_yacs_key(name):
        return name
    return None


def check_value(key: str, value: Any) -> Any:
    """Coerce a sampled value to the key's YACS type (keys outside the schema pass as they are).

    Raises:
        ValueError: the value does not fit the key's type (e.g. a float for an int key).
    """
    return check_override(key, value) if in_schema(key) else value
