"""Plugin loading: built-in folders, extra plugin folders and entry points, once per process.

Built-in categories and models come in through the same door as a user's:
every ``*.py`` in a plugin folder is loaded by file path under a private
module name (never as a top-level package ``categories`` / ``models``, which
would clash with the user's own code), every ``*.yaml`` in a folder other than
``models/`` is a YAML-only category, and installed packages join through the
entry-point group ``hyperparameter_system``. ``models/*.yaml`` are model
profiles (base configs), not plugins.

Where the folders are, all of them adding up: this checkout's ``categories/``
and ``models/`` (the built-ins); then ``categories/`` and ``models/`` next to
the experiment file; then the experiment's ``plugin_dirs``; then
``HPSYS_PLUGIN_PATH`` (``os.pathsep``-separated), which is how a child process
started elsewhere finds the same folders. A folder reached twice (the checkout
*is* the experiment's folder) loads once; a name two folders define is a
start-up error naming both files. For model profiles (``models/*.yaml``) the
most specific folder wins: an experiment's own profile over the checkout's.

Limiting (tox-style): ``HPSYS_DISABLE_PLUGINS=a,b`` skips plugins by name (file
stem or entry-point name); ``HPSYS_PLUGINS=a,b`` loads only these entry-point
plugins (built-in folders always load).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, Callable, Iterable, Sequence

import pluggy

from hyperparameter_system import hookspecs
from hyperparameter_system.errors import ConfigError, PluginError
from hyperparameter_system.plugin.registry import Registry
from hyperparameter_system.plugin.yaml_category import load_yaml_category

if TYPE_CHECKING:
    from hyperparameter_system.config.spec import ExperimentSpec

__all__ = ["CHECKOUT_ROOT", "clear_cache", "experiment_plugin_folders", "load_plugins", "load_plugins_for",
           "plugin_folders"]

CHECKOUT_ROOT = Path(__file__).resolve().parents[2]
ENTRY_POINT_GROUP = hookspecs.PROJECT_NAME
ENV_DISABLE = "HPSYS_DISABLE_PLUGINS"
ENV_ONLY = "HPSYS_PLUGINS"
ENV_PATH = "HPSYS_PLUGIN_PATH"
_BUILTIN_FOLDERS = ("categories", "models")

_cache: dict[tuple[Any, ...], Registry] = {}


def plugin_folders(experiment_dir: str | Path | None = None, plugin_dirs: Sequence[str | Path] = ()) -> list[Path]:
    """The plugin folders to load, in order, without duplicates.

    Args:
        experiment_dir: Folder of the experiment file; its ``categories/`` and
            ``models/`` add to the checkout's.
        plugin_dirs: Extra folders (``experiment.plugin_dirs``).
    """
    roots = [CHECKOUT_ROOT, *([Path(experiment_dir)] if experiment_dir else [])]
    folders = [(root / name).resolve() for root in roots for name in _BUILTIN_FOLDERS
               if (root / name).is_dir()]
    extra = [p for p in os.environ.get(ENV_PATH, "").split(os.pathsep) if p]
    for folder in (*plugin_dirs, *extra):
        resolved = Path(folder).expanduser().resolve()
        if not resolved.is_dir():
            raise PluginError(f"plugin folder not found: {folder}")
        folders.append(resolved)
    return list(dict.fromkeys(folders))


def load_plugins(search_dirs: Sequence[str | Path] | None = None, *, entry_points: bool = True) -> Registry:
    """Load every plugin once per process and return the filled registry.

    Args:
        search_dirs: Plugin folders; None means :func:`plugin_folders` () (the checkout's).
        entry_points: Also load installed entry-point plugins.

    Raises:
        PluginError: an unloadable file, a misspelt hook, a duplicate name.
        ConfigError: a YAML category file with a mistake.
    """
    folders = plugin_folders() if search_dirs is None else [Path(d).resolve() for d in search_dirs]
    key = (tuple(folders), entry_points, os.environ.get(ENV_DISABLE, ""), os.environ.get(ENV_ONLY, ""))
    if key not in _cache:
        _cache[key] = _load(folders, entry_points)
    return _cache[key]


def experiment_plugin_folders(spec: ExperimentSpec) -> list[Path]:
    """One experiment's plugin folders: the checkout's, those next to its file, then its ``plugin_dirs``."""
    experiment_dir = Path(spec.source_path).resolve().parent if spec.source_path else None
    return plugin_folders(experiment_dir, spec.plugin_dirs)


def load_plugins_for(spec: ExperimentSpec) -> Registry:
    """The registry for one experiment (see :func:`experiment_plugin_folders`)."""
    return load_plugins(experiment_plugin_folders(spec))


def clear_cache() -> None:
    """Forget loaded registries (tests that change folders or the environment)."""
    _cache.clear()


def _names(variable: str) -> set[str]:
    return {n.strip() for n in os.environ.get(variable, "").split(",") if n.strip()}


def _load(folders: Iterable[Path], entry_points: bool) -> Registry:
    folders = list(folders)
    manager = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    manager.add_hookspecs(hookspecs)
    disabled = _names(ENV_DISABLE)
    # Profiles: the most specific folder first (an experiment's own over the checkout's).
    registry = Registry(model_dirs=[f for f in reversed(folders) if f.name == "models"])
    yaml_categories = []
    for folder in folders:
        for path in sorted(folder.iterdir()):
            if path.stem in disabled or path.name.startswith(("_", ".")):
                continue
            if path.suffix == ".py":
                _register(manager, _import_file(path), str(path))
            elif path.suffix in (".yaml", ".yml") and folder.name != "models":
                yaml_categories.append(path)
    if entry_points:
        _load_entry_points(manager, disabled)
    try:
        manager.check_pending()
    except pluggy.PluginValidationError as exc:
        raise PluginError(f"{getattr(exc.plugin, '__file__', exc.plugin)}: {exc}") from None
    _call(manager, "register_categories", registry.add_category)
    for path in yaml_categories:
        registry.add_category(load_yaml_category(path), str(path))
    _call(manager, "register_models", registry.add_model_family)
    registry.check_models()
    return registry


def _call(manager: pluggy.PluginManager, hook: str, add: Callable[[Any, str], None]) -> None:
    """Call each implementation with a ``register`` bound to its source, in load order.

    Load order (built-in folders, extra folders, entry points) decides which of
    two duplicates is named first in the error.
    """
    for impl in getattr(manager.hook, hook).get_hookimpls():
        def register(item: Any, _source: str = impl.plugin_name) -> None:
            add(item, _source)
        try:
            impl.function(register=register)
        except (PluginError, ConfigError):
            raise
        except Exception as exc:  # a plugin's bug: name it, keep the cause
            raise PluginError(f"{impl.plugin_name}: {hook} failed: {type(exc).__name__}: {exc}") from exc


def _register(manager: pluggy.PluginManager, plugin: Any, name: str) -> None:
    try:
        manager.register(plugin, name=name)
    except (pluggy.PluginValidationError, ValueError) as exc:
        raise PluginError(f"{name}: {exc}") from None


def _import_file(path: Path) -> ModuleType:
    """Import one plugin file under a private, path-derived module name."""
    digest = hashlib.sha256(str(path).encode()).hexdigest()[:10]
    module_name = f"_hpsys_plugin_{digest}_{path.stem}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise PluginError(f"{path}: cannot be imported as a plugin")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # dataclasses and pickling look modules up by name
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[module_name]
        raise PluginError(f"{path}: failed to load plugin: {type(exc).__name__}: {exc}") from exc
    return module


def _load_entry_points(manager: pluggy.PluginManager, disabled: set[str]) -> None:
    only = _names(ENV_ONLY)
    for entry in sorted(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        if entry.name in disabled or (only and entry.name not in only):
            continue
        try:
            plugin = entry.load()
        except Exception as exc:
            raise PluginError(f"entry point {entry.name} ({entry.value}): failed to load: {exc}") from exc
        if manager.is_registered(plugin):
            continue
        _register(manager, plugin, f"entry point {entry.name} ({entry.value})")
