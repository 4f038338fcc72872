# The README's two commands: `make demo` and `make test`. Both create .venv with the pinned install when missing.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
UV := $(VENV)/bin/uv
UV_PIN := uv==0.13.9
CORES ?= 2
# tests in parallel: one worker per core, one test file at a time each, in the order conftest.py gives
PARALLEL := -n $(CORES) --dist loadfile --no-loadscope-reorder

.PHONY: demo test test-unit test-e2e lint clean

# uv installs the same pins as pip in half the time; pip takes over where uv cannot (uv reads no pip.conf:
# an index set only there). Bytecode is compiled at install, as pip does: every job's imports need it. The
# installed packages' own tests and pip, which no job imports (a third of the files), are left out.
$(VENV)/.installed: requirements.txt requirements-dev.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet $(UV_PIN) && $(UV) pip install --quiet --python $(PY) -r requirements-dev.txt \
	  && $(UV) pip install --quiet --no-deps --python $(PY) -e . \
	  || ($(PY) -m pip install --quiet -r requirements-dev.txt && $(PY) -m pip install --quiet --no-deps -e .)
	$(PY) -m compileall -q -j 0 -x '/(tests?|pip)/' "$$($(PY) -c 'import sysconfig; print(sysconfig.get_path("purelib"))')" \
	  >/dev/null || true
	touch $@

demo: $(VENV)/.installed
	$(PY) -m snakemake --cores $(CORES) --printshellcmds

# the full suite, as CI runs it: the real data beside the checkout (../shared) must be there
test: $(VENV)/.installed
	CSCNICHE_REQUIRE_SHARED=1 $(PY) -m pytest -q $(PARALLEL) --durations=15 tests

# the library on small generated data (tests reading ../shared skip where it is absent)
test-unit: $(VENV)/.installed
	$(PY) -m pytest -q $(PARALLEL) --durations=10 tests/unit

# Snakemake end to end: demo, bad inputs, presets, downloads, report in Chromium, SLURM
test-e2e: $(VENV)/.installed
	CSCNICHE_REQUIRE_SHARED=1 $(PY) -m pytest -q $(PARALLEL) --durations=10 tests/e2e

lint: $(VENV)/.installed
	$(PY) -m ruff check .
	$(PY) -m snakemake --lint
	$(VENV)/bin/snakefmt --check Snakefile workflow/rules

clean:
	rm -rf results .snakemake
