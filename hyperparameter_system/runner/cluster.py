"""The Ray backend, driver side: cells run as the same child processes, on the nodes of a Ray cluster.

The runner stays the driver: it claims, records and retries as for a local run;
only where a child runs changes. :class:`RayChild` stands where a local
:class:`~hyperparameter_system.runner._process.ChildProcess` would: one node
agent (a Ray actor asking for the cell's resources, so Ray places it and sets
CUDA_VISIBLE_DEVICES) starts the child there and is polled on every tick of the
scheduler. Where the node does not share the driver's ``output_dir``, each poll
brings the new lines of ``metrics.jsonl`` and the log into the driver's attempt
folder (the store, the progress display and hyperband read them as they come),
and the end brings the rest of the folder except checkpoints.

ray is imported (by ``ray_connect``) only for ``backend: ray``.
"""

from __future__ import annotations

import functools
import io
import signal
import sys
import tarfile
import time
from pathlib import Path
from typing import Any, Collection, Mapping

from hyperparameter_system.runner._child import ChildSpec
from hyperparameter_system.runner._options import RayOptions
from hyperparameter_system.runner.ray_agent import MIRRORED, NodeAgent, NodeAnswer, NodeJob, file_sha256, node_dir
from hyperparameter_system.runner.ray_connect import import_ray as _ray
from hyperparameter_system.store.attempt_file import ATTEMPT_FILE

# How long one poll may wait on the node for the child's end (it answers as soon as the child ends or is
# stopped): new metrics come with the answers where the node copies them back, hence the short wait there;
# with shared storage the driver reads them itself, and a longer wait spares both sides Ray calls.
POLL_WAIT_S, SHARED_POLL_WAIT_S = 1.0, 5.0
_CALL_S = 30.0  # a node call that does not answer within this is a lost node
UNREACHABLE_S = 30.0  # an agent unreachable this long (its node's raylet gone, say) counts as lost
PLACEMENTS = 6  # agents that may die before the child started (placed on a node just lost) before it fails
PLACE_AGAIN_S = 5.0  # the wait before placing again: Ray takes a while to see a node is gone
_ENGINE_KEYS = {"CPU": "num_cpus", "GPU": "num_gpus", "memory": "memory"}


def actor_options(resources: Mapping[str, float]) -> dict[str, Any]:
    """``{GPU: 1, CPU: 4, node_b: 1}`` as Ray's actor options (num_gpus, num_cpus, resources)."""
    options: dict[str, Any] = {"num_cpus": 0, "resources": {}}
    for key, amount in resources.items():
        if key in _ENGINE_KEYS:
            options[_ENGINE_KEYS[key]] = amount
        else:
            options["resources"][key] = amount
    return options


Shape = tuple[tuple[str, float], ...]  # a cell's resources, sorted: the key of idle agents


class AgentPool:
    """Idle node agents kept between cells, by the resources they hold.

    A new agent costs Ray a worker process (seconds on a busy node); every cell
    after the first of its shape reuses one. An idle agent keeps its resources,
    so it goes first to a cell of its shape still waiting for Ray to place its
    own agent (the idle one may hold the only such resources: a model pinned to
    one node's resource), and asking for another shape lets the idle agents of
    other shapes go.
    """

    def __init__(self) -> None:
        self._idle: dict[Shape, list[tuple[Any, Any]]] = {}  # shape -> (agent, the ref of its ready call)
        self._waiting: dict[Shape, list[RayChild]] = {}  # cells whose agent Ray has not placed yet

    def placed(self, resources: Mapping[str, float], child: RayChild) -> None:
        waiting = self._waiting.get(_shape(resources), [])
        if child in waiting:
            waiting.remove(child)

    def _new(self, resources: Mapping[str, float]) -> Any:
        return _agent_class().options(max_concurrency=3, max_restarts=0, **actor_options(resources)).remote()

    def take(self, resources: Mapping[str, float], child: RayChild) -> Any:
        """An agent for ``child``: an idle one, else a new one, and then ``child`` waits for Ray to place it
        (only then: an idle agent given to a child already started on one would kill that one, child and all)."""
        shape = _shape(resources)
        idle = self._idle.get(shape)
        if idle:  # one Ray already placed, if any: another may wait for resources other runners hold
            done, _ = _ray().wait([ready for _, ready in idle], num_returns=1, timeout=0)
            return idle.pop(next((i for i, (_, ready) in enumerate(idle) if ready in done), 0))[0]
        for other in [s for s in self._idle if s != shape]:
            for actor, _ in self._idle.pop(other):
                _kill(actor)
        self._waiting.setdefault(shape, []).append(child)
        return self._new(resources)

    def prestart(self, resources: Mapping[str, float], count: int) -> None:
        """Ask Ray for ``count`` idle agents of this shape now, so that their workers start while the
        driver still renders and records the plan (a new worker costs seconds), not after the first claims."""
        self._idle.setdefault(_shape(resources), []).extend(
            (actor, actor.ready.remote()) for actor in (self._new(resources) for _ in range(count)))

    def give_back(self, resources: Mapping[str, float], actor: Any) -> None:
        waiting = self._waiting.get(_shape(resources))
        if waiting:
            waiting.pop(0).adopt(actor)
            return
        self._idle.setdefault(_shape(resources), []).append((actor, actor.ready.remote()))

    def close(self) -> None:
        for agents in self._idle.values():
            for actor, _ in agents:
                _kill(actor)
        self._idle.clear()


