"""A fast stand-in for a training child, driven by its config file's FAKE section.

Invoked like a user's own command: ``fake_child.py CONFIG [KEY VALUE ...] OUTPUT_DIR D``.
It honours the child contract for real (metrics.jsonl, result.json, exit codes,
SIGTERM -> stopped) and can misbehave on request: crash on early attempts, train
slower on the first (``first_sleep``: its sleep per epoch), run
out of memory above a batch size, ignore SIGTERM, leave a grandchild behind,
write junk into its result.json or metrics.jsonl.
On success it appends one line to ``<FAKE.marker_dir>/<cell id>.done`` so tests
can count completions from the child's side.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from hyperparameter_system import child_contract as cc  # noqa: E402


def parse(argv: list[str]) -> tuple[dict, dict]:
    config = yaml.safe_load(Path(argv[0]).read_text())
    overrides = dict(zip(argv[1::2], argv[2::2]))
    return config, overrides


def main() -> int:
    config, overrides = parse(sys.argv[1:])
    fake = config.get("FAKE", {})
    out = Path(overrides.get("OUTPUT_DIR") or os.environ[cc.ENV_OUTPUT_DIR])
    out.mkdir(parents=True, exist_ok=True)
    batch = int(overrides.get("DATALOADER.BATCH_SIZE", config.get("DATALOADER", {}).get("BATCH_SIZE", 64)))
    accum = int(overrides.get("SOLVER.GRAD_ACCUM", config.get("SOLVER", {}).get("GRAD_ACCUM", 1)))
    attempt = int(os.environ.get(cc.ENV_ATTEMPT, "1"))
    print(f"fake child attempt {attempt} batch {batch} accum {accum}", flush=True)
    if fake.get("dump_env"):
        keep = ("WANDB_", "HPS_", "CUDA_VISIBLE_DEVICES", "OMP_NUM_THREADS")
        env = {k: v for k, v in os.environ.items() if k.startswith(keep) and k != "WANDB_API_KEY"}
        (out / "env.json").write_text(json.dumps(env))
    if fake.get("grandchild"):
        sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
        (out / "grandchild.pid").write_text(str(sleeper.pid))
    if fake.get("ignore_term"):
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    else:
        signal.signal(signal.SIGTERM, lambda *_: finish(out, fake, "stopped", [], cc.EXIT_STOPPED))
    if attempt <= int(fake.get("crash_attempts", 0)):
        print("Traceback: simulated crash", flush=True)
        return cc.EXIT_FAILED
    if batch > int(fake.get("oom_above", 10**9)):
        return finish(out, fake, "oom", [], cc.EXIT_OOM, error=f"CUDA out of memory at batch {batch}")
    records = []
    sleep = float(fake.get("first_sleep", fake.get("sleep", 0.0)) if attempt == 1 else fake.get("sleep", 0.0))
    for epoch in range(1, int(fake.get("epochs", 2)) + 1):
        time.sleep(sleep)
        record = {"epoch": epoch, "step": epoch * 10, "val/acc": float(fake.get("score", 0.5)) + epoch / 100}
        records.append(record)
        cc.append_jsonl(out / cc.METRICS_FILE, record)
    if fake.get("nonfinite"):
        return finish(out, fake, "nonfinite", records, cc.EXIT_NONFINITE, error="loss is nan")
    if fake.get("junk_metrics"):  # untrusted input: these bytes end metrics.jsonl
        with open(out / cc.METRICS_FILE, "ab") as handle:
            handle.write(Path(fake["junk_metrics"]).read_bytes())
    for name, target in (fake.get("special_files") or {}).items():  # untrusted input: not a regular file
        (out / name).unlink(missing_ok=True)
        os.mkfifo(out / name) if target == "fifo" else os.symlink(target, out / name)
        if name == cc.RESULT_FILE:
            os._exit(cc.EXIT_OK)
    if fake.get("junk_result"):  # untrusted input: these bytes are result.json
        (out / cc.RESULT_FILE).write_bytes(Path(fake["junk_result"]).read_bytes())
        os._exit(cc.EXIT_OK)
    return finish(out, fake, "completed", records, cc.EXIT_OK, batch=batch, accum=accum)


def finish(out: Path, fake: dict, status: str, records: list, code: int, error: str | None = None,
           **extra: int) -> int:
    """Write result.json and the completion marker with SIGTERM held off, then exit."""
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
    best = max(records, key=lambda r: r["val/acc"]) if records else None
    cc.write_json_atomic(out / cc.RESULT_FILE, {
        "status": status, "metric": "val/acc", "goal": "maximize",
        "best_metric": best["val/acc"] if best else None, "best_epoch": best["epoch"] if best else None,
        "final_metrics": records[-1] if records else {}, "epochs_run": len(records),
        "duration_s": 0.1, "error": error, **extra})
    if status == "completed" and fake.get("marker_dir"):
        marker = Path(fake["marker_dir"]) / f"{os.environ[cc.ENV_CELL_ID]}.done"
        with open(marker, "a", encoding="utf-8") as handle:
            handle.write(json.dumps({"attempt": os.environ[cc.ENV_ATTEMPT], "pid": os.getpid()}) + "\n")
    os._exit(code)


if __name__ == "__main__":
    sys.exit(main())
