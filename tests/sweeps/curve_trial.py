"""A scripted trial: a model's own ``command:`` that writes a given learning curve.

Usage (as a model ``command:`` template)::

    {{ python }} curve_trial.py --output {{ output_dir }} [--curves FILE] [--epoch-s S] [--hold FILE] {{ overrides }}

With ``--curves``, ``SEED`` (a swept YACS key) indexes a JSON list of curves;
otherwise the value of ``val/acc`` is a fixed function of the overrides, so
different points score differently. One metrics.jsonl line per epoch
(``SOLVER.MAX_EPOCHS`` epochs), ``result.json`` at the end, and on SIGTERM
status ``stopped`` with exit code 5 like the built-in trainer. The overrides
and the HPS_/WANDB_ environment it saw go to ``seen.json`` for the tests.
With ``--hold``, the trial waits after its first epoch until that file exists
(at most two minutes), so a test decides how long it runs.
"""

from __future__ import annotations

import argparse
import ast
import json
import math
import os
import signal
import sys
import time
from pathlib import Path

STOP = {"flag": False}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--output", required=True)
    parser.add_argument("--curves")
    parser.add_argument("--epoch-s", type=float, default=0.4)
    parser.add_argument("--hold")
    args, rest = parser.parse_known_args()
    overrides = {rest[i]: _value(rest[i + 1]) for i in range(0, len(rest) - 1, 2)}
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    seen = {"overrides": overrides, "env": {k: v for k, v in os.environ.items() if k.startswith(("HPS_", "WANDB_"))}}
    (out / "seen.json").write_text(json.dumps(seen, sort_keys=True))
    epochs = int(overrides.get("SOLVER.MAX_EPOCHS", 3))
    curve = _curve(args.curves, overrides, epochs)
    signal.signal(signal.SIGTERM, lambda *_: STOP.update(flag=True))
    for epoch in range(1, epochs + 1):
        _sleep(args.epoch_s)
        if STOP["flag"]:
            return _finish(out, "stopped", curve, epoch - 1, 5)
        with open(out / "metrics.jsonl", "a", encoding="utf-8") as handle:
            handle.write(json.dumps({"epoch": epoch, "val/acc": curve[epoch - 1]}) + "\n")
        if args.hold and epoch == 1:
            _hold(Path(args.hold))
    return _finish(out, "completed", curve, epochs, 0)


def _sleep(seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end and not STOP["flag"]:
        time.sleep(0.01)


def _hold(release: Path, limit_s: float = 120.0) -> None:
    end = time.monotonic() + limit_s
    while not release.exists() and time.monotonic() < end and not STOP["flag"]:
        time.sleep(0.05)


def _value(text: str) -> object:
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def _curve(path: str | None, overrides: dict, epochs: int) -> list[float]:
    if path:
        return json.loads(Path(path).read_text())[int(overrides["SEED"])][:epochs]
    lr = float(overrides.get("SOLVER.BASE_LR", 0.001))
    peak = 0.95 - 0.1 * abs(math.log10(lr) + 2.5)
    return [round(peak * (1 - 0.5 ** e), 6) for e in range(1, epochs + 1)]


def _finish(out: Path, status: str, curve: list[float], epochs_run: int, code: int) -> int:
    done = curve[:epochs_run]
    result = {"status": status, "metric": "val/acc", "goal": "maximize",
              "best_metric": max(done) if done else None,
              "best_epoch": (done.index(max(done)) + 1) if done else None,
              "final_metrics": {"val/acc": done[-1]} if done else {}, "epochs_run": epochs_run}
    (out / "result.json").write_text(json.dumps(result))
    return code


if __name__ == "__main__":
    sys.exit(main())
