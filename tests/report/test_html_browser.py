"""The HTML report in a real headless browser (Debian's chromium), for 3 cells and for 300 trials.

The browser opens a copy of the report with one script added at the end; on
``load`` it writes what a reader would notice into the page (images that did
not decode, the page's width against the window's) and ``--dump-dom`` hands
that back. A screenshot of each report is left in the test's folder. The
browser runs with its background networking off and a proxy on a closed
loopback port, so nothing it might try leaves the machine.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from hyperparameter_system.store import store_path
from report_stores import SWEEPS, TRIALS, fill_wide_store

pytestmark = pytest.mark.slow
WINDOW = (1400, 900)
CHECKS = """<script>
window.addEventListener("load", function () {
  var images = Array.prototype.slice.call(document.images);
  var result = {
    images: images.length,
    broken: images.filter(function (i) { return !(i.complete && i.naturalWidth > 0); }).map(function (i) { return i.alt; }),
    scrollWidth: document.documentElement.scrollWidth,
    innerWidth: window.innerWidth
  };
  var out = document.createElement("pre");
  out.id = "hpsys-checks";
  out.style.display = "none";  // read from the DOM; the screenshot shows the report alone
  out.textContent = JSON.stringify(result);
  document.body.appendChild(out);
});
</script>
"""


@pytest.fixture(scope="module")
def chromium() -> str:
    """Debian's chromium; missing only where it cannot be installed (``make test`` installs it)."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    if shutil.which("apt-get"):
        pytest.fail("chromium is missing but installable: run `apt-get install -y chromium` "
                    "(`make test` does it as root)")
    pytest.skip("no chromium and no apt-get to install it: the report's browser checks cannot run here")


def _browser(chromium: str, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    argv = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
            f"--window-size={WINDOW[0]},{WINDOW[1]}", f"--user-data-dir={profile}",
            "--no-first-run", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--disable-extensions", "--proxy-server=127.0.0.1:9",
            "--proxy-bypass-list=<-loopback>", *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=120)


def browser_checks(chromium: str, report: Path, folder: Path) -> dict:
    """Open the report as a reader would; returns the page's own checks and leaves a screenshot.

    One browser start does both: the DOM after the checks ran, and the screenshot.
    """
    checked = folder / "checked.html"
    checked.write_text(report.read_text(encoding="utf-8").replace("</body>", CHECKS + "</body>"),
                       encoding="utf-8")
    shot = folder / "screenshot.png"
    dom = _browser(chromium, folder / "profile", "--virtual-time-budget=10000", f"--screenshot={shot}",
                   "--dump-dom", checked.as_uri())
    found = re.search(r'<pre id="hpsys-checks"[^>]*>(.*?)</pre>', dom.stdout, re.S)
    assert found, f"the page's checks never ran: {dom.stderr[-2000:]}"
    assert shot.is_file() and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", "no screenshot was written"
    return json.loads(html.unescape(found.group(1)))


def _report(config: Path, target: Path) -> str:
    done = subprocess.run([sys.executable, "-m", "hyperparameter_system.experiment_runner", "--config",
                           str(config), "--summary", "--format", "html", "--output", str(target)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return target.read_text(encoding="utf-8")


def _assert_reads_well(checks: dict, images: int) -> None:
    assert checks["images"] == images and checks["broken"] == []
    assert checks["innerWidth"] == WINDOW[0]
    assert checks["scrollWidth"] <= WINDOW[0]  # no sideways scroll: tables scroll in their own box


def _copy_store(source: Path, target: Path) -> None:
    """The session's store copied whole (the backup API folds in its WAL), so a sweep can be added."""
    target.parent.mkdir(parents=True)
    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        src.backup(dst)


@pytest.fixture(scope="module")
def small_with_sweep(real_run, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The session's real matrix plus a real two-trial local sweep on digits (1 epoch), in a copy."""
    root = tmp_path_factory.mktemp("small_sweep")
    spec = yaml.safe_load(real_run.config.read_text(encoding="utf-8"))
    spec["experiment"]["output_dir"] = str(root / "out")
    spec["experiment"]["temp_config_dir"] = str(root / "temp_configs")
    spec["experiment"]["overrides"]["SOLVER.MAX_EPOCHS"] = 1
    spec["wandb"]["mode"] = "disabled"  # the report reads the store, never a W&B run
    spec["categories"]["optimizer"]["sweep"] = {"method": "grid",
                                                "parameters": {"name": ["AdamW"], "lr": [0.002, 0.02]}}
    config = root / "exp.yaml"
    config.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    name = spec["experiment"]["name"]
    _copy_store(real_run.store, store_path(root / "out", name))
    done = subprocess.run([sys.executable, "-m", "hyperparameter_system.experiment_runner", "--config",
                           str(config), "--sweep", "--models", "small_cnn", "--categories", "optimizer"],
                          capture_output=True, text=True, timeout=600, cwd=root,
                          env={**os.environ, "WANDB_MODE": "disabled"})  # the variable wins over the file
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return config


def test_small_report_with_a_sweep_reads_well_in_a_browser(small_with_sweep, chromium, tmp_path):
    text = _report(small_with_sweep, tmp_path / "report.html")
    sections = re.findall(r'<section class="sweep" id="sweep-([^"]+)">', text)
    assert len(sections) == 1
    trials = text.split(f'id="sweep-{sections[0]}"')[1].split("</section>")[0]
    assert trials.count("<tr data-cell-id=") == 2 and "lr" in trials
    assert "option 1" not in text and "http" not in text.split("<body>")[1]
    checks = browser_checks(chromium, tmp_path / "report.html", tmp_path)
    # Heatmap, two category curves, and the sweep's parameter scatter and curves (no repeats: no error bars).
    _assert_reads_well(checks, images=5)


def test_300_trials_of_five_sweeps_read_well_in_a_browser(chromium, tmp_path):
    config = fill_wide_store(tmp_path)
    text = _report(config, tmp_path / "report.html")
    sections = re.findall(r'<section class="sweep" id="sweep-([^"]+)">', text)
    assert len(sections) == SWEEPS  # one section per sweep id, not one "sweep" category
    for sweep_id in sections:
        part = text.split(f'id="sweep-{sweep_id}"')[1].split("</section>")[0]
        assert part.count("<tr data-cell-id=") == TRIALS
        assert "<th>learning_rate</th>" in part and "<th>optimizer.name</th>" in part
        assert part.count(": failed: ") == 2  # a sweep's failed trials are listed in its own section
    assert '<ul class="problems">' not in text.split('<section class="sweep"')[0]  # not in the model's list
    matrix = text.split('<table class="cells">')[1].split("</table>")[0]
    assert matrix.count("<tr class=") == 10  # baseline and nine options (3 repeats a row); no trial
    assert "per option (mean and standard deviation over repeats)" in text  # the error bars
    assert "http" not in text.split("<body>")[1]  # opens offline: nothing linked
    checks = browser_checks(chromium, tmp_path / "report.html", tmp_path)
    # Heatmap, error bars, curves of three categories, scatter and curves of each sweep.
    _assert_reads_well(checks, images=1 + 1 + 3 + 2 * SWEEPS)
