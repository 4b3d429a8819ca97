"""Planning a user's own training project: its schema, its keys, its config file, its folder.

The fixtures are real projects a user could have: tests/fixtures/reid_strong
(a YACS project with reid-strong-baseline's conventions) and
tests/fixtures/b3_project (a plain-YAML project run by a shell script). Every
check here is a plan-time one: no cell runs.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest
import yaml

from hyperparameter_system.config.experiment import load_experiment
from hyperparameter_system.errors import ConfigError
from hyperparameter_system.hyperparameter_configs import plan_matrix, render_cells
from hyperparameter_system.plugin.loading import load_plugins_for

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
REID = FIXTURES / "reid_strong"
NOW = datetime(2026, 11, 30, 12, 0)

KEY_MAP = """
      SOLVER.OPTIMIZER: SOLVER.OPTIMIZER_NAME
      SOLVER.NESTEROV: null
      SOLVER.BETAS: null
      DATALOADER.BATCH_SIZE: SOLVER.IMS_PER_BATCH
      SOLVER.AMP: null
      INPUT.SIZE: {INPUT.SIZE_TRAIN: "[{{ value }}, {{ value // 2 }}]", INPUT.SIZE_TEST: "[{{ value }}, {{ value // 2 }}]"}
      LOSS.NAME: {MODEL.IF_LABELSMOOTH: "{{ {'CrossEntropyLoss': 'off', 'LabelSmoothingLoss': 'on'}[value] }}"}
      LOSS.LABEL_SMOOTHING: MODEL.LABELSMOOTH_EPSILON"""

CATEGORIES = """
categories:
  optimizer:
    options: [{name: SGD, lr: 0.05, weight_decay: 0.0001, momentum: 0.9}]
  image_size:
    options: [16]
"""


def write_experiment(folder: Path, *, key_map: str = KEY_MAP, overrides: str = "{MODEL.DEVICE: cpu}",
                     categories: str = CATEGORIES, cwd: str = str(REID),
                     schema: str = "config/defaults.py:_C") -> Path:
    """An experiment file with one reid_strong model; returns its path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "exp.yaml"
    path.write_text(f"""experiment: {{name: own, overrides: {{SOLVER.MAX_EPOCHS: 2}}}}
wandb: {{mode: disabled}}
models:
  - name: reid
    cwd: {cwd}
    command: ["{{{{ python }}}}", tools/train.py, "--config_file={{{{ config_path }}}}", "{{{{ overrides }}}}"]
    schema: {schema}
    base_config: configs/softmax_triplet.yml
    overrides: {overrides}
    key_map:{key_map}
{categories}""")
    return path


def plan(path: Path) -> list:
    spec = load_experiment(str(path))
    return plan_matrix(spec, load_plugins_for(spec), now=NOW)


def error_of(path: Path) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        plan(path)
    return info.value


def line_of(path: Path, text: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if text in line)


def test_option_keys_reach_the_script_in_its_names_even_when_equal_to_a_default(tmp_path: Path) -> None:
    """wd 0.0001 is hpsys's default but not the script's (0.0005): it must still be passed."""
    cells = {c.category: c for c in plan(write_experiment(tmp_path))}
    overrides = dict(cells["optimizer"].overrides)
    assert overrides == {"SOLVER.MAX_EPOCHS": 2, "MODEL.DEVICE": "cpu", "SOLVER.OPTIMIZER_NAME": "SGD",
                         "SOLVER.BASE_LR": 0.05, "SOLVER.WEIGHT_DECAY": 0.0001, "SOLVER.MOMENTUM": 0.9}
    assert dict(cells["image_size"].overrides)["INPUT.SIZE_TRAIN"] == [16, 8]
    assert cells["optimizer"].cwd == str(REID) and cells["optimizer"].wandb_logging == "runner"


