"""A cell: one (model, category, option) of the matrix, ready to run.

Cells are plain frozen data made by the matrix generator and consumed by the
runner, sweeps and reports. They carry everything a child process needs except
the attempt-specific bits (attempt number, W&B run id, device slot).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Mapping

if TYPE_CHECKING:
    from hyperparameter_system.matrix.planned_config import PlannedConfig

BASELINE = "baseline"  # the category name of a model's baseline cell
# hpsys's own keys of the batch size and gradient accumulation (the OOM retry's);
# a model with its own schema has them under the names its key_map gives.
BATCH_KEY = "DATALOADER.BATCH_SIZE"
ACCUM_KEY = "SOLVER.GRAD_ACCUM"
EPOCHS_KEY = "SOLVER.MAX_EPOCHS"


@dataclass(frozen=True)
class Cell:
    """One runnable unit of the matrix.

    Attributes:
        cell_id: Stable hash of model, category, canonical option and rendered config.
        experiment: Experiment name.
        model: Model name as written by the user, e.g. ``resnet50.tv2_in1k``.
        category: Category name, or ``baseline``.
        option: The canonical option (JSON-compatible); None for the baseline.
        option_label: Human label of the option, e.g. ``AdamW_lr0.001_wd0.001``.
        run_name: Sanitized ``{prefix}_{label}_{yymmddHHMM}``; unique in the matrix.
        project: W&B project (the model name made safe).
        group: W&B group (the category).
        tags: W&B tags.
        config_path: The rendered YACS config this cell's child reads.
        overrides: The YACS key/value pairs this cell sets over the model profile
            (experiment overrides then the option), for user commands.
        command: The model's own command template, or None for the built-in trainer.
        metric_patterns: ``(metric name, regex)`` pairs for a user command's output.
        cwd: Folder the child starts in ("" = the runner's own).
        env: ``(name, jinja2 template)`` pairs of extra environment for a user command.
        wandb_logging: Who makes the W&B run of a user command: ``runner``,
            ``script`` or ``off`` (the built-in trainer logs itself).
        batch_key: The key of the batch size in the config the child reads
            (``DATALOADER.BATCH_SIZE``, or the script's name for it); "" when
            an out-of-memory retry cannot halve it (``batch_note`` says why).
        accum_key: The key of gradient accumulation, likewise.
        batch_size: The batch size this cell trains with, as planned.
        grad_accum: The gradient accumulation steps this cell trains with, as planned.
        batch_note: Why the batch cannot be halved ("" when it can).
        repeat: Which training of the option this is (0..repeats-1); repeat 0
            is the cell as it was before repeats existed (same id and names).
        seed: The seed this cell trains with (the model's SEED + repeat), None
            when the model's config has no seed hpsys can read.
        same_as: The id of an identical cell (same training config) this one
            reuses instead of training; "" when it trains itself.
        max_epochs: ``SOLVER.MAX_EPOCHS`` of the config the child reads, as
            planned; None when that config has no such whole number (a script's schema).
        sweep_id: The sweep this cell is a trial of ("" for a matrix cell).
        trial: Its trial number in that sweep (None for a matrix cell).
        fingerprint: Hash of the training config (what shared cells compare).
        config: The planned config (in memory only: the rendered file is its
            record, and a cell read back from the store has none).

    A cell read back from the store (``Store.cells()``, or an ``attempt.json``
    when a store is rebuilt) holds the fields the store keeps (identity, option,
    names, config path, repeat, seed, same_as, max_epochs); the launch-only
    fields (tags, overrides, command, metric patterns, cwd, env, batch keys,
    sweep, fingerprint) stay at their defaults: they are the plan's, not the record's.
    """

    cell_id: str
    experiment: str
    model: str
    category: str
    option: Any
    option_label: str
    run_name: str
    project: str
    group: str
    tags: tuple[str, ...]
    config_path: str
    overrides: tuple[tuple[str, Any], ...] = ()
    command: tuple[str, ...] | None = None
    metric_patterns: tuple[tuple[str, str], ...] = ()
    cwd: str = ""
    env: tuple[tuple[str, str], ...] = ()
    wandb_logging: str = "runner"
    batch_key: str = ""
    accum_key: str = ""
    batch_size: int = 0
    grad_accum: int = 1
    batch_note: str = ""
    repeat: int = 0
    seed: int | None = None
    same_as: str = ""
    max_epochs: int | None = None
    sweep_id: str = ""
    trial: int | None = None
    fingerprint: str = ""
    config: PlannedConfig | None = field(default=None, compare=False, repr=False)

    @property
    def is_baseline(self) -> bool:
        return self.category == BASELINE

    @classmethod
    def planned(cls, fields: Mapping[str, Any]) -> Cell:
        """A cell from its fields, built as the generated ``__init__`` would without its frozen
        assignment of each field one by one (a plan builds 10,000 cells).

        Raises:
            TypeError: a name that is no field, or a field without a default missing.
        """
        names = fields.keys()
        if not (names >= _REQUIRED and names <= _NAMES):
            raise TypeError(f"Cell fields missing: {sorted(_REQUIRED - names)}, unknown: {sorted(names - _NAMES)}")
        cell = object.__new__(cls)
        cell.__dict__.update(_DEFAULTS)
        cell.__dict__.update(fields)
        return cell


_DEFAULTS = {f.name: f.default for f in dataclasses.fields(Cell) if f.default is not dataclasses.MISSING}
_NAMES = frozenset(f.name for f in dataclasses.fields(Cell))
_REQUIRED = _NAMES - _DEFAULTS.keys()
