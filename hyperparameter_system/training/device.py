"""Device and mixed-precision choice from ``DEVICE`` and ``SOLVER.AMP*``.

float16 autocast needs a GradScaler and only pays off on CUDA; on the CPU the
only useful mode is bfloat16 autocast (no scaler). The decision is made once
here so the engine just follows an :class:`AmpSettings`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from hyperparameter_system.config.values import AMP_DTYPES
from hyperparameter_system.errors import HpsysError

if TYPE_CHECKING:
    from yacs.config import CfgNode

_DTYPES = {name: getattr(torch, name) for name in AMP_DTYPES}


@dataclass(frozen=True)
class AmpSettings:
    """How the engine runs forward passes.

    Attributes:
        enabled: Use ``torch.autocast``.
        dtype: The autocast dtype.
        use_scaler: Scale the loss with a GradScaler (float16 on CUDA only).
        device_type: ``"cuda"`` or ``"cpu"``, as autocast wants it.
    """

    enabled: bool
    dtype: torch.dtype
    use_scaler: bool
    device_type: str


def resolve_device(name: str) -> torch.device:
    """``auto`` -> CUDA when available, else CPU; anything else as written.

    Raises:
        HpsysError: Not a device name, or a CUDA device that is not usable here.
    """
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise HpsysError(f"DEVICE: {name!r} is not a device; use auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise HpsysError(f"DEVICE: {name!r} asked for but CUDA is not available here")
    if device.type == "cuda" and (device.index or 0) >= torch.cuda.device_count():
        raise HpsysError(f"DEVICE: {name!r} asked for but only {torch.cuda.device_count()} CUDA device(s) exist")
    return device


def resolve_amp(cfg: CfgNode, device: torch.device) -> AmpSettings:
    """Turn ``SOLVER.AMP`` / ``AMP_DTYPE`` into what this device can do.

    Raises:
        HpsysError: ``AMP_DTYPE`` is not float16 or bfloat16.
    """
    dtype_name = str(cfg.SOLVER.AMP_DTYPE)
    if dtype_name not in _DTYPES:
        raise HpsysError(f"SOLVER.AMP_DTYPE: must be one of {', '.join(AMP_DTYPES)}, got {dtype_name!r}")
    dtype = _DTYPES[dtype_name]
    on_cuda = device.type == "cuda"
    enabled = bool(cfg.SOLVER.AMP) and (on_cuda or dtype is torch.bfloat16)
    return AmpSettings(
        enabled=enabled,
        dtype=dtype,
        use_scaler=enabled and on_cuda and dtype is torch.float16,
        device_type="cuda" if on_cuda else "cpu",
    )
