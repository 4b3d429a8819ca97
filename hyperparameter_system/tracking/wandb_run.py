"""Weights & Biases for one training run: mode, naming, logging, never failing the run.

The runner names every cell through ``WANDB_*`` environment variables; a run
started by hand falls back to the config's WANDB section. wandb is imported
only when the resolved mode is not ``disabled``. Every call into wandb goes
through :meth:`WandbRun._guard`: the first exception is logged once and W&B is
switched off for the rest of the run, because logging trouble must never cost
a cell its result.
"""

from __future__ import annotations

import logging
import netrc
import os
import socket
import sys
import threading
import urllib.parse
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping

from hyperparameter_system.child_contract import ENV_SWEEP_ID
from hyperparameter_system.config.yacs_keys import flat_settings

if TYPE_CHECKING:
    from yacs.config import CfgNode

log = logging.getLogger("hyperparameter_system.train")

MODES = ("auto", "online", "offline", "disabled")
# Older spellings wandb still accepts in WANDB_MODE.
_MODE_ALIASES = {"dryrun": "offline", "run": "online"}
WANDB_HOST = "api.wandb.ai"
DEFAULT_BASE_URL = f"https://{WANDB_HOST}"
# How long the runner waits, once per run, to learn whether the W&B server answers.
REACH_TIMEOUT_S = 3.0
_LAUNCH_INPUTS = "wandb.sdk.launch.inputs.internal"  # where W&B Launch stages a job's inputs


def has_credentials(env: Mapping[str, str] | None = None, netrc_path: str | None = None) -> bool:
    """Whether an API key is in the environment or ``~/.netrc`` has a W&B login."""
    env = os.environ if env is None else env
    if env.get("WANDB_API_KEY"):
        return True
    path = netrc_path or env.get("NETRC") or str(Path.home() / ".netrc")
    try:
        return netrc.netrc(path).authenticators(WANDB_HOST) is not None
    except (FileNotFoundError, netrc.NetrcParseError, OSError):
        return False


def resolve_mode(configured: str, env: Mapping[str, str] | None = None, netrc_path: str | None = None) -> str:
    """The W&B mode to use: ``online``, ``offline`` or ``disabled``.

    ``WANDB_MODE`` in the environment wins over the config; ``auto`` means
    online only when credentials exist, else offline (``wandb sync`` later).
    """
    env = os.environ if env is None else env
    wanted = env.get("WANDB_MODE") or configured or "auto"
    wanted = _MODE_ALIASES.get(wanted, wanted)
    if wanted == "auto":
        return "online" if has_credentials(env, netrc_path) else "offline"
    if wanted not in MODES:
        return "offline"
    return wanted


def base_url(env: Mapping[str, str] | None = None) -> str:
    """The W&B server the children would talk to: ``WANDB_BASE_URL`` or the public cloud."""
    env = os.environ if env is None else env
    return env.get("WANDB_BASE_URL") or DEFAULT_BASE_URL


def reachable(url: str, timeout_s: float = REACH_TIMEOUT_S) -> bool:
    """Whether a TCP connection to ``url``'s host opens within ``timeout_s``, name lookup included.

    The probe runs in a daemon thread, because a name lookup without a network
    can take longer than any socket timeout; past ``timeout_s`` the answer is no.
    """
    parts = urllib.parse.urlsplit(url)
    if not parts.hostname:
        return False
    port = parts.port or (443 if parts.scheme == "https" else 80)
    answer: list[bool] = []

    def probe() -> None:
        try:
            with socket.create_connection((parts.hostname, port), timeout=timeout_s):
                answer.append(True)
        except (OSError, ValueError):
            answer.append(False)

    thread = threading.Thread(target=probe, name="wandb-reachable", daemon=True)
    thread.start()
    thread.join(timeout_s)
    return bool(answer) and answer[0]


def offline_fallback(mode: str, sync_hint: str, env: Mapping[str, str] | None = None,
                     timeout_s: float = REACH_TIMEOUT_S) -> str | None:
    """For a run about to log online: a warning line when the W&B server cannot be reached.

    Without the check every child would wait out W&B's own timeouts (minutes per
    cell); with it the run logs offline and the line says how to upload later.

    Args:
        mode: The resolved mode; only ``online`` is checked.
        sync_hint: The ``wandb sync`` arguments that upload this run's offline runs.

    Returns:
        None when the mode is not online or the server answered, else the line.
    """
    url = base_url(env)
    if mode != "online" or reachable(url, timeout_s):
        return None
    return (f"warning: W&B server {url} cannot be reached (no answer within {timeout_s:g} s): "
            f"every cell of this run logs offline; upload later with: wandb sync {sync_hint}")


