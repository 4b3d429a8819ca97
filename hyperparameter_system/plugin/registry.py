"""The registries of categories and model families that plugins fill at start-up.

A name registered twice is refused at once, naming both sources (timm's
registry warns and overwrites; a silently replaced optimizer category would
corrupt a week of runs). Looking up a name nobody registered lists the known
ones with a did-you-mean. Nothing here imports torch: building a network is
delegated to the family's ``build``, which imports what it needs.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

from hyperparameter_system.category import BaseCategory
from hyperparameter_system.errors import PluginError, UnknownNameError, did_you_mean
from hyperparameter_system.model_spec import ModelSpec
from hyperparameter_system.matrix.naming import safe_name

if TYPE_CHECKING:
    from yacs.config import CfgNode

__all__ = ["Registry"]


class Registry:
    """Every category and model family the loaded plugins registered.

    Attributes:
        model_dirs: ``models/`` folders searched, used to find model profiles.
    """

    def __init__(self, model_dirs: Iterable[Path] = ()) -> None:
        self._categories: dict[str, tuple[BaseCategory, str]] = {}
        self._families: dict[str, tuple[ModelSpec, str]] = {}
        self._model_index: dict[str, str] | None = None
        self.model_dirs: tuple[Path, ...] = tuple(model_dirs)

    # ------------------------------------------------------------ categories
    def add_category(self, category: BaseCategory, source: str) -> None:
        """Register one category; ``source`` names the plugin (file or entry point)."""
        if not isinstance(category, BaseCategory):
            raise PluginError(f"{source}: register_categories registered {category!r}, not a BaseCategory")
        name, prefix = category.name, category.prefix
        if not name or safe_name(name) != name:
            raise PluginError(f"{source}: category name {name!r} must be non-empty and use only [A-Za-z0-9._-]")
        if not prefix or safe_name(prefix) != prefix:
            raise PluginError(f"{source}: category {name!r} prefix {prefix!r} must use only [A-Za-z0-9._-]")
        if name == "baseline":
            raise PluginError(f"{source}: the category name 'baseline' is reserved")
        if name in self._categories:
            first = self._categories[name][1]
            raise PluginError(f"category {name!r} registered twice: by {first} and by {source}")
        self._categories[name] = (category, source)

    @property
    def categories(self) -> dict[str, BaseCategory]:
        """Registered categories by name, sorted by name."""
        return {name: self._categories[name][0] for name in sorted(self._categories)}

    def category(self, name: str) -> BaseCategory:
        """The category called ``name``; UnknownNameError lists the known ones."""
        try:
            return self._categories[name][0]
        except KeyError:
            known = sorted(self._categories)
            raise UnknownNameError(f"Unknown category {name!r}{did_you_mean(name, known)}; "
                                   f"known: {', '.join(known) or '(none)'}") from None

    def category_source(self, name: str) -> str:
        """Which plugin registered ``name`` (for messages)."""
        self.category(name)
        return self._categories[name][1]

    # ---------------------------------------------------------------- models
    def add_model_family(self, spec: ModelSpec, source: str) -> None:
        """Register one model family; its model names are checked when the index is built."""
        if not isinstance(spec, ModelSpec):
            raise PluginError(f"{source}: register_models registered {spec!r}, not a ModelSpec")
        if spec.family in self._families:
            first = self._families[spec.family][1]
            raise PluginError(f"model family {spec.family!r} registered twice: by {first} and by {source}")
        self._families[spec.family] = (spec, source)
        self._model_index = None

    @property
    def model_families(self) -> dict[str, ModelSpec]:
        """Registered model families by family name, sorted."""
        return {name: self._families[name][0] for name in sorted(self._families)}

    def check_models(self) -> None:
        """Build the model-name index now, so two families claiming one name fail at start-up."""
        self._index()

    def _index(self) -> dict[str, str]:
        if self._model_index is None:
            index: dict[str, str] = {}
            for family in sorted(self._families):
                spec, source = self._families[family]
                for model in spec.names():
                    if model in index and index[model] != family:
                        other = self._families[index[model]][1]
                        raise PluginError(f"model {model!r} claimed by two families: "
                                          f"{index[model]!r} ({other}) and {family!r} ({source})")
                    index[model] = family
            self._model_index = index
        return self._model_index

    def model_names(self) -> list[str]:
        """Every registered model name, sorted."""
        return sorted(self._index())

    def has_model(self, name: str) -> bool:
        return name in self._index()

    def model_family(self, name: str) -> ModelSpec:
        """The family that builds model ``name``; UnknownNameError suggests close names."""
        index = self._index()
        if name not in index:
            families = ", ".join(sorted(self._families)) or "(none)"
            raise UnknownNameError(f"Unknown model {name!r}{did_you_mean(name, index)}; "
                                   f"known families: {families} ({len(index)} models)")
        return self._families[index[name]][0]

    def build_model(self, name: str, num_classes: int, cfg: CfgNode) -> Any:
        """Build the network for ``name`` (the trainer's single path to a model)."""
        return self.model_family(name).build(name, num_classes, cfg)
