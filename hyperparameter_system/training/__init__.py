"""The built-in trainer's parts: data, model, solver, the ignite engine and its handlers.

The engine (``engine.py``) knows nothing of add-ons; evaluation, early
stopping, checkpoints, the non-finite guard, SIGTERM handling, progress and
logging live in ``handlers.py`` / ``signals.py`` and attach themselves.
``run.py`` wires them together for ``python -m hyperparameter_system.train``.
"""