def test_rendered_config_is_the_scripts_full_config_that_its_own_yacs_merge_accepts(tmp_path: Path) -> None:
    spec = load_experiment(str(write_experiment(tmp_path)))
    cells = plan_matrix(spec, load_plugins_for(spec), now=NOW)
    render_cells(cells, spec, load_plugins_for(spec))
    namespace: dict = {}
    exec(compile((REID / "config" / "defaults.py").read_text(), "defaults.py", "exec"), namespace)
    merged = {}
    for cell in cells:
        cfg = namespace["_C"].clone()
        cfg.merge_from_file(cell.config_path)  # the script's own loader, decoding as it does
        merged[cell.category] = cfg
    sgd, base = merged["optimizer"], merged["baseline"]
    assert (sgd.SOLVER.OPTIMIZER_NAME, sgd.SOLVER.BASE_LR, sgd.SOLVER.WEIGHT_DECAY) == ("SGD", 0.05, 0.0001)
    assert base.SOLVER.WEIGHT_DECAY == 0.0005 and base.SOLVER.OPTIMIZER_NAME == "Adam"  # the script's defaults
    assert base.MODEL.DEVICE_ID == "0" and base.MODEL.IF_LABELSMOOTH == "on"  # text stays text
    assert base.SOLVER.CHECKPOINT_PERIOD == 1 and base.DATASETS.NAMES == "digits"  # its base_config
    assert list(merged["image_size"].INPUT.SIZE_TRAIN) == [16, 8] and base.SOLVER.MAX_EPOCHS == 2


def test_a_key_the_script_lacks_names_model_category_option_and_how_to_map_it(tmp_path: Path) -> None:
    path = write_experiment(tmp_path, key_map=KEY_MAP.replace("SOLVER.OPTIMIZER: SOLVER.OPTIMIZER_NAME", ""))
    err = error_of(path)
    assert err.line == line_of(path, "key_map:")
    for part in ("model reid", "category optimizer", "SGD_lr0.05_wd0.0001_m0.9", "SOLVER.OPTIMIZER,",
                 "key_map: {SOLVER.OPTIMIZER: SCRIPT.KEY}", "key_map: {SOLVER.OPTIMIZER: null}"):
        assert part in str(err)


@pytest.mark.parametrize(("overrides", "key_map", "located", "message"), [
    ("{MODEL.DEVICE: cpu, SOLVER.OPTIMIZER_NAM: SGD}", KEY_MAP, "    overrides:",
     ("unknown key 'SOLVER.OPTIMIZER_NAM' in ", "did you mean 'SOLVER.OPTIMIZER_NAME'")),
    ("{MODEL.DEVICE: cpu, SOLVER.IMS_PER_BATCH: '64'}", KEY_MAP, "    overrides:",
     ("expected int (the default is 64), got str '64'", "SOLVER.IMS_PER_BATCH")),
    ("{MODEL.DEVICE: cpu}", KEY_MAP.replace("SOLVER.IMS_PER_BATCH", "SOLVER.IMS_PER_BACH"),
     "DATALOADER.BATCH_SIZE:", ("unknown key 'SOLVER.IMS_PER_BACH'", "did you mean 'SOLVER.IMS_PER_BATCH'")),
    ("{MODEL.DEVICE: cpu}", KEY_MAP.replace("SOLVER.OPTIMIZER: SOLVER.OPTIMIZER_NAME", "SOLVER.OPTIMIZER: SOLVER"),
     "SOLVER.OPTIMIZER:", ("SOLVER is a section", "its keys: SOLVER.BASE_LR")),
])
def test_keys_and_values_are_checked_against_the_scripts_schema(tmp_path: Path, overrides: str, key_map: str,
                                                               located: str, message: tuple[str, str]) -> None:
    path = write_experiment(tmp_path, overrides=overrides, key_map=key_map)
    err = error_of(path)
    assert err.line == line_of(path, located) and message[0] in str(err) and message[1] in str(err), str(err)


def test_a_template_that_cannot_render_an_options_value_is_a_plan_time_error(tmp_path: Path) -> None:
    categories = CATEGORIES + "  loss_function:\n    options: [{name: FocalLoss}]\n"
    path = write_experiment(tmp_path, categories=categories,
                            key_map=KEY_MAP + "\n      LOSS.FOCAL_ALPHA: null\n      LOSS.FOCAL_GAMMA: null")
    err = error_of(path)
    assert err.line == line_of(path, "LOSS.NAME:")
    assert "category loss_function, option FocalLoss" in str(err) and "cannot render template" in str(err)


