"""Joining a Ray cluster as its driver, and how many cells it takes at once.

Kept apart from the running of cells on nodes (``cluster``): this is the part a
run does once, before its first cell, and the one place ray is imported.
"""

from __future__ import annotations

import os
import signal
import socket
import threading
from types import FrameType
from typing import Any, Callable, Mapping

from hyperparameter_system.errors import HpsysError
from hyperparameter_system.runner._devices import Slot
from hyperparameter_system.runner._options import RayOptions

NAMESPACE = "hpsys"
CONNECT_S = 10.0  # how long the cluster's address may take to answer


def import_ray() -> Any:
    """The ray module (imported only for ``backend: ray``), or one line saying it is missing."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    try:
        import ray
    except ImportError:
        raise HpsysError("backend ray: the ray package is not installed (pip install 'ray==2.60.0')") from None
    return ray


def connect(address: str) -> None:
    """Join the cluster at ``address`` as its driver (``auto``: the one this machine started last)."""
    ray = import_ray()
    if ray.is_initialized():
        return
    resolved = _answering(address)
    term = signal.getsignal(signal.SIGTERM)
    try:
        ray.init(address=resolved, namespace=NAMESPACE, log_to_driver=False, logging_level="ERROR",
                 configure_logging=False, _node_ip_address=_local_ip_towards(resolved))
    except (ConnectionError, RuntimeError, ValueError) as error:
        raise _cannot_join(address, str(error)) from None
    finally:
        _keep_sigterm(term)


def _keep_sigterm(handler: Callable[[int, FrameType | None], Any] | int | None) -> None:
    """SIGTERM does what the command set again (a Ctrl-C until the runner's loop: what it started is closed).

    ``ray.init`` makes it exit the driver at once, and Ray's core worker then
    prints a stack dump and aborts: a SIGTERM while the plan was checked or
    rendered left neither the "interrupted" line nor the driver's own clean-up.
    """
    if handler is not None and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, handler)


def _answering(address: str) -> str:
    """The cluster's ``host:port``, once something answers there within :data:`CONNECT_S`.

    Ray itself retries an unreachable address for minutes; a cluster that is
    down (or a stale ``auto`` from a cluster long gone) is one line, at once.
    """
    from ray._private.services import canonicalize_bootstrap_address_or_die

    try:
        resolved = str(canonicalize_bootstrap_address_or_die(address))
    except (ConnectionError, ValueError) as error:
        raise _cannot_join(address, str(error)) from None
    host, _, port = resolved.rpartition(":")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_S).close()
    except (OSError, ValueError) as error:
        raise _cannot_join(address, f"nothing answers at {resolved} ({getattr(error, 'strerror', None) or error})")
    return resolved


def _local_ip_towards(address: str) -> str:
    """This machine's address on the route to the cluster (a UDP socket's connect sends nothing):
    Ray would otherwise find it by asking the route to a public address."""
    host, _, port = address.rpartition(":")
    with socket.socket(socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect((host.strip("[]"), int(port)))
        return str(probe.getsockname()[0])


def _cannot_join(address: str, why: str) -> HpsysError:
    first = why.strip().splitlines()[0] if why.strip() else "no reason given"
    return HpsysError(f"backend ray: cannot join the Ray cluster at {address!r}: {first} (start one with "
                      "`ray start --head`, or give --ray-address / RAY_ADDRESS; --backend local runs here)")


class NoNodeFits(HpsysError):
    """A resource ask no live node of the cluster can ever meet (its cells would wait in Ray's queue
    forever). ``model`` is the model whose own ``resources`` ask it, None for ``resources_per_cell``."""

    def __init__(self, model: str | None, ask: Mapping[str, float], nodes: list[Mapping[str, float]]) -> None:
        self.model = model
        shown = "; ".join(_resources_text(have) for have in nodes) or "no live node"
        self.reason = f"{_resources_text(ask)}: no node of the Ray cluster has that much (nodes: {shown})"
        where = f"models: {model}: resources" if model else "execution.resources_per_cell"
        super().__init__(f"{where} {self.reason}")


def cluster_slots(options: RayOptions, parallel: int | None) -> tuple[Slot, ...]:
    """As many slots as cells of the default size fit on the live nodes (or ``parallel`` when given).

    A model that asks for more waits in Ray's queue for its resources; its slot is taken meanwhile.

    Raises:
        NoNodeFits: an ask (the default, or a model's) that no live node can meet.
    """
    nodes = [node.get("Resources", {}) for node in import_ray().nodes() if node.get("Alive")]
    for model, ask in ((None, options.resources), *options.model_resources.items()):
        if not any(_fits(have, ask) for have in nodes):
            raise NoNodeFits(model, ask, nodes)
    if parallel is None:
        parallel = sum(_fits(have, options.resources) for have in nodes)
    threads = max(1, int(options.resources.get("CPU", 1)))
    return tuple(Slot(i, "", threads, remote=True) for i in range(parallel))


def _resources_text(resources: Mapping[str, float]) -> str:
    shown = {k: v for k, v in resources.items() if not k.startswith(("node:", "object_store_memory", "memory"))}
    return "{" + ", ".join(f"{k}: {v:g}" for k, v in sorted(shown.items())) + "}"


def _fits(have: Mapping[str, float], want: Mapping[str, float]) -> int:
    return min((int(have.get(key, 0) // amount) for key, amount in want.items()), default=0)
