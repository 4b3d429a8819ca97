"""The interactive front end, end to end: piped numbered prompts and a real terminal.

The piped session trains two real cells (digits, small_cnn, one epoch) and
reads the summary back; the terminal session runs in a pseudo-terminal under
pexpect, moving with arrow keys, toggling with space and reading the screen.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from hyperparameter_system.store import Store, store_path

SCRIPT = Path(__file__).resolve().parents[1] / "hyperparameter_system" / "run_experiments.py"
DOWN, SPACE, ENTER = "\x1b[B", " ", "\r"
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def _experiment(root: Path) -> Path:
    path = root / "exp.yaml"
    path.write_text(textwrap.dedent(f"""
        experiment:
          name: menus
          output_dir: {root / 'out'}
          temp_config_dir: {root / 'temp_configs'}
          overrides:
            DATASETS.NAME: digits
            DATASETS.MAX_TRAIN_SAMPLES: 200
            INPUT.SIZE: 8
            SOLVER.MAX_EPOCHS: 1
            DEVICE: cpu
        wandb: {{mode: offline}}
        execution: {{parallel: 2, devices: cpu, retries: 0}}
        models:
          - name: small_cnn
            description: the tiny CNN
        categories:
          optimizer:
            description: which optimizer
            options: [{{name: AdamW, lr: 0.003}}, {{name: Adam, lr: 0.001}}]
          early_stopping:
            description: stop when the metric stalls
            options: [{{patience: 1, min_delta: 0.0}}]
    """))
    return path


@pytest.fixture(scope="module")
def piped_session(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess]:
    """Piped answers: all models, early_stopping; run; sweep one trial; summary; quit."""
    root = tmp_path_factory.mktemp("menus")
    config = _experiment(root)
    answers = "\n".join(["", "2", "1", "6", "", "1", "4", "9"]) + "\n"
    done = subprocess.run([sys.executable, str(SCRIPT), "--config", str(config)], input=answers,
                          capture_output=True, text=True, timeout=300, cwd=root)
    return config, done


@pytest.mark.slow
def test_piped_session_runs_the_selection_and_shows_its_summary(piped_session):
    config, done = piped_session
    out = done.stdout
    assert done.returncode == 0, out + done.stderr
    assert "1) small_cnn  - the tiny CNN" in out
    assert "2) early_stopping  - stop when the metric stalls (1 option)" in out
    assert "Matrix: 2 cells" in out  # baseline + one early_stopping option
    assert f"$ hpsys --config {config} --models small_cnn --categories early_stopping" in out
    sweep = f"$ hpsys --config {config} --sweep --models small_cnn --categories early_stopping --count 1"
    assert sweep in out
    assert out.count("(exit code 0)") == 3  # run, sweep, summary
    with Store.open(store_path(config.parent / "out", "menus")) as store:
        results = store.cell_results()
    assert sorted(r.cell.category for r in results) == ["baseline", "early_stopping", "early_stopping"]
    assert all(r.latest.status == "completed" for r in results)  # two matrix cells + one trial
    summary = out.split(f"$ hpsys --config {config} --summary", 1)[1]
    for result in results:  # the summary shows the stored values, the sweep trial included
        assert f"{result.latest.best_metric:.4f}" in summary
    assert "completed 3" in summary


def test_piped_input_rejects_bad_numbers_and_ends_on_eof(tmp_path: Path):
    config = _experiment(tmp_path)
    done = subprocess.run([sys.executable, str(SCRIPT), "--config", str(config)],
                          input="7\n1\n1 2\n", capture_output=True, text=True, timeout=60)
    assert done.returncode == 130  # input ended before "What next?" was answered: cancelled
    assert "please enter numbers between 1 and 1" in done.stdout
    assert "Matrix: 4 cells" in done.stdout  # baseline + 2 optimizers + 1 early stopping
    assert "What next?" in done.stdout and not (tmp_path / "out").exists()


def test_bad_experiment_file_is_one_line_exit_2(tmp_path: Path):
    config = tmp_path / "exp.yaml"
    config.write_text("experiment:\n  nmae: x\n")
    done = subprocess.run([sys.executable, str(SCRIPT), "--config", str(config)],
                          input="", capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.startswith(f"error: {config}:2:") and done.stderr.count("\n") == 1


def test_broken_plugin_next_to_the_experiment_is_one_line_exit_2(tmp_path: Path):
    config = _experiment(tmp_path)
    (tmp_path / "categories").mkdir()
    (tmp_path / "categories" / "broken.yaml").write_text("name: augmentation\nprefix: aug\noptions: [1]\n")
    done = subprocess.run([sys.executable, str(SCRIPT), "--config", str(config)],
                          input="\n\n\n\n", capture_output=True, text=True, timeout=60)
    assert done.returncode == 2  # asking for another selection could never mend the plugin
    assert done.stderr.startswith(f"error: {tmp_path / 'categories' / 'broken.yaml'}:3:")
    assert done.stderr.count("\n") == 1 and "Models" not in done.stdout


def _screen(child) -> str:
    return ANSI.sub("", child.before + (child.after if isinstance(child.after, str) else ""))


@pytest.mark.slow
def test_terminal_menus_with_arrow_keys_and_space(piped_session):
    pexpect = pytest.importorskip("pexpect")
    config, _ = piped_session
    env = dict(os.environ, TERM="xterm", PROMPT_TOOLKIT_NO_CPR="1", COLUMNS="120")
    child = pexpect.spawn(sys.executable, [str(SCRIPT), "--config", str(config)], env=env,
                          dimensions=(40, 120), encoding="utf-8", timeout=60, cwd=str(config.parent))

    def keys(*sequence: str) -> None:
        for key in sequence:  # one key at a time, as a person types: each redraw settles
            time.sleep(0.25)
            child.send(key)

    child.expect("Models")
    child.expect("the tiny CNN")
    keys(ENTER)  # keep the one model
    child.expect("Categories")
    child.expect("stop when the metric stalls")
    keys(DOWN, SPACE, ENTER)  # untick early_stopping, keep optimizer
    child.expect(r"Matrix: (\d+) cells")
    assert child.match.group(1) == "3"  # baseline + two optimizers
    child.expect("ETA")
    child.expect("What next")
    keys(DOWN, DOWN, ENTER)  # dry run
    child.expect(r"\$ hpsys --config \S+ --dry-run --models small_cnn --categories optimizer")
    child.expect(r"\(exit code (\d+)\)")
    assert child.match.group(1) == "0"
    assert "hyperparameter_system.train" in _screen(child)
    child.expect("What next")
    keys(DOWN, DOWN, DOWN, ENTER)  # summary
    child.expect(r"\(exit code 0\)")
    assert "early_stopping" in _screen(child) and "completed 3" in _screen(child)
    child.expect("What next")
    keys(*[DOWN] * 8, ENTER)  # quit
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0


def test_sweep_action_asks_which_model_category_and_count():
    from hyperparameter_system.run_experiments import PlainPrompts, action_argv

    answers = iter(["2", "", "1", "5"])  # second model, the category's own space, first category, five trials
    prompts = PlainPrompts(read=lambda _prompt: next(answers))
    argv = action_argv("sweep", "exp.yaml", ["small_cnn", "tv/resnet18"],
                       ["optimizer", "loss_function"], prompts)
    assert argv == ["--config", "exp.yaml", "--sweep", "--models", "tv/resnet18",
                    "--categories", "optimizer", "--count", "5"]
    replies = iter(["", "zero"])  # the category's own space, then a count that is no number
    refused = PlainPrompts(read=lambda _prompt: next(replies))
    assert action_argv("sweep", "exp.yaml", ["m"], ["c"], refused) is None


@pytest.mark.parametrize("action, answers, flags", [
    ("repeat", ["4"], ["--models", "m", "--categories", "c", "--repeats", "4"]),
    ("export", ["2", "out/report.md"], ["--summary", "--format", "md", "--output", "out/report.md"]),
    ("export", ["", ""], ["--summary", "--format", "html", "--output", "summary.html"]),
    ("sweep", ["4", "3"], ["--sweep", "--models", "m", "--categories", "c", "--method", "bayes", "--count", "3"]),
    ("sweep", ["5", "sweeps/sweep_lr.yaml", "8"],
     ["--sweep", "--models", "m", "--sweep-config", "sweeps/sweep_lr.yaml", "--count", "8"]),
    ("sync", ["1"], ["--sync", "--dry-run"]),
    ("sync", ["2"], ["--sync"]),
], ids=["repeat", "export_md", "export_default", "sweep_method", "sweep_file", "sync_list", "sync_upload"])
def test_each_action_is_the_cli_flags_the_cli_accepts(action, answers, flags):
    from hyperparameter_system.experiment_runner import build_parser
    from hyperparameter_system.run_experiments import PlainPrompts, action_argv

    replies = iter(answers)
    argv = action_argv(action, "exp.yaml", ["m"], ["c"], PlainPrompts(read=lambda _prompt: next(replies)))
    assert argv == ["--config", "exp.yaml", *flags]
    build_parser().parse_args(argv)  # argparse exits on a flag or value the CLI does not take
    refused = PlainPrompts(read=lambda _prompt: "0")
    assert action != "repeat" or action_argv(action, "exp.yaml", ["m"], ["c"], refused) is None


@pytest.mark.slow
def test_piped_export_and_sync_list_on_the_trained_store(piped_session, tmp_path: Path):
    config, _ = piped_session
    report = tmp_path / "report.html"
    answers = "\n".join(["", "", "5", "1", str(report), "7", "1", "9"]) + "\n"
    done = subprocess.run([sys.executable, str(SCRIPT), "--config", str(config)], input=answers,
                          capture_output=True, text=True, timeout=120, cwd=config.parent)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"$ hpsys --config {config} --summary --format html --output {report}" in done.stdout
    assert f"$ hpsys --config {config} --sync --dry-run" in done.stdout
    assert done.stdout.count("(exit code 0)") == 2
    assert report.read_text().lstrip().lower().startswith("<!doctype html")
    listed = [line for line in done.stdout.splitlines() if "/wandb/offline-run-" in line]
    assert len(listed) == 3 and all(line.split()[0] == "small_cnn" for line in listed)  # 2 cells + 1 trial


def _shared_experiment(root: Path) -> Path:
    """``image_size: [8]`` equals INPUT.SIZE 8: that cell shares the baseline's training."""
    config = _experiment(root)
    config.write_text(config.read_text().replace(
        "early_stopping:\n    description: stop when the metric stalls\n    options: [{patience: 1, min_delta: 0.0}]",
        "image_size:\n    options: [8]"))
    assert "image_size" in config.read_text()
    return config


