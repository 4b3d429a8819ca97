"""``--sweep``: hand one category of one model to a W&B-format sweep.

    hpsys --sweep --models small_cnn --categories optimizer --method bayes --count 20
    hpsys --sweep --models small_cnn --sweep-config sweeps/sweep_lr.yaml --parallel 2
    hpsys --sweep --sweep-id 3kq9zt1c --count 10        # continue (or join) a sweep

Backends: ``wandb`` (a real W&B sweep: ``wandb.sweep`` + ``wandb.agent``; needs
a login), ``local`` (the open-source ``sweeps`` engine, state in the results
store), ``auto`` (wandb only when W&B would run online). Exit codes: 0 every
trial ended completed or early-terminated, 1 some did not, 2 a user error,
130 interrupted.
"""

from __future__ import annotations

import argparse
import dataclasses
import secrets
import shlex
import string
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hyperparameter_system.commands.folders import check_folders
from hyperparameter_system.config.goal import Goal
from hyperparameter_system.config.spec import ExperimentSpec
from hyperparameter_system.errors import HpsysError
from hyperparameter_system.plugin.registry import Registry
from hyperparameter_system.store import Store, store_path

if TYPE_CHECKING:  # imported where used: a sweep's modules cost start-up time the other commands skip
    from hyperparameter_system.sweeps.config import SweepSpec
    from hyperparameter_system.sweeps.state import SweepRecord
    from hyperparameter_system.sweeps.trial import TrialPlanner

_ID_ALPHABET = string.ascii_lowercase + string.digits


def main(args: argparse.Namespace) -> int:
    """Create or continue a sweep and run its trials; see the module docstring."""
    from hyperparameter_system.commands.run import run_options
    from hyperparameter_system.config.experiment import load_experiment
    from hyperparameter_system.plugin.loading import load_plugins_for
    from hyperparameter_system.tracking.wandb_run import resolve_mode

    spec = load_experiment(args.config)
    registry = load_plugins_for(spec)
    mode = resolve_mode(spec.wandb.mode)
    # The controller: a W&B server, or this process; with --backend ray (or execution.backend: ray)
    # the controller is this process and its trials run on the cluster (run_options).
    backend = args.backend if args.backend in ("local", "wandb") else ("wandb" if mode == "online"
                                                                       and args.backend == "auto" else "local")
    if backend == "wandb" and mode != "online":
        raise HpsysError(f"--backend wandb needs W&B online (mode resolves to {mode!r}: log in with"
                         " `wandb login` or set WANDB_API_KEY); --backend local runs without a server")
    check_folders(spec)
    if not args.sweep_id:  # a new sweep: every listed value is checked before anything is written
        from hyperparameter_system.sweeps.precheck import check_new_sweep

        check_new_sweep(spec, registry, *_target(args, spec), sweep_file=args.sweep_config, method=args.method)
    base = run_options(spec, args)  # a bad setting is a user error before the store is written
    with Store.open(store_path(spec.output_dir, spec.name), experiment=spec.name,
                    metric=spec.metric, goal=spec.goal) as store:
        session = _session(args, spec, registry, store, backend)
        options = dataclasses.replace(base, metric=session.sweep.metric, goal=session.sweep.goal,
                                      metrics_every_s=0.2)
        return _run(session, store, options, backend, args)


@dataclasses.dataclass
class _Session:
    sweep_id: str
    sweep: SweepSpec
    planner: TrialPlanner
    record: SweepRecord | None  # None: a W&B sweep not created yet
    count: int | None
    output_root: Path
    joined: bool  # --sweep-id named the sweep


def _session(args: argparse.Namespace, spec: ExperimentSpec, registry: Registry, store: Store,
             backend: str) -> _Session:
    """The sweep to run: the stored one for ``--sweep-id``, else a new one from the sources."""
    from hyperparameter_system.sweeps.sources import resolve_sweep, spec_from_json
    from hyperparameter_system.sweeps.state import SweepState
    from hyperparameter_system.sweeps.trial import TrialPlanner

    state = SweepState(store)
    record = state.sweep(args.sweep_id) if args.sweep_id else None
    if record is not None:
        _same_target(args, record)
        sweep, from_file = spec_from_json(record.spec)
        model, category = record.model, record.category or None
    else:
        if args.sweep_id and backend == "local":
            known = ", ".join(state.sweep_ids()) or "none yet"
            raise HpsysError(f"unknown sweep id {args.sweep_id!r} in {store.path}; known: {known}")
        model, category = _target(args, spec)
        sweep, from_file = resolve_sweep(spec, registry, category, sweep_file=args.sweep_config,
                                         method=args.method)
    count = args.count if args.count is not None else sweep.count
    if count is None and sweep.method != "grid" and backend == "local":
        raise HpsysError(f"--count N is needed for a {sweep.method} sweep (it has no end of its own)")
    sweep_id = args.sweep_id or _new_id()
    root = Path(sweep.results_dir_base) / sweep_id if sweep.results_dir_base else Path(spec.output_dir) / spec.name
    planner = TrialPlanner(spec, registry, model, category, sweep, sweep_id, store.created_at, from_file)
    return _Session(sweep_id, sweep, planner, record, count, root, bool(args.sweep_id))


