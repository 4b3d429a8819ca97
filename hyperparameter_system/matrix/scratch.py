"""The scratch copy of a model's base config that category options are tried on.

A category plugin's ``apply`` edits a CfgNode. Copying the whole config for
each of 10,000 cells is what planning must not do, so ``apply`` runs on one
reusable copy made of :class:`_Probe` nodes that note every key set on them
(and put back afterwards), any other change (a key added or removed: the
caller then looks at a fresh copy instead) and whether any setting's value
was read. An ``apply`` that read nothing set the same keys to the same values
in every config of the same shape, so the planner reuses what it set for the
option's other models instead of running it again.
"""

from __future__ import annotations

from typing import Any, Iterator

from yacs.config import CfgNode

__all__ = ["READ", "TAINTED", "Scratch"]

TAINTED = "\0tainted"  # a key no config has: the scratch was changed other than by setting a key
READ = "\0read"  # likewise: a setting's value was read (what was set may depend on the config)
_YACS_TYPES = frozenset({tuple, list, str, int, float, bool, type(None)})  # what yacs's __setattr__ accepts


class _Probe(CfgNode):
    """A CfgNode that notes in the scratch's ``sets`` every key set on it, any other change and any value read.

    Every way a dict hands out its values is covered (item and attribute
    access, ``get``, ``items``, ``values``, iteration that ``dict()`` would
    otherwise read past, comparison, ``repr``, ``copy``); a section handed
    out is no read, only what is in it.
    """

    def __setitem__(self, key: Any, value: Any) -> None:
        self.__dict__["_hps_sets"][f"{self.__dict__['_hps_prefix']}{key}"] = value
        super().__setitem__(key, value)

    def __setattr__(self, name: str, value: Any) -> None:
        """yacs's checked assignment, without formatting its error messages when nothing is wrong."""
        if type(value) in _YACS_TYPES and name not in self.__dict__ and not self.__dict__[CfgNode.IMMUTABLE]:
            self[name] = value
        else:
            super().__setattr__(name, value)

    def _note(self, what: str) -> None:
        self.__dict__["_hps_sets"][what] = True

    def __getitem__(self, key: Any) -> Any:
        value = dict.__getitem__(self, key)
        if not isinstance(value, CfgNode):
            self._note(READ)
        return value

    def get(self, *args: Any) -> Any:
        self._note(READ)
        return dict.get(self, *args)

    def items(self) -> Any:
        self._note(READ)
        return dict.items(self)

    def values(self) -> Any:
        self._note(READ)
        return dict.values(self)

    def __iter__(self) -> Iterator[Any]:  # a Python __iter__ also stops dict() copying the values unseen
        return dict.__iter__(self)

    def copy(self) -> dict[Any, Any]:
        self._note(READ)
        return dict.copy(self)

    def __eq__(self, other: object) -> bool:
        self._note(READ)
        return dict.__eq__(self, other)

    def __ne__(self, other: object) -> bool:
        self._note(READ)
        return dict.__ne__(self, other)

    __hash__ = None  # type: ignore[assignment]  # as dict's

    def __repr__(self) -> str:
        self._note(READ)
        return super().__repr__()

    def __or__(self, other: Any) -> Any:
        self._note(READ)
        return dict.__or__(self, other)

    def __delitem__(self, key: Any) -> None:
        self._note(TAINTED)
        super().__delitem__(key)

    def pop(self, *args: Any) -> Any:
        self._note(TAINTED)
        return super().pop(*args)

    def popitem(self) -> Any:
        self._note(TAINTED)
        return super().popitem()

    def clear(self) -> None:
        self._note(TAINTED)
        super().clear()

    def update(self, *args: Any, **kwargs: Any) -> None:
        self._note(TAINTED)
        super().update(*args, **kwargs)

    def setdefault(self, key: Any, default: Any = None) -> Any:
        self._note(TAINTED)
        return super().setdefault(key, default)

    def __ior__(self, other: Any) -> Any:
        self._note(TAINTED)
        return dict.__ior__(self, other)


class Scratch:
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
