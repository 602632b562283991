# Every target sets up the environment itself when it is missing (a virtualenv in .venv).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DATA   ?= data/demo.duckdb
MEMBERS ?= 30000
WEEKS  ?= 104
SEED   ?= 7
SIZE   ?= demo
PYTEST_ARGS ?=

.PHONY: setup demo test test-all lint format bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv
	$(BIN)/uv pip install --quiet --python $(BIN)/python -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)  ## create .venv and install the project with its test tools

demo: $(STAMP)  ## simulate the demo chain into $(DATA) and summarise it
	$(BIN)/workbench simulate --members $(MEMBERS) --weeks $(WEEKS) --seed $(SEED) --out $(DATA)

test: $(STAMP)  ## the test suite (without tests marked slow or spark)
	$(BIN)/pytest -q -m "not slow and not spark" $(PYTEST_ARGS)

test-all: $(STAMP)  ## every test, slow ones included
	$(BIN)/pytest -q -m "not spark" $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check workbench tests bench
	$(BIN)/ruff format --check workbench tests bench

format: $(STAMP)
	$(BIN)/ruff format workbench tests bench
	$(BIN)/ruff check --fix workbench tests bench

bench: $(STAMP)  ## benchmarks; SIZE=1m for a million members
	$(BIN)/python bench/simulate.py --sizes $(if $(filter 1m,$(SIZE)),1000000,30000)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info
