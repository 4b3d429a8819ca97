"""Run as a script: write a user's yacs CfgNode (``FILE.py NAME``) as JSON into ``ANSWER``.

The planner reads a training project's ``config/defaults.py`` through this
probe in a child process, so whatever that file imports (often only yacs,
sometimes torch) never enters the planner, and its prints or a crash cannot
disturb planning. The probe starts in the project's folder with that folder on
``sys.path``, as the project's own scripts do (``sys.path.append('.')``).

Output: the file ``ANSWER`` (the third argument) holds ``HPSYS-SCHEMA <json>``
where sections are objects; the schema file's own prints (any bytes) go to
stdout and cannot corrupt it. Exit 3 with a one-line reason on stderr when the
file has no such name or it is no CfgNode.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from typing import Any

MARKER = "HPSYS-SCHEMA "


def _plain(node: Any) -> Any:
    """A CfgNode as nested dicts; tuples as lists (yacs treats both alike)."""
    if isinstance(node, dict):
        return {str(k): _plain(v) for k, v in node.items()}
    if isinstance(node, (list, tuple)):
        return [_plain(v) for v in node]
    return node


def main(path: str, name: str, answer: str) -> int:
    sys.path.insert(0, os.getcwd())
    spec = importlib.util.spec_from_file_location("hpsys_user_schema", path)
    if spec is None or spec.loader is None:
        print(f"cannot load {path} as a Python module", file=sys.stderr)
        return 3
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    if not hasattr(module, name):
        found = sorted(k for k, v in vars(module).items() if type(v).__name__ == "CfgNode")
        print(f"{path} defines no {name!r}" + (f"; its CfgNodes: {', '.join(found)}" if found else ""),
              file=sys.stderr)
        return 3
    node = getattr(module, name)
    if not (isinstance(node, dict) and type(node).__name__ == "CfgNode"):
        print(f"{name} in {path} is a {type(node).__name__}, not a yacs CfgNode", file=sys.stderr)
        return 3
    text = MARKER + json.dumps(_plain(node))
    with open(answer, "w", encoding="utf-8") as out:
        out.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2], sys.argv[3]))
