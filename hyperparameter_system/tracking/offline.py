"""Read W&B offline runs back from disk: config, history, summary and names.

An offline run keeps everything in one ``run-<id>.wandb`` file; there is no
``config.yaml`` or ``wandb-summary.json`` beside it. The file is a LevelDB-style
log: a 7-byte header (``:W&B``, magic ``0xBEE1``, version), then 32 KiB blocks
of chunks, each chunk a 7-byte header (crc32c, little-endian length, type)
carrying a piece of one serialized ``wandb_internal_pb2.Record``. wandb 0.31
no longer ships a Python reader of that format, so this module parses the
framing itself and decodes the records with wandb's own protobuf classes.

``hpsys --sync`` reads each run's own entity and project from it, without a
W&B server and without shelling out to ``wandb``; the tests read back what a
run logged through it (``tests/wandb_runs.py`` finds and waits for runs).
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from hyperparameter_system.errors import HpsysError

_FILE_HEADER_LEN = 7
_IDENT = b":W&B"
_BLOCK = 32 * 1024
_CHUNK_HEADER = struct.Struct("<IHB")  # crc32c, length, type
_FULL, _FIRST, _MIDDLE, _LAST = 1, 2, 3, 4


@dataclass
class OfflineRun:
    """What one offline run recorded.

    Attributes:
        config: The run config, nested keys as logged (``{"SOLVER": {"BASE_LR": ..}}``).
        history: One dict per ``wandb.log`` call with its ``_step``.
        summary: The final summary (explicit summary updates over the last logged values).
        project: W&B project name.
        entity: W&B entity (user or team) the run was made for, or "" when none was set.
        name: Run display name.
        group: Run group, or "" when none.
        tags: Run tags.
        run_id: The run id.
        path: The ``.wandb`` file read.
        finished: The run's exit record was read: the file is complete. W&B's
            service writes the file in its own process, so right after
            ``wandb.finish()`` (or a child's exit) it may still be catching up.
    """

    config: dict[str, Any] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    project: str = ""
    entity: str = ""
    name: str = ""
    group: str = ""
    tags: list[str] = field(default_factory=list)
    run_id: str = ""
    path: Path | None = None
    finished: bool = False


def read_offline_run(run_dir: str | Path) -> OfflineRun:
    """Parse one offline run directory (or its ``.wandb`` file) into an :class:`OfflineRun`.

    Raises:
        HpsysError: When the directory holds no ``.wandb`` file or the file is not one.
    """
    path = _wandb_file(Path(run_dir))
    from wandb.proto import wandb_internal_pb2 as pb  # lazy: only readers pay for it

    run = OfflineRun(path=path)
    last_values: dict[str, Any] = {}
    for payload in _iter_payloads(path.read_bytes(), path):
        record = pb.Record()
        record.ParseFromString(payload)
        kind = record.WhichOneof("record_type")
        if kind == "run":
            _apply_run(run, record.run)
        elif kind == "config":
            _apply_items(run.config, record.config.update)
        elif kind == "history":
            row: dict[str, Any] = {}
            _apply_items(row, record.history.item)
            run.history.append(row)
            last_values.update({k: v for k, v in row.items() if not k.startswith("_")})
        elif kind == "summary":
            _apply_items(run.summary, record.summary.update)
            for item in record.summary.remove:
                run.summary.pop(_item_key(item), None)
        elif kind == "exit":
            run.finished = True
    run.summary = {**last_values, **run.summary}
    run.config.pop("_wandb", None)
    return run


def _wandb_file(run_dir: Path) -> Path:
    if run_dir.is_file():
        return run_dir
    files = sorted(run_dir.glob("run-*.wandb"))
    if not files:
        raise HpsysError(f"{run_dir}: no run-*.wandb file (not a W&B offline run directory)")
    return files[0]


def _iter_payloads(data: bytes, path: Path) -> Iterator[bytes]:
    """Yield each record's bytes, reassembling records split over blocks.

    A torn tail (a run killed mid-write) ends the iteration quietly: what was
    complete before it is still worth reading.
    """
    if data[:4] != _IDENT:
        raise HpsysError(f"{path}: not a W&B run file (bad header)")
    pos = _FILE_HEADER_LEN
    pending = bytearray()
    while pos + _CHUNK_HEADER.size <= len(data):
        room = _BLOCK - pos % _BLOCK
        if room < _CHUNK_HEADER.size:  # block trailer: zero padding
            pos += room
            continue
        _crc, length, kind = _CHUNK_HEADER.unpack_from(data, pos)
        start = pos + _CHUNK_HEADER.size
        if kind == 0 or start + length > len(data):
            return
        chunk = data[start : start + length]
        pos = start + length
        if kind == _FULL:
            yield bytes(chunk)
        elif kind == _FIRST:
            pending = bytearray(chunk)
        elif kind == _MIDDLE:
            pending += chunk
        elif kind == _LAST:
            pending += chunk
            yield bytes(pending)
            pending = bytearray()


def _apply_run(run: OfflineRun, rec: Any) -> None:
    run.project = rec.project or run.project
    run.entity = rec.entity or run.entity
    run.name = rec.display_name or run.name
    run.group = rec.run_group or run.group
    run.run_id = rec.run_id or run.run_id
    if rec.tags:
        run.tags = list(rec.tags)
    if rec.HasField("config"):
        _apply_items(run.config, rec.config.update)


def _item_key(item: Any) -> str:
    return "/".join(item.nested_key) if item.nested_key else item.key


def _apply_items(target: dict[str, Any], items: Any) -> None:
    """Decode ``key``/``value_json`` items; a multi-part ``nested_key`` becomes nested dicts.

    wandb flattens a logged dict (an image's metadata, a nested config) into
    multi-part keys, while a flat name such as ``val/acc`` is a one-part key.
    """
    for item in items:
        value = json.loads(item.value_json) if item.value_json else None
        if len(item.nested_key) > 1:
            node = target
            for part in item.nested_key[:-1]:
                node = node.setdefault(part, {})
            node[item.nested_key[-1]] = value
        else:
            target[_item_key(item)] = value
