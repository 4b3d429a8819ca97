"""Sweep mode: one category of one model handed to a W&B-format sweep.

Public face (submodules are one concept each):

* :mod:`~hyperparameter_system.sweeps.space` - W&B parameter forms: check, and check draws;
* :mod:`~hyperparameter_system.sweeps.config` - :class:`SweepSpec` from a file or a block;
* :mod:`~hyperparameter_system.sweeps.yacs_map` - sweep parameter names -> YACS keys;
* :mod:`~hyperparameter_system.sweeps.sources` - which sweep to run (file, block, plugin);
* :mod:`~hyperparameter_system.sweeps.trial` - a sampled point -> a rendered trial cell;
* :mod:`~hyperparameter_system.sweeps.engine` - the ``sweeps`` engine (next_run, stop_runs);
* :mod:`~hyperparameter_system.sweeps.state` - the ``sweeps`` / ``sweep_trials`` tables;
* :mod:`~hyperparameter_system.sweeps.local` - the local controller (engine + runner);
* :mod:`~hyperparameter_system.sweeps.cloud` - the W&B server controller (wandb.sweep + agent).

Nothing here imports torch; wandb only inside the cloud controller.
"""

from __future__ import annotations

from hyperparameter_system.sweeps.config import SweepSpec, hyperband_bands, load_sweep_file, parse_sweep
from hyperparameter_system.sweeps.space import ParameterError, contains, normalize_parameters
from hyperparameter_system.sweeps.yacs_map import DEFAULT_PARAMETER_MAP, resolve_key

__all__ = ["DEFAULT_PARAMETER_MAP", "ParameterError", "SweepSpec", "contains", "hyperband_bands",
           "load_sweep_file", "normalize_parameters", "parse_sweep", "resolve_key"]
