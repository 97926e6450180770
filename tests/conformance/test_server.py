"""The conformance corpus through the API server: every case, run by the corpus's own harness with boto3, on a
server with a SQLite store and on one with a PostgreSQL store."""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conformance.corpus import case_params, harness
from support import fresh_schema

KINDS = ("execution", "create_error", "validation", "test_state", "api")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="session", params=["sqlite", "postgres"])
def store_location(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if request.param == "sqlite":
        yield str(tmp_path_factory.mktemp("store") / "stepline.db")
        return
    with fresh_schema(request.getfixturevalue("postgres_url"), "conformance") as (location, _):
        yield location


@pytest.fixture(scope="session")
def endpoint(store_location: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A `stepline serve` process on a free port and a fresh store, with the corpus's mocks (SFN_MOCK_CONFIG)."""
    directory = tmp_path_factory.mktemp("server")
    mocks = directory / "mocks.json"
    mocks.write_text(json.dumps(harness.mock_config(harness.load_cases([str(Path(harness.DEFAULT_CASES_DIR))]))))
    port = _free_port()
    # real time, as the harness expects: its awaits poll until an execution ends or their timeout passes
    # (test_stop_execution stops a 60 s Wait after that timeout)
    environment = {**os.environ, "SFN_MOCK_CONFIG": str(mocks)}
    process = subprocess.Popen([sys.executable, "-m", "stepline.cli.main", "serve", "--port", str(port),
                                "--db", store_location], env=environment,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the server did not start: {process.stdout.read() if process.stdout else ''}")
            time.sleep(0.05)
    harness._local.client = None  # the harness keeps one client per thread, for the first endpoint it saw
    yield url
    process.terminate()
    process.wait(timeout=10)


@pytest.mark.parametrize("case", case_params(KINDS))
def test_case(case: dict, endpoint: str) -> None:
    args = argparse.Namespace(endpoint=endpoint, timeout=10.0, region="us-east-1", role_arn=harness.DEFAULT_ROLE_ARN,
                              no_history=False, history_details=False, keep=False)
    diffs = harness.run_case(case, args)
    assert not diffs, diffs
