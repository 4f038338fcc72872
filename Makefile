# The README's two commands: `make demo` and `make test`. Both create .venv with the pinned install when missing.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
CORES ?= 2

.PHONY: demo test lint clean

$(VENV)/.installed: requirements.txt requirements-dev.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	$(PY) -m pip install --quiet --no-deps -e .
	touch $@

demo: $(VENV)/.installed
	$(PY) -m snakemake --cores $(CORES) --printshellcmds

test: $(VENV)/.installed
	$(PY) -m pytest -q --durations=15 tests

lint: $(VENV)/.installed
	$(PY) -m ruff check .
	$(PY) -m snakemake --lint

clean:
	rm -rf results .snakemake
