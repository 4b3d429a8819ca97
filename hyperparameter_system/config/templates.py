"""The one place user templates are compiled and rendered.

Every jinja2 template a user writes (W&B names, category labels, key_map
reshapes, a model's ``command:`` and ``env:``) goes through :func:`render`.
Rendering runs user text: besides an undefined name it can divide by zero,
call a filter with a wrong argument, or hit the sandbox. Any of these is the
user's mistake, so every exception becomes a :class:`TemplateRenderError`
(a ValueError with the reason), which callers locate at the file and line
the template came from.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import functools
import sys
from pathlib import Path

import jinja2
from jinja2.sandbox import SandboxedEnvironment

from hyperparameter_system.matrix.cell import Cell
from hyperparameter_system.config.script_schema import yacs_text

__all__ = ["OVERRIDES_ARG", "TemplateRenderError", "compile_template", "flat_overrides", "render", "render_command",
           "render_env", "template_variables"]

OVERRIDES_ARG = "{{ overrides }}"  # a command argument that is exactly this expands to several

_ENV = SandboxedEnvironment(undefined=jinja2.StrictUndefined)


class TemplateRenderError(ValueError):
    """A user template that cannot be rendered; ``key`` is its argument index or variable name."""

    def __init__(self, reason: str, key: Any = None) -> None:
        super().__init__(reason)
        self.key = key


@functools.lru_cache(maxsize=4096)
def compile_template(text: str) -> jinja2.Template:
    """``text`` compiled in the sandbox, once per text (a matrix renders the same command per
    cell); raises TemplateRenderError on a syntax error."""
    try:
        return _ENV.from_string(text)
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateRenderError(f"invalid jinja2 template {text!r}: {exc.message}") from None


def render(template: jinja2.Template | str, variables: Mapping[str, Any]) -> str:
    """The template rendered with ``variables``; any failure is a TemplateRenderError."""
    compiled = compile_template(template) if isinstance(template, str) else template
    try:
        return compiled.render(**variables)
    except Exception as exc:  # noqa: BLE001 - user text may raise anything; never a traceback
        reason = str(exc) if isinstance(exc, jinja2.TemplateError) else f"{type(exc).__name__}: {exc}"
        shown = f" {template!r}" if isinstance(template, str) else ""
        raise TemplateRenderError(f"cannot render template{shown}: {reason} "
                                  f"(variables: {', '.join(sorted(variables))})") from None


def render_command(template: Sequence[str], variables: Mapping[str, Any],
                   overrides: Sequence[str]) -> list[str]:
    """A model's ``command:`` as argv; raises TemplateRenderError naming the argument's index."""
    argv: list[str] = []
    for i, arg in enumerate(template):
        if arg.strip() == OVERRIDES_ARG:
            argv += overrides
            continue
        try:
            argv.append(render(arg, variables))
        except TemplateRenderError as exc:
            raise TemplateRenderError(str(exc), key=i) from None
    return argv


def render_env(pairs: Sequence[tuple[str, str]], variables: Mapping[str, Any]) -> dict[str, str]:
    """A model's ``env:`` rendered; raises TemplateRenderError naming the variable."""
    rendered = {}
    for name, text in pairs:
        try:
            rendered[name] = render(text, variables)
        except TemplateRenderError as exc:
            raise TemplateRenderError(str(exc), key=name) from None
    return rendered


def flat_overrides(pairs: Sequence[tuple[str, Any]]) -> list[str]:
    """``(("SOLVER.BASE_LR", 0.01),)`` -> ``["SOLVER.BASE_LR", "0.01"]`` in YACS syntax.

    Non-strings use ``repr`` because YACS reads command-line values with
    ``literal_eval`` (``True``, ``[0.9, 0.999]``); strings pass as they are,
    unless ``literal_eval`` would read them as something else (``'0'``).
    """
    flat: list[str] = []
    for key, value in pairs:
        flat += [str(key), yacs_text(value) if isinstance(value, str) else repr(value)]
    return flat


def template_variables(cell: Cell, output_dir: Path, overrides: list[str]) -> dict[str, str]:
    """What a model's ``command:`` and ``env:`` templates may use."""
    return {"config_path": cell.config_path, "output_dir": str(output_dir), "python": sys.executable,
            "run_name": cell.run_name, "cell_id": cell.cell_id, "model": cell.model,
            "category": cell.category, "project": cell.project, "group": cell.group,
            "overrides": " ".join(overrides)}
