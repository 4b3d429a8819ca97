# Two entry points: `make demo` (the default matrix on digits, then the summary)
# and `make test` (the whole suite). Both build .venv from scratch when missing.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test install clean bench

# pip compiles what it installs but not this checkout (an editable install): compileall does it once,
# so each process (every cell, every test's runner) loads it even where PYTHONDONTWRITEBYTECODE is set.
$(STAMP): requirements.lock pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.lock
	$(PY) -m pip install --quiet --no-deps -e .
	$(PY) -m compileall -q hyperparameter_system models categories >/dev/null
	touch $(STAMP)

install: $(STAMP)

# The summary is printed even when a cell failed; the run's exit code is kept.
demo: $(STAMP)
	$(PY) -m hyperparameter_system.experiment_runner --all; status=$$?; \
	$(PY) -m hyperparameter_system.experiment_runner --summary; exit $$status

# pytest exits 5 when it collects no test; make treats that as failure too.
# The HTML report is checked in Debian's chromium: installed here when missing and apt-get can.
test: $(STAMP)
	command -v chromium >/dev/null || ! command -v apt-get >/dev/null || \
	{ apt-get update -qq && apt-get install -y -qq chromium >/dev/null; } || echo "chromium could not be installed (run as root?)"
	HF_HUB_OFFLINE=1 WANDB_SILENT=true $(PY) -m pytest -q --durations=15

bench: $(STAMP)
	for b in bench/*.py; do $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) output temp_configs/*/
