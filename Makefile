# The two commands a newcomer needs (see README): `make demo` and `make test`.
# Both create a virtualenv in .venv, install Prognos with its dev tools, and build the sandbox's
# Go tools into a cache outside the repository (cold: tens of minutes; warm: instant).

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: install demo test lint unit integration e2e manifests sandbox-down clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

install: $(BIN)/.installed

demo: install
	$(BIN)/prognos demo

lint: install
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy
	$(BIN)/lint-imports

# The whole suite: static checks, then unit, integration and e2e tiers in one pytest session
# (one sandbox for all). pytest exits 5 when nothing ran, which fails this target.
test: install lint
	$(BIN)/prognos sandbox build
	$(BIN)/python -m pytest tests

unit: install
	$(BIN)/python -m pytest tests/unit

integration: install
	$(BIN)/python -m pytest tests/integration -m integration

e2e: install
	$(BIN)/python -m pytest tests/e2e -m e2e

# Regenerate the CRDs (manifests/ and the chart) and the plain manifests from the chart.
manifests: install
	$(BIN)/prognos crds --write manifests/crd helm/prognos/crds
	$(BIN)/python hack/render_manifests.py --helm "$$($(BIN)/prognos sandbox build)/helm"

sandbox-down: install
	$(BIN)/prognos sandbox down

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
