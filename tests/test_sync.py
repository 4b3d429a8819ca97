"""``hpsys --sync`` and the ``.env`` file, on a tiny real matrix trained with W&B offline.

The matrix trains two built-in cells (digits, one epoch) and one cell of a
user's script that makes its own W&B run; a ``.env`` beside the experiment
file holds the entity and an API-key canary. ``--sync --dry-run`` is checked
for real. The upload itself needs a W&B server, which cannot exist here, so
that one test puts a stand-in ``wandb`` first on PATH that records what it
was asked (argv, whether the key reached it) and marks the runs it "uploads"
the way wandb does (``run-<id>.wandb.synced``).
"""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from hyperparameter_system.store import Store, store_path
from hyperparameter_system.tracking.offline import read_offline_run

CANARY = "dotenv-canary-5be81f0c2d"
ENTITY = "dotenv-team"

OWN_SCRIPT = """
import json, os
from pathlib import Path
import wandb

out = Path(os.environ["HPS_OUTPUT_DIR"])
out.mkdir(parents=True, exist_ok=True)
run = wandb.init(dir=str(out))  # the script's own run: project, name and mode from the environment
run.log({"val/acc": 0.5, "epoch": 1})
run_dir, run_id = str(Path(run.dir).parent), run.id
run.finish()
(out / "metrics.jsonl").write_text(json.dumps({"epoch": 1, "val/acc": 0.5}) + "\\n")
(out / "result.json").write_text(json.dumps({"status": "completed", "metric": "val/acc",
    "goal": "maximize", "best_metric": 0.5, "best_epoch": 1, "epochs_run": 1,
    "wandb_run_dir": run_dir, "wandb_run_id": run_id}))
"""

# Records its argv and whether the API key reached it; marks every run folder it was given as
# synced, but one whose path contains FAIL_MARK, and then exits 1 like a failed upload.
FAKE_WANDB = """#!{python}
import json, os, sys
from pathlib import Path
with open({log!r}, "a") as log:
    log.write(json.dumps({{"argv": sys.argv[1:],
                          "key": os.environ.get("WANDB_API_KEY") == {canary!r}}}) + "\\n")
failed = False
for arg in sys.argv[2:]:
    folder = Path(arg)
    if not folder.is_dir():
        continue
    if os.environ.get("FAIL_MARK") and os.environ["FAIL_MARK"] in arg:
        print("wandb: ERROR upload refused by the stand-in"); failed = True; continue
    for run_file in folder.glob("run-*.wandb"):
        Path(str(run_file) + ".synced").touch()
    print(f"wandb: synced {{folder}}")
sys.exit(1 if failed else 0)
"""


def cli(root: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hyperparameter_system.experiment_runner",
                           "--config", str(root / "exp.yaml"), *args], cwd=root, capture_output=True,
                          text=True, timeout=300, env=env or clean_env())


def clean_env(**extra: str) -> dict[str, str]:
    """The test's environment without the W&B settings the .env file is to provide."""
    env = {k: v for k, v in os.environ.items() if k not in ("WANDB_API_KEY", "WANDB_ENTITY", "WANDB_MODE")}
    return {**env, **extra}


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Four finished cells with offline W&B runs: two of the built-in trainer, two of a script."""
    root = tmp_path_factory.mktemp("sync")
    (root / "own.py").write_text(OWN_SCRIPT)
    (root / "exp.yaml").write_text(textwrap.dedent(f"""
        experiment:
          name: tiny
          overrides: {{DATASETS.NAME: digits, DATASETS.MAX_TRAIN_SAMPLES: 200, INPUT.SIZE: 8,
                      SOLVER.MAX_EPOCHS: 1, DEVICE: cpu}}
        wandb: {{mode: offline}}
        execution: {{parallel: 2, devices: cpu, retries: 0}}
        models:
          - name: small_cnn
          - name: own_script
            command: ["{{{{ python }}}}", "{root / 'own.py'}"]
            wandb: script
        categories:
          optimizer:
            options: [{{name: AdamW, lr: 0.003}}]
    """))
    (root / ".env").write_text(textwrap.dedent(f"""\
        # W&B settings, as a training repository keeps them
        export WANDB_API_KEY="{CANARY}"
        WANDB_ENTITY={ENTITY}   # the team
    """))
    done = cli(root, "--all")
    assert done.returncode == 0, done.stdout + done.stderr
    return root


def recorded_runs(root: Path) -> dict[Path, tuple[str, str]]:
    """Each attempt's recorded W&B run folder -> (model, run name), from the store."""
    with Store.open(store_path(root / "output", "tiny")) as store:
        cells = {r.cell.cell_id: r.cell for r in store.cells()}
        return {Path(a.wandb_run_dir): (cells[a.cell_id].model, cells[a.cell_id].run_name)
                for a in store.attempts() if a.wandb_run_dir}


