"""The ``.env`` file beside the experiment file: its format, its errors, who wins.

A malformed line goes through the real CLI (one line, exit 2, nothing
written); the values reaching children and never a file are checked on a real
run in tests/test_sync.py.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from hyperparameter_system.config.dotenv import apply_dotenv, read_dotenv
from hyperparameter_system.errors import ConfigError

GOOD = """\
# W&B, as a training repository keeps it

export WANDB_API_KEY="k3y with \\"quotes\\""
WANDB_ENTITY=my-team   # a comment after a value
WANDB_BASE_URL='http://127.0.0.1:8080/#not-a-comment'
WANDB_TAGS=a#b
DATA_ROOT=/data/images
WANDB_NOTES=
"""


def test_every_form_of_line_reads_as_a_shell_would(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(GOOD)
    assert read_dotenv(tmp_path / ".env") == {
        "WANDB_API_KEY": 'k3y with "quotes"', "WANDB_ENTITY": "my-team",
        "WANDB_BASE_URL": "http://127.0.0.1:8080/#not-a-comment", "WANDB_TAGS": "a#b",
        "DATA_ROOT": "/data/images", "WANDB_NOTES": ""}


def test_only_wandb_names_are_taken_and_the_real_environment_wins(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(GOOD)
    environ = {"WANDB_ENTITY": "from-the-shell", "PATH": "/bin"}
    added = apply_dotenv(tmp_path / "exp.yaml", environ)
    assert sorted(added) == ["WANDB_API_KEY", "WANDB_BASE_URL", "WANDB_NOTES", "WANDB_TAGS"]
    assert environ["WANDB_ENTITY"] == "from-the-shell" and "DATA_ROOT" not in environ
    assert apply_dotenv(tmp_path / "elsewhere" / "exp.yaml", environ) == []  # no .env there: nothing


@pytest.mark.parametrize("line, reason", [
    ("WANDB_API_KEY s3cret", "expected KEY=value (no '=' on this line)"),
    ("1WANDB=x", "'1WANDB' is not a variable name (letters, digits, _)"),
    ("WANDB_API_KEY s3cret=x", "the text before '=' is not a variable name (letters, digits, _)"),
    ('WANDB_API_KEY="s3cret', 'WANDB_API_KEY: unterminated " quote (values are one line)'),
    ("WANDB_API_KEY='s3cret' more", "WANDB_API_KEY: text after the closing quote"),
], ids=["no_equals", "bad_name", "space_in_name", "unterminated", "after_quote"])
def test_a_malformed_line_is_path_line_reason_without_the_secret(tmp_path: Path, line: str, reason: str) -> None:
    (tmp_path / ".env").write_text(f"# settings\n{line}\n")
    with pytest.raises(ConfigError) as caught:
        read_dotenv(tmp_path / ".env")
    assert str(caught.value) == f"{tmp_path / '.env'}:2: {reason}" and "s3cret" not in str(caught.value)


def test_a_malformed_dotenv_stops_the_cli_before_anything_is_written(tmp_path: Path) -> None:
    (tmp_path / "exp.yaml").write_text("experiment: {name: demo}\nmodels: [small_cnn]\n")
    (tmp_path / ".env").write_text("WANDB_ENTITY=team\nexport WANDB_MODE offline\n")
    done = subprocess.run([sys.executable, "-m", "hyperparameter_system.experiment_runner",
                           "--config", str(tmp_path / "exp.yaml"), "--all"],
                          capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert done.returncode == 2
    assert done.stderr.splitlines() == [f"error: {tmp_path / '.env'}:2: expected KEY=value (no '=' on this line)"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [".env", "exp.yaml"]


@pytest.mark.parametrize("make, reason", [
    (lambda p: os.mkfifo(p), "cannot read: not a regular file"),  # open() would wait for a writer forever
    (lambda p: p.symlink_to("/dev/zero"), "cannot read: not a regular file"),  # a read that never ends
    (lambda p: p.write_bytes(b"# " + b"x" * (1024 * 1024) + b"\n"), "cannot read: larger than 1 MiB"),
])
def test_a_dotenv_that_is_no_plain_small_file_is_one_line_at_once(tmp_path: Path, make, reason) -> None:
    make(tmp_path / ".env")
    config = tmp_path / "exp.yaml"
    config.write_text("experiment: {name: e}\n")
    done = subprocess.run([sys.executable, "-m", "hyperparameter_system.experiment_runner", "--config",
                           str(config), "--matrix"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr == f"error: {tmp_path / '.env'}: {reason}\n"


def test_a_dotenv_may_be_a_link_to_a_plain_file(tmp_path: Path) -> None:
    (tmp_path / "shared.env").write_text("WANDB_ENTITY=team\n")
    (tmp_path / ".env").symlink_to(tmp_path / "shared.env")
    assert read_dotenv(tmp_path / ".env") == {"WANDB_ENTITY": "team"}
