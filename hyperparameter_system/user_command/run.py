"""A user's own training command as a cell's child: tee, parse, contract files, W&B.

A script that knows nothing of hpsys (reid-strong-baseline's ``tools/train.py``,
a ``./run_b3.sh``) prints its metrics; this wrapper runs it as its own child,
copies its output to the cell's log as it comes, reads ``metric_patterns`` line
by line, appends each evaluation to ``metrics.jsonl`` and writes ``result.json``,
so the runner reads every cell through one contract. Without patterns the
script writes those files itself; the wrapper passes its output and exit
through and only follows its ``metrics.jsonl``. With ``--wandb runner`` it
also makes the cell's W&B run (the same project, name, group, tags and config a
built-in cell gets) and logs each evaluation as it appears; W&B trouble never
fails the cell, and wandb is not even imported for ``script``, ``off`` or a
disabled mode.

The command stays in the wrapper's process group, so the runner's group-wide
SIGTERM and SIGKILL reach it as they reach a built-in trainer; a stop signal sent
to the wrapper alone is passed on to it, one sent to the group is not (the
command has it already; :mod:`.group_probe` tells the two apart).

    python -m hyperparameter_system.user_command [--patterns JSON] [--wandb runner|script|off]
        [--config PATH] -- COMMAND [ARG ...]
"""

from __future__ import annotations

import argparse
import collections
import json
import math
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Sequence

from hyperparameter_system import child_contract as cc
from hyperparameter_system.child_contract import Status
from hyperparameter_system.files.child_files import read_child_file
from hyperparameter_system.files.child_output import PatternParser, last_meaningful_line, last_output_line, signal_death
from hyperparameter_system.config.goal import Goal
from hyperparameter_system.user_command import MODULE
from hyperparameter_system.user_command.group_probe import GroupProbe

WANDB_CHOICES = ("runner", "script", "off")
TAIL_LINES = 200  # output lines kept for the error text
DRAIN_S = 2.0  # after the command exited, how long its leftovers may hold the pipe open
FOLLOW_S = 1.0  # how often the script's own metrics.jsonl is read for W&B (no patterns)
_MAX_PARTIAL = 1 << 20  # an unterminated line (progress bars redraw with \r) is cut here
EXIT_BY_STATUS = {status: code for code, status in reversed(list(cc.STATUS_BY_EXIT_CODE.items()))}


