"""One base error for everything a user can cause.

The CLI turns any :class:`HpsysError` into a single line on stderr and exit
code 2; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Iterable


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (its type name when it has none).

    Library errors (timm, torch, hub) can run to pages; a cell's error text and a
    user's message keep only the line that says what happened.
    """
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def did_you_mean(name: str, known: Iterable[str], *, quote: bool = True) -> str:
    """``"; did you mean 'optimizer'?"`` for the closest known name, or ``""``.

    Every unknown-name message (keys of the experiment and sweep files, YACS
    keys, categories, models, option fields) ends this way, so a typo reads
    the same wherever it is made. ``quote=False`` writes the name bare, as
    YACS keys are written in configs and docs. A name that differs only in
    case (``adamw``) is matched first: spelling distance would rank ``Adam`` higher.
    """
    names = [str(k) for k in known]
    same_but_case = {k.casefold(): k for k in names}.get(str(name).casefold())
    close = [same_but_case] if same_but_case else difflib.get_close_matches(str(name), names, n=1, cutoff=0.6)
    if not close:
        return ""
    return f"; did you mean {close[0]!r}?" if quote else f"; did you mean {close[0]}?"


class HpsysError(Exception):
    """Base class of user-facing errors (printed as one line, exit code 2)."""


@dataclass
class ConfigError(HpsysError):
    """A problem in a user's file, located at ``path:line`` and named by ``key``.

    Attributes:
        path: The file the problem is in (as the user named it).
        line: 1-based line of the offending YAML node, or 0 when unknown.
        key: Dotted key of the offending node, e.g. ``categories.optimizer.options[2].lr``.
        reason: What is wrong, with the rule and the value.
    """

    path: str
    line: int
    key: str
    reason: str

    def __post_init__(self) -> None:
        super().__init__(str(self))

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else self.path
        return f"{where}: {self.key}: {self.reason}" if self.key else f"{where}: {self.reason}"


class PluginError(HpsysError):
    """A plugin broke the contract: duplicate name, bad hook, unloadable file."""


class UnknownNameError(HpsysError):
    """A model or category name that no plugin registered."""