def _target(args: argparse.Namespace, spec: ExperimentSpec) -> tuple[str, str | None]:
    """The one model and (at most) one category a sweep is about."""
    models = args.models or [m.name for m in spec.models if m.enabled]
    if len(models) != 1:
        raise HpsysError(f"a sweep runs one model: pass --models M (experiment has: "
                         f"{', '.join(m.name for m in spec.models)})")
    if not any(m.name == models[0] for m in spec.models):
        raise HpsysError(f"model {models[0]!r} is not in {spec.source_path}; known: "
                         f"{', '.join(m.name for m in spec.models)}")
    categories = args.categories or []
    if len(categories) > 1:
        raise HpsysError(f"a sweep explores one category, got {len(categories)}: {' '.join(categories)}")
    return models[0], (categories[0] if categories else None)


def _same_target(args: argparse.Namespace, record: Any) -> None:
    for flag, given, stored in (("--models", args.models, record.model),
                                ("--categories", args.categories, record.category)):
        if given and list(given) != [stored]:
            raise HpsysError(f"sweep {record.sweep_id} explores {stored!r}, not {' '.join(given)!r} ({flag})")
    if args.sweep_config or args.method:
        print(f"note: sweep {record.sweep_id} continues with its stored configuration; "
              "--sweep-config/--method are ignored", file=sys.stderr)


def _new_id() -> str:
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(8))


def _run(session: _Session, store: Store, options: Any, backend: str, args: argparse.Namespace) -> int:
    from hyperparameter_system.runner import make_progress
    from hyperparameter_system.sweeps.local import LocalSweep
    from hyperparameter_system.sweeps.state import SweepState

    planner, sweep = session.planner, session.sweep
    if backend == "wandb":
        return _run_cloud(session, store, options)
    record = session.record
    if record is None:
        record = _new_record(session, session.sweep_id, backend)
        SweepState(store).create(record)
    print(f"sweep {record.sweep_id}: {sweep.method} over {', '.join(sweep.parameters)} for {planner.model}"
          f" ({planner.category or 'YACS keys'}), metric {sweep.metric} ({sweep.goal}), "
          f"{'all remaining' if session.count is None else session.count} trial(s), "
          f"{len(options.slots)} at once", flush=True)
    local = LocalSweep(store, record, planner, session.output_root, options, session.count,
                       make_progress(sys.stdout))
    outcome = local.run()
    _print_trials(SweepState(store).trials(record.sweep_id), sweep, outcome.trials)
    where = "" if options.ray is None else f" --backend ray --ray-address {shlex.quote(options.ray.address)}"
    print(f"continue with: hpsys --config {shlex.quote(str(args.config))} --sweep --sweep-id {record.sweep_id}"
          f"{where} [--count N]", flush=True)
    return outcome.exit_code


def _run_cloud(session: _Session, store: Store, options: Any) -> int:
    """Create the W&B sweep (or join ``--sweep-id``) and run this machine's agent."""
    from hyperparameter_system.child_contract import Status
    from hyperparameter_system.matrix.naming import model_safe
    from hyperparameter_system.sweeps.cloud import CloudSweep
    from hyperparameter_system.sweeps.state import SweepState

    planner, sweep, spec = session.planner, session.sweep, session.planner.spec
    cloud = CloudSweep(store, planner, session.output_root, options, project=model_safe(planner.model),
                       entity=spec.wandb.entity)
    sweep_id = session.sweep_id if session.joined else cloud.create(sweep.engine_config())
    state = SweepState(store)
    if state.sweep(sweep_id) is None:
        state.create(_new_record(session, sweep_id, "wandb"))
    print(f"W&B sweep {sweep_id} in project {cloud.project}; join from other machines with"
          f" --sweep --backend wandb --sweep-id {sweep_id}", flush=True)
    cloud.run(sweep_id, session.count)
    trials = state.trials(sweep_id)
    return 0 if all(Status(t.status).finished_ok for t in trials) else 1


def _new_record(session: _Session, sweep_id: str, backend: str) -> Any:
    """The ``sweeps`` row of a sweep started now (the spec kept as JSON, so ``--sweep-id`` reuses it)."""
    from hyperparameter_system.sweeps.sources import spec_to_json
    from hyperparameter_system.sweeps.state import SweepRecord

    planner, sweep = session.planner, session.sweep
    return SweepRecord(sweep_id, planner.spec.name, planner.model, planner.category or "", backend,
                       sweep.method, sweep.engine_config(), spec_to_json(sweep, from_file=planner.from_file),
                       time.time())


def _print_trials(trials: list[Any], sweep: Any, new: list[int]) -> None:
    """One line per trial, best first, marking those run now."""
    if not trials:
        print("no trials yet")
        return
    scored = [t for t in trials if t.best_metric is not None]
    direction = Goal(sweep.goal)
    print(f"{'trial':>5}  {'status':<16} {sweep.metric:>10}  {'epochs':>6}  {'saved':>5}  params")
    for t in sorted(trials, key=lambda t: (t.best_metric is None, direction.order_key(t.best_metric or 0), t.trial)):
        value = f"{t.best_metric:.4f}" if t.best_metric is not None else "-"
        mark = "*" if t.trial in new else " "
        print(f"{t.trial:>4}{mark}  {t.status:<16} {value:>10}  {t.epochs_run or 0:>6}  "
              f"{t.epochs_saved or 0:>5}  {t.params}")
    if any(t.trial in new for t in trials):
        print("* = a trial this command ran (the others ran before)")
    if scored:
        best = direction.best(scored, key=lambda t: t.best_metric)
        print(f"best: trial {best.trial} {sweep.metric}={best.best_metric:.4f} {best.params}")
