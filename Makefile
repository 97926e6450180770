# Every target installs what it needs into .venv first; nothing is installed by hand.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stepline

.PHONY: install run test bench lint clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

# Until the API server exists, `make run` runs the bundled example workflows with the CLI.
run: install
	$(BIN)/python examples/run_all.py

test: install
	$(BIN)/python -m pytest -n auto
	$(BIN)/lint-imports

bench: install
	$(BIN)/python bench/engine.py

clean:
	rm -rf $(VENV) build .pytest_cache