def _shape(resources: Mapping[str, float]) -> Shape:
    return tuple(sorted(resources.items()))


def _kill(actor: Any) -> None:
    try:
        _ray().kill(actor, no_restart=True)
    except Exception:  # noqa: BLE001 - an agent already gone with its node: nothing left to kill
        pass


class RayChild:
    """A child running on a Ray node, behind the interface of a local ChildProcess.

    ``pid`` is None (the child's pid is the node's); ``node`` names where it runs
    once the agent started it; ``timed_out`` says the node stopped it at the timeout;
    ``lost`` that its node or keeper was lost (the attempt failed, whatever the child wrote).
    """

    warm = False

    def __init__(self, spec: ChildSpec, *, agents: AgentPool, resources: Mapping[str, float], options: RayOptions,
                 timeout_s: float, grace_s: float, config_path: str, threads: int) -> None:
        spec.output_dir.mkdir(parents=True, exist_ok=True)
        self.spec, self.pid = spec, None
        self.node: str | None = None
        self.node_dir: str | None = None
        self.started = time.monotonic()
        self.term_sent_at: float | None = None
        self.killed = self.timed_out = self.lost = False
        self._running = False
        self._wait_s = POLL_WAIT_S
        self._exit: int | None = None
        self._unreachable_since: float | None = None
        self._placements, self._place_at = 0, 0.0
        self._agents, self._resources = agents, resources
        probe = spec.output_dir / ATTEMPT_FILE
        self._job = NodeJob(argv=tuple(spec.argv), env=spec.env, cwd=spec.cwd, output_dir=str(spec.output_dir),
                      log_path=str(spec.log_path), timeout_s=timeout_s, grace_s=grace_s, threads=threads,
                      probe=(str(probe), file_sha256(probe)), shared=options.shared_storage,
                      files=_readable({config_path}) if options.shared_storage != "yes" else {},
                      driver_python=sys.executable)
        self._place()

    def _place(self) -> None:
        """An agent holding the cell's resources (an idle one, or a new one Ray places on a node that has them)."""
        self._placements += 1
        self.actor = self._agents.take(self._resources, self)
        self._call: Any = self.actor.start.remote(self._job)

    def adopt(self, actor: Any) -> None:
        """Start on ``actor``, an idle agent already placed, instead of the one Ray has not placed yet."""
        _kill(self.actor)
        self.actor = actor
        self._call = actor.start.remote(self._job)

    @property
    def elapsed(self) -> float:
        """Seconds since the child started on its node (0 while Ray still places it)."""
        return time.monotonic() - self.started if self._running else 0.0

    def poll(self) -> int | None:
        """The exit code once the child ended; streams what is new meanwhile."""
        if self._exit is not None:
            return self._exit
        if self._call is None:  # waiting to place the agent again
            if time.monotonic() >= self._place_at:
                self._place()
            return None
        if self.killed and self.term_sent_at is not None \
                and time.monotonic() - self.term_sent_at > 2 * self._job.grace_s + _CALL_S:
            return self._lost(TimeoutError("the node agent did not answer after SIGKILL"))
        ray = _ray()
        ready, _ = ray.wait([self._call], timeout=0)
        if not ready:
            return None
        try:
            answer = ray.get(self._call, timeout=_CALL_S)
        except ray.exceptions.ActorUnavailableError as error:  # may pass (a slow network): ask again a while
            self._unreachable_since = self._unreachable_since or time.monotonic()
            if time.monotonic() - self._unreachable_since > UNREACHABLE_S:
                return self._lost(error)
            self._call = self.actor.poll.remote(self._wait_s) if self._running else self._call
            return None if self._running else self._replace(error)
        except ray.exceptions.RayError as error:
            return self._lost(error) if self._running or self._placements >= PLACEMENTS else self._replace(error)
        self._unreachable_since = None
        if isinstance(answer, dict):  # the agent started the child
            self._agents.placed(self._resources, self)
            self.node, self.node_dir = str(answer["node"]), str(answer["dir"])
            self._wait_s = SHARED_POLL_WAIT_S if answer.get("shared") else POLL_WAIT_S
            self._running, self.started = True, time.monotonic()
        else:
            self._take(answer)
        if self._exit is None:
            self._call = self.actor.poll.remote(self._wait_s)
        return self._exit

    def _take(self, answer: NodeAnswer) -> None:
        for name, data in answer.chunks.items():
            if name in MIRRORED:
                with open(self.spec.output_dir / name, "ab") as handle:
                    handle.write(data)
        if answer.exit is None:
            return
        if answer.bundle is not None:
            _unpack(answer.bundle, self.spec.output_dir)
        if answer.note:
            self._log(answer.note)
        if answer.node_lost:  # its agent still answered, but the node has left the cluster: not for reuse
            self._lost(RuntimeError("its raylet died; the child there was stopped"))
            _kill(self.actor)
            return
        if answer.lost:
            self._log("hpsys: the keeper of this attempt's child died on its node; the child was stopped")
            self.lost = True
        self.timed_out, self._exit = answer.timed_out, answer.exit
        self._agents.give_back(self._resources, self.actor)  # its child and keeper are gone: ready for the next

    def _replace(self, error: Exception) -> None:
        """The agent died before it started the child (placed on a node being lost): place it again."""
        self._log(f"hpsys: the Ray agent ended before the child started ({type(error).__name__}); placing it again")
        self._agents.placed(self._resources, self)
        _kill(self.actor)
        self._call, self._place_at = None, time.monotonic() + PLACE_AGAIN_S
        return None

    def _lost(self, error: Exception) -> int:
        """The node or its agent died: the attempt failed, and its log says why."""
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        where = f"node {self.node}" if self.node else "the Ray node"
        self._log(f"hpsys: {where} was lost while this attempt ran ({type(error).__name__}: {reason[:300]})")
        self.lost = True
        self._agents.placed(self._resources, self)
        self._exit = -signal.SIGKILL
        return self._exit

    def _log(self, line: str) -> None:
        with open(self.spec.log_path, "a", encoding="utf-8") as handle:
            handle.write(line + "\n")

    def terminate(self) -> None:
        if self.term_sent_at is None:
            self.term_sent_at = time.monotonic()
            self._tell("TERM")

    def enforce_grace(self, grace_s: float) -> None:
        if self.term_sent_at is not None and not self.killed and time.monotonic() - self.term_sent_at >= grace_s:
            self.killed = True
            self._tell("KILL")
            if not self._running:  # still waiting for its resources: nothing runs yet
                self._agents.placed(self._resources, self)
                self._exit = -signal.SIGKILL
                _kill(self.actor)

    def _tell(self, command: str) -> None:
        if self._exit is None:
            self.actor.signal.remote(command)

    def reap_group(self) -> None:
        """Nothing to do here: the keeper on the node reaped the child's group before it answered."""

    def stop_leftovers(self, grace_s: float) -> None:
        """Nothing to do here: the keeper stopped what the child left, on its node."""

    def local_path(self, path: str | None) -> str | None:
        """A path the child wrote (its W&B run folder) as it lies in the driver's attempt folder."""
        if path and self.node_dir and path.startswith(self.node_dir) and self.node_dir != str(self.spec.output_dir):
            return str(self.spec.output_dir) + path[len(self.node_dir):]
        return path