def test_menu_counts_what_is_left_to_run_as_the_cli_does(tmp_path: Path):
    from datetime import datetime

    from hyperparameter_system.config.experiment import load_experiment
    from hyperparameter_system.hyperparameter_configs import plan_matrix
    from hyperparameter_system.plugin.loading import load_plugins_for

    config = _shared_experiment(tmp_path)
    spec = load_experiment(str(config))
    cells = plan_matrix(spec, load_plugins_for(spec), now=datetime.now())
    assert sum(1 for c in cells if c.same_as) == 1
    with Store.open(store_path(spec.output_dir, spec.name), experiment=spec.name) as store:
        store.register_cells(cells)  # every cell that trains has finished: nothing is left
        for cell in (c for c in cells if not c.same_as):
            attempt = store.claim(cell.cell_id, session="earlier")
            store.finish_attempt(attempt.id, "completed", best_metric=0.5, best_epoch=1,
                                 epochs_run=1, metric="val/acc", duration_s=3.0)
    cli = subprocess.run([sys.executable, "-m", "hyperparameter_system.experiment_runner",
                          "--config", str(config), "--matrix"], capture_output=True, text=True, timeout=60)
    assert cli.returncode == 0, cli.stderr
    assert "4 cells (1 model): 3 train, 1 shared" in cli.stdout and "; 0 to run;" in cli.stdout
    menu = subprocess.run([sys.executable, str(SCRIPT), "--config", str(config)], input="\n\n9\n",
                          capture_output=True, text=True, timeout=60)
    assert menu.returncode == 0, menu.stdout + menu.stderr
    line = next(line for line in menu.stdout.splitlines() if "Matrix:" in line)
    assert "4 cells" in line and ". 0 to run;" in line, line


