"""Weights & Biases: the run a training process makes, and offline runs read back.

``wandb_run`` is used inside a child (mode, naming, logging, never failing the
run); ``offline`` reads an offline run's file back (``--sync`` and the tests).
"""