def freeze_package_list() -> None:
    """Read the installed packages once, for every run opened by this process or a child it forks.

    ``wandb.init`` records the packages of the environment (each run's
    requirements.txt) by parsing the metadata of every installed distribution:
    a third of a second of CPU per run, as much as a short cell's epoch. The fork
    server calls this once it has imported what its children run, so every cell
    still records the list, read once per runner. A forked child runs the
    modules its server imported: the server's list is the one it runs with.
    """
    import wandb.util

    packages = tuple(wandb.util.working_set())
    wandb.util.working_set = lambda: iter(packages)


def skip_unstaged_launch_inputs() -> None:
    """Let ``wandb.init`` skip W&B Launch's job inputs when none can have been staged.

    At the end of every ``wandb.init``, wandb applies the job inputs that W&B
    Launch code in this process staged (``wandb.sdk.launch.manage_config_file``
    and friends), importing the whole launch package to look: one and a half
    seconds of CPU per process, as long as a short cell's epoch. Inputs are
    staged only through ``wandb.sdk.launch.inputs.internal``; while that module
    was never imported there is nothing to apply, and the check is skipped. A
    process that did import it gets wandb's own behaviour.
    """
    from wandb.sdk import wandb_run

    original = getattr(wandb_run.Run, "_detect_and_apply_job_inputs", None)
    if original is None or getattr(original, "_hpsys_skips_unstaged", False):
        return

    def detect_and_apply(self: Any) -> None:
        if _LAUNCH_INPUTS in sys.modules:
            original(self)

    detect_and_apply._hpsys_skips_unstaged = True  # type: ignore[attr-defined]
    wandb_run.Run._detect_and_apply_job_inputs = detect_and_apply


def flatten_config(cfg: Mapping[str, Any]) -> dict[str, Any]:
    """``{"SOLVER.BASE_LR": 0.001, ...}`` from a (nested) YACS node, keys sorted, tuples as lists.

    Sorted section by section and with lists, as W&B shows and gives back a run's config.
    """
    flat = flat_settings(cfg)
    return {key: list(value) if isinstance(value, tuple) else value
            for key, value in sorted(flat.items(), key=lambda item: item[0].split("."))}


