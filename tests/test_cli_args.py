"""Command-line values a user can get wrong are refused before anything is read or run."""

from __future__ import annotations

import pytest

from hyperparameter_system.experiment_runner import main


@pytest.mark.parametrize("argv, message", [
    (["--all", "--timeout", "-5"], "argument --timeout: must be >= 0, got -5"),
    (["--all", "--parallel", "0"], "argument --parallel: must be >= 1, got 0"),
    (["--sweep", "--count", "0"], "argument --count: must be >= 1, got 0"),
    (["--all", "--parallel", "two"], "argument --parallel: invalid int value: 'two'"),
])
def test_out_of_range_values_exit_2_with_the_flag_named(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == f"hpsys: error: {message}"
    assert list(tmp_path.iterdir()) == []


def test_rebuild_store_without_an_experiment_file_is_one_line(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["--rebuild-store"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "experiment_config.yaml" in err
    assert list(tmp_path.iterdir()) == []
