# Quickstart: `make cxr` builds the chest X-ray collection from generated sample data;
# `make test` runs the whole test suite. Both create .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?= -n 2 --dist loadgroup

# No telemetry or update checks: runs stay offline and quiet.
export DO_NOT_TRACK := 1
export KEDRO_DISABLE_TELEMETRY := 1
export DVC_NO_ANALYTICS := 1

.PHONY: install install-test sample sample-satds sample-unimed cxr satds unimed repro test bench clean

$(BIN)/kedro: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e .
	touch $@

install: $(BIN)/kedro

install-test: install
	$(BIN)/pip install --quiet -e ".[test]"

sample: install
	$(BIN)/python -m unimed_kedro.sampledata --out data/01_raw

cxr: sample
	$(BIN)/kedro run --pipelines cxr

sample-satds: install
	$(BIN)/python -m unimed_kedro.sampledata --collection satds --out data/01_raw

satds: sample-satds
	$(BIN)/kedro run --pipelines satds

sample-unimed: install
	$(BIN)/python -m unimed_kedro.sampledata --collection unimed --out data/01_raw

unimed: sample-unimed
	$(BIN)/kedro run --pipelines unimed

repro: sample-unimed sample-satds
	$(BIN)/dvc repro

# Static checks first (seconds), then the suite.
test: install-test
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: install
	$(BIN)/python benchmarks/normalize_throughput.py

clean:
	rm -rf data/02_intermediate/* data/03_primary/* data/04_feature/* data/05_model_input/* data/08_reporting/*
	git checkout -- data