def offline_dirs(root: Path) -> list[Path]:
    return sorted(recorded_runs(root))


@pytest.mark.slow
def test_dry_run_lists_every_offline_run_of_the_store(trained: Path) -> None:
    runs = recorded_runs(trained)
    assert len(runs) == 4 and all(d.name.startswith("offline-run-") for d in runs)
    done = cli(trained, "--sync", "--dry-run")
    assert done.returncode == 0, done.stdout + done.stderr
    lines = [line.split() for line in done.stdout.splitlines() if "offline-run-" in line]
    # One line per run: model, run name, path; the script's own runs included.
    assert {Path(path): (model, name) for model, name, path in lines} == runs and len(lines) == 4
    assert sorted(model for model, _ in runs.values()) == ["own_script", "own_script", "small_cnn", "small_cnn"]
    assert "4 offline run(s); 0 already synced" in done.stdout
    assert not [p for d in runs for p in d.glob("*.synced")]  # nothing uploaded, nothing marked


@pytest.mark.slow
def test_dotenv_values_reach_the_runs_and_no_file_or_command_holds_the_key(trained: Path) -> None:
    for run_dir in offline_dirs(trained):
        assert read_offline_run(run_dir).entity == ENTITY  # .env -> the child's environment -> W&B
    best = cli(trained, "--best")
    assert best.returncode == 0, best.stderr
    assert "hyperparameter_system.train" in best.stdout and CANARY not in best.stdout + best.stderr
    files = [p for p in trained.rglob("*") if p.is_file() and p.name != ".env"]
    assert len(files) > 20 and [p for p in files if CANARY.encode() in p.read_bytes()] == []


@pytest.mark.slow
def test_upload_runs_wandb_sync_per_project_and_reports_each_run(trained: Path, tmp_path: Path) -> None:
    # No W&B server can exist here: a stand-in wandb, first on PATH, records what it was asked.
    log = tmp_path / "calls.jsonl"
    program = tmp_path / "bin" / "wandb"
    program.parent.mkdir()
    program.write_text(FAKE_WANDB.format(python=sys.executable, log=str(log), canary=CANARY))
    program.chmod(program.stat().st_mode | stat.S_IXUSR)
    path = f"{program.parent}{os.pathsep}{os.environ['PATH']}"
    dirs = offline_dirs(trained)
    own = [d for d in dirs if "own_script" in str(d)]
    done = cli(trained, "--sync", env=clean_env(PATH=path, FAIL_MARK="own_script"))
    assert done.returncode == 1, done.stdout + done.stderr  # the script's runs failed
    calls = [json.loads(line) for line in log.read_text().splitlines()]
    assert all(call["key"] for call in calls)  # the key from .env, by the environment only
    by_project = {arg.split("=", 1)[1]: call["argv"]
                  for call in calls for arg in call["argv"] if arg.startswith("--project=")}
    assert sorted(by_project) == ["own_script", "small_cnn"]  # one invocation per project
    for project, argv in by_project.items():
        assert argv[:1] == ["sync"] and f"--entity={ENTITY}" in argv
        assert sorted(Path(a) for a in argv if a.startswith("/")) == [d for d in dirs if project in str(d)]
    assert done.stdout.count("\nsynced  small_cnn ") == 2
    assert done.stdout.count("\nfailed  own_script ") == 2 and "upload refused by the stand-in" in done.stdout
    assert "2 synced, 2 failed, 0 already synced" in done.stdout
    again = cli(trained, "--sync", env=clean_env(PATH=path))  # the failed ones only, now accepted
    assert again.returncode == 0, again.stdout + again.stderr
    assert again.stdout.count("already synced  small_cnn") == 2
    assert again.stdout.count("\nsynced  own_script") == 2
    assert sorted(Path(a) for a in json.loads(log.read_text().splitlines()[-1])["argv"] if a.startswith("/")) == own


