"""A cell's config as its model's base plus the cell's own settings, built into a CfgNode only when needed.

Planning 10,000 cells must not copy 10,000 configs. Every cell of a model
shares that model's base config (:class:`BaseConfig`, flattened once); a
cell carries only the keys its option, seed and names set (a
:class:`PlannedConfig`). A category option is tried on one reusable scratch
copy of the base that notes every key set on it and is put back afterwards,
the id's hash is joined from the base's per-key JSON fragments with the
cell's keys written over them, and the cell's CfgNode is built (and frozen)
only when its config is rendered or a caller asks for it.
"""

from __future__ import annotations

import json
from typing import Any, Callable, Collection, Iterable

from yacs.config import CfgNode

from hyperparameter_system.config.repeats import config_value
from hyperparameter_system.config.yacs_keys import flat_settings, set_key

__all__ = ["BaseConfig", "PlannedConfig", "canonical_json", "clone_node", "same_value"]


def canonical_json(value: Any) -> str:
    """The single text form of an option or config: sorted keys, no spaces, ASCII."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def clone_node(node: CfgNode) -> CfgNode:
    """A deep copy ~10x faster than ``CfgNode.clone`` (which goes through deepcopy)."""
    out = CfgNode.__new__(CfgNode)
    dict.__init__(out)
    out.__dict__.update(node.__dict__)
    for key, value in node.items():
        dict.__setitem__(out, key, clone_node(value) if isinstance(value, CfgNode) else
                         list(value) if isinstance(value, list) else value)
    return out


def same_value(a: Any, b: Any) -> bool:
    """Equal and of one type, items too: 1, 1.0 and True render and hash differently."""
    if type(a) is not type(b):
        return False
    if isinstance(a, list):
        return len(a) == len(b) and all(same_value(x, y) for x, y in zip(a, b))
    return bool(a == b)


class PlannedConfig:
    """The full config a cell's child reads, as planned: a base node and the keys set over it, in order.

    The base is shared by every cell of a model and never modified; :attr:`node`
    builds the cell's own copy once, frozen. A plain class, not a dataclass:
    ``dataclasses.asdict`` of a cell must not walk into the config.
    """

    __slots__ = ("_base", "_pairs", "_node", "dump")

    def __init__(self, base: CfgNode, dump: Callable[[CfgNode], str], pairs: Iterable[tuple[str, Any]] = ()) -> None:
        self._base = base
        self._pairs = tuple(pairs)
        self._node: CfgNode | None = None
        self.dump = dump

    def sealed(self, pairs: Iterable[tuple[str, Any]]) -> PlannedConfig:
        """This config with ``pairs`` set last (the cell's final names)."""
        return PlannedConfig(self._base, self.dump, (*self._pairs, *pairs))

    @property
    def node(self) -> CfgNode:
        """The cell's config as a frozen CfgNode (built on first use)."""
        if self._node is None:
            self._node = self.draft()
            self._node.freeze()
        return self._node

    def draft(self) -> CfgNode:
        """A new unfrozen copy of the config (to reshape, e.g. into a script's schema)."""
        node = clone_node(self._base)
        for key, value in self._pairs:
            set_key(node, key, value)
        return node

    def value(self, key: str) -> Any:
        """The value at dotted ``key`` (None where a level is missing), without building the node."""
        for name, value in reversed(self._pairs):
            if name == key:
                return value
        return config_value(self._base, key)

    def text(self) -> str:
        return self.dump(self.node)

    def __deepcopy__(self, memo: dict[int, Any]) -> PlannedConfig:
        """Itself: nothing changes it after planning (``dataclasses.asdict`` of a cell copies every field)."""
        return self


class BaseConfig:
    """One model's base config: flattened once, its keys' JSON fragments and a scratch copy options are tried on.

    Attributes:
        node: The base config (never modified after planning starts).
        flat: ``node`` flattened to dotted keys.
        reference: The settings of the model's first planned cell over the
            base (training fingerprints are taken of what differs from it).
    """

    def __init__(self, node: CfgNode) -> None:
        self.node = node
        self.flat = flat_settings(node)
        keys = sorted(self.flat)
        self._index = {key: i for i, key in enumerate(keys)}
        self._fragments = [_fragment(key, self.flat[key]) for key in keys]
        self._lists = [key for key in keys if isinstance(self.flat[key], list)]
        self._scratch: _Scratch | None = None
        self.reference: dict[str, Any] | None = None

    def get(self, settings: dict[str, Any], key: str) -> Any:
        """The value of ``key`` with ``settings`` over the base."""
        return settings[key] if key in settings else self.flat.get(key)

    def hash_text(self, settings: dict[str, Any], leave_out: Collection[str]) -> str:
        """``canonical_json`` of the flat config with ``settings`` over the base, ``leave_out`` keys left out.

        Only a cell's own keys are encoded; the base's fragments were encoded once.
        ``settings`` must name keys of the base (:meth:`try_option` ensures it).
        """
        parts = self._fragments.copy()
        for key, value in settings.items():
            parts[self._index[key]] = _fragment(key, value)
        for key in leave_out:
            if key in self._index:
                parts[self._index[key]] = ""
        return "{" + ",".join(part for part in parts if part) + "}"

    def try_option(self, apply: Callable[[CfgNode], None]) -> tuple[dict[str, Any], set[str]] | None:
        """Run ``apply`` on the scratch copy; the settings it made and the keys it assigned.

        Returns:
            ``(settings, assigned)``: every key that now differs from the base
            or was assigned (equal or not), with its value; and the assigned
            keys. None when ``apply`` did more than set existing keys (added
            or removed one, replaced a section, froze the config): the caller
            then takes a fresh copy and looks at the whole config.
        """
        scratch, self._scratch = self._scratch or _Scratch(self.node), None  # an exception leaves it discarded
        scratch.sets.clear()
        apply(scratch.root)
        sets = scratch.sets
        if _TAINTED in sets or scratch.root.is_frozen() or any(
                key not in self.flat or isinstance(value, dict) for key, value in sets.items()):
            return None
        settings = dict(sets)
        settings.update((key, scratch.leaf(key)) for key in self._lists
                        if key not in sets and not same_value(scratch.leaf(key), self.flat[key]))
        for key in settings:  # put the scratch back as the base is
            value = self.flat[key]
            scratch.put(key, list(value) if isinstance(value, list) else value)
        self._scratch = scratch
        return settings, set(sets)


def _fragment(key: str, value: Any) -> str:
    return f"{canonical_json(key)}:{canonical_json(value)}"


_TAINTED = "\0tainted"  # a key no config has: the scratch was changed other than by setting a key


class _Probe(CfgNode):
    """A CfgNode that notes every key set on it, and any other change, in the scratch's ``sets``."""

    def __setitem__(self, key: Any, value: Any) -> None:
        self.__dict__["_hps_sets"][f"{self.__dict__['_hps_prefix']}{key}"] = value
        super().__setitem__(key, value)

    def _taint(self) -> None:
        self.__dict__["_hps_sets"][_TAINTED] = True

    def __delitem__(self, key: Any) -> None:
        self._taint()
        super().__delitem__(key)

    def pop(self, *args: Any) -> Any:
        self._taint()
        return super().pop(*args)

    def popitem(self) -> Any:
        self._taint()
        return super().popitem()

    def clear(self) -> None:
        self._taint()
        super().clear()

    def update(self, *args: Any, **kwargs: Any) -> None:
        self._taint()
        super().update(*args, **kwargs)

    def setdefault(self, key: Any, default: Any = None) -> Any:
        self._taint()
        return super().setdefault(key, default)


class _Scratch:
    """A copy of a base config made of :class:`_Probe` nodes, with each leaf's parent at hand."""

    def __init__(self, base: CfgNode) -> None:
        self.sets: dict[str, Any] = {}
        self._parents: dict[str, tuple[CfgNode, str]] = {}
        self.root = self._copy(base, "")

    def _copy(self, node: CfgNode, prefix: str) -> _Probe:
        out = _Probe.__new__(_Probe)
        dict.__init__(out)
        out.__dict__.update(node.__dict__)
        out.__dict__["_hps_sets"] = self.sets
        out.__dict__["_hps_prefix"] = prefix
        for key, value in node.items():
            if isinstance(value, CfgNode):
                value = self._copy(value, f"{prefix}{key}.")
            else:
                value = list(value) if isinstance(value, list) else value
                self._parents[prefix + key] = (out, key)
            dict.__setitem__(out, key, value)
        return out

    def leaf(self, key: str) -> Any:
        node, name = self._parents[key]
        return dict.__getitem__(node, name)

    def put(self, key: str, value: Any) -> None:
        node, name = self._parents[key]
        dict.__setitem__(node, name, value)
