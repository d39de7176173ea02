# s2st_kit — two commands: `make demo` and `make test`.
# Each sets up what it needs first (system packages via apt when root/sudo, .venv, extras).

VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=

.PHONY: setup demo test bench lab lint clean

setup:
	@bash scripts/setup.sh

demo: setup
	@$(PY) scripts/demo.py

test: setup
	@$(PY) -m pytest -q $(PYTEST_ARGS)

bench: setup
	@$(PY) -m benchmarks

lab: setup
	@$(VENV)/bin/jupyter lab --notebook-dir=notebooks

lint: setup
	@$(VENV)/bin/ruff check s2st_kit tests scripts benchmarks
	@$(VENV)/bin/ruff format --check s2st_kit tests scripts benchmarks
	@$(VENV)/bin/mypy

clean:
	rm -rf out tests/artifacts .pytest_cache