def test_a_template_syntax_error_is_found_when_the_file_loads(tmp_path: Path) -> None:
    path = write_experiment(tmp_path, key_map=KEY_MAP.replace("{{ value // 2 }}]\", INPUT.SIZE_TEST",
                                                              "{{ value // }}]\", INPUT.SIZE_TEST"))
    with pytest.raises(ConfigError, match="invalid jinja2 template") as info:
        load_experiment(str(path))
    assert info.value.line == line_of(path, "INPUT.SIZE:")


def test_schema_file_missing_or_without_the_name(tmp_path: Path) -> None:
    missing = write_experiment(tmp_path / "a", schema="config/defaultz.py:_C")
    with pytest.raises(ConfigError, match="schema file not found: .*defaultz.py") as info:
        load_experiment(str(missing))
    assert info.value.line == line_of(missing, "schema:")
    no_name = write_experiment(tmp_path / "b", schema="config/defaults.py:_D")
    err = error_of(no_name)
    assert err.line == line_of(no_name, "schema:") and "defines no '_D'; its CfgNodes: _C" in str(err)
    bare = write_experiment(tmp_path / "c", schema="config/defaults.py")
    with pytest.raises(ConfigError, match="FILE.py:NAME"):
        load_experiment(str(bare))


def test_planning_never_imports_torch_even_though_the_project_does(tmp_path: Path) -> None:
    path = write_experiment(tmp_path)
    code = ("import sys; from datetime import datetime\n"
            "from hyperparameter_system.config.experiment import load_experiment\n"
            "from hyperparameter_system.hyperparameter_configs import plan_matrix, render_cells\n"
            "from hyperparameter_system.plugin.loading import load_plugins_for\n"
            f"spec = load_experiment({str(path)!r}); reg = load_plugins_for(spec)\n"
            "render_cells(plan_matrix(spec, reg, now=datetime.now()), spec, reg)\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'wandb')))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def _cli(config: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "WANDB_MODE": "disabled"}
    return subprocess.run([sys.executable, "-m", "hyperparameter_system.experiment_runner", "--config",
                           str(config), *args], cwd=cwd, capture_output=True, text=True, timeout=180, env=env)


def test_relative_cwd_and_schema_resolve_from_the_experiment_file_wherever_hpsys_starts(tmp_path: Path) -> None:
    shutil.copytree(REID, tmp_path / "projects" / "reid-project")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    config = write_experiment(tmp_path / "experiments", cwd="../projects/reid-project")
    done = _cli(Path("..") / "experiments" / "exp.yaml", "--dry-run", cwd=elsewhere)
    assert done.returncode == 0, done.stdout + done.stderr
    rendered = sorted((tmp_path / "experiments" / "temp_configs").rglob("*.yaml"))
    assert len(rendered) == 3 and "tools/train.py" in done.stdout
    project = (tmp_path / "projects" / "reid-project").resolve()
    commands = [ln for ln in done.stdout.splitlines() if "tools/train.py" in ln]
    assert len(commands) == 3 and all(ln.startswith(f"cd {project} && ") for ln in commands), done.stdout
    assert yaml.safe_load(rendered[0].read_text())["MODEL"]["DEVICE"] == "cpu"
    assert not list(elsewhere.iterdir())

    broken = config.read_text().replace("SOLVER.OPTIMIZER: SOLVER.OPTIMIZER_NAME", "SOLVER.OPTIMIZER: NOPE")
    shutil.rmtree(tmp_path / "experiments" / "temp_configs")
    config.write_text(broken)
    done = _cli(Path("..") / "experiments" / "exp.yaml", "--matrix", cwd=elsewhere)
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert "exp.yaml:" in done.stderr and "unknown key 'NOPE'" in done.stderr
    assert not (tmp_path / "experiments" / "temp_configs").exists()


def test_a_yaml_schema_renders_a_plain_nested_yaml_and_routes_the_cells_wandb_settings(tmp_path: Path) -> None:
    example = (Path(__file__).resolve().parents[2] / "examples" / "own_yaml_project.yaml").read_text()
    path = tmp_path / "exp.yaml"
    path.write_text(example.replace("../tests/fixtures/b3_project", str(FIXTURES / "b3_project")))
    spec = load_experiment(str(path))
    cells = plan_matrix(spec, load_plugins_for(spec), now=NOW)
    render_cells(cells, spec, load_plugins_for(spec))
    sched = next(c for c in cells if c.category == "scheduler")
    config = yaml.safe_load(Path(sched.config_path).read_text())
    assert config["scheduler"] == "step" and config["scheduler_params"] == {
        "T_max": 10, "eta_min": 0.0, "step_size": 1, "gamma": 0.5}
    assert config["wandb"] == {"project": sched.project, "name": sched.run_name, "group": "scheduler"}
    assert config["epochs"] == 2 and config["seed"] == 0 and sched.wandb_logging == "script"
    assert dict(sched.env)["EXPERIMENT_CONFIG"] == "{{ config_path }}"


def test_sweep_parameters_map_through_key_map_into_the_scripts_config(tmp_path: Path) -> None:
    """A sweep on such a model: hpsys names go through key_map, the script's own keys are checked."""
    from hyperparameter_system.sweeps.sources import resolve_sweep
    from hyperparameter_system.sweeps.trial import TrialPlanner

    spec = load_experiment(str(write_experiment(tmp_path)))
    registry = load_plugins_for(spec)
    sweep_file = tmp_path / "sweep.yaml"
    sweep_file.write_text("method: grid\nmetric: {name: mAP, goal: maximize}\n"
                          "parameters:\n  ims_per_batch: [16]\n  SOLVER.MARGIN: [0.5]\n")
    sweep, from_file = resolve_sweep(spec, registry, None, sweep_file=str(sweep_file), method=None)
    planner = TrialPlanner(spec, registry, "reid", None, sweep, "sw1", NOW, from_file)
    cell = planner.trial_cell({"ims_per_batch": 16, "SOLVER.MARGIN": 0.5}, 1)
    config = yaml.safe_load(Path(cell.config_path).read_text())
    assert config["SOLVER"]["IMS_PER_BATCH"] == 16 and config["SOLVER"]["MARGIN"] == 0.5
    assert {"SOLVER.IMS_PER_BATCH": 16, "SOLVER.MARGIN": 0.5}.items() <= dict(cell.overrides).items()
    with pytest.raises(ConfigError, match="expected float"):
        planner.trial_cell({"ims_per_batch": 16, "SOLVER.MARGIN": "wide"}, 2)


@pytest.mark.parametrize(("setting", "message"), [
    ("    cwd: ../no-such-project", "folder not found: "),
    ("    env: {1BAD: x}", "not an environment variable name"),
    ("    wandb: logger", "expected one of runner, script, off"),
])
def test_own_project_settings_are_checked_when_the_file_loads(tmp_path: Path, setting: str, message: str) -> None:
    path = write_experiment(tmp_path)
    key = setting.split(":")[0]
    text = path.read_text()
    text = (text.replace(f"    cwd: {REID}\n", setting + "\n") if key.strip() == "cwd"
            else text.replace("    schema:", setting + "\n    schema:"))
    path.write_text(text)
    with pytest.raises(ConfigError, match=message) as info:
        load_experiment(str(path))
    assert info.value.line == line_of(path, key + ":")


def test_a_built_in_model_refuses_the_settings_of_a_users_own_command(tmp_path: Path) -> None:
    path = tmp_path / "exp.yaml"
    path.write_text("experiment: {name: x}\nmodels:\n  - name: small_cnn\n    key_map: {SOLVER.OPTIMIZER: X}\n")
    with pytest.raises(ConfigError, match="only a model with its own command: has this setting") as info:
        load_experiment(str(path))
    assert info.value.line == 4


MARGIN = """name: margin
prefix: margin
options:
  - SOLVER.MARGIN: 0.5
    SOLVER.OPTIMIZER_NAME: SGD
  - SOLVER.MARGIN: 0.1
"""


def _with_margin(folder: Path, category: str = MARGIN, categories: str = CATEGORIES) -> tuple[Path, Path]:
    """An experiment with the reid model and a categories/margin.yaml next to it, in the script's keys."""
    (folder / "categories").mkdir(parents=True)
    margin = folder / "categories" / "margin.yaml"
    margin.write_text(category)
    return write_experiment(folder, categories=categories), margin


def test_a_yaml_category_in_the_scripts_own_keys_plans_and_reaches_its_config(tmp_path: Path) -> None:
    path, _ = _with_margin(tmp_path)
    cells = [c for c in plan(path) if c.category == "margin"]
    assert [c.option_label for c in cells] == ["margin0.5_optimizer_nameSGD", "margin0.1"]
    assert dict(cells[0].overrides)["SOLVER.MARGIN"] == 0.5
    assert dict(cells[0].overrides)["SOLVER.OPTIMIZER_NAME"] == "SGD"
    # The experiment file's own options of that category speak the script's keys too.
    path.write_text(path.read_text() + "  margin:\n    options:\n      - {SOLVER.MARGIN: 0.2}\n")
    assert [dict(c.overrides)["SOLVER.MARGIN"] for c in plan(path) if c.category == "margin"] == [0.2]


def test_a_script_key_misspelt_in_a_category_file_is_located_at_its_key_line(tmp_path: Path) -> None:
    path, margin = _with_margin(tmp_path, MARGIN.replace("SOLVER.OPTIMIZER_NAME", "SOLVER.OPTIMIZER_NAM"))
    err = error_of(path)
    assert (err.path, err.line) == (str(margin), 5)
    assert "unknown key 'SOLVER.OPTIMIZER_NAM'" in str(err) and "did you mean 'SOLVER.OPTIMIZER_NAME'" in str(err)
    assert "model reid" in str(err)
    # In the experiment file's own options: the line of that key there.
    path, _ = _with_margin(tmp_path / "b")
    path.write_text(path.read_text() + "  margin:\n    options:\n      - SOLVER.MARGIN: 0.2\n"
                                       "        SOLVER.MARGN: 0.3\n")
    err = error_of(path)
    assert (err.path, err.line) == (str(path), line_of(path, "SOLVER.MARGN"))
    assert "did you mean 'SOLVER.MARGIN'" in str(err)


def test_a_script_key_on_a_built_in_model_of_the_same_matrix_names_that_model(tmp_path: Path) -> None:
    path, margin = _with_margin(tmp_path, categories="  - name: small_cnn\n" + CATEGORIES)
    done = _cli(path, "--matrix", cwd=tmp_path)
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert f"{margin}:4: options[0]: unknown YACS key 'SOLVER.MARGIN'" in done.stderr
    assert "(model small_cnn trains with the built-in trainer)" in done.stderr


def test_cells_carry_what_an_out_of_memory_retry_halves_in_the_childs_own_keys(tmp_path: Path) -> None:
    categories = "  - name: small_cnn\n" + CATEGORIES + "  batch_size:\n    options: [32]\n"
    cells = {(c.model, c.category): c for c in plan(write_experiment(tmp_path, categories=categories))}
    built_in = cells[("small_cnn", "batch_size")]
    assert (built_in.batch_key, built_in.batch_size, built_in.accum_key, built_in.grad_accum) == \
        ("DATALOADER.BATCH_SIZE", 32, "SOLVER.GRAD_ACCUM", 1)
    reid = cells[("reid", "batch_size")]  # the project has no accumulation setting: halving would change the result
    assert reid.batch_key == "" and "has no SOLVER.GRAD_ACCUM and key_map does not map it" in reid.batch_note


def test_key_map_without_a_schema_is_refused_at_its_line_and_matrix_exits_2(tmp_path: Path) -> None:
    # Without a schema the script's config is hpsys's own, so a key_map would have nothing to
    # rename into; a SEED it "drops" would still go out, so it is refused, not ignored.
    path = tmp_path / "exp.yaml"
    path.write_text("experiment: {name: x}\nmodels:\n  - name: own\n"
                    '    command: ["{{ python }}", "-c", "pass", "{{ overrides }}"]\n'
                    "    key_map: {SEED: null}\n"
                    "categories:\n  optimizer:\n    options: [{name: SGD, lr: 0.1}]\n")
    with pytest.raises(ConfigError, match=r"needs schema: .*\(key_map renames keys of the schema's config\)") as info:
        load_experiment(str(path))
    assert info.value.line == 5
    done = subprocess.run([sys.executable, "-m", "hyperparameter_system.experiment_runner", "--config", str(path),
                           "--matrix"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stdout + done.stderr
    assert f"{path}:5: models[0].key_map: needs schema: " in done.stderr
    assert not (tmp_path / "temp_configs").exists() and not (tmp_path / "output").exists()
