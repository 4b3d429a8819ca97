"""The trainer's single path to a network: the plugin registry.

The trainer builds whatever ``MODEL.NAME`` names through the same registry
the planner uses, so a user's model file in ``models/`` trains exactly like
the built-in ones.
"""

from __future__ import annotations

from typing import Any


def model_registry() -> Any:
    """The loaded plugin registry (``build_model``, ``model_family``)."""
    from hyperparameter_system.plugin.loading import load_plugins

    return load_plugins()
