"""An experiment over a user's command that only reports the seed it trained with (``fixtures/seed_child.py``).

Fast (no torch in the child) and honest about what ran: each finished
training appends a line to ``markers/<cell id>.done``, so the repeats and
shared-cells tests count trainings from the child's side.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

SEED_CHILD = Path(__file__).resolve().parent / "fixtures" / "seed_child.py"


def seed_experiment(tmp: Path, *, categories: str, repeats: int = 1, sleep: float = 0.0,
                    overrides: str = "{}") -> Path:
    """``tmp/exp.yaml``: model ``seed_model`` (no schema: it reads hpsys's rendered config) and ``categories``."""
    markers = tmp / "markers"
    markers.mkdir(exist_ok=True)
    command = ["{{ python }}", str(SEED_CHILD), "{{ config_path }}"]
    path = tmp / "exp.yaml"
    path.write_text(textwrap.dedent(f"""
        experiment:
          name: seeds
          output_dir: {tmp / 'out'}
          temp_config_dir: {tmp / 'configs'}
          overrides: {overrides}
        wandb: {{mode: disabled}}
        execution: {{parallel: 2, devices: cpu, retries: 0, repeats: {repeats}}}
        models:
          - name: seed_model
            command: {json.dumps(command)}
            env: {{SEED_CHILD_MARKERS: "{markers}", SEED_CHILD_SLEEP: "{sleep}"}}
        categories:
        """) + textwrap.indent(textwrap.dedent(categories).strip() + "\n", "  "))
    return path


def trainings(tmp: Path) -> dict[str, list[dict]]:
    """Per cell id, one record (seed, attempt) per training its child finished."""
    return {p.stem: [json.loads(line) for line in p.read_text().splitlines()]
            for p in (tmp / "markers").glob("*.done")}
