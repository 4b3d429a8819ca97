"""A training project's own config schema: its full defaults, read without importing its code.

A model's ``schema:`` is ``FILE.py:NAME`` (a yacs CfgNode, e.g.
reid-strong-baseline's ``config/defaults.py:_C``) or a YAML file (a plain-YAML
project's config). The Python file is read by ``schema_probe.py`` in a child
process started in the model's ``cwd``, so the planner never imports what the
file imports (torch, often) and stays instant after the first read.

Values are checked the way yacs checks a merge
(``_check_and_coerce_cfg_value_type``): the same type, None on either side,
or list <-> tuple; nothing else (yacs refuses an int for a float key, and so
does the planner, before the script would).
"""

from __future__ import annotations

import ast
import functools
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from yacs.config import CfgNode

from hyperparameter_system.config.schema_probe import MARKER
from hyperparameter_system.config.yacs_keys import describe
from hyperparameter_system.config.yaml_source import load_yaml_with_lines
from hyperparameter_system.errors import ConfigError, did_you_mean

__all__ = ["ScriptSchema", "coerce", "load_schema", "yacs_decode", "yacs_text"]

_PROBE = Path(__file__).with_name("schema_probe.py")
_PROBE_TIMEOUT_S = 120.0
_VALID = (tuple, list, str, int, float, bool, type(None))


@dataclass(frozen=True)
class ScriptSchema:
    """The script's full defaults (``defaults``, a CfgNode) and its settable keys.

    Attributes:
        source: The schema as the model names it (absolute path, ``:NAME`` for Python).
        kind: ``yacs`` (rendered as a YACS dump) or ``yaml`` (a plain nested YAML).
    """

    source: str
    kind: str
    defaults: CfgNode
    leaves: dict[str, Any]

    def check(self, key: str, value: Any) -> Any:
        """``value`` as the script's merge would take it for ``key``.

        Raises:
            ValueError: unknown key (with a did-you-mean), a section, or a
                type yacs would refuse.
        """
        if key not in self.leaves:
            children = sorted(k for k in self.leaves if k.startswith(key + "."))
            if children:
                raise ValueError(f"{key} is a section of {self.source}, not a setting; its keys: "
                                 f"{', '.join(children)}")
            raise ValueError(f"unknown key {key!r} in {self.source}{did_you_mean(key, self.leaves)}")
        return coerce(value, self.leaves[key])


def coerce(value: Any, default: Any) -> Any:
    """yacs's own rule for replacing ``default`` by ``value`` (lists stand for tuples)."""
    if not isinstance(value, _VALID) or isinstance(value, dict):
        raise ValueError(f"expected a plain value, got {describe(value)}")
    if type(value) is type(default) or value is None or default is None:
        return list(value) if isinstance(value, tuple) else value
    if isinstance(value, (list, tuple)) and isinstance(default, (list, tuple)):
        return list(value)
    kind = "list" if isinstance(default, (list, tuple)) else type(default).__name__
    raise ValueError(f"expected {kind} (the default is {default!r}), got {describe(value)}")


def yacs_decode(value: Any) -> Any:
    """A value as yacs reads it from a file or the command line: text goes through ``literal_eval``."""
    if not isinstance(value, str):
        return value
    try:
        return ast.literal_eval(value)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return value


def yacs_text(value: Any) -> Any:
    """Text that yacs's ``literal_eval`` would turn into something else (``'0'`` -> 0), quoted so it stays text."""
    if isinstance(value, str) and yacs_decode(value) != value:
        return repr(value)
    return value


def load_schema(source: str, cwd: str) -> ScriptSchema:
    """Read a model's schema (cached per file and modification time).

    Args:
        source: ``/abs/FILE.py:NAME`` or ``/abs/file.yaml`` (as config loading made it).
        cwd: The model's folder; the probe starts there.

    Raises:
        ValueError: the file cannot be read, has no such name, or is no mapping;
            the caller locates it at the model's ``schema:`` line.
    """
    path = source.rpartition(":")[0] if source.rpartition(":")[0].endswith(".py") else source
    try:
        mtime = os.stat(path).st_mtime_ns
    except OSError as exc:
        raise ValueError(f"cannot read schema file {path}: {exc.strerror}") from None
    return _load(source, cwd, mtime)


@functools.lru_cache(maxsize=32)
def _load(source: str, cwd: str, _mtime: int) -> ScriptSchema:
    if source.rpartition(":")[0].endswith(".py"):
        tree, kind = _probe(*source.rsplit(":", 1), cwd), "yacs"
    else:
        tree, kind = _read_yaml(source), "yaml"
    try:
        defaults = CfgNode(tree)
    except (AssertionError, KeyError, TypeError) as exc:
        raise ValueError(f"{source}: not a config tree yacs can hold: {exc}") from None
    leaves: dict[str, Any] = {}
    _walk(defaults, "", leaves)
    if not leaves:
        raise ValueError(f"{source} has no settings")
    return ScriptSchema(source=source, kind=kind, defaults=defaults, leaves=leaves)


def _walk(node: CfgNode, prefix: str, out: dict[str, Any]) -> None:
    for name, value in node.items():
        if isinstance(value, CfgNode):
            _walk(value, f"{prefix}{name}.", out)
        else:
            out[prefix + name] = value


def _probe(path: str, name: str, cwd: str) -> dict[str, Any]:
    """The CfgNode ``name`` of ``path``, as plain data, from a child process.

    The answer comes back in a file of its own: the schema file may print
    anything (non-UTF-8 bytes included) on stdout, which is thrown away.
    """
    with tempfile.TemporaryDirectory(prefix="hpsys-schema-") as tmp:
        answer = Path(tmp) / "answer.json"
        try:
            done = subprocess.run([sys.executable, str(_PROBE), path, name, str(answer)], cwd=cwd,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                  timeout=_PROBE_TIMEOUT_S, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise ValueError(f"reading {path} took over {_PROBE_TIMEOUT_S:.0f} s") from None
        text = answer.read_text(encoding="utf-8") if answer.is_file() else ""
    if done.returncode != 0 or not text.startswith(MARKER):
        reason = _last_line(done.stderr.decode("utf-8", errors="replace")) or f"exit code {done.returncode}"
        raise ValueError(f"cannot read {name} from {path}: {reason}")
    try:
        return json.loads(text[len(MARKER):])
    except json.JSONDecodeError as exc:  # pragma: no cover - the probe wrote it
        raise ValueError(f"cannot read {name} from {path}: {exc}") from None


def _read_yaml(path: str) -> dict[str, Any]:
    try:
        data, _ = load_yaml_with_lines(path)
    except ConfigError as exc:
        raise ValueError(str(exc)) from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: a YAML schema must be a mapping, got {describe(data)}")
    return data


def _last_line(text: str) -> str:
    """The line that says what went wrong: the last non-empty one (the exception, not the traceback)."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return lines[-1] if lines else ""
