"""BaseCategory: what a category plugin is (one axis of the experiment matrix).

A category turns one option (a scalar or a dict the user writes in
``experiment_config.yaml``) into config changes. Everything here is pure and
cheap: no torch, no I/O, so planning 10,000 cells stays instant.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, Mapping

if TYPE_CHECKING:
    from yacs.config import CfgNode


class BaseCategory(ABC):
    """One experiment category (optimizer, scheduler, loss_function, ...).

    Subclasses set ``name`` (the key in ``experiment_config.yaml``), ``prefix``
    (the start of run names, e.g. ``opt``) and ``description``.

    ``default_options`` are the options the category brings itself, in
    canonical form. A category with some joins the matrix even when the
    experiment file does not name it, and ``name: {enabled: true}`` without
    options runs them: dropping a file into ``categories/`` is enough. A YAML
    category reads them from its file; most Python plugins leave them empty
    and take their options from the experiment file.
    """

    name: str = ""
    prefix: str = ""
    description: str = ""
    default_options: tuple[Any, ...] = ()

    @abstractmethod
    def validate(self, option: Any) -> Any:
        """Check one option and return its canonical form (JSON-compatible, sorted keys).

        Raises:
            ValueError: with a message naming the field, the rule and the value,
                e.g. ``"lr must be > 0, but got lr=-0.1"``. The caller adds file:line.
        """

    @abstractmethod
    def apply(self, cfg: CfgNode, option: Any) -> None:
        """Apply a canonical option to an unfrozen YACS config clone, in place."""

    @abstractmethod
    def label(self, option: Any) -> str:
        """A short readable label for run names, e.g. ``AdamW_lr0.001_wd0.001``."""

    def sweep_parameters(self) -> dict[str, Any]:
        """This category's search space in W&B sweep syntax (the ``parameters`` block).

        Parameter names are the option's own field names, so that
        :meth:`option_from_sweep` can turn a sampled point back into an option.
        """
        return {}

    def option_from_sweep(self, params: Mapping[str, Any]) -> Any:
        """Turn one sampled sweep point into an option for validate().

        Sweeps may nest the fields under the category name (``{optimizer: {lr: ..}}``)
        or give them flat (``{lr: ..}``); both read as the flat dict of fields.
        """
        inner = params.get(self.name)
        return dict(inner) if isinstance(inner, Mapping) and len(params) == 1 else dict(params)
