"""hpsys: a plugin-based, multi-model hyperparameter experiment matrix runner for PyTorch.

The map (README, "The code"): ``config`` reads the experiment file; ``plugin``
loads categories and models; ``hyperparameter_configs`` plans every cell once
(over ``matrix``) and renders its config; ``runner`` launches and follows each
attempt through one lifecycle; ``train`` (over ``training``) or a project's own
script (``user_command``) trains it; ``store`` records it; ``report`` answers;
``sweeps`` runs one category as a sweep; ``commands`` are the CLI's actions.
A plugin author needs only ``hookspecs``, ``category``, ``model_spec``,
``option_fields``, ``errors`` and, for a script of their own, ``child_contract``.

Imports point one way: ``config`` and ``plugin`` know nothing of the runner;
planning never imports torch or wandb; the trainer knows only its config and
the child contract; the CLI sits on top.
"""

__version__ = "0.1.0"
