"""How to run attempts: the resolved ``execution:`` settings plus CLI overrides.

Shared by the scheduler and the attempt lifecycle, so a matrix run, a local
sweep and a W&B agent follow their children under the same timeout, grace,
polling and lease.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from hyperparameter_system.matrix.cell import Cell
from hyperparameter_system.child_contract import metric_env
from hyperparameter_system.config.values import env_seconds
from hyperparameter_system.errors import HpsysError
from hyperparameter_system.runner._devices import Slot
from hyperparameter_system.runner._retry import RetryPolicy
from hyperparameter_system.runner.warm import ENV_EXIT_REPORT, EXIT_REPORT_TIMEOUT_S
from hyperparameter_system.store import DEFAULT_LEASE_S

ENV_LEASE = "HPSYS_LEASE_S"  # seconds a running attempt's lease lasts unless renewed (the default: 120)
MAX_LEASE_S = 86400.0  # a longer lease would keep a dead remote runner's cells from ever being resumed
# Called with (cell, attempt id, all metrics records so far); True stops the cell
# as early_terminated (the sweep engine's hyperband hook).
StopRule = Callable[[Cell, int, list[dict[str, Any]]], bool]


def lease_seconds(environ: Mapping[str, str]) -> float:
    """How long a running attempt's lease lasts: ``HPSYS_LEASE_S``, else the store's default.

    A runner renews its leases four times per lease; another runner (and the
    summary) takes an attempt whose lease ran out for one whose runner died.
    """
    value = env_seconds(environ, ENV_LEASE, _quoted)
    if value is None:
        return DEFAULT_LEASE_S
    if value > MAX_LEASE_S:
        raise HpsysError(f"{ENV_LEASE}: at most {MAX_LEASE_S:.0f} seconds (a day), "
                         f"got {_quoted(environ[ENV_LEASE].strip())}")
    return value


def exit_report_seconds(environ: Mapping[str, str]) -> float:
    """How long a child's end may go unreported by a live fork server before the runner takes it for
    stuck: ``HPSYS_EXIT_REPORT_S``, else the warm start's default (read with the run's other settings,
    so a bad value is refused before anything is written)."""
    return env_seconds(environ, ENV_EXIT_REPORT, _quoted) or EXIT_REPORT_TIMEOUT_S


def _quoted(raw: str) -> str:
    return repr(raw[:40])


@dataclass(frozen=True)
class RayOptions:
    """Where cells run with ``backend: ray``: the cluster, the storage, each cell's resources.

    Attributes:
        address: The cluster to join (``auto``: the one started on this machine).
        shared_storage: ``auto`` (look whether a node sees the driver's output
            folder), ``yes`` or ``no`` (copy results back from every node).
        resources: What a cell asks of Ray, e.g. ``{"GPU": 1, "CPU": 4}``.
        model_resources: A model's own ask, where it has one (model -> resources).
    """

    address: str = "auto"
    shared_storage: str = "auto"
    resources: Mapping[str, float] = field(default_factory=lambda: {"CPU": 1.0})
    model_resources: Mapping[str, Mapping[str, float]] = field(default_factory=dict)

    def for_model(self, model: str) -> Mapping[str, float]:
        return self.model_resources.get(model) or self.resources


@dataclass(frozen=True)
class RunOptions:
    """How to run: the resolved ``execution:`` settings plus CLI overrides."""

    slots: tuple[Slot, ...]
    timeout_s: float = 0.0
    policy: RetryPolicy = RetryPolicy()
    rerun: str | None = None  # None | "failed" | "all"
    wandb_mode: str = "offline"
    metric: str = "val/acc"
    goal: str = "maximize"
    grace_s: float = 10.0
    poll_s: float = 0.1
    metrics_every_s: float = 1.0
    lease_s: float = field(default_factory=lambda: lease_seconds(os.environ))
    exit_report_s: float = field(default_factory=lambda: exit_report_seconds(os.environ))
    # Variables every child gets besides its cell's own: the experiment's plugin
    # folders (HPSYS_PLUGIN_PATH), a sweep's id (HPS_SWEEP_ID).
    extra_env: tuple[tuple[str, str], ...] = ()
    ray: RayOptions | None = None  # None: every child runs on this machine

    def child_env(self) -> tuple[tuple[str, str], ...]:
        """What every child of this run gets besides its cell's own variables: ``extra_env`` and the
        metric it is ranked by (HPS_METRIC / HPS_GOAL), the same for the scheduler and a W&B agent."""
        return (*self.extra_env, *metric_env(self.metric, self.goal))
