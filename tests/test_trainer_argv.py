"""The built-in trainer's command is built in one place, with the interpreter that runs hpsys."""

from __future__ import annotations

import shlex
import sys

from cell_records import cell_record
from hyperparameter_system.report.links import reproduce_command


def test_a_cell_without_a_recorded_command_reproduces_with_this_interpreter():
    # A bare "python" may be another interpreter (or none) on the user's PATH.
    record = cell_record(cell_id="c", model="m", category="baseline", option=None, option_label="default",
                         run_name="r", project="m", config_path="/cfg/r.yaml")
    line = reproduce_command(record)
    assert f"{shlex.quote(sys.executable)} -m hyperparameter_system.train --config-file /cfg/r.yaml" in line