def init_kwargs(cfg: CfgNode, output_dir: str | Path, env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Keyword arguments for ``wandb.init``: environment first, then the WANDB section.

    Offline runs land under ``output_dir`` (``dir=``), next to result.json.
    """
    env = os.environ if env is None else env
    w = cfg.WANDB
    tags_env = env.get("WANDB_TAGS", "")
    tags = [t.strip() for t in tags_env.split(",") if t.strip()] if tags_env else list(w.TAGS)
    config = flatten_config(cfg)
    if env.get(ENV_SWEEP_ID):  # a local sweep trial: its run says which sweep it belongs to
        config["sweep_id"] = env[ENV_SWEEP_ID]
    kwargs: dict[str, Any] = {
        "project": env.get("WANDB_PROJECT") or w.PROJECT or "hpsys",
        "entity": env.get("WANDB_ENTITY") or w.ENTITY or None,
        "name": env.get("WANDB_NAME") or w.NAME or None,
        "group": env.get("WANDB_RUN_GROUP") or w.GROUP or None,
        "tags": tags or None,
        "id": env.get("WANDB_RUN_ID") or None,
        "mode": resolve_mode(w.MODE, env),
        "dir": str(output_dir),
        "config": config,
        "reinit": "finish_previous",
    }
    return {k: v for k, v in kwargs.items() if v is not None}


def image_grid(images: Any, mean: Any, std: Any, per_row: int = 8) -> Any:
    """A ``H x W x 3`` uint8 numpy grid of up to 32 normalised ``[N, 3, S, S]`` images."""
    import torch

    batch = (images[:32].float().cpu() * std + mean).clamp(0, 1)
    n, c, h, w = batch.shape
    rows = (n + per_row - 1) // per_row
    grid = torch.zeros(c, rows * (h + 2), per_row * (w + 2))
    for i in range(n):
        r, col = divmod(i, per_row)
        grid[:, r * (h + 2) + 1 : r * (h + 2) + 1 + h, col * (w + 2) + 1 : col * (w + 2) + 1 + w] = batch[i]
    return (grid.permute(1, 2, 0).numpy() * 255).astype("uint8")


class WandbRun:
    """One run's W&B session; every method is safe to call whatever happened before.

    Args:
        cfg: The frozen run config.
        output_dir: The run's output folder (offline runs go under it).
    """

    def __init__(self, cfg: CfgNode, output_dir: str | Path) -> None:
        self.kwargs = init_kwargs(cfg, output_dir)
        self.mode = self.kwargs["mode"]
        self.run: Any = None
        self._wandb: Any = None
        self._info: tuple[str | None, str | None] = (None, None)

    @property
    def active(self) -> bool:
        """Whether a run is open and logging still works."""
        return self.run is not None

    @property
    def info(self) -> tuple[str | None, str | None]:
        """``(run_dir, run_id)`` for result.json (kept after finish), or Nones when no run started."""
        return self._info

    def start(self) -> None:
        """Open the run (imports wandb; nothing happens when disabled)."""
        if self.mode == "disabled":
            return

        def _start() -> None:
            import wandb

            skip_unstaged_launch_inputs()
            self._wandb = wandb
            Path(self.kwargs["dir"]).mkdir(parents=True, exist_ok=True)
            self.run = wandb.init(**self.kwargs)
            self._info = (str(Path(self.run.dir).parent), self.run.id)
            self.run.define_metric("val/*", step_metric="epoch")
            log.info("W&B %s run %s in %s", self.mode, self.run.id, self.info[0])

        self._guard("init", _start)
        if self.run is None and self.mode == "online":
            # A server that answers but refuses (a proxy, a 404, a bad key) passes the runner's
            # reachability check; the run is still kept, on disk, for ``wandb sync`` later.
            self.mode = self.kwargs["mode"] = "offline"
            self._guard("offline init", _start)
            if self.run is not None:
                log.warning("W&B online init failed; this run logs offline: upload later with "
                            "wandb sync %s", self.info[0])

    def log_train(self, iteration: int, values: dict[str, float]) -> None:
        """Per-iteration scalars (train/loss, train/acc, train/lr)."""
        if self.active:
            self._guard("log", lambda: self.run.log({**values, "iteration": iteration}))

    def log_evaluation(self, record: dict[str, Any]) -> None:
        """One evaluation: val/* and epoch as in metrics.jsonl; epoch-mean train values renamed."""
        if not self.active:
            return
        row = {k: v for k, v in record.items() if not k.startswith("train/")}
        row.update({f"train/epoch_{k[6:]}": v for k, v in record.items() if k.startswith("train/")})
        self._guard("log", lambda: self.run.log(row))

    def log_images(self, images: Any, mean: Any, std: Any) -> None:
        """One grid of sample images (the trainer passes its first validation batch)."""
        if self.active:
            self._guard("images", lambda: self.run.log({"samples": self._wandb.Image(image_grid(images, mean, std))}))

    def watch(self, model: Any, log_freq: int) -> None:
        """Gradient and parameter histograms (``WANDB.WATCH``)."""
        if self.active:
            self._guard("watch", lambda: self.run.watch(model, log="all", log_freq=max(log_freq, 1)))

    def finish(self, summary: dict[str, Any], exit_code: int) -> None:
        """Write the summary (best metric, status) and close the run."""
        if not self.active:
            return

        def _finish() -> None:
            self.run.summary.update(summary)
            self.run.finish(exit_code=exit_code)

        self._guard("finish", _finish)
        self.run = None

    def _guard(self, what: str, call: Callable[[], Any]) -> None:
        try:
            call()
        except Exception as exc:  # W&B must never fail the run
            log.warning("W&B %s failed, logging to W&B is off for this run: %s: %s", what, type(exc).__name__, exc)
            if self.run is not None:
                try:
                    self.run.finish(exit_code=1)
                except Exception:  # already broken; nothing more to do
                    pass
            self.run = None
