"""hpsys: a plugin-based, multi-model hyperparameter experiment matrix runner for PyTorch.

The package is split so that imports point one way: ``config`` and the plugin
machinery know nothing of the runner; planning (``hyperparameter_configs``)
never imports torch or wandb; the trainer knows only its config and the child
contract; the CLI sits on top.
"""

__version__ = "0.1.0"
