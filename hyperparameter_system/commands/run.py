"""The default action: run the selected cells of the matrix (and resume).

``hpsys --all | --models M.. | --categories C..`` plans the matrix with the
store's creation time as ``now`` (so resumed run names are the same), renders
every cell's config, validates every child command before the first cell
starts, then hands the cells to the runner. Exit codes: 0 all selected cells
succeeded, 1 some ended unsuccessful, 2 a user error, 130 interrupted.
"""

from __future__ import annotations

import argparse
import os
import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from hyperparameter_system.matrix.cell import Cell
from hyperparameter_system.commands.dry_run_files import replace_generation
from hyperparameter_system.commands.folders import check_folders, render_configs
from hyperparameter_system.config.spec import ExperimentSpec
from hyperparameter_system.errors import HpsysError
from hyperparameter_system.plugin.loading import ENV_PATH as PLUGIN_PATH_ENV
from hyperparameter_system.runner import (
    ForkServer, PlainProgress, RayOptions, RetryPolicy, RunOptions, Runner, build_argv, make_progress, make_slots)
from hyperparameter_system.store import Store, store_path

if TYPE_CHECKING:
    from hyperparameter_system.plugin.registry import Registry
    from hyperparameter_system.runner.cluster import AgentPool
    from hyperparameter_system.runner.ray_connect import NoNodeFits


def main(args: argparse.Namespace) -> int:
    """Run the selected cells; see the module docstring for exit codes."""
    if not (args.all or args.models or args.categories):
        raise HpsysError("nothing selected: pass --all, --models M.. or --categories C.. "
                         "(or --matrix to see the plan)")
    from hyperparameter_system.config.experiment import load_experiment

    spec = load_experiment(args.config)
    options = run_options(spec, args)
    root = Path(spec.output_dir) / spec.name
    progress = make_progress(sys.stdout)
    forks = ForkServer(root, progress.event, options.exit_report_s)
    agents = agent_pool(options)
    try:
        return _run(args, spec, options, root, progress, forks, agents)
    finally:
        forks.close()  # an error before the first launch leaves no server importing (nor Ray agent idle) behind
        if agents is not None:
            agents.close()


def _run(args: argparse.Namespace, spec: ExperimentSpec, options: RunOptions, root: Path, progress: PlainProgress,
         forks: ForkServer, agents: AgentPool | None) -> int:
    """Plan, check, record and run the cells (``main`` owns the fork server and the Ray agents)."""
    from hyperparameter_system.plugin.loading import load_plugins_for

    registry = load_plugins_for(spec)
    plan = planner(spec, registry, args)
    path = store_path(spec.output_dir, spec.name)
    # Run names carry the store's creation time, so a resume names cells as before.
    now = Store.peek_created_at(path) or datetime.now().replace(microsecond=0)
    cells = plan(now)
    # Every user error (bad option, broken command template) surfaces here,
    # before the store or any config file is written.
    check_commands(cells, root)
    check_folders(spec)
    begin_fork_server(forks, cells, registry, options, fresh=not path.exists())
    begin_agents(agents, cells, options, fresh=not path.exists())
    with Store.open(path, experiment=spec.name, metric=spec.metric, goal=spec.goal, created_at=now) as store:
        if store.created_at != now.astimezone():  # another runner created the store meanwhile
            cells = plan(store.created_at)
        render_configs(cells, spec, registry)  # all or nothing
        # A dry run before the first run named its files by its own minute: they go.
        replace_generation(cells, Path(spec.temp_config_dir))
        # Registered up front so a summary taken mid-run shows the cells still pending.
        store.register_cells(cells)
        shared = sum(1 for c in cells if c.same_as)  # never launched: an identical cell trains for them
        note = f" ({len(cells) - shared} train, {shared} shared)" if shared else ""
        print(f"{spec.name}: {len(cells)} cell(s) selected{note}, {len(options.slots)} slot(s) "
              f"[{', '.join(s.label for s in options.slots)}], store {store.path}", flush=True)
        report = Runner(store, root, options, progress, forks=forks, agents=agents).run(cells)
    _print_totals(report.statuses, shared)
    return report.exit_code


def begin_fork_server(forks: ForkServer, cells: list[Cell], registry: Registry, options: RunOptions, *,
                      fresh: bool) -> None:
    """Tell the fork server what the plan's models import; begin its imports now when a fresh run
    will train built-in cells here.

    Every user error is behind us (the server writes its log into the output
    folder); its seconds of imports then overlap the store's set-up, rendering
    and the runner's checks instead of following them. A resumed run may have
    nothing left to train: its server begins at the first launch, if any.
    """
    trained = [cell for cell in cells if cell.command is None and not cell.same_as]
    forks.idle_imports = idle_imports(trained, registry)
    if fresh and options.ray is None and trained:
        forks.begin()


def agent_pool(options: RunOptions) -> AgentPool | None:
    """The run's idle Ray node agents (None on the local backend)."""
    if options.ray is None:
        return None
    from hyperparameter_system.runner.cluster import AgentPool

    return AgentPool()


def begin_agents(agents: AgentPool | None, cells: list[Cell], options: RunOptions, *, fresh: bool) -> None:
    """Ask Ray now for an agent per slot the plan's cells of the default resources will fill at once,
    when a fresh run will launch them: the workers start while the store is set up and the configs are
    rendered. No more than the cells: an idle agent holds its resources (a GPU) from other users."""
    if agents is None or options.ray is None or not fresh:
        return
    ray = options.ray
    default = [cell for cell in cells if not cell.same_as and ray.for_model(cell.model) == ray.resources]
    agents.prestart(ray.resources, min(len(default), len(options.slots)))


