"""``--sync``: upload the experiment's offline W&B runs (``--dry-run``: list them).

    hpsys --sync --dry-run      # one line per offline run: model, run name, folder
    hpsys --sync                # wandb sync, one invocation per W&B project

For runs trained offline (no login, no network, a cluster whose nodes had
none): on a machine with network, this uploads them. ``wandb sync
output/<experiment>`` alone finds nothing, because every attempt keeps its
run in its own folder; the runs come from the results store instead, from
the W&B run folder each attempt recorded (a user's script that makes its own
run is included when its attempt recorded it). A recorded folder is a child's
word, so it is checked: a folder that is missing or holds no offline run is
named and skipped.

Each project is uploaded with the entity and project the run was made with
(as its run file says; else the cell's project and ``WANDB_ENTITY`` or
``wandb.entity``). A run counts as synced when W&B left its
``run-<id>.wandb.synced`` marker. Exit codes: 0 every run synced (or nothing
to do), 1 some failed, 2 a user error.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from itertools import groupby
from pathlib import Path
from typing import Iterable

from hyperparameter_system.errors import HpsysError
from hyperparameter_system.report.fmt import shown
from hyperparameter_system.report.links import is_online_run_dir
from hyperparameter_system.store import Store, store_path

OFFLINE_PREFIX = "offline-run-"
SYNCED_SUFFIX = ".synced"  # W&B's marker beside a run file it uploaded


@dataclass(frozen=True)
class OfflineRunRef:
    """One offline run to upload, and where it is to go."""

    model: str
    run_name: str
    path: Path
    entity: str
    project: str

    @property
    def synced(self) -> bool:
        """Whether W&B has marked the run file uploaded."""
        return any(self.path.glob(f"run-*.wandb{SYNCED_SUFFIX}"))


def main(args: argparse.Namespace) -> int:
    """List (``--dry-run``) or upload the offline runs; see the module docstring for exit codes."""
    from hyperparameter_system.config.experiment import load_experiment

    spec = load_experiment(args.config)
    path = store_path(spec.output_dir, spec.name)
    if not path.is_file():
        raise HpsysError(f"no results store at {path}: nothing has run yet")
    with Store.open_readonly(path) as store:
        rows = _attempt_rows(store)
    entity = os.environ.get("WANDB_ENTITY") or spec.wandb.entity
    runs = offline_runs(rows, entity)
    if not runs:
        print(f"{spec.name}: no offline W&B runs recorded in {path}")
        return 0
    _print_runs(runs)
    if args.dry_run:
        print(f"{len(runs)} offline run(s); {sum(r.synced for r in runs)} already synced; "
              "`hpsys --sync` uploads the rest")
        return 0
    try:
        return upload(runs)
    except KeyboardInterrupt:  # wandb got the Ctrl-C too; what it finished keeps its marker
        from hyperparameter_system.runner.scheduler import EXIT_INTERRUPTED

        print("interrupted: `hpsys --sync` again uploads the runs not yet synced", file=sys.stderr)
        return EXIT_INTERRUPTED


def _attempt_rows(store: Store) -> list[tuple[str, str, str, str]]:
    """``(model, run_name, project, wandb_run_dir)`` of every attempt that recorded a W&B run."""
    cells = {cell.cell_id: cell for cell in store.cells()}
    rows = []
    for attempt in store.attempts():
        cell = cells.get(attempt.cell_id)
        if cell is not None and attempt.wandb_run_dir:
            rows.append((cell.model, cell.run_name, cell.project, attempt.wandb_run_dir))
    return rows


def offline_runs(rows: Iterable[tuple[str, str, str, str]], entity: str) -> list[OfflineRunRef]:
    """The recorded folders that hold an offline run, each once, sorted by model and run name.

    An online run folder (``run-*``) was uploaded as it ran and is left out
    quietly; anything else that is not an offline run is named on stderr.
    """
    found: dict[Path, OfflineRunRef] = {}
    for model, run_name, project, recorded in rows:
        folder = Path(recorded).absolute()  # absolute: a recorded "-x" can never read as an option
        if is_online_run_dir(str(folder)) or folder in found:
            continue
        problem = _not_offline_run(folder)
        if problem:
            print(f"skipped: {model} {run_name}: {shown(str(folder), 1000)}: {problem}", file=sys.stderr)
            continue
        made_with = _made_with(folder)
        found[folder] = OfflineRunRef(model, run_name, folder, made_with.get("entity") or entity,
                                      made_with.get("project") or project)
    return sorted(found.values(), key=lambda r: (r.model, r.run_name, str(r.path)))


def _not_offline_run(folder: Path) -> str:
    """Why ``folder`` is no offline run folder, or "" when it is one."""
    if not folder.name.startswith(OFFLINE_PREFIX):
        return f"not a W&B offline run folder (its name does not start with {OFFLINE_PREFIX})"
    if not folder.is_dir():
        return "missing" if not folder.exists() else "not a folder"
    if not any(p.is_file() for p in folder.glob("run-*.wandb")):
        return "holds no run-*.wandb file"
    return ""


def _made_with(folder: Path) -> dict[str, str]:
    """The entity and project in the run's own file; {} when it cannot be read."""
    from google.protobuf.message import DecodeError

    from hyperparameter_system.wandb_offline import read_offline_run

    try:
        run = read_offline_run(folder)
    except (HpsysError, OSError, DecodeError, ValueError):
        return {}  # a torn or foreign file: the cell's own project stands
    return {"entity": run.entity, "project": run.project}


