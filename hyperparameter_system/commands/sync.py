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
``run-<id>.wandb.synced`` marker. Each ``wandb sync`` has a deadline that
grows with the runs it uploads (a stalled network must not hang the command
for ever); past it, its whole process group is stopped and its runs read
``failed (wandb sync timed out after N s)``. Exit codes: 0 every run synced
(or none recorded), 1 some failed or every recorded folder was skipped, 2 a
user error, 130 Ctrl-C.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from itertools import groupby
from pathlib import Path
from typing import Iterable

from hyperparameter_system.config.values import env_seconds
from hyperparameter_system.errors import HpsysError
from hyperparameter_system.report.fmt import shown
from hyperparameter_system.report.links import is_online_run_dir
from hyperparameter_system.store import Store, store_path

OFFLINE_PREFIX = "offline-run-"
SYNCED_SUFFIX = ".synced"  # W&B's marker beside a run file it uploaded
# One `wandb sync` may take this long, plus so much per run it uploads, before it is stopped.
SYNC_BASE_S, SYNC_PER_RUN_S = 120.0, 60.0
ENV_SYNC_TIMEOUT = "HPSYS_SYNC_TIMEOUT_S"  # a fixed deadline per invocation instead, in seconds
STOP_GRACE_S = 5.0  # SIGTERM to SIGKILL, for a wandb sync past its deadline or Ctrl-C


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
    deadline = sync_deadline_override()  # before anything runs: a bad value is a user error
    skipped: Counter[str] = Counter()
    runs = offline_runs(rows, entity, skipped)
    if not runs and skipped:  # the lines above named each; nothing was uploaded
        reasons = ", ".join(f"{n} {why}" for why, n in sorted(skipped.items()))
        print(f"nothing to upload: {sum(skipped.values())} recorded run folder(s) skipped ({reasons})")
        return 1
    if not runs:
        print(f"{spec.name}: no offline W&B runs recorded in {path}")
        return 0
    _print_runs(runs)
    if args.dry_run:
        print(f"{len(runs)} offline run(s); {sum(r.synced for r in runs)} already synced; "
              "`hpsys --sync` uploads the rest")
        return 0
    try:
        return upload(runs, deadline)
    except KeyboardInterrupt:  # wandb's group is stopped already; what it finished keeps its marker
        from hyperparameter_system.runner import EXIT_INTERRUPTED

        print("interrupted: `hpsys --sync` again uploads the runs not yet synced", file=sys.stderr)
        return EXIT_INTERRUPTED


def _attempt_rows(store: Store) -> list[tuple[str, str, str, str]]:
    """``(model, run_name, project, wandb_run_dir)`` of every attempt that recorded a W&B run."""
    cells = {record.cell.cell_id: record.cell for record in store.cells()}
    rows = []
    for attempt in store.attempts():
        cell = cells.get(attempt.cell_id)
        if cell is not None and attempt.wandb_run_dir:
            rows.append((cell.model, cell.run_name, cell.project, attempt.wandb_run_dir))
    return rows


def offline_runs(rows: Iterable[tuple[str, str, str, str]], entity: str,
                 skipped: Counter[str] | None = None) -> list[OfflineRunRef]:
    """The recorded folders that hold an offline run, each once, sorted by model and run name.

    An online run folder (``run-*``) was uploaded as it ran and is left out
    quietly; anything else that is not an offline run is named on stderr and
    counted in ``skipped`` by its reason.
    """
    found: dict[Path, OfflineRunRef] = {}
    refused: set[Path] = set()
    for model, run_name, project, recorded in rows:
        folder = Path(recorded).absolute()  # absolute: a recorded "-x" can never read as an option
        if is_online_run_dir(str(folder)) or folder in found or folder in refused:
            continue
        problem = _not_offline_run(folder)
        if problem:
            refused.add(folder)
            print(f"skipped: {model} {run_name}: {shown(str(folder), 1000)}: {problem}", file=sys.stderr)
            if skipped is not None:
                skipped[problem.split(" (")[0]] += 1
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

    from hyperparameter_system.tracking.offline import read_offline_run

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


