"""The interactive front end: pick models and categories, see the matrix, act.

    python hyperparameter_system/run_experiments.py [--config experiment_config.yaml]

On a terminal the menus are questionary prompts (arrow keys move, space
toggles, enter confirms); when stdin or stdout is not a terminal (a pipe, a CI
log) they become numbered prompts read with ``input()``, so the same flow can
be scripted. Every action calls the command line (``experiment_runner.main``)
with the flags a user would type, so the menus can never do something the CLI
cannot, and each action prints the equivalent command first. 'quit' exits
with the last command's code; Ctrl-C or the end of stdin at a question
cancels the session (exit 130, one line on stderr), like Ctrl-C in the CLI.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from typing import TYPE_CHECKING, Any, Callable, Sequence

if __package__ in (None, ""):  # run as a script: python hyperparameter_system/run_experiments.py
    # This file's folder is first on sys.path; the CLI, found there, swaps it
    # for the checkout root when imported as a script's neighbour (one fix).
    import experiment_runner  # noqa: F401

from hyperparameter_system import experiment_runner
from hyperparameter_system.config.experiment import DEFAULT_CONFIG
from hyperparameter_system.config.spec import ExperimentSpec
from hyperparameter_system.errors import HpsysError

if TYPE_CHECKING:
    from hyperparameter_system.plugin.registry import Registry

Choice = tuple[str, str]  # (value, description)

ACTIONS: tuple[Choice, ...] = (
    ("run", "train the selected cells (finished cells are skipped)"),
    ("repeat", "train each selected cell N times with consecutive seeds (mean, std, noise-aware winner)"),
    ("dry-run", "render the configs and print each child command; run nothing"),
    ("summary", "leaderboard per model and category, from the results store"),
    ("export", "write the summary to a file: html report, md, csv or json"),
    ("sweep", "search one category of one model: its own space, a method, or a sweep file"),
    ("sync", "upload the offline W&B runs with wandb sync, or list them"),
    ("select", "choose models and categories again"),
    ("quit", "leave"),
)
SWEEP_SPACES: tuple[Choice, ...] = (
    ("category", "the category's own search space and method"),
    ("grid", "every combination of the category's values"),
    ("random", "random draws from the category's space"),
    ("bayes", "Bayesian optimisation over the category's space"),
    ("file", "a W&B-format sweep YAML file (e.g. sweeps/sweep_lr.yaml)"),
)
EXPORT_FORMATS: tuple[Choice, ...] = (
    ("html", "a report with plots, one file"),
    ("md", "Markdown tables"),
    ("csv", "one row per cell"),
    ("json", "everything, for scripts"),
)
SYNC_MODES: tuple[Choice, ...] = (
    ("list", "list the offline runs; upload nothing"),
    ("upload", "upload them (needs network and a W&B login)"),
)


class Cancelled(Exception):
    """A question was left unanswered: Ctrl-C, or stdin ended (Ctrl-D, the end of piped input).

    The session ends with exit 130, as the CLI's Ctrl-C and closed stdout do:
    a script whose answers ran out did not finish what it meant to do. Only
    the menu's 'quit' ends it with the last command's exit code.
    """


def _cancelled(error: BaseException) -> Cancelled:
    """The one line a cancelled session prints, for Ctrl-C or for the end of stdin."""
    return Cancelled("Ctrl-C" if isinstance(error, KeyboardInterrupt) else "stdin closed before an answer")


class PlainPrompts:
    """Numbered prompts on plain ``input()``: pipes, CI logs, dumb terminals."""

    def __init__(self, read: Callable[[str], str] = input) -> None:
        self._read = read

    def _ask(self, prompt: str) -> str:
        try:
            return self._read(prompt).strip()
        except (EOFError, KeyboardInterrupt) as error:
            raise _cancelled(error) from None

    def checkbox(self, title: str, choices: Sequence[Choice]) -> list[str]:
        """Several of ``choices`` by number; an empty answer takes them all."""
        _print_numbered(title, choices)
        while True:
            answer = self._ask("Numbers separated by spaces or commas (Enter = all): ")
            if not answer:
                return [value for value, _ in choices]
            picked = _parse_numbers(answer, len(choices))
            if picked:
                return [choices[i][0] for i in picked]
            print(f"  please enter numbers between 1 and {len(choices)}")

    def select(self, title: str, choices: Sequence[Choice]) -> str:
        """One of ``choices`` by number; an empty answer takes the first."""
        _print_numbered(title, choices)
        while True:
            answer = self._ask("Number (Enter = 1): ")
            picked = [0] if not answer else _parse_numbers(answer, len(choices))
            if len(picked) == 1:
                return choices[picked[0]][0]
            print(f"  please enter one number between 1 and {len(choices)}")

    def text(self, title: str, default: str) -> str:
        return self._ask(f"{title} [{default}]: ") or default


class TtyPrompts:
    """questionary menus: arrow keys, space to toggle, enter to confirm."""

    def checkbox(self, title: str, choices: Sequence[Choice]) -> list[str]:
        import questionary

        items = [questionary.Choice(title=_titled(v, d), value=v, checked=True) for v, d in choices]
        return list(_answer(questionary.checkbox(
            title, choices=items, validate=lambda picked: bool(picked) or "pick at least one",
            instruction="(arrows move, space toggles, enter confirms)")))

    def select(self, title: str, choices: Sequence[Choice]) -> str:
        import questionary

        items = [questionary.Choice(title=_titled(v, d), value=v) for v, d in choices]
        return str(_answer(questionary.select(title, choices=items)))

    def text(self, title: str, default: str) -> str:
        import questionary

        return str(_answer(questionary.text(title, default=default))).strip() or default


def _answer(question: Any) -> Any:
    """A questionary question's answer; Ctrl-C or Ctrl-D cancels the session.

    ``unsafe_ask`` lets Ctrl-C through as KeyboardInterrupt (``ask`` would
    print its own "Cancelled by user" and return None, as if nothing happened).
    """
    try:
        answer = question.unsafe_ask()
    except (EOFError, KeyboardInterrupt) as error:
        raise _cancelled(error) from None
    if answer is None:
        raise Cancelled("Ctrl-C")
    return answer


def _titled(value: str, description: str) -> str:
    return f"{value}  - {description}" if description else value


def _print_numbered(title: str, choices: Sequence[Choice]) -> None:
    print(title)
    for number, (value, description) in enumerate(choices, start=1):
        print(f"  {number}) {_titled(value, description)}")


def _parse_numbers(answer: str, count: int) -> list[int]:
    """0-based indices of ``"1 3,4"``, or [] when any part is not a valid number."""
    picked: list[int] = []
    for part in answer.replace(",", " ").split():
        if not part.isdigit() or not 1 <= int(part) <= count:
            return []
        if int(part) - 1 not in picked:
            picked.append(int(part) - 1)
    return picked


def model_choices(spec: ExperimentSpec, registry: Registry) -> list[Choice]:
    """Enabled models with their descriptions (the experiment file's, else the family's)."""
    return [(m.name, m.description or _plugin_description(registry, "model_family", m.name))
            for m in spec.models if m.enabled]


def category_choices(spec: ExperimentSpec, registry: Registry) -> list[Choice]:
    """Enabled categories with descriptions and option counts."""
    out = []
    for entry in spec.categories:
        if not entry.enabled:
            continue
        description = entry.description or _plugin_description(registry, "category", entry.name)
        count = f"{len(entry.options)} option{'s' if len(entry.options) != 1 else ''}"
        out.append((entry.name, f"{description} ({count})" if description else count))
    return out


def _plugin_description(registry: Registry, lookup: str, name: str) -> str:
    """``registry.<lookup>(name).description``, or "" when there is none."""
    try:
        return str(getattr(getattr(registry, lookup)(name), "description", "") or "")
    except Exception:  # noqa: BLE001 - a description is decoration; planning reports real errors
        return ""


def plan_size(spec: ExperimentSpec, registry: Registry, models: list[str],
              categories: list[str]) -> tuple[int, str]:
    """Cells in the selection and the line of what is left to run, as ``--matrix`` counts them.

    Planning imports no torch, so this stays instant even for big matrices.
    """
    from hyperparameter_system.commands.plan import plan_with_eta

    cells, eta = plan_with_eta(spec, registry, models, categories)
    return len(cells), eta


def _cli(config: str, *flags: str) -> list[str]:
    return ["--config", config, *flags]


def action_argv(action: str, config: str, models: list[str], categories: list[str],
                prompts: PlainPrompts | TtyPrompts) -> list[str] | None:
    """The command line an action stands for (None: nothing to run)."""
    selection = ["--models", *models, "--categories", *categories]
    if action == "run":
        return _cli(config, *selection)
    if action == "repeat":
        repeats = _positive(prompts, "How many runs of each cell?", "3")
        return None if repeats is None else _cli(config, *selection, "--repeats", repeats)
    if action == "dry-run":
        return _cli(config, "--dry-run", *selection)
    if action == "summary":
        return _cli(config, "--summary")
    if action == "export":
        kind = prompts.select("Export the summary as?", EXPORT_FORMATS)
        path = prompts.text("Write it to", f"summary.{kind}")
        return _cli(config, "--summary", "--format", kind, "--output", path)
    if action == "sweep":
        return _sweep_argv(config, models, categories, prompts)
    if action == "sync":
        listing = prompts.select("Offline W&B runs:", SYNC_MODES) == "list"
        return _cli(config, "--sync", *(["--dry-run"] if listing else []))
    return None


def _sweep_argv(config: str, models: list[str], categories: list[str],
                prompts: PlainPrompts | TtyPrompts) -> list[str] | None:
    """``--sweep`` for one model: a category's space (its method or another), or a sweep file."""
    model = models[0] if len(models) == 1 else prompts.select(
        "Sweep which model?", [(m, "") for m in models])
    space = prompts.select("Search what?", SWEEP_SPACES)
    if space == "file":
        target = ["--sweep-config", prompts.text("Sweep file", "sweeps/sweep_lr.yaml")]
    else:
        category = categories[0] if len(categories) == 1 else prompts.select(
            "Sweep which category?", [(c, "") for c in categories])
        target = ["--categories", category, *(["--method", space] if space != "category" else [])]
    count = _positive(prompts, "How many trials?", "10")
    return None if count is None else _cli(config, "--sweep", "--models", model, *target, "--count", count)


