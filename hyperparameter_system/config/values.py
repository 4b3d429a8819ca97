"""The value rules of the built-in trainer's config, in one torch-free place.

The trainer checks its config before anything runs (``training/validate.py``)
and the planner checks every cell's config before the first cell starts
(``matrix.context``): both call :func:`first_problem` here, so a rule exists
once and ``--matrix`` refuses exactly what the child would refuse. The names
the trainer accepts (optimizers, schedulers, losses, datasets, metrics) are
defined here too; the torch modules that implement them import these tuples.
Nothing here imports torch.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

from hyperparameter_system.config.goal import GOALS
from hyperparameter_system.errors import HpsysError
from hyperparameter_system.tracking.wandb_run import MODES

__all__ = ["AMP_DTYPES", "DATASET_NAMES", "LOSS_NAMES", "OPTIMIZER_EXTRAS", "OPTIMIZER_NAMES", "SCHEDULER_NAMES",
           "TRAINER_METRICS", "WARMUP_METHODS", "first_problem", "value_problem"]

# Each optimizer's SOLVER settings besides BASE_LR and WEIGHT_DECAY: the one list of
# optimizers, read by the optimizer category, the trainer and the value checks.
OPTIMIZER_EXTRAS: dict[str, tuple[str, ...]] = {"AdamW": ("betas",), "Adam": ("betas",),
                                                "SGD": ("momentum", "nesterov")}
OPTIMIZER_NAMES = tuple(OPTIMIZER_EXTRAS)
SCHEDULER_NAMES = ("none", "CosineAnnealingLR", "OneCycleLR", "StepLR", "MultiStepLR")
WARMUP_METHODS = ("linear", "constant")
AMP_DTYPES = ("float16", "bfloat16")
LOSS_NAMES = ("CrossEntropyLoss", "FocalLoss", "LabelSmoothingLoss")
DATASET_NAMES = ("digits", "imagefolder", "csv")
# What the built-in trainer's evaluator produces (and can rank, stop early and
# checkpoint on): ``val/`` + the ignite metric names attached in training/engine.py.
TRAINER_METRICS = ("val/acc", "val/f1", "val/loss")

# key -> allowed values.
_CHOICES: dict[str, tuple[str, ...]] = {
    "SOLVER.OPTIMIZER": OPTIMIZER_NAMES,
    "SOLVER.SCHEDULER": SCHEDULER_NAMES,
    "SOLVER.WARMUP_METHOD": WARMUP_METHODS,
    "SOLVER.AMP_DTYPE": AMP_DTYPES,
    "LOSS.NAME": LOSS_NAMES,
    "DATASETS.NAME": DATASET_NAMES,
    "METRIC.NAME": TRAINER_METRICS,
    "METRIC.GOAL": GOALS,
    "WANDB.MODE": MODES,
}
# key -> (low, low allowed, high or None, high allowed).
_RANGES: dict[str, tuple[float, bool, float | None, bool]] = {
    "SOLVER.BASE_LR": (0.0, False, None, False),
    "SOLVER.MAX_EPOCHS": (1, True, None, False),
    "SOLVER.GRAD_ACCUM": (1, True, None, False),
    "SOLVER.WEIGHT_DECAY": (0.0, True, None, False),
    "SOLVER.GRAD_CLIP": (0.0, True, None, False),
    "SOLVER.WARMUP_ITERS": (0, True, None, False),
    "DATALOADER.BATCH_SIZE": (1, True, None, False),
    "DATALOADER.NUM_WORKERS": (0, True, None, False),
    "INPUT.SIZE": (1, True, None, False),
    "INPUT.HFLIP_PROB": (0.0, True, 1.0, True),
    "INPUT.ROTATION_DEG": (0.0, True, None, False),
    "MODEL.DROPOUT": (0.0, True, 1.0, False),
    "DATASETS.VAL_FRACTION": (0.0, False, 1.0, False),
    "EVAL_PERIOD": (1, True, None, False),
    "LOG_PERIOD": (1, True, None, False),
    "EARLY_STOPPING.PATIENCE": (1, True, None, False),
    "CHECKPOINT.N_SAVED": (1, True, None, False),
}
_TRIPLES = ("INPUT.PIXEL_MEAN", "INPUT.PIXEL_STD")


def value_problem(key: str, value: Any) -> str | None:
    """Why ``value`` is not allowed for the dotted ``key``, or None when it is (or no rule exists)."""
    if key in _CHOICES and value not in _CHOICES[key]:
        return f"must be one of {', '.join(_CHOICES[key])}, got {value!r}"
    if key in _RANGES and isinstance(value, (int, float)) and not isinstance(value, bool):
        low, low_ok, high, high_ok = _RANGES[key]
        too_low = value < low or (value == low and not low_ok)
        too_high = high is not None and (value > high or (value == high and not high_ok))
        if value != value or too_low or too_high:
            return f"must be {_describe(low, low_ok, high, high_ok)}, got {value!r}"
    if key in _TRIPLES and isinstance(value, (list, tuple)) and len(value) != 3:
        return f"needs 3 values (one per RGB channel), got {len(value)}"
    return None


def first_problem(values: Mapping[str, Any]) -> tuple[str, str] | None:
    """The first ``(key, reason)`` among flat dotted ``values`` that breaks a rule, in rule order.

    Only the keys present are checked, so the planner can check just the keys a
    category option changed.
    """
    for key in (*_CHOICES, *_RANGES, *_TRIPLES):
        if key in values:
            reason = value_problem(key, values[key])
            if reason is not None:
                return key, reason
    return None


def _describe(low: float, low_ok: bool, high: float | None, high_ok: bool) -> str:
    if high is None:
        return f"{'>=' if low_ok else '>'} {low}"
    return f"in {'[' if low_ok else '('}{low}, {high}{']' if high_ok else ')'}"


def env_seconds(environ: Mapping[str, str], name: str, show: Callable[[str], str]) -> float | None:
    """Seconds set by the environment variable ``name``: None when unset or blank.

    The environment is the user's input: anything but a finite number > 0 is a
    one-line error naming the variable and what it held (``show`` cuts it to a line).
    """
    raw = environ.get(name, "").strip()
    if not raw:
        return None
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 < value < float("inf"):
        raise HpsysError(f"{name}: must be a number of seconds > 0, got {show(raw)}")
    return value