def upload(runs: list[OfflineRunRef], deadline_s: float | None = None) -> int:
    """``wandb sync`` per (entity, project); one result line per run; 1 when any failed.

    ``deadline_s`` fixes each invocation's deadline; None scales it with the runs it uploads.
    """
    program = wandb_program()
    failed = 0
    pending = [r for r in runs if not r.synced]
    for run in runs:
        if run.synced:
            print(f"already synced  {run.model} {run.run_name}")
    key = lambda r: (r.entity, r.project)  # noqa: E731 - the grouping key, twice
    for (entity, project), group in groupby(sorted(pending, key=key), key=key):
        members = list(group)
        limit = deadline_s if deadline_s is not None else SYNC_BASE_S + SYNC_PER_RUN_S * len(members)
        why = _run_sync(program, entity, project, [r.path for r in members], limit)
        for run in members:
            if run.synced:
                print(f"synced  {run.model} {run.run_name} -> {'/'.join(filter(None, (entity, project)))}")
            else:
                failed += 1
                print(f"failed  {run.model} {run.run_name}: {why}")
    print(f"{len(pending) - failed} synced, {failed} failed, {len(runs) - len(pending)} already synced")
    return 1 if failed else 0


def sync_deadline_override() -> float | None:
    """The fixed deadline ``HPSYS_SYNC_TIMEOUT_S`` sets, or None to scale with the runs."""
    return env_seconds(os.environ, ENV_SYNC_TIMEOUT, shown)


def _run_sync(program: str, entity: str, project: str, folders: list[Path], deadline_s: float) -> str:
    """Run one ``wandb sync`` in its own session; why a run it left unmarked failed.

    Its own session: past the deadline or on Ctrl-C the whole group (wandb and
    the service it starts) is stopped, not only the process we started.
    """
    # --opt=value: a name read from a run file can never be taken for another option.
    argv = [program, "sync", f"--project={project}", *([f"--entity={entity}"] if entity else []),
            *map(str, folders)]
    try:
        child = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                 stdin=subprocess.DEVNULL, start_new_session=True)
    except OSError as error:
        raise HpsysError(f"cannot run {program}: {error.strerror or error}") from None
    timed_out = False
    try:
        output, _ = child.communicate(timeout=deadline_s)
    except subprocess.TimeoutExpired:
        timed_out = True
        output = _stop(child)
    except KeyboardInterrupt:
        _stop(child)
        raise
    lines = [line for line in map(shown, _text(output).splitlines()) if line]
    for line in lines:
        print(f"  {line}")
    return _failure(child.returncode, lines, deadline_s if timed_out else None)


def _stop(child: subprocess.Popen[bytes]) -> bytes:
    """SIGTERM the child's group, SIGKILL it after a grace; what it printed."""
    from hyperparameter_system.runner import group_alive, signal_group

    signal_group(child.pid, signal.SIGTERM)
    output = b""
    for last in (False, True):
        try:
            output, _ = child.communicate(timeout=STOP_GRACE_S)
            break
        except subprocess.TimeoutExpired:
            signal_group(child.pid, signal.SIGKILL)
            if last:  # something outside the group holds its output open: stop reading it
                child.kill()
                child.wait()
    signal_group(child.pid, signal.SIGKILL)  # what of the group outlived its leader
    limit = time.monotonic() + STOP_GRACE_S
    while group_alive(child.pid) and time.monotonic() < limit:
        time.sleep(0.05)
    return output or b""


def _failure(code: int, lines: list[str], timed_out_after: float | None) -> str:
    """The reason a run that is not marked synced failed, as its result line says it."""
    if timed_out_after is not None:
        return f"wandb sync timed out after {timed_out_after:g} s"
    if code < 0:
        return f"wandb sync killed by signal {-code}"
    if code == 0:  # it said it succeeded, but left no marker: not an upload
        return "wandb sync reported success but left no .synced marker" + (f" ({lines[-1]})" if lines else "")
    return f"wandb sync exit {code}" + (f" ({lines[-1]})" if lines else "")


def _text(output: bytes | None) -> str:
    return (output or b"").decode("utf-8", "replace")


def wandb_program() -> str:
    """``wandb`` on PATH, else the one installed beside this Python."""
    found = shutil.which("wandb") or str(Path(sys.executable).parent / "wandb")
    if not Path(found).is_file():
        raise HpsysError("wandb is not installed: pip install wandb")
    return found
