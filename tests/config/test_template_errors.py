"""Through the real CLI: a template, command or env mistake is one located line, exit 2, nothing written.

Every template a user writes (labels, run names, key_map reshapes, a model's
``command:`` and ``env:``) is rendered when the matrix is planned, with the
cell's own variables, so ``--matrix`` already names the file and line; and
``--all`` stops there, before a store or a config file exists.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

SCRIPT_MODEL = """\
experiment:
  name: tpl
  metric: {name: acc, goal: maximize}
wandb:
  mode: disabled
  @RUN_NAME@
models:
  - name: own
    cwd: proj
    command: [@PROGRAM@, "train.py", @ARG@]
    @ENV@
    schema: schema.yaml
    key_map:
      SOLVER.BASE_LR: @LR_TARGET@
      SOLVER.OPTIMIZER: null
      SOLVER.WEIGHT_DECAY: null
      SOLVER.BETAS: null
    metric_patterns: {acc: 'acc (\\S+)'}
    wandb: @WANDB@
categories:
  optimizer:
    options:
      - {name: AdamW, lr: 0.002}
"""

DEFAULTS = {"PROGRAM": '"{{ python }}"', "ARG": '"{{ config_path }}"', "ENV": "env: {}", "LR_TARGET": "lr",
            "RUN_NAME": "", "WANDB": "runner"}


def _experiment(tmp_path: Path, **changes: str) -> tuple[Path, str]:
    text = SCRIPT_MODEL
    for key, value in {**DEFAULTS, **changes}.items():
        text = text.replace(f"@{key}@", value)
    (tmp_path / "proj").mkdir(exist_ok=True)
    (tmp_path / "proj" / "schema.yaml").write_text("lr: 0.001\nepochs: 1\n", encoding="utf-8")
    (tmp_path / "proj" / "train.py").write_text("print('acc 0.5')\n", encoding="utf-8")
    path = tmp_path / "experiment.yaml"
    path.write_text(text, encoding="utf-8")
    return path, text


def _cli(config: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "WANDB_MODE": "disabled", "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "hyperparameter_system.experiment_runner", "--config",
                           str(config), *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=120)


def _line(text: str, marker: str) -> int:
    return next(n for n, row in enumerate(text.splitlines(), 1) if marker in row)


def _assert_located(result: subprocess.CompletedProcess[str], config: Path, line: int, key: str,
                    reason: str) -> None:
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert lines[0].startswith(f"error: {config}:{line}: {key}: "), lines[0]
    assert reason in lines[0], lines[0]


@pytest.mark.parametrize("changes, marker, key, reason, action", [
    ({"LR_TARGET": '{lr: "{{ 1/0 }}"}'}, "SOLVER.BASE_LR", "models[0].key_map.SOLVER.BASE_LR",
     "ZeroDivisionError: division by zero", "--matrix"),
    ({"ARG": '"{{ 1/0 }}"'}, "command:", "models[0].command[2]", "ZeroDivisionError", "--dry-run"),
    ({"ENV": 'env: {X: "{{ 1/0 }}"}'}, "X:", "models[0].env.X", "ZeroDivisionError", "--all"),
    ({"RUN_NAME": 'run_name: "{{ 1/0 }}"'}, "run_name", "wandb.run_name", "ZeroDivisionError", "--matrix"),
    ({"ARG": '"{{ nosuch }}"'}, "command:", "models[0].command[2]", "'nosuch' is undefined", "--matrix"),
    ({"ENV": 'env: {MODE: "{{ nosuch }}"}'}, "MODE:", "models[0].env.MODE", "'nosuch' is undefined", "--all"),
    ({"PROGRAM": '"./noexec.sh"'}, "command:", "models[0].command[0]", "is not executable", "--all"),
    ({"PROGRAM": '"./missing.sh"'}, "command:", "models[0].command[0]", "not found", "--matrix"),
    ({"PROGRAM": '"no-such-program-hpsys"'}, "command:", "models[0].command[0]", "is not on PATH", "--matrix"),
    ({"ENV": "env: {WANDB_MODE: online}"}, "WANDB_MODE", "models[0].env.WANDB_MODE", "wandb.mode", "--matrix"),
    ({"ENV": "env: {HPS_OUTPUT_DIR: /tmp/x}"}, "HPS_OUTPUT_DIR", "models[0].env.HPS_OUTPUT_DIR",
     "the runner sets HPS_OUTPUT_DIR", "--matrix"),
    ({"ENV": "env: {CUDA_VISIBLE_DEVICES: '1'}"}, "CUDA_VISIBLE_DEVICES", "models[0].env.CUDA_VISIBLE_DEVICES",
     "execution.devices", "--matrix"),
], ids=["key_map_raises", "command_raises", "env_raises", "run_name_raises", "command_undefined",
        "env_undefined", "not_executable", "missing_program", "not_on_path", "env_wandb_mode",
        "env_hps_output", "env_cuda"])
def test_template_and_command_mistakes_are_one_located_line_and_nothing_is_written(
        tmp_path, changes, marker, key, reason, action):
    config, text = _experiment(tmp_path, **changes)
    noexec = tmp_path / "proj" / "noexec.sh"
    noexec.write_text("#!/bin/sh\necho acc 1\n", encoding="utf-8")
    noexec.chmod(stat.S_IRUSR | stat.S_IWUSR)
    _assert_located(_cli(config, tmp_path, action), config, _line(text, marker), key, reason)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["experiment.yaml", "proj"]


@pytest.mark.parametrize("label", ['"f{{ 1/0 }}"', '"{{ INPUT.HFLIP_PROB | int(x=1) }}"'],
                         ids=["divides_by_zero", "filter_type_error"])
def test_a_yaml_category_label_that_raises_is_located_in_its_file(tmp_path, label):
    (tmp_path / "categories").mkdir()
    category = tmp_path / "categories" / "flip.yaml"
    category.write_text(f"name: flip\nprefix: flip\nlabel: {label}\noptions:\n  - {{INPUT.HFLIP_PROB: 0.5}}\n",
                        encoding="utf-8")
    config = tmp_path / "experiment.yaml"
    config.write_text("experiment: {name: lbl}\nmodels: [small_cnn]\n", encoding="utf-8")
    result = _cli(config, tmp_path, "--matrix")
    _assert_located(result, category, 5, "options[0]", "label template cannot be rendered")


def test_wandb_off_as_the_readme_writes_it_is_accepted(tmp_path):
    config, _ = _experiment(tmp_path, WANDB="off")  # YAML 1.1 reads a bare off as false
    result = _cli(config, tmp_path, "--matrix")
    assert result.returncode == 0, result.stderr
    assert "2 cells (1 model)" in result.stdout


def test_a_schema_file_printing_non_utf8_bytes_still_plans(tmp_path):
    config, _ = _experiment(tmp_path)
    (tmp_path / "proj" / "defaults.py").write_text(textwrap.dedent("""\
        import sys
        print("noise " * 2000)
        sys.stdout.buffer.write(b"\\xff\\xfe\\x00 not text\\n")
        from yacs.config import CfgNode as CN
        _C = CN()
        _C.lr = 0.001
        _C.epochs = 1
        """), encoding="utf-8")
    config.write_text(config.read_text(encoding="utf-8").replace("schema.yaml", "defaults.py:_C"), encoding="utf-8")
    result = _cli(config, tmp_path, "--matrix")
    assert result.returncode == 0, result.stderr
    assert "2 cells (1 model)" in result.stdout


def test_a_schema_file_that_fails_is_named(tmp_path):
    config, text = _experiment(tmp_path)
    (tmp_path / "proj" / "defaults.py").write_bytes(b"import sys\nsys.stderr.buffer.write(b'\\xff')\n"
                                                     b"raise SystemExit('broken \\xe9 defaults')\n")
    config.write_text(text.replace("schema.yaml", "defaults.py:_C"), encoding="utf-8")
    result = _cli(config, tmp_path, "--matrix")
    assert result.returncode == 2, result.stderr
    assert "defaults.py" in result.stderr and "broken é defaults" in result.stderr, result.stderr
