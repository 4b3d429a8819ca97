"""A cell's config as its model's base plus the cell's own settings, built into a CfgNode only when needed.

Planning 10,000 cells must not copy 10,000 configs. Every cell of a model
shares that model's base config (:class:`BaseConfig`, flattened once); a
cell carries only the keys its option, seed and names set (a
:class:`PlannedConfig`). A category option is tried on one reusable scratch
copy of the base (``matrix/scratch.py``) that notes every key set on it and
is put back afterwards; what an option that read nothing set is reused for the
matrix's other models (:class:`PlanMemo`). The id's hash is joined from the
base's text between the cell's keys and those keys' JSON fragments, each
distinct fragment encoded once, and the cell's CfgNode is built (and frozen)
only when its config is rendered or a caller asks for it.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import AbstractSet, Any, Callable, Hashable, Iterable, Mapping

from yacs.config import CfgNode

from hyperparameter_system.config.repeats import config_value
from hyperparameter_system.config.yacs_keys import flat_settings, set_key
from hyperparameter_system.config.yaml_emit import SortedTemplate
from hyperparameter_system.matrix.scratch import READ, TAINTED, Scratch

__all__ = ["BaseConfig", "PlanMemo", "PlannedConfig", "canonical_json", "clone_node", "quoted", "same_value"]


_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=True)  # what json.dumps builds per call


def canonical_json(value: Any) -> str:
    """The single text form of an option or config: sorted keys, no spaces, ASCII."""
    return _ENCODER.encode(value)


@lru_cache(maxsize=1024, typed=True)
def quoted(name: str) -> str:
    """``canonical_json`` of a name every cell of a model or category hashes (a model's, a category's): once each."""
    return _ENCODER.encode(name)


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

    __slots__ = ("_base", "_pairs", "_node", "_shared", "dump")

    def __init__(self, base: CfgNode, dump: Callable[[CfgNode], str], pairs: Iterable[tuple[str, Any]] = (),
                 shared: BaseConfig | None = None) -> None:
        """
        Args:
            shared: The model's :class:`BaseConfig` of ``base`` when ``dump`` is
                ``dump_sorted``: its text is then written from the base's lines.
        """
        self._base = base
        self._pairs = tuple(pairs)
        self._node: CfgNode | None = None
        self._shared = shared
        self.dump = dump

    def sealed(self, pairs: Iterable[tuple[str, Any]]) -> PlannedConfig:
        """This config with ``pairs`` set last (the cell's final names)."""
        return PlannedConfig(self._base, self.dump, (*self._pairs, *pairs), self._shared)

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
        if self._shared is not None and key in self._shared.flat:  # a leaf of the base: flattened once
            return self._shared.flat[key]
        return config_value(self._base, key)

    def text(self) -> str:
        """The config as its file holds it (no copy is built just to write it)."""
        text = self._shared.text(self._pairs) if self._shared is not None else None
        return text if text is not None else self.dump(self._node if self._node is not None else self.draft())

    def __deepcopy__(self, memo: dict[int, Any]) -> PlannedConfig:
        """Itself: nothing changes it after planning (``dataclasses.asdict`` of a cell copies every field)."""
        return self


class BaseConfig:
    """One model's base config: flattened once, its keys' JSON fragments and a scratch copy options are tried on.

    Attributes:
        node: The base config (never modified after planning starts).
        memo: What this matrix's models share (:class:`PlanMemo`).
        flat: ``node`` flattened to dotted keys.
        reference: The settings of the model's first planned cell over the
            base (training fingerprints are taken of what differs from it).
    """

    def __init__(self, node: CfgNode, memo: PlanMemo | None = None) -> None:
        """
        Args:
            memo: What this matrix's models share (None: a memo of its own).
        """
        self.node = node
        self.flat = flat_settings(node)
        keys = self._keys = sorted(self.flat)
        self._index = {key: i for i, key in enumerate(keys)}
        self.memo = PlanMemo() if memo is None else memo
        self._known = self.memo.fragments
        self._shape = self.memo.shapes.setdefault(tuple(keys), len(self.memo.shapes))
        self._fragments: list[str] = [self._fragment(key, self.flat[key]) for key in keys]
        # the keys a cell sets in order and the base's text between them, per keys and left-out keys (few per model)
        self._layouts: dict[tuple[tuple[str, ...], tuple[str, ...]], tuple[list[str], list[str]]] = {}
        # list keys (an option may change a list in place) with their items' types, None where one is a list
        self._lists = {key: _item_types(value) for key, value in self.flat.items() if isinstance(value, list)}
        self._scratch: Scratch | None = None
        self._template: SortedTemplate | None = None
        self.reference: dict[str, Any] | None = None

    def text(self, pairs: Iterable[tuple[str, Any]]) -> str | None:
        """``dump_sorted`` of the base with ``pairs`` set (None: dump the built config instead)."""
        if self._template is None:
            self._template = SortedTemplate(self.node)
        return self._template.text(pairs)

    def get(self, settings: dict[str, Any], key: str) -> Any:
        """The value of ``key`` with ``settings`` over the base."""
        return settings[key] if key in settings else self.flat.get(key)

    def fragments(self, settings: Mapping[str, Any], same: Hashable = None) -> dict[str, str]:
        """Each of a cell's settings as its ``"KEY":value`` text: encoded once, read by :meth:`hash_text` and
        :meth:`encode` (the cell's id and its training fingerprint).

        Args:
            same: What names these settings in every model of the matrix (the
                same keys and values each time): they are encoded once, and the
                text returned is shared (not to be changed). None: not reused.
        """
        encoded = self.memo.encoded.get(same) if same is not None else None
        if encoded is None:
            fragment = self._fragment
            encoded = {key: fragment(key, value) for key, value in settings.items()}
            if same is not None:
                self.memo.encoded[same] = encoded
        return encoded

    def hash_text(self, fragments: Mapping[str, str], leave_out: tuple[str, ...]) -> str:
        """``canonical_json`` of the flat config with a cell's settings over the base, ``leave_out`` keys left out.

        Only a cell's own keys are encoded (``fragments``, :meth:`fragments`);
        the base's text between them was joined once per set of keys (the
        cells of one category set the same ones). The settings must name keys
        of the base (:meth:`try_option` ensures it).
        """
        where = (tuple(fragments), leave_out)
        layout = self._layouts.get(where)
        if layout is None:
            layout = self._layouts[where] = self._layout(*where)
        names, segments = layout
        parts = [segments[0]]
        for name, segment in zip(names, segments[1:]):
            parts += (fragments[name], segment)
        return "{" + ",".join(filter(None, parts)) + "}"

    def encode(self, value: Any, known: Mapping[str, str] | None = None) -> str:
        """``canonical_json(value)``, a ``[text, {settings of this config}]`` pair from the cached fragments.

        That pair is what a training fingerprint hashes (``config/shared_cells.py``):
        the same text, without encoding each cell's option values again.

        Args:
            known: The cell's fragments (:meth:`fragments`) of the values it
                set; a key not among them holds the base's value.
        """
        if type(value) is list and len(value) == 2 and type(value[0]) is str and type(value[1]) is dict \
                and all(type(key) is str and key in self._index for key in value[1]):
            settings, known = value[1], known or {}
            return "[" + quoted(value[0]) + ",{" + ",".join(
                known[key] if key in known else self._fragment(key, settings[key]) for key in sorted(settings)) + "}]"
        return canonical_json(value)

    def _layout(self, keys: tuple[str, ...], leave_out: tuple[str, ...]) -> tuple[list[str], list[str]]:
        """The ``keys`` a cell sets in the base's order (``leave_out`` gone) and the base's fragments
        between them, each run joined ("" when none)."""
        index = self._index
        gone = frozenset(index[key] for key in leave_out if key in index)
        changed = sorted(i for i in map(index.__getitem__, keys) if i not in gone)
        bounds = [-1, *changed, len(self._fragments)]
        segments = [",".join(self._fragments[j] for j in range(start + 1, end) if j not in gone)
                    for start, end in zip(bounds, bounds[1:])]
        return [self._keys[i] for i in changed], segments

    def _fragment(self, key: str, value: Any) -> str:
        """``"KEY":value`` as canonical_json writes it inside the config's object (each distinct one once)."""
        kind = type(value)
        known = (key, kind, value) if kind is str or kind is int or kind is bool or (
            kind is float and value != 0 and value == value) else _fragment_key(key, value)
        if known is None:
            return canonical_json(key) + ":" + canonical_json(value)
        text = self._known.get(known)
        if text is None:
            text = self._known[known] = canonical_json(key) + ":" + canonical_json(value)
        return text

    def signature(self, keys: Iterable[str]) -> tuple[str, ...]:
        """The base's values at ``keys`` as encoded text: equal signatures, equal values (types too)."""
        index, fragments = self._index, self._fragments
        return tuple(fragments[index[key]] for key in keys)

    def try_option(self, apply: Callable[[CfgNode], None], option: Hashable = None
                   ) -> tuple[dict[str, Any], AbstractSet[str], Hashable] | None:
        """Run ``apply`` on the scratch copy; the settings it made and the keys it assigned.

        Args:
            option: What names the option across models (None: nothing is reused).
                An ``apply`` that read no setting's value set the same keys in
                every config of this shape: it runs once per option and shape.

        Returns:
            ``(settings, assigned, shared)``: every key that now differs from
            the base or was assigned (equal or not), with its value; the
            assigned keys; and what names this result in every config of this
            shape (None when ``apply`` read a value: then it is this config's
            alone). None when ``apply`` did more than set existing keys (added
            or removed one, replaced a section, froze the config): the caller
            then takes a fresh copy and looks at the whole config.
        """
        effects = self.memo.effects
        known = None if option is None else effects.get((option, self._shape))
        if known is not None:
            return ({key: list(value) if type(value) is list else value for key, value in known[0].items()},
                    known[1], (option, self._shape))
        scratch, self._scratch = self._scratch or Scratch(self.node), None  # an exception leaves it discarded
        scratch.sets.clear()
        apply(scratch.root)
        sets = scratch.sets
        read = sets.pop(READ, False)
        if TAINTED in sets or scratch.root.is_frozen() or any(
                key not in self.flat or isinstance(value, dict) for key, value in sets.items()):
            return None
        # a list it set may be one of the scratch's own, which the next option may change
        settings = {key: list(value) if isinstance(value, list) else value for key, value in sets.items()}
        settings.update((key, scratch.leaf(key)) for key, types in self._lists.items()
                        if key not in sets and not _unchanged(scratch.leaf(key), self.flat[key], types))
        for key in settings:  # put the scratch back as the base is
            value = self.flat[key]
            scratch.put(key, list(value) if isinstance(value, list) else value)
        self._scratch = scratch
        assigned = frozenset(sets)
        if option is None or read:
            return settings, assigned, None
        effects[option, self._shape] = ({k: list(v) if type(v) is list else v for k, v in settings.items()}, assigned)
        return settings, assigned, (option, self._shape)


class PlanMemo:
    """What the models of one matrix share: encoded JSON fragments, config shapes and options' effects.

    Most keys hold the same value in every model's base, and an option that
    reads nothing sets the same keys in every config of one shape (the same
    keys); where the bases also hold the same values at those keys, it changes
    the same ones (checked once).
    """

    def __init__(self) -> None:
        self.fragments: dict[tuple[Any, ...], str] = {}
        self.shapes: dict[tuple[str, ...], int] = {}
        self.effects: dict[tuple[Hashable, int], tuple[dict[str, Any], frozenset[str]]] = {}
        # (effect, the base's signature at its keys) -> the keys an option changes, checked once
        self.changed: dict[tuple[Hashable, ...], tuple[str, ...]] = {}
        self.encoded: dict[Hashable, dict[str, str]] = {}  # settings met again and again, as text (``fragments``)


_PLAIN = frozenset({str, int, float, bool, type(None)})


def _fragment_key(key: str, value: Any) -> tuple[Any, ...] | None:
    """What tells one encoded value from another (None: encode it each time).

    Type matters (1, 1.0 and True encode differently), and so does what
    equality hides: -0.0 == 0.0 and nan != nan, so float zeros and nans are
    not cached; a list of plain values is cached by its items and their types.
    """
    kind = type(value)
    if kind is list:
        types = tuple(map(type, value))
        if not _PLAIN.issuperset(types) or float in types and (0.0 in value or any(x != x for x in value)):
            return None
        return key, kind, types, tuple(value)
    if kind not in _PLAIN or (kind is float and (value == 0 or value != value)):
        return None
    return key, kind, value


def _item_types(items: list[Any]) -> list[type] | None:
    return None if any(isinstance(item, list) for item in items) else [type(item) for item in items]


def _unchanged(current: Any, base: list[Any], types: list[type] | None) -> bool:
    """A list of the scratch still as the base's: equal, and its items of the same types."""
    if types is None:
        return same_value(current, base)
    return type(current) is list and current == base and list(map(type, current)) == types