class CommandRun:
    """One run of the user's command: its evaluations so far and how it ended."""

    def __init__(self, argv: list[str], patterns: Sequence[tuple[str, str]], out: Path,
                 metric: str, goal: Goal) -> None:
        self.argv, self.out = argv, out
        self.parser = PatternParser(patterns)
        names = [name for name, _ in patterns]
        self.metric = metric if metric in names or not names else names[0]
        self.goal = goal
        self.best: float | None = None
        self.best_epoch: int | None = None
        self.last: dict[str, Any] = {}
        self.nonfinite: str | None = None
        self.tail: collections.deque[str] = collections.deque(maxlen=TAIL_LINES)
        self.stop_signal: str | None = None
        self.proc: subprocess.Popen[bytes] | None = None
        self.probe: GroupProbe | None = None
        # With patterns the evaluations are the wrapper's to write; without, the script writes them.
        self.sinks: list[Any] = [lambda record: cc.append_jsonl(out / cc.METRICS_FILE, record)] if patterns else []
        self.followed = 0  # lines of the script's own metrics.jsonl passed to the sinks (no patterns)
        self.started = time.monotonic()

    def on_signal(self, signum: int, _frame: Any) -> None:
        """Remember the stop; pass the first one on unless it was sent to the group (the command has it)."""
        if self.stop_signal is None:
            self.stop_signal = signal.Signals(signum).name
            if self.proc is not None and not (self.probe is not None and self.probe.group_got(signum)):
                _send(self.proc.pid, signum)

    def start(self, wandb_logging: str) -> None:
        """Start the command; raises OSError when it cannot be started.

        Unless the script makes the W&B run itself (``script``), its own wandb
        calls are disabled: a second run under the cell's run id would collide
        with the one the wrapper makes (``runner``), and ``off`` means none.
        """
        env = dict(os.environ)
        if wandb_logging != "script":
            env["WANDB_MODE"] = "disabled"
        self.probe = GroupProbe()  # before the pipe exists, so it holds none of it
        self.proc = subprocess.Popen(self.argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, close_fds=True)
        if self.stop_signal is not None:  # a stop arrived while it was being started
            _send(self.proc.pid, signal.Signals[self.stop_signal])

    def follow(self) -> int:
        """Tee and parse the output until the command ended; returns its exit code."""
        assert self.proc is not None and self.proc.stdout is not None
        fd, partial, ended_at, followed_at = self.proc.stdout.fileno(), b"", None, time.monotonic()
        while True:
            if time.monotonic() - followed_at >= FOLLOW_S:
                followed_at = time.monotonic()
                self.follow_script_metrics()
            ready, _, _ = select.select([fd], [], [], 0.2)
            chunk = os.read(fd, 1 << 16) if ready else None
            if chunk == b"":
                break
            if chunk:
                sys.stdout.buffer.write(chunk)
                sys.stdout.buffer.flush()
                *lines, partial = (partial + chunk).split(b"\n")
                partial = _cut(partial)
                for line in lines:
                    self.take_line(line.decode("utf-8", "replace"))
            elif self.proc.poll() is not None:  # something the command left behind holds the pipe
                ended_at = ended_at or time.monotonic()
                if time.monotonic() - ended_at > DRAIN_S:
                    break
        if partial:
            self.take_line(partial.decode("utf-8", "replace"))
        self.proc.stdout.close()
        for record in self.parser.flush():
            self.evaluation(record)
        return self.proc.wait()

    def follow_script_metrics(self) -> None:
        """Without patterns: pass lines the script appended to its own metrics.jsonl to the sinks
        (through the validating reader; a bad line ends what is read, as for the runner)."""
        if self.parser.patterns or not self.sinks:
            return
        records = cc.read_metrics(self.out / cc.METRICS_FILE).records
        for record in records[self.followed:]:
            for sink in self.sinks:
                sink(record)
        self.followed = max(self.followed, len(records))

    def take_line(self, line: str) -> None:
        self.tail.append(line)
        for record in self.parser.feed(line):
            self.evaluation(record)

    def evaluation(self, record: dict[str, Any]) -> None:
        """One parsed evaluation: metrics.jsonl, the best so far, W&B."""
        self.last = record
        for name, value in record.items():
            if name != "epoch" and not math.isfinite(value) and self.nonfinite is None:
                self.nonfinite = f"metric {name} is {value} at evaluation {record['epoch']}"
        value = record.get(self.metric)
        if value is not None and math.isfinite(value) and (
                self.best is None or self.goal.better(value, self.best)):
            self.best, self.best_epoch = value, int(record["epoch"])
        for sink in self.sinks:
            sink(record)

    def outcome(self, exit_code: int) -> tuple[Status, str | None]:
        """How the command ended, with the one line that says why when it went wrong."""
        if self.stop_signal is not None:
            return Status.STOPPED, f"stopped by {self.stop_signal}"
        if self.nonfinite is not None:
            return Status.NONFINITE, self.nonfinite
        if exit_code != 0:
            reason = signal_death(exit_code) or last_meaningful_line(self.tail)
            return Status.FAILED, reason or f"exited with code {exit_code}"
        if self.parser.evaluations == 0:
            return Status.FAILED, (self.parser.not_a_number or "no metric matched metric_patterns;"
                                   f" last output line: {last_output_line(list(self.tail))}")
        return Status.COMPLETED, None

    def result(self, status: Status, error: str | None, config_path: str,
               wandb_info: tuple[str | None, str | None]) -> dict[str, Any]:
        """The result.json payload, every key of the contract present."""
        return {
            "status": status.value, "metric": self.metric, "goal": self.goal,
            "best_metric": self.best, "best_epoch": self.best_epoch,
            "final_metrics": {k: v for k, v in self.last.items() if k != "epoch"},
            "epochs_run": self.parser.evaluations, "duration_s": round(time.monotonic() - self.started, 3),
            "samples_per_s": None, "peak_memory_mb": None, "config_path": config_path,
            "wandb_run_dir": wandb_info[0], "wandb_run_id": wandb_info[1], "error": error,
        }


