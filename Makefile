# Every target installs what it needs into .venv first; nothing is installed by hand.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stepline

.PHONY: install run examples test bench bench-api bench-postgres bench-retention bench-maps clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

# The API server and its console on http://127.0.0.1:8083, on the SQLite store build/stepline.db, with the
# example workflows registered (their Lambda functions served by examples/functions.py), and the SAM application
# examples/sam-app (its state machine orders-dev, its Python functions each in a process of its own).
run: install
	mkdir -p build
	cd examples && ../$(BIN)/stepline serve --db ../build/stepline.db --register . --functions functions \
		--mock-config transfer_data_records.mock.json --template sam-app/template.yaml

examples: install
	$(BIN)/python examples/run_all.py

test: install
	$(BIN)/ruff check src tests bench examples
	$(BIN)/lint-imports
	$(BIN)/mypy
	$(BIN)/python -m pytest -n auto

bench: install
	$(BIN)/python bench/engine.py

# distributed Maps at scale (bench/map_runs.py): a Map over a CSV in moto's S3 into EXPRESS children beside plain
# starts; STANDARD children all at once.
# Writes build/bench-maps.json; the issue's full sizes: ARGS="--rows 1000000 --children 10000 --standard 10000"
bench-maps: install
	$(BIN)/python bench/map_runs.py $(ARGS)

# durable throughput on PostgreSQL (STEPLINE_TEST_POSTGRES, default the local server's `test` database) with one
# and two worker processes, beside SQLite: prints a table and writes build/bench-postgres.json (docs/postgres.md)
bench-postgres: install
	$(BIN)/python bench/postgres.py

# retention over 100,000 closed executions on a virtual clock (SQLite): StartExecution's p50/p99 without and
# during the purge, the store's size before and after; prints a table, writes build/bench-retention.json
bench-retention: install
	$(BIN)/python bench/retention.py

# stepline's API beside moto's server and MiniStack, one after the other, driven by ../shared/bench/run.py:
# prints a table per workload and writes build/bench-api.json (docs/benchmarks.md). Several minutes. Also sqs_send
# (bench/services.py): a Task calling sqs:sendMessage on a local moto server beside a plain boto3 loop.
PEERS := build/bench-peers
bench-api: install $(PEERS)/.installed
	$(BIN)/python bench/api.py

$(PEERS)/.installed: bench/peers.txt
	$(PYTHON) -m venv $(PEERS)
	$(PEERS)/bin/pip install --quiet --upgrade pip
	$(PEERS)/bin/pip install --quiet -r bench/peers.txt
	touch $@

clean:
	rm -rf $(VENV) build .pytest_cache