def idle_imports(cells: list[Cell], registry: Registry) -> tuple[str, ...]:
    """The heavy modules these built-in cells' trainers will import: their model families' own
    (``ModelSpec.imports``), and torchvision when a cell reads image files (digits stay in memory)."""
    wanted: set[str] = set()
    for cell in cells:
        wanted.update(registry.model_family(cell.model).imports)
        if cell.config is not None and cell.config.value("DATASETS.NAME") != "digits":
            wanted.add("torchvision")
    return tuple(sorted(wanted, key=lambda name: (name != "torchvision", name)))  # timm builds on torchvision


def run_options(spec: ExperimentSpec, args: argparse.Namespace) -> RunOptions:
    """Execution settings from the file, overridden by the command line."""
    from hyperparameter_system.tracking.wandb_run import resolve_mode

    execution = spec.execution
    parallel = args.parallel if getattr(args, "parallel", None) is not None else execution.parallel
    devices = getattr(args, "devices", None) or execution.devices
    timeout = args.timeout if getattr(args, "timeout", None) is not None else execution.timeout_s
    ray = ray_options(spec, args)
    if ray is not None:
        from hyperparameter_system.runner.ray_connect import NoNodeFits, cluster_slots, connect

        connect(ray.address)
        try:
            slots = cluster_slots(ray, getattr(args, "parallel", None))
        except NoNodeFits as error:
            raise _located(spec, error) from None
    else:
        slots = tuple(make_slots(devices, parallel))
    return RunOptions(
        slots=slots,
        ray=ray,
        timeout_s=float(timeout or 0.0),
        policy=RetryPolicy(retries=execution.retries, min_batch_size=execution.min_batch_size),
        rerun=getattr(args, "rerun", None),
        wandb_mode=resolve_mode(spec.wandb.mode),
        metric=spec.metric,
        goal=spec.goal,
        extra_env=((PLUGIN_PATH_ENV, plugin_path(spec)),),
    )


def _located(spec: ExperimentSpec, error: NoNodeFits) -> HpsysError:
    """The ask no node meets, at its line of the experiment file (as the file's own errors are)."""
    if spec.lines is None:
        return error
    if error.model is None:
        return spec.lines.error(("execution", "resources_per_cell"), error.reason)
    index = next(i for i, model in enumerate(spec.models) if model.name == error.model)
    return spec.lines.error(("models", index, "resources"), error.reason)


def ray_options(spec: ExperimentSpec, args: argparse.Namespace) -> RayOptions | None:
    """Where cells run: on a Ray cluster (``--backend ray``, or ``execution.backend: ray`` unless
    ``--backend local``), else None: on this machine."""
    backend = getattr(args, "backend", "auto")
    if backend == "wandb" and not getattr(args, "sweep", False):
        raise HpsysError("--backend wandb runs a sweep's controller on a W&B server: use it with --sweep; "
                         "cells of a matrix run with --backend local or ray")
    given = getattr(args, "ray_address", None)
    if given is not None and not given.strip():
        raise HpsysError("--ray-address: empty; give the cluster's HOST:PORT (or leave the flag out for "
                         "RAY_ADDRESS, else auto)")
    if backend == "local" or (backend != "ray" and spec.execution.backend != "ray"):
        if given:
            raise HpsysError("--ray-address applies to the Ray backend only: add --backend ray "
                             "(or set execution.backend: ray)")
        return None
    if getattr(args, "devices", None):
        raise HpsysError("--devices does not apply to the Ray backend: Ray hands out GPUs by "
                         "execution.resources_per_cell (and a model's resources)")
    address = given or os.environ.get("RAY_ADDRESS") or "auto"
    execution = spec.execution
    return RayOptions(address=address, shared_storage=execution.shared_storage,
                      resources=dict(execution.resources_per_cell),
                      model_resources={m.name: dict(m.resources) for m in spec.models if m.resources})


def plugin_path(spec: ExperimentSpec) -> str:
    """The experiment's plugin folders, so a child started anywhere builds the same models."""
    from hyperparameter_system.plugin.loading import experiment_plugin_folders

    return os.pathsep.join(str(folder) for folder in experiment_plugin_folders(spec))


def planner(spec: ExperimentSpec, registry: Registry,
            args: argparse.Namespace) -> Callable[[datetime], list[Cell]]:
    """Plan the selected cells at a given ``now`` (the store's creation time on resume)."""
    from hyperparameter_system import hyperparameter_configs as matrix

    def plan(now: datetime) -> list[Cell]:
        return list(matrix.plan_matrix(spec, registry, models=args.models, categories=args.categories,
                                       now=now, repeats=getattr(args, "repeats", None)))

    return plan


def check_commands(cells: list[Cell], root: Path) -> None:
    """Render every child command now: a broken template fails before hours of work."""
    for cell in cells:
        build_argv(cell, root / "check")


def _print_totals(statuses: dict[str, str], shared: int) -> None:
    counts: dict[str, int] = {}
    for status in statuses.values():
        counts[status] = counts.get(status, 0) + 1
    line = "done: " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) if counts else "done: nothing to run"
    print(line + (f"; {shared} shared (an identical cell trained for them)" if shared else ""))