def stop_remote_orphans(driver_dirs: Collection[str], grace_s: float) -> set[str]:
    """Stop, on every live node, what still works for attempts a dead driver left; the folders that had any.

    Ray ends a dead driver's agents and their keepers stop the children, but a
    resume must not start a cell again while its old child is still in its grace.
    """
    if not driver_dirs:
        return set()
    ray = _ray()
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    from hyperparameter_system.runner.ray_agent import stop_node_orphans

    task = ray.remote(stop_node_orphans)
    calls = [task.options(num_cpus=0, scheduling_strategy=NodeAffinitySchedulingStrategy(node["NodeID"], soft=False))
             .remote(sorted(driver_dirs), grace_s) for node in ray.nodes() if node.get("Alive")]
    found: set[str] = set()
    for call in calls:
        try:
            found.update(ray.get(call, timeout=grace_s + _CALL_S))
        except ray.exceptions.RayError:
            continue  # a node that died took its children with it
    return found


@functools.cache
def _agent_class() -> Any:
    return _ray().remote(NodeAgent)


def _unpack(data: bytes, folder: Path) -> None:
    """A node's bundle into the driver's attempt folder: regular files and folders only, nothing outside it."""
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        tar.extractall(folder, filter="data")


def _readable(paths: Collection[str]) -> dict[str, bytes]:
    files = {}
    for path in paths:
        try:
            files[path] = Path(path).read_bytes()
        except OSError:
            continue
    return files


__all__ = ["AgentPool", "RayChild", "actor_options", "node_dir",
           "stop_remote_orphans"]