def _positive(prompts: PlainPrompts | TtyPrompts, title: str, default: str) -> str | None:
    """A whole number >= 1 as typed, or None (said so) when it is not one."""
    answer = prompts.text(title, default)
    if not answer.isdigit() or int(answer) < 1:
        print(f"  not a positive number: {answer!r}")
        return None
    return answer


def _select_cells(spec: ExperimentSpec, registry: Registry,
                  prompts: PlainPrompts | TtyPrompts) -> tuple[list[str], list[str]]:
    """Ask for models and categories until the selection plans without error."""
    while True:
        models = prompts.checkbox("Models", model_choices(spec, registry))
        categories = prompts.checkbox("Categories", category_choices(spec, registry))
        try:
            count, eta = plan_size(spec, registry, models, categories)
        except HpsysError as error:
            print(f"error: {error}")
            continue
        print(f"Matrix: {count} cells ({len(models)} model(s) x {len(categories)} "
              f"categor{'y' if len(categories) == 1 else 'ies'}, baselines included). {eta}")
        return models, categories


def interact(config: str, prompts: PlainPrompts | TtyPrompts) -> int:
    """The menu loop; returns the exit code of the last command run (0 if none) on 'quit'.

    Raises:
        Cancelled: a question was left unanswered (Ctrl-C, or the end of stdin).
    """
    from hyperparameter_system.config.experiment import load_experiment
    from hyperparameter_system.plugin.loading import load_plugins_for

    spec = load_experiment(config)
    # A broken plugin is the experiment's error, not the selection's: asking
    # again could never fix it, so it ends the session like the CLI does.
    registry = load_plugins_for(spec)
    print(f"Experiment {spec.name} ({config}): metric {spec.metric} ({spec.goal})")
    code = 0
    models, categories = _select_cells(spec, registry, prompts)
    while True:
        action = prompts.select("What next?", ACTIONS)
        if action == "quit":
            return code
        if action == "select":
            models, categories = _select_cells(spec, registry, prompts)
            continue
        argv = action_argv(action, config, models, categories, prompts)
        if argv is not None:
            print("$ hpsys " + shlex.join(argv), flush=True)
            code = experiment_runner.main(argv)
            print(f"(exit code {code})", flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: menus on a terminal, numbered prompts otherwise."""
    parser = argparse.ArgumentParser(prog="run_experiments",
                                     description="Interactive menus over the hpsys command line.")
    parser.add_argument("--config", default=DEFAULT_CONFIG,
                        help="experiment file (default: ./experiment_config.yaml)")
    parser.add_argument("--plain", action="store_true", help="numbered prompts even on a terminal")
    args = parser.parse_args(argv)
    tty = sys.stdin.isatty() and sys.stdout.isatty() and not args.plain
    try:
        return interact(args.config, TtyPrompts() if tty else PlainPrompts())
    except HpsysError as error:
        print(f"error: {error}", file=sys.stderr)
        return experiment_runner.EXIT_USER_ERROR
    except (Cancelled, KeyboardInterrupt) as error:  # Ctrl-C between two questions is one too
        reason = error if isinstance(error, Cancelled) else _cancelled(error)
        print(flush=True)
        print(f"cancelled: {reason}", file=sys.stderr)
        return experiment_runner.EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
