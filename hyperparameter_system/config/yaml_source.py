"""Line-aware YAML loading: plain Python data plus the line of every node.

Every file a user writes (the experiment file, category YAML files, sweep
files) is read through here so that any later check, however deep, can say
``path:line: key: reason``. The loader is PyYAML's safe loader with three
differences a practitioner relies on:

* a key written twice in one mapping is an error at the second occurrence
  (plain PyYAML silently keeps the last one, so a duplicated ``lr:`` is lost);
* ``1e-3`` is a float, as in YAML 1.2 and Python (PyYAML's YAML 1.1 rules
  read it as the string ``"1e-3"``, which would later fail as a wrong type);
* an empty file, a syntax error or an unsupported tag becomes a
  :class:`~hyperparameter_system.errors.ConfigError` with the line.

Key paths are tuples of mapping keys and sequence indices, e.g.
``("categories", "optimizer", "options", 2, "lr")``; :func:`dotted` writes
them as ``categories.optimizer.options[2].lr`` for messages.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Hashable

import yaml

from hyperparameter_system.errors import ConfigError

KeyPath = tuple[Hashable, ...]

__all__ = ["KeyPath", "LineIndex", "dotted", "load_yaml_text", "load_yaml_with_lines"]

# YAML 1.2 / Python float syntax, so that 1e-3, 5E+2 and .5 are floats.
_FLOAT_RE = re.compile(
    r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
    |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
    |\.[0-9_]+(?:[eE][-+]?[0-9]+)?
    |[-+]?\.(?:inf|Inf|INF)
    |\.(?:nan|NaN|NAN))$""",
    re.X,
)


class _LineLoader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 floats; composition only, construction is ours."""


# Replace the float resolver (first-character table) rather than add to it, so
# the broader regex is the one consulted for every float-looking scalar.
_LineLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:float"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_LineLoader.add_implicit_resolver("tag:yaml.org,2002:float", _FLOAT_RE, list("-+0123456789."))


def dotted(keypath: KeyPath) -> str:
    """Write a key path for humans: ``("a", "b", 2, "c")`` -> ``a.b[2].c``."""
    text = ""
    for part in keypath:
        if isinstance(part, int) and not isinstance(part, bool):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


@dataclass(frozen=True)
class LineIndex:
    """Where each node of one YAML file is, by key path (1-based lines).

    Attributes:
        path: The file, as the user named it (used verbatim in messages).
        key_lines: Line of each mapping key / sequence item, by key path; the
            root ``()`` maps to the first line of the document.
        value_lines: Line where each node's value starts (differs from the key
            line for block values, e.g. a mapping under ``options:``).
    """

    path: str
    key_lines: dict[KeyPath, int] = field(default_factory=dict)
    value_lines: dict[KeyPath, int] = field(default_factory=dict)

    def line_of(self, keypath: KeyPath) -> int:
        """Line of the node at ``keypath``, else of its nearest known parent (0 if none).

        A missing key therefore points at the mapping that should hold it.
        """
        keypath = tuple(keypath)
        while True:
            if keypath in self.key_lines:
                return self.key_lines[keypath]
            if not keypath:
                return 0
            keypath = keypath[:-1]

    def value_line_of(self, keypath: KeyPath) -> int:
        """Line where the value at ``keypath`` starts, else :meth:`line_of`."""
        return self.value_lines.get(tuple(keypath)) or self.line_of(keypath)

    def error(self, keypath: KeyPath, reason: str) -> ConfigError:
        """A :class:`ConfigError` for the node at ``keypath`` (to be raised by the caller)."""
        return ConfigError(self.path, self.line_of(keypath), dotted(keypath), reason)


def load_yaml_with_lines(path: str | Path) -> tuple[Any, LineIndex]:
    """Read one YAML file into plain data (dict / list / scalars) and its :class:`LineIndex`.

    Args:
        path: The file; messages name it exactly as given.

    Raises:
        ConfigError: missing or unreadable file, empty file, YAML syntax error,
            duplicate key, unsupported tag or recursive alias.
    """
    name = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(name, 0, "", "file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(name, 0, "", f"cannot read file: {exc}") from None
    return load_yaml_text(text, name)


def load_yaml_text(text: str, path: str) -> tuple[Any, LineIndex]:
    """Like :func:`load_yaml_with_lines` for text already in memory; ``path`` names it in errors."""
    loader = _LineLoader(text)
    try:
        node = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        raise _syntax_error(path, exc) from None
    except yaml.YAMLError as exc:  # e.g. a control character: no mark to point at
        raise ConfigError(path, 0, "", f"YAML error: {exc}") from None
    finally:
        loader.dispose()
    if node is None:
        raise ConfigError(path, 1, "", "file is empty (no YAML document)")
    index = LineIndex(path)
    index.key_lines[()] = index.value_lines[()] = node.start_mark.line + 1
    data = _Builder(loader, index).build(node, ())
    return data, index


def _syntax_error(path: str, exc: yaml.MarkedYAMLError) -> ConfigError:
    """One line from PyYAML's multi-line message, at the line of the problem."""
    mark = exc.problem_mark or exc.context_mark
    line = mark.line + 1 if mark is not None else 0
    parts = [p for p in (exc.context, exc.problem) if p]
    return ConfigError(path, line, "", "YAML syntax error: " + ", ".join(parts))