def test_sync_without_a_store_is_one_line_exit_2(tmp_path: Path) -> None:
    (tmp_path / "exp.yaml").write_text("experiment: {name: none}\nmodels: [{name: small_cnn}]\n")
    done = cli(tmp_path, "--sync", "--dry-run")
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "no results store" in done.stderr
    assert not (tmp_path / "output").exists()


def test_a_recorded_folder_is_checked_before_it_is_synced(tmp_path: Path, capsys) -> None:
    from hyperparameter_system.commands.sync import offline_runs

    torn = tmp_path / "a" / "wandb" / "offline-run-20261130_120000-x1"
    torn.mkdir(parents=True)
    (torn / "run-x1.wandb").write_bytes(b"not a W&B file")  # a child's word: read, not trusted
    empty = tmp_path / "b" / "wandb" / "offline-run-20261130_120000-x2"
    empty.mkdir(parents=True)
    rows = [("m", "torn", "proj", str(torn)), ("m", "again", "proj", str(torn)),
            ("m", "empty", "proj", str(empty)), ("m", "gone", "proj", str(tmp_path / "offline-run-gone")),
            ("m", "online", "proj", str(tmp_path / "run-20261130_120000-x3")),
            ("m", "elsewhere", "proj", "/etc")]
    runs = offline_runs(rows, "team")
    assert [(r.run_name, r.path, r.entity, r.project) for r in runs] == [("torn", torn, "team", "proj")]
    skipped = capsys.readouterr().err.splitlines()
    assert [line.split(":")[1].split()[1] for line in skipped] == ["empty", "gone", "elsewhere"]
    assert "holds no run-*.wandb file" in skipped[0] and skipped[1].endswith(": missing")


# A wandb that never finishes: it records its pid and that of a grandchild in its group, then waits.
HANGING_WANDB = """#!{python}
import os, subprocess, sys, time
from pathlib import Path
child = subprocess.Popen(["sleep", "300"])
Path({pids!r}).write_text(f"{{os.getpid()}} {{child.pid}}")
print("wandb: uploading", flush=True)
time.sleep(300)
"""


def stored_runs(root: Path, folders: dict[str, Path]) -> None:
    """An experiment file and a store whose attempts recorded these W&B run folders (run name -> folder)."""
    from hyperparameter_system.matrix.cell import Cell

    (root / "exp.yaml").write_text("experiment: {name: tiny}\nmodels: [{name: small_cnn}]\n")
    with Store.open(store_path(root / "output", "tiny"), experiment="tiny") as store:
        for name, folder in folders.items():
            store.register_cells([Cell(cell_id=name, experiment="tiny", model="small_cnn", category="optimizer",
                                       option={"name": name}, option_label=name, run_name=name,
                                       project="small_cnn", group="optimizer", tags=(),
                                       config_path=f"/nonexistent/{name}.yaml")])
            attempt = store.claim(name, session="filled")
            assert attempt is not None
            store.finish_attempt(attempt.id, "completed", wandb_run_dir=str(folder))


