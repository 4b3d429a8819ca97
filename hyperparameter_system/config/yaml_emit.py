"""Block YAML for a config of plain values, written directly: what rendering 10,000 cells costs.

PyYAML's representer is pure Python even with libyaml's emitter and spends
~1 ms per YACS config walking nodes and resolvers. A rendered config is a
tree of mappings whose leaves are text, numbers, booleans, null or flat
lists of those, so it is written here directly, with the same scalar forms
PyYAML uses (floats exactly as its representer writes them) and keys in
sorted order. Anything else (a nested list, a character outside the Basic
Multilingual Plane, a type YAML's safe loader does not know) goes to
``yaml.dump`` whole, so the file always loads back to the same values.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any, Callable, Iterable

import yaml

__all__ = ["SortedTemplate", "dump_sorted"]

_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)  # libyaml: ~4x faster than the Python emitter
# Text that YAML reads back as that same text when written bare: starts with a
# letter, '/', './' or '../', no spaces, colons, '#' or flow characters (and is no
# boolean or null word below).
_PLAIN = re.compile(r"(?:[A-Za-z/]|\.\.?/)[A-Za-z0-9_./-]*")
_WORDS = frozenset(w for word in ("yes", "no", "true", "false", "on", "off", "null")
                   for w in (word, word.title(), word.upper()))


class _Unusual(Exception):
    """A value the direct writer leaves to PyYAML."""


def dump_sorted(tree: dict[str, Any]) -> str:
    """``yaml.dump(tree, default_flow_style=False, sort_keys=True)`` in meaning, ~10x faster.

    Args:
        tree: Nested mappings (a CfgNode is one) of plain values.
    """
    lines: list[str] = []
    try:
        _mapping(tree, "", lines)
    except _Unusual:
        return yaml.dump(_plain(tree), Dumper=_DUMPER, default_flow_style=False, sort_keys=True)
    return "\n".join(lines) + "\n" if lines else "{}\n"


def _plain(node: Any) -> Any:
    """Plain dicts for PyYAML's safe dumper, which refuses dict subclasses such as CfgNode."""
    return {k: _plain(v) for k, v in node.items()} if isinstance(node, dict) else node


def _mapping(node: dict[str, Any], indent: str, lines: list[str]) -> None:
    for key in sorted(node):
        value = node[key]
        name = _text(key) if isinstance(key, str) else _unusual(key)
        if isinstance(value, dict) and value:
            lines.append(f"{indent}{name}:")
            _mapping(value, indent + "  ", lines)
        else:
            lines.append(_leaf(indent, name, value))


def _leaf(indent: str, name: str, value: Any) -> str:
    """The line(s) of one setting (an empty mapping is one too)."""
    if isinstance(value, dict):
        return f"{indent}{name}: {{}}"
    if isinstance(value, list):
        if not value:
            return f"{indent}{name}: []"
        return "\n".join([f"{indent}{name}:", *(f"{indent}- {_scalar(item)}" for item in value)])
    return f"{indent}{name}: {_scalar(value)}"


class SortedTemplate:
    """:func:`dump_sorted`'s text of one tree with each setting replaceable: for many configs
    that differ from it in a few keys (the cells of one model), written without walking each.
    """

    def __init__(self, tree: dict[str, Any]) -> None:
        self._lines: list[str] = []
        self._where: dict[str, tuple[int, str, str]] = {}  # dotted key -> (line, indent, name)
        try:
            self._collect(tree, "", "")
        except _Unusual:
            self._lines = []

    def _collect(self, node: dict[str, Any], indent: str, prefix: str) -> None:
        for key in sorted(node):
            value = node[key]
            name = _text(key) if isinstance(key, str) else _unusual(key)
            if isinstance(value, dict) and value:
                self._lines.append(f"{indent}{name}:")
                self._collect(value, indent + "  ", f"{prefix}{key}.")
                continue
            if not isinstance(value, dict):
                self._where[prefix + key] = (len(self._lines), indent, name)
            self._lines.append(_leaf(indent, name, value))

    def text(self, pairs: Iterable[tuple[str, Any]]) -> str | None:
        """The tree's text with these dotted settings (last wins); None when this cannot write it
        (a key the tree lacks, a mapping, an unusual value): the caller dumps the whole config."""
        if not self._lines:
            return None
        lines = self._lines.copy()
        try:
            for key, value in dict(pairs).items():
                where = self._where.get(key)
                if where is None or isinstance(value, dict):
                    return None
                lines[where[0]] = _leaf(where[1], where[2], value)
        except _Unusual:
            return None
        return "\n".join(lines) + "\n"


def _scalar(value: Any) -> str:
    writer = _WRITERS.get(type(value))
    return writer(value) if writer is not None else _unusual(value)


def _text(value: str) -> str:
    if _PLAIN.fullmatch(value) and value not in _WORDS:
        return value
    if not value:
        return "''"
    if any(ord(c) > 0xFFFF for c in value):  # JSON would write a surrogate pair YAML reads as two characters
        raise _Unusual
    return json.dumps(value)  # a JSON string is a YAML double-quoted scalar


def _float(value: float) -> str:
    """As PyYAML's SafeRepresenter writes a float (``1.0e-05``, ``.inf``, ``.nan``)."""
    if math.isnan(value):
        return ".nan"
    if math.isinf(value):
        return ".inf" if value > 0 else "-.inf"
    text = repr(value).lower()
    return text.replace("e", ".0e", 1) if "." not in text and "e" in text else text


def _unusual(value: Any) -> str:
    raise _Unusual


_WRITERS: dict[type, Callable[[Any], str]] = {
    str: _text, bool: lambda v: "true" if v else "false", int: str, float: _float,
    type(None): lambda v: "null",
}
