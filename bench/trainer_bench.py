"""Benchmark: the built-in trainer against a hand-written PyTorch loop, and W&B offline against none.

Same model (small_cnn), data (digits at INPUT.SIZE), batch size, optimizer
(AdamW) and epochs, all in this one process, alternating the contenders after
a warm-up so that caches and the allocator treat them alike. Throughput is
training samples per second over the training epochs only (evaluation is
excluded on both sides: the plain loop has none). Prints the ratios; the goals
are trainer/plain >= 0.97 and W&B offline < 3 % slower than no W&B.

    python bench/trainer_bench.py [--rounds 3] [--epochs 2] [--size 32]
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("WANDB_SILENT", "true")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402

from hyperparameter_system.training.run import execute, prepare  # noqa: E402
from hyperparameter_system.training.signals import StopRequest  # noqa: E402
from hyperparameter_system.training.validate import load_config  # noqa: E402


def make_cfg(args: argparse.Namespace, out: Path):
    """One config for every contender (checkpoints off: the plain loop saves nothing)."""
    cfg = load_config(None, [
        "INPUT.SIZE", str(args.size), "SOLVER.MAX_EPOCHS", str(args.epochs), "DATALOADER.BATCH_SIZE", "64",
        "CHECKPOINT.ENABLE", "False", "WANDB.LOG_IMAGES", "False", "OUTPUT_DIR", str(out),
    ])
    cfg.freeze()
    return cfg


def plain_loop(cfg) -> float:
    """The loop a practitioner writes by hand; returns training samples/s."""
    prep = prepare(cfg, "")
    model = prep.build_model("small_cnn", prep.data.num_classes, cfg)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.SOLVER.BASE_LR, weight_decay=cfg.SOLVER.WEIGHT_DECAY,
                                  betas=tuple(cfg.SOLVER.BETAS), eps=cfg.SOLVER.EPS)
    loss_fn = torch.nn.CrossEntropyLoss()
    samples, seconds = 0, 0.0
    for _ in range(cfg.SOLVER.MAX_EPOCHS):
        started = time.perf_counter()
        model.train()
        for images, labels in prep.data.train_loader:
            loss = loss_fn(model(images), labels)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            samples += labels.shape[0]
            loss.item()  # the trainer reads the loss every iteration too (NaN guard, logging)
        seconds += time.perf_counter() - started
    return samples / seconds


def trainer(cfg, wandb_mode: str) -> float:
    """The built-in trainer end to end; returns its reported training samples/s."""
    os.environ["WANDB_MODE"] = wandb_mode
    prep = prepare(cfg, "")
    Path(cfg.OUTPUT_DIR).mkdir(parents=True, exist_ok=True)
    code = execute(prep, StopRequest())
    assert code == 0, f"trainer exited {code}"
    import json

    return json.loads((Path(cfg.OUTPUT_DIR) / "result.json").read_text())["samples_per_s"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    logging.getLogger("hyperparameter_system").setLevel(logging.WARNING)
    contenders = {
        "plain": lambda cfg: plain_loop(cfg),
        "trainer": lambda cfg: trainer(cfg, "disabled"),
        "trainer+wandb": lambda cfg: trainer(cfg, "offline"),
    }
    scores: dict[str, list[float]] = {name: [] for name in contenders}
    with tempfile.TemporaryDirectory() as tmp:
        for round_ in range(args.rounds + 1):  # round 0 warms up and is not counted
            for name, run in contenders.items():
                value = run(make_cfg(args, Path(tmp) / f"{name}-{round_}"))
                if round_:
                    scores[name].append(value)
    for name, values in scores.items():
        runs = ", ".join(f"{v:.0f}" for v in values)
        print(f"{name:>14}: {statistics.median(values):9.1f} samples/s  (runs: {runs})")
    # Ratios within a round compare neighbours in time, so load from other
    # processes on a shared machine cancels out; the median drops outliers.
    ratio = statistics.median(t / p for t, p in zip(scores["trainer"], scores["plain"]))
    slower = 1 - statistics.median(w / t for w, t in zip(scores["trainer+wandb"], scores["trainer"]))
    print(f"trainer / plain loop = {ratio:.3f}  (goal >= 0.97)")
    print(f"W&B offline vs none: {slower * 100:+.1f} % slower  (goal < 3 %)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
