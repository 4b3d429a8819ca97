"""The plugin contract: two hooks, each handed a ``register`` callback.

Built-in categories and models come in through these hooks exactly like a
user's file dropped into ``categories/`` / ``models/`` or a package exposing
an entry point in the group ``hyperparameter_system``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

import pluggy

if TYPE_CHECKING:
    from hyperparameter_system.category import BaseCategory
    from hyperparameter_system.model_spec import ModelSpec

PROJECT_NAME = "hyperparameter_system"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec
def register_categories(register: Callable[["BaseCategory"], None]) -> None:
    """Register category plugins by calling ``register(category)`` once per category.

    Args:
        register: Adds one category; a name already registered is an error.
    """


@hookspec
def register_models(register: Callable[["ModelSpec"], None]) -> None:
    """Register model families by calling ``register(spec)`` once per family.

    Args:
        register: Adds one model family; a family name already registered, or a
            model name two families both claim, is an error.
    """
