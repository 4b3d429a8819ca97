"""Device slots: where each concurrently running cell may compute.

A slot is one place a child runs: a GPU index (``CUDA_VISIBLE_DEVICES=<i>``) or a
share of the CPU. The runner never imports torch to find GPUs (a plan or a resume
must stay instant); it asks ``CUDA_VISIBLE_DEVICES``, ``nvidia-smi -L`` and the driver's /proc list.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from hyperparameter_system.errors import HpsysError

PROC_GPUS = "/proc/driver/nvidia/gpus"  # one entry per GPU the driver sees


@dataclass(frozen=True)
class Slot:
    """One place a cell can run.

    Attributes:
        index: 0-based slot number (shown in progress lines).
        cuda_visible_devices: The value the child gets; "" means CPU only.
        torch_threads: CPU threads this slot may use (HPS_TORCH_THREADS).
        remote: A place on a Ray cluster: the node and its devices are Ray's choice.
    """

    index: int
    cuda_visible_devices: str
    torch_threads: int
    remote: bool = False

    @property
    def label(self) -> str:
        if self.remote:
            return "ray"
        return f"gpu{self.cuda_visible_devices}" if self.cuda_visible_devices else "cpu"


def visible_gpus() -> list[str]:
    """GPU ids this process may use: CUDA_VISIBLE_DEVICES if set, else nvidia-smi's list."""
    env = _env_gpus()
    return env if env is not None else _nvidia_smi_gpus()


def installed_gpus() -> set[str]:
    """Every GPU id any source knows of: CUDA_VISIBLE_DEVICES, ``nvidia-smi -L``, the driver's /proc list.

    Used to refuse ``--devices 0,1`` on a machine without those GPUs: the child
    would otherwise run on the CPU under a ``gpu0`` label, hours slower, silently.
    """
    proc = Path(PROC_GPUS)
    try:
        driver = {str(i) for i in range(len(list(proc.iterdir())))} if proc.is_dir() else set()
    except OSError:
        driver = set()
    return set(_env_gpus() or ()) | set(_nvidia_smi_gpus()) | driver


def _env_gpus() -> list[str] | None:
    env = os.environ.get("CUDA_VISIBLE_DEVICES")
    if env is None:
        return None
    return [part.strip() for part in env.split(",") if part.strip() and part.strip() != "-1"]


def _nvidia_smi_gpus() -> list[str]:
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return []
    try:
        out = subprocess.run([exe, "-L"], capture_output=True, text=True, timeout=20, check=False).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [m.group(1) for m in re.finditer(r"^GPU (\d+):", out, flags=re.MULTILINE)]


def parse_devices(devices: str) -> list[str]:
    """``auto`` | ``cpu`` | ``0,1,...`` -> GPU ids (empty list = CPU)."""
    text = (devices or "auto").strip().lower()
    if text == "auto":
        return visible_gpus()
    if text == "cpu":
        return []
    ids = [part.strip() for part in text.split(",") if part.strip()]
    bad = [part for part in ids if not part.isdigit()]
    if bad or not ids:
        raise HpsysError(f"--devices: expected auto, cpu or GPU indices like 0,1, but got {devices!r}")
    known = installed_gpus()
    missing = [part for part in ids if part not in known]
    if missing:
        found = ", ".join(sorted(known, key=lambda g: (len(g), g))) if known else "none"
        raise HpsysError(f"--devices {devices}: no GPU {', '.join(missing)} on this machine (GPUs found: {found};"
                         " checked CUDA_VISIBLE_DEVICES, nvidia-smi -L and /proc/driver/nvidia/gpus);"
                         " use --devices cpu, or auto to take the GPUs there are")
    return ids


def make_slots(devices: str, parallel: int, cpu_count: int | None = None) -> list[Slot]:
    """``parallel`` slots over the chosen devices, CPU threads split between them.

    GPUs are handed out round-robin, so ``--parallel 2 --devices 0,1`` puts one
    cell on each GPU; on the CPU every slot gets an equal share of the cores so
    parallel cells do not oversubscribe the machine.
    """
    if parallel < 1:
        raise HpsysError(f"--parallel must be >= 1, but got {parallel}")
    gpus = parse_devices(devices)
    threads = max(1, (cpu_count or os.cpu_count() or 1) // parallel)
    return [Slot(i, gpus[i % len(gpus)] if gpus else "", threads) for i in range(parallel)]