def test_stdin_closed_before_a_choice_is_cancelled_exit_130(tmp_path: Path):
    config = _experiment(tmp_path)
    with open(os.devnull) as nothing:
        done = subprocess.run([sys.executable, str(SCRIPT), "--config", str(config)], stdin=nothing,
                              capture_output=True, text=True, timeout=60)
    assert done.returncode == 130
    assert done.stderr == "cancelled: stdin closed before an answer\n"
    assert "Models" in done.stdout and not (tmp_path / "out").exists()


@pytest.mark.parametrize("flags", [(), ("--plain",)], ids=["menus", "numbered"])
def test_ctrl_c_at_the_first_menu_exits_130(tmp_path: Path, flags):
    pexpect = pytest.importorskip("pexpect")
    config = _experiment(tmp_path)
    env = dict(os.environ, TERM="xterm", PROMPT_TOOLKIT_NO_CPR="1", COLUMNS="120")
    child = pexpect.spawn(sys.executable, [str(SCRIPT), "--config", str(config), *flags], env=env,
                          dimensions=(40, 120), encoding="utf-8", timeout=60)
    child.expect("the tiny CNN")
    child.send("\x03")  # Ctrl-C
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 130, _screen(child)
    assert "cancelled: Ctrl-C" in _screen(child) and "Traceback" not in _screen(child)