def _send(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        pass


def parse_args(args: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=f"python -m {MODULE}", description=__doc__.splitlines()[0])
    parser.add_argument("--patterns", default="{}",
                        help="metric_patterns as a JSON object: name -> regex ({}: the script writes the files)")
    parser.add_argument("--wandb", choices=WANDB_CHOICES, default="runner", help="who makes the W&B run")
    parser.add_argument("--config", default="", help="the cell's rendered config (the W&B run config)")
    parser.add_argument("argv", nargs=argparse.REMAINDER, help="-- COMMAND [ARG ...]")
    ns = parser.parse_args(args)
    ns.argv = ns.argv[1:] if ns.argv[:1] == ["--"] else ns.argv
    patterns = json.loads(ns.patterns)
    if not ns.argv or not isinstance(patterns, dict):
        parser.error("a command after -- is required, and --patterns must be a JSON object")
    ns.patterns = [(str(k), str(v)) for k, v in patterns.items()]
    return ns


def main(args: Sequence[str] | None = None) -> int:
    """Run the command to its end and write the contract files; returns the contract's exit code."""
    ns = parse_args(args)
    out = Path(os.environ.get(cc.ENV_OUTPUT_DIR) or ".")
    out.mkdir(parents=True, exist_ok=True)
    if ns.patterns:
        (out / cc.METRICS_FILE).write_text("", encoding="utf-8")  # this attempt's evaluations only
    run = CommandRun(ns.argv, ns.patterns, out, os.environ.get(cc.ENV_METRIC, ""),
                     Goal.read(os.environ.get(cc.ENV_GOAL)))
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, run.on_signal)
    try:
        run.start(ns.wandb)
    except OSError as error:
        return _finish(run, Status.FAILED, f"cannot start {ns.argv[0]!r}: {error.strerror or error}", ns, None)
    tracking = None
    if ns.wandb == "runner":
        from hyperparameter_system.user_command.tracking import start_tracking

        tracking = start_tracking(ns.config, out)
        if tracking is not None:
            run.sinks.append(tracking.log_evaluation)
    exit_code = run.follow()
    if not ns.patterns:
        return _pass_through(run, exit_code, tracking)
    status, error = run.outcome(exit_code)
    return _finish(run, status, error, ns, tracking, refused=exit_code == cc.EXIT_CONFIG)


def _pass_through(run: CommandRun, exit_code: int, tracking: Any) -> int:
    """A script that writes the contract files itself: its result stands, its exit is the wrapper's."""
    if run.probe is not None:
        run.probe.close()
    if tracking is not None:
        run.follow_script_metrics()
        try:
            result = cc.read_result(run.out / cc.RESULT_FILE)
        except cc.ChildFileError:
            result = None  # left as it is: the runner fails the attempt, naming the file and the fault
        summary: dict[str, Any] = {"status": result.status.value if result else "failed"}
        if result is not None and result.best_metric is not None:
            summary.update({f"best/{result.metric}": result.best_metric, "best_epoch": result.best_epoch})
        tracking.finish(summary, exit_code=exit_code)
        if result is not None and tracking.info[0] and not result.wandb_run_dir:
            _add_run_location(run.out / cc.RESULT_FILE, *tracking.info)
    if exit_code < 0:  # killed by a signal: die by the same one, so the runner reads the same death
        signal.signal(-exit_code, signal.SIG_DFL)
        os.kill(os.getpid(), -exit_code)
        return 128 - exit_code  # a signal whose default is not to end a process
    return exit_code


def _add_run_location(path: Path, run_dir: str, run_id: str | None) -> None:
    """Say in the script's result.json where the cell's W&B run is, changing nothing else in it.

    The script's own values are written back as they were read, not as checked (a NaN
    best metric stays NaN, so the runner still reads the attempt as nonfinite).
    """
    raw = json.loads(read_child_file(path, cc.MAX_RESULT_BYTES) or b"{}")  # read_result just accepted it
    raw["wandb_run_dir"] = run_dir
    raw["wandb_run_id"] = raw.get("wandb_run_id") or run_id
    cc.write_json_atomic(path, raw)


def _finish(run: CommandRun, status: Status, error: str | None, ns: argparse.Namespace, tracking: Any,
            refused: bool = False) -> int:
    """Write the contract files for the command's end; the contract's exit code.

    ``refused``: the command exited 2, the usage error of argparse, click and
    most command-line tools: it refused its arguments or config, which a retry
    would hand it again, so the attempt exits EXIT_CONFIG (final, not retried).
    """
    if run.probe is not None:
        run.probe.close()
    code = cc.EXIT_CONFIG if refused and status == Status.FAILED else EXIT_BY_STATUS.get(status, cc.EXIT_FAILED)
    info = tracking.info if tracking is not None else (None, None)
    cc.write_json_atomic(run.out / cc.RESULT_FILE, run.result(status, error, ns.config, info))
    if error:
        print(f"[hpsys] {status.value}: {error}", flush=True)
    if tracking is not None:
        summary = {f"best/{run.metric}": run.best, "best_epoch": run.best_epoch, "status": status.value}
        tracking.finish(summary, exit_code=code)
    return code


def _cut(partial: bytes) -> bytes:
    """An overlong unterminated line keeps its start (what the script printed first, what a
    user recognises) and its end (a progress bar's last ``\\r`` frame)."""
    if len(partial) <= _MAX_PARTIAL:
        return partial
    return partial[:_MAX_PARTIAL // 2] + partial[-(_MAX_PARTIAL // 2):]