def offline_folder(root: Path, run_id: str) -> Path:
    folder = root / run_id / "wandb" / f"offline-run-20261130_120000-{run_id}"
    folder.mkdir(parents=True)
    (folder / f"run-{run_id}.wandb").write_bytes(b"not read: the stand-in only hangs")
    return folder


def hanging_wandb(tmp_path: Path) -> tuple[str, Path]:
    """PATH with the hanging stand-in first, and the file it writes its pids to."""
    pids = tmp_path / "pids"
    program = tmp_path / "bin" / "wandb"
    program.parent.mkdir()
    program.write_text(HANGING_WANDB.format(python=sys.executable, pids=str(pids)))
    program.chmod(program.stat().st_mode | stat.S_IXUSR)
    return f"{program.parent}{os.pathsep}{os.environ['PATH']}", pids


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie, reaped by nobody yet, counts as gone)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    except (OSError, IndexError):
        return False


def test_a_hanging_wandb_sync_is_stopped_at_its_deadline_and_reads_timed_out(tmp_path: Path) -> None:
    stored_runs(tmp_path, {"a": offline_folder(tmp_path, "a1"), "b": offline_folder(tmp_path, "b2")})
    path, pids = hanging_wandb(tmp_path)
    started = time.monotonic()
    done = cli(tmp_path, "--sync", env=clean_env(PATH=path, HPSYS_SYNC_TIMEOUT_S="3"))
    assert time.monotonic() - started < 60  # the stand-in would wait 300 s
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stdout.count("wandb sync timed out after 3 s") == 2 and "exit 0" not in done.stdout
    assert "failed  small_cnn a: wandb sync timed out after 3 s" in done.stdout
    assert "0 synced, 2 failed, 0 already synced" in done.stdout
    assert not [pid for pid in map(int, pids.read_text().split()) if alive(pid)]  # the whole group


def test_ctrl_c_during_an_upload_stops_wandb_sync_and_exits_130(tmp_path: Path) -> None:
    stored_runs(tmp_path, {"a": offline_folder(tmp_path, "a1")})
    path, pids = hanging_wandb(tmp_path)
    child = subprocess.Popen([sys.executable, "-m", "hyperparameter_system.experiment_runner",
                              "--config", str(tmp_path / "exp.yaml"), "--sync"], cwd=tmp_path,
                             env=clean_env(PATH=path), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not (pids.is_file() and pids.read_text()) and time.monotonic() < deadline and child.poll() is None:
        time.sleep(0.1)
    assert pids.is_file(), child.communicate(timeout=30)
    child.send_signal(signal.SIGINT)
    out, err = child.communicate(timeout=60)
    assert child.returncode == 130, out + err
    assert "interrupted" in err and "Traceback" not in err
    assert not [pid for pid in map(int, pids.read_text().split()) if alive(pid)]


def test_sync_with_every_recorded_folder_missing_says_so_and_exits_1(tmp_path: Path) -> None:
    stored_runs(tmp_path, {"a": tmp_path / "gone" / "offline-run-20261130_120000-a1",
                           "b": tmp_path / "gone" / "offline-run-20261130_120000-b2"})
    for args in (("--sync",), ("--sync", "--dry-run")):
        done = cli(tmp_path, *args)
        assert done.returncode == 1, done.stdout + done.stderr
        assert done.stderr.count(": missing\n") == 2
        assert done.stdout == "nothing to upload: 2 recorded run folder(s) skipped (2 missing)\n"


def test_a_bad_sync_deadline_is_one_line_exit_2(tmp_path: Path) -> None:
    stored_runs(tmp_path, {"a": offline_folder(tmp_path, "a1")})
    done = cli(tmp_path, "--sync", env=clean_env(HPSYS_SYNC_TIMEOUT_S="soon"))
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert "HPSYS_SYNC_TIMEOUT_S" in done.stderr and "soon" in done.stderr