_PLAIN_COLLECTION_TAGS = ("tag:yaml.org,2002:map", "tag:yaml.org,2002:seq")


class _Builder:
    """Turns composed nodes into Python data while recording each node's line."""

    def __init__(self, loader: _LineLoader, index: LineIndex) -> None:
        self._loader = loader
        self._index = index
        self._active: set[int] = set()  # nodes being built: detects recursive aliases

    def build(self, node: yaml.Node, keypath: KeyPath) -> Any:
        if id(node) in self._active:
            raise self._index.error(keypath, "recursive YAML alias is not supported")
        self._active.add(id(node))
        try:
            if not isinstance(node, yaml.ScalarNode) and node.tag not in _PLAIN_COLLECTION_TAGS:
                line = node.start_mark.line + 1
                raise ConfigError(self._index.path, line, dotted(keypath), f"unsupported YAML tag {node.tag}")
            if isinstance(node, yaml.MappingNode):
                return self._mapping(node, keypath)
            if isinstance(node, yaml.SequenceNode):
                return self._sequence(node, keypath)
            return self._scalar(node, keypath)
        finally:
            self._active.discard(id(node))

    def _scalar(self, node: yaml.Node, keypath: KeyPath) -> Any:
        try:
            return self._loader.construct_object(node, deep=True)
        except yaml.MarkedYAMLError as exc:
            line = exc.problem_mark.line + 1 if exc.problem_mark else self._index.line_of(keypath)
            raise ConfigError(self._index.path, line, dotted(keypath), str(exc.problem)) from None

    def _sequence(self, node: yaml.SequenceNode, keypath: KeyPath) -> list[Any]:
        items = []
        for i, child in enumerate(node.value):
            sub = keypath + (i,)
            self._index.key_lines[sub] = self._index.value_lines[sub] = child.start_mark.line + 1
            items.append(self.build(child, sub))
        return items

    def _mapping(self, node: yaml.MappingNode, keypath: KeyPath) -> dict[Any, Any]:
        explicit = sum(1 for key_node, _ in node.value if key_node.tag != "tag:yaml.org,2002:merge")
        try:
            self._loader.flatten_mapping(node)  # resolves ``<<: *anchor`` merge keys
        except yaml.MarkedYAMLError as exc:
            raise _syntax_error(self._index.path, exc) from None
        merged = len(node.value) - explicit  # flatten_mapping puts merged pairs first
        result: dict[Any, Any] = {}
        first_line: dict[Any, int] = {}
        for position, (key_node, value_node) in enumerate(node.value):
            line = key_node.start_mark.line + 1
            if not isinstance(key_node, yaml.ScalarNode):
                raise ConfigError(self._index.path, line, dotted(keypath), "a mapping key must be a plain value")
            key = self._scalar(key_node, keypath)
            sub = keypath + (key,)
            # A key written twice is an error; one that overrides a merged ``<<:`` value is not.
            if key in first_line and position >= merged and first_line[key] > 0:
                raise ConfigError(self._index.path, line, dotted(sub),
                                  f"duplicate key (first defined at line {first_line[key]})")
            first_line[key] = line if position >= merged else 0
            self._index.key_lines[sub] = line
            self._index.value_lines[sub] = value_node.start_mark.line + 1
            result[key] = self.build(value_node, sub)
        return result