def _print_runs(runs: list[OfflineRunRef]) -> None:
    model_w = max(len(r.model) for r in runs)
    name_w = max(len(r.run_name) for r in runs)
    for run in runs:
        mark = "  (synced)" if run.synced else ""
        print(f"{run.model:<{model_w}}  {run.run_name:<{name_w}}  {shown(str(run.path), 1000)}{mark}")


def upload(runs: list[OfflineRunRef]) -> int:
    """``wandb sync`` per (entity, project); one result line per run; 1 when any failed."""
    program = wandb_program()
    failed = 0
    pending = [r for r in runs if not r.synced]
    for run in runs:
        if run.synced:
            print(f"already synced  {run.model} {run.run_name}")
    key = lambda r: (r.entity, r.project)  # noqa: E731 - the grouping key, twice
    for (entity, project), group in groupby(sorted(pending, key=key), key=key):
        members = list(group)
        code, tail = _run_sync(program, entity, project, [r.path for r in members])
        for run in members:
            if run.synced:
                print(f"synced  {run.model} {run.run_name} -> {'/'.join(filter(None, (entity, project)))}")
            else:
                failed += 1
                print(f"failed  {run.model} {run.run_name}: wandb sync exit {code}{tail}")
    print(f"{len(pending) - failed} synced, {failed} failed, {len(runs) - len(pending)} already synced")
    return 1 if failed else 0


def _run_sync(program: str, entity: str, project: str, folders: list[Path]) -> tuple[int, str]:
    """Run one ``wandb sync``; its exit code and, on failure, its last output line."""
    # --opt=value: a name read from a run file can never be taken for another option.
    argv = [program, "sync", f"--project={project}", *([f"--entity={entity}"] if entity else []),
            *map(str, folders)]
    try:
        done = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              stdin=subprocess.DEVNULL, check=False)
    except OSError as error:
        raise HpsysError(f"cannot run {program}: {error.strerror or error}") from None
    lines = [line for line in map(shown, _text(done.stdout).splitlines()) if line]
    for line in lines:
        print(f"  {line}")
    return done.returncode, f" ({lines[-1]})" if done.returncode and lines else ""


def _text(output: bytes | None) -> str:
    return (output or b"").decode("utf-8", "replace")


def wandb_program() -> str:
    """``wandb`` on PATH, else the one installed beside this Python."""
    found = shutil.which("wandb") or str(Path(sys.executable).parent / "wandb")
    if not Path(found).is_file():
        raise HpsysError("wandb is not installed: pip install wandb")
    return found
