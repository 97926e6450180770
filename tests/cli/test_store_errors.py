"""A store that cannot be used is reported in one line with a non-zero exit, never a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _stepline(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "stepline.cli.main", *args], capture_output=True, text=True,
                          timeout=60)


@pytest.mark.parametrize("command", [
    pytest.param(["serve", "--port", "0"], id="serve"),
    pytest.param(["executions"], id="executions"),
    pytest.param(["run", str(EXAMPLES / "fan_out.asl.json")], id="run"),
])
def test_a_corrupt_store_is_refused_plainly(tmp_path: Path, command: list[str]) -> None:
    store = tmp_path / "corrupt.db"
    store.write_bytes(b"this is not a SQLite database" * 100)
    completed = _stepline(*command, "--db", str(store))
    assert completed.returncode == 2
    assert "Cannot open the store" in completed.stderr and "not a database" in completed.stderr
    assert "Traceback" not in completed.stderr + completed.stdout


def test_a_store_in_a_missing_folder_that_cannot_be_made(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("a file where a folder should be")
    completed = _stepline("executions", "--db", str(blocker / "stepline.db"))
    assert completed.returncode == 2
    assert "Traceback" not in completed.stderr
